"""Latent-space computations: paths, neighbours, directions, regions, sampling, projections."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_core.latent import (
    Encoding,
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
    point_log_px,
    points_in_region,
    prior_circle,
    prior_samples,
    reparameterized_draws,
    slerp,
    tsne_embedding,
)
from vae_core.losses import kl_divergence


def _orthonormal_rows(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q[:2]


def test_prior_circle_and_draws():
    circle = prior_circle(3.0, num_points=50)
    assert circle.shape == (50, 2)
    np.testing.assert_allclose(np.linalg.norm(circle, axis=1), 3.0)
    mu, sigma = np.array([1.0, -1.0, 0.0]), np.array([0.1, 2.0, 1.0])
    eps = prior_samples(1000, 3, seed=3)
    z = reparameterized_draws(mu, sigma, eps)
    assert z.shape == (1000, 3)
    np.testing.assert_allclose(z.mean(0), mu, atol=0.15)
    np.testing.assert_allclose(z.std(0), sigma, rtol=0.08)


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


def test_decode_latents(trained_vae, digits):
    z = np.random.default_rng(9).standard_normal((6, 8))
    images = decode_latents(trained_vae, z)
    assert images.shape == (6, 8, 8) and images.min() >= 0 and images.max() <= 1
    expected = trained_vae.decode(torch.as_tensor(z, dtype=torch.float32))[:, 0].detach().numpy()
    np.testing.assert_allclose(images, expected, rtol=1e-5, atol=1e-6)
    assert decode_latents(trained_vae, z[0]).shape == (1, 8, 8)  # a single vector


def test_analyse_point_terms(trained_vae, digits):
    image = digits.images("test")[3]
    analysis = analyse_point(trained_vae, image, samples=128, seed=0)
    mu, logvar = trained_vae.encode(image[None])
    np.testing.assert_allclose(analysis.mu, mu[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert analysis.kl == pytest.approx(kl_divergence(mu, logvar).item(), rel=1e-5)
    assert analysis.kl_per_dim.sum() == pytest.approx(analysis.kl, rel=1e-5)
    assert analysis.elbo == pytest.approx(-analysis.reconstruction_nll - analysis.kl)
    assert analysis.samples == 128
    log_px = point_log_px(trained_vae, image, samples=128, seed=0)
    assert log_px > analysis.elbo - 0.5
    again = analyse_point(trained_vae, image, samples=128, seed=0)
    assert again.elbo == analysis.elbo and point_log_px(trained_vae, image, samples=128, seed=0) == log_px


@pytest.mark.parametrize("seed", [0, 1])
def test_points_in_a_box_or_a_lasso(seed):
    points = np.random.default_rng(seed).uniform(-3, 3, (5000, 2))
    box = points_in_region(points, "box", np.array([[1.0, -2.0], [-1.0, 0.5]]))  # corners in any order
    expected = np.flatnonzero((np.abs(points[:, 0]) <= 1) & (points[:, 1] >= -2) & (points[:, 1] <= 0.5))
    assert np.array_equal(box, expected)
    # A lasso drawn round the unit disc (a 200-gon) takes the points within radius 1, less a sliver.
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    lasso = points_in_region(points, "lasso", np.stack([np.cos(angles), np.sin(angles)], axis=1))
    radius = np.linalg.norm(points, axis=1)
    assert set(np.flatnonzero(radius < 0.999)) <= set(lasso) <= set(np.flatnonzero(radius <= 1.0))
    # A concave lasso (an L): the notch is outside.
    ell = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], dtype=float)
    inside = set(points_in_region(points, "lasso", ell))
    notch = set(np.flatnonzero((points[:, 0] > 1) & (points[:, 0] < 2) & (points[:, 1] > 1) & (points[:, 1] < 2)))
    assert inside and not inside & notch
    with pytest.raises(ValueError):
        points_in_region(points, "lasso", ell[:2])
