"""Latent-space computations: ellipses, paths, neighbours, directions, sampling, projections."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_core.latent import (
    Encoding,
    LinearProjection,
    active_units,
    analyse_point,
    attribute_direction,
    class_means,
    decode_latents,
    encode_images,
    fit_projection,
    latent_grid,
    lerp,
    nearest_neighbours,
    posterior_ellipse,
    prior_circle,
    prior_samples,
    reconstruct,
    reparameterized_draws,
    slerp,
    tsne_embedding,
)
from vae_core.losses import kl_divergence


def _orthonormal_rows(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q[:2]


# --- posterior ellipses -----------------------------------------------------------------------

def test_identity_projection_gives_an_axis_aligned_ellipse():
    projection = fit_projection(np.random.default_rng(0).standard_normal((10, 2)))
    mu, sigma, n = np.array([1.0, -2.0]), np.array([0.5, 2.0]), 2.0
    outline = posterior_ellipse(mu, sigma, projection, n_sigma=n, num_points=73)  # hits 0, 90, 180, 270 degrees
    assert outline.shape == (73, 2)
    x, y = outline[:, 0], outline[:, 1]
    assert x.max() == pytest.approx(1.0 + n * 0.5) and x.min() == pytest.approx(1.0 - n * 0.5)
    assert y.max() == pytest.approx(-2.0 + n * 2.0) and y.min() == pytest.approx(-2.0 - n * 2.0)
    np.testing.assert_allclose(((x - 1.0) / (n * 0.5)) ** 2 + ((y + 2.0) / (n * 2.0)) ** 2, 1.0, atol=1e-12)
    # The extreme in x sits at the centre's y (axis aligned, not tilted).
    assert y[np.argmax(x)] == pytest.approx(-2.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [1.0, 2.5])
def test_projected_ellipse_is_the_n_sigma_contour(seed, n):
    rng = np.random.default_rng(seed)
    d = 6
    p = _orthonormal_rows(d, seed)
    projection = LinearProjection("test", rng.standard_normal(d), p, ("a", "b"))
    mu, sigma = rng.standard_normal(d), rng.uniform(0.1, 2.0, d)
    outline = posterior_ellipse(mu, sigma, projection, n_sigma=n, num_points=200)
    centre = (mu - projection.mean) @ p.T
    covariance = p @ np.diag(sigma ** 2) @ p.T
    offsets = outline - centre
    mahalanobis = np.einsum("ij,jk,ik->i", offsets, np.linalg.inv(covariance), offsets)
    np.testing.assert_allclose(mahalanobis, n ** 2, rtol=1e-9)
    # It spans the whole ellipse: the longest half-axis is reached.
    longest = n * math.sqrt(np.linalg.eigvalsh(covariance).max())
    assert np.linalg.norm(offsets, axis=1).max() == pytest.approx(longest, rel=1e-3)


def test_prior_circle_and_draws():
    circle = prior_circle(3.0, num_points=50)
    assert circle.shape == (50, 2)
    np.testing.assert_allclose(np.linalg.norm(circle, axis=1), 3.0)
    mu, sigma = np.array([1.0, -1.0, 0.0]), np.array([0.1, 2.0, 1.0])
    eps, z = reparameterized_draws(mu, sigma, 1000, seed=3)
    assert eps.shape == z.shape == (1000, 3)
    np.testing.assert_allclose(z, mu + sigma * eps)
    eps2, _ = reparameterized_draws(mu, sigma, 1000, seed=3)
    assert np.array_equal(eps, eps2)
    assert abs(eps.mean()) < 0.1 and abs(eps.std() - 1) < 0.05


# --- paths ------------------------------------------------------------------------------------

def test_lerp_is_linear():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 7.0])
    path = lerp(a, b, 5)
    assert path.shape == (5, 3)
    for i, t in enumerate(np.linspace(0, 1, 5)):
        np.testing.assert_allclose(path[i], a + t * (b - a))


@pytest.mark.parametrize("seed", [0, 1])
def test_slerp_endpoints_norms_and_angles(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(6) * 2, rng.standard_normal(6)
    steps = 11
    path = slerp(a, b, steps)
    assert path.shape == (steps, 6)
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    t = np.linspace(0, 1, steps)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b))
    # Along the great circle: the angle from a grows linearly to the angle between a and b.
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    omega = math.acos(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    angles = np.arccos(np.clip(unit @ (a / np.linalg.norm(a)), -1, 1))
    np.testing.assert_allclose(angles, t * omega, atol=1e-7)
    # Every point lies in the plane spanned by a and b.
    basis, _ = np.linalg.qr(np.stack([a, b], axis=1))
    np.testing.assert_allclose(path @ basis @ basis.T, path, atol=1e-12)


def test_slerp_of_equal_norm_vectors_stays_on_the_sphere():
    rng = np.random.default_rng(5)
    a = rng.standard_normal(20)
    b = rng.standard_normal(20)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = slerp(a, b, 30)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-12)
    # ... whereas the straight line cuts through the inside.
    assert np.linalg.norm(lerp(a, b, 30), axis=1).min() < 0.9 * np.linalg.norm(a)


def test_slerp_degenerate_cases_fall_back_to_lerp():
    a = np.array([1.0, 2.0])
    np.testing.assert_allclose(slerp(np.zeros(2), a, 4), lerp(np.zeros(2), a, 4))
    np.testing.assert_allclose(slerp(a, 3 * a, 4), lerp(a, 3 * a, 4))


# --- neighbours and directions ------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 5, 49, 200])
def test_nearest_neighbours_match_brute_force(k):
    rng = np.random.default_rng(1)
    codes = rng.standard_normal((50, 4))
    query_index = 7
    indices, distances = nearest_neighbours(codes, codes[query_index], k, exclude=query_index)
    brute = sorted((math.dist(c, codes[query_index]), i) for i, c in enumerate(codes) if i != query_index)[:k]
    assert indices.tolist() == [i for _, i in brute]
    np.testing.assert_allclose(distances, [d for d, _ in brute])
    assert query_index not in indices.tolist()


def test_nearest_neighbours_without_exclusion_finds_the_query_itself():
    codes = np.random.default_rng(2).standard_normal((20, 3))
    indices, distances = nearest_neighbours(codes, codes[4], 3)
    assert indices[0] == 4 and distances[0] == 0.0
    before = codes.copy()
    nearest_neighbours(codes, codes[4], 3, exclude=4)
    assert np.array_equal(codes, before)


def test_class_means_and_attribute_direction():
    rng = np.random.default_rng(3)
    codes = rng.standard_normal((60, 5))
    labels = rng.integers(0, 3, 60)
    labels[:3] = [0, 1, 2]
    means = class_means(codes, labels, 4)
    for c in range(3):
        members = [codes[i] for i in range(60) if labels[i] == c]
        np.testing.assert_allclose(means[c], np.sum(members, axis=0) / len(members))
    assert np.isnan(means[3]).all()  # no images of class 3
    direction = attribute_direction(codes, labels, 0, 2)
    np.testing.assert_allclose(direction, means[2] - means[0])
    with pytest.raises(ValueError):
        attribute_direction(codes, labels, 0, 3)


# --- generation ----------------------------------------------------------------------------

def test_prior_samples_reproducible_and_tempered():
    a = prior_samples(2000, 3, seed=11)
    assert a.shape == (2000, 3)
    assert np.array_equal(a, prior_samples(2000, 3, seed=11))
    assert not np.array_equal(a, prior_samples(2000, 3, seed=12))
    np.testing.assert_allclose(prior_samples(2000, 3, seed=11, temperature=0.5), 0.5 * a)
    assert abs(a.std() - 1.0) < 0.05
    assert abs(prior_samples(2000, 3, seed=13, temperature=0.3).std() - 0.3) < 0.02


def test_latent_grid_rows_run_from_the_top():
    grid = latent_grid((-1.0, 1.0), (-2.0, 2.0), 3)
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid[:3], [[-1, 2], [0, 2], [1, 2]])
    np.testing.assert_allclose(grid[3:6], [[-1, 0], [0, 0], [1, 0]])
    np.testing.assert_allclose(grid[6:], [[-1, -2], [0, -2], [1, -2]])
    assert latent_grid((0, 1), (0, 1), 10).shape == (100, 2)


def test_active_units_counts_varying_dimensions():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((5000, 1))
    mu = np.hstack([np.zeros((5000, 1)), 0.05 * base, 0.2 * base, base, 3 + 0 * base])  # variances 0, .0025, .04, 1, 0
    assert active_units(mu) == 2
    assert active_units(mu, threshold=0.001) == 3
    assert active_units(mu, threshold=2.0) == 0


# --- projections ----------------------------------------------------------------------------

def test_fit_projection_is_the_identity_for_two_dimensions():
    points = np.random.default_rng(6).standard_normal((30, 2)) + 5
    projection = fit_projection(points)
    assert projection.name == "identity" and projection.axis_titles == ("z1", "z2")
    np.testing.assert_allclose(projection(points), points)


def test_fit_projection_for_one_dimension():
    projection = fit_projection(np.arange(5.0)[:, None])
    np.testing.assert_allclose(projection(np.array([[2.0], [3.0]])), [[2.0, 0.0], [3.0, 0.0]])


def test_fit_projection_uses_principal_axes_above_two_dimensions():
    rng = np.random.default_rng(7)
    rotation, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    scales = np.array([5.0, 2.0, 0.5, 0.2, 0.1])
    points = (rng.standard_normal((3000, 5)) * scales) @ rotation.T + rng.standard_normal(5)
    projection = fit_projection(points)
    assert projection.name == "pca"
    centred = points - points.mean(0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(centred.T))
    order = np.argsort(eigenvalues)[::-1]
    top = eigenvectors[:, order[:2]].T
    np.testing.assert_allclose(projection.mean, points.mean(0))
    for got, expected in zip(projection.components, top):
        assert abs(abs(got @ expected) - 1.0) < 1e-6  # same axis, up to sign
    ratios = eigenvalues[order[:2]] / eigenvalues.sum()
    assert projection.axis_titles == (f"PC1 ({ratios[0]:.0%} of variance)", f"PC2 ({ratios[1]:.0%} of variance)")
    np.testing.assert_allclose(projection(points), centred @ projection.components.T)
    # Projected coordinates are uncorrelated with variances in decreasing order.
    projected_cov = np.cov(projection(points).T)
    assert abs(projected_cov[0, 1]) < 1e-6 * projected_cov[0, 0]
    assert projected_cov[0, 0] > projected_cov[1, 1]


def test_tsne_embedding_shape():
    codes = np.random.default_rng(8).standard_normal((40, 5))
    embedding = tsne_embedding(codes, seed=0)
    assert embedding.shape == (40, 2) and np.isfinite(embedding).all()


# --- encode / decode ---------------------------------------------------------------------------

def test_encode_images_for_a_vae(trained_vae, digits):
    images = digits.images("test")[:50]
    encoding = encode_images(trained_vae, images, batch_size=16)
    assert isinstance(encoding, Encoding)
    mu, logvar = trained_vae.encode(images)
    assert encoding.mu.shape == encoding.logvar.shape == (50, 8)
    np.testing.assert_allclose(encoding.mu, mu.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encoding.sigma, np.exp(0.5 * logvar.detach().numpy()), rtol=1e-5, atol=1e-6)


def test_encode_images_for_an_autoencoder(trained_ae, digits):
    images = digits.images("test")[:30]
    encoding = encode_images(trained_ae, images, batch_size=7)
    assert encoding.logvar is None and encoding.sigma is None
    np.testing.assert_allclose(encoding.mu, trained_ae.encode(images).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_decode_latents_and_reconstruct(trained_vae, digits):
    z = np.random.default_rng(9).standard_normal((6, 8))
    images = decode_latents(trained_vae, z)
    assert images.shape == (6, 8, 8) and images.min() >= 0 and images.max() <= 1
    expected = trained_vae.decode(torch.as_tensor(z, dtype=torch.float32))[:, 0].detach().numpy()
    np.testing.assert_allclose(images, expected, rtol=1e-5, atol=1e-6)
    assert decode_latents(trained_vae, z[0]).shape == (1, 8, 8)  # a single vector
    x = digits.images("test")[:5]
    recon = reconstruct(trained_vae, x)
    assert recon.shape == (5, 8, 8)
    mu, _ = trained_vae.encode(x)
    np.testing.assert_allclose(recon, trained_vae.decode(mu)[:, 0].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_analyse_point_terms(trained_vae, digits):
    image = digits.images("test")[3]
    analysis = analyse_point(trained_vae, image, samples=128, seed=0)
    mu, logvar = trained_vae.encode(image[None])
    np.testing.assert_allclose(analysis.mu, mu[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert analysis.kl == pytest.approx(kl_divergence(mu, logvar).item(), rel=1e-5)
    assert analysis.kl_per_dim.sum() == pytest.approx(analysis.kl, rel=1e-5)
    assert analysis.elbo == pytest.approx(-analysis.reconstruction_nll - analysis.kl)
    assert analysis.samples == 128
    assert analysis.log_px > analysis.elbo - 0.5
    again = analyse_point(trained_vae, image, samples=128, seed=0)
    assert (again.log_px, again.elbo) == (analysis.log_px, analysis.elbo)  # reproducible from the seed
