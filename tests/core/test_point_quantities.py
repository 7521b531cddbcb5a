"""The per-point quantities a map is coloured by (vae_core.diagnostics.point_quantities), each against an
independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.neighbors import NearestNeighbors

from vae_core import diagnostics
from vae_core.diagnostics import (
    LOG_PX_SAMPLES,
    NEEDS_LOG_PX,
    PAGE_LOG_PX_SAMPLES_ENV,
    POINT_QUANTITIES,
    elbo_per_image,
    nearest_neighbour_distance,
    point_quantities,
)


@pytest.fixture(scope="module")
def images(digits):
    return digits.images("test")[:300]


@pytest.fixture(scope="module")
def quantities(trained_vae, images):
    return point_quantities(trained_vae, images, "bce", batch_size=128)


def _posterior(model, images):
    with torch.no_grad():
        mu, logvar = model.encode(images)
    return mu.double().numpy(), logvar.double().numpy()


def test_every_quantity_but_log_px_comes_without_it(quantities, images):
    assert set(quantities) == set(POINT_QUANTITIES) - set(NEEDS_LOG_PX)
    assert all(values.shape == (len(images),) and np.isfinite(values).all() for values in quantities.values())


def test_kl_and_mean_sigma_are_the_closed_forms_of_the_posterior(trained_vae, images, quantities):
    mu, logvar = _posterior(trained_vae, images)
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1).sum(1)
    np.testing.assert_allclose(quantities["kl"], kl, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(quantities["sigma"], np.exp(0.5 * logvar).mean(1), rtol=1e-5)


def test_the_reconstruction_term_is_the_bernoulli_log_likelihood_of_one_draw(trained_vae, images, quantities):
    mu, logvar = (torch.from_numpy(a).float() for a in _posterior(trained_vae, images))
    generator = torch.Generator().manual_seed(0)
    expected = []
    for start in range(0, len(images), 128):  # the same draws, batch by batch
        eps = torch.randn(mu[start:start + 128].shape, generator=generator)
        z = mu[start:start + 128] + torch.exp(0.5 * logvar[start:start + 128]) * eps
        with torch.no_grad():
            logits = trained_vae.decode_logits(z)
        x = images[start:start + 128].flatten(1)
        expected.append(-F.binary_cross_entropy_with_logits(logits.flatten(1), x, reduction="none").flatten(1).sum(1))
    np.testing.assert_allclose(quantities["reconstruction"], torch.cat(expected).double().numpy(), rtol=1e-4)
    np.testing.assert_allclose(quantities["elbo"], quantities["reconstruction"] - quantities["kl"])


def test_the_elbo_is_the_one_the_likelihood_jobs_gap_subtracts(trained_vae, images):
    np.testing.assert_allclose(point_quantities(trained_vae, images)["elbo"], elbo_per_image(trained_vae, images),
                               rtol=1e-6)


def test_log_px_brings_the_gap_to_the_elbo(trained_vae, images, quantities):
    log_px = quantities["elbo"] + np.linspace(0.5, 3.0, len(images))
    with_log_px = point_quantities(trained_vae, images, log_px=log_px, batch_size=128)
    np.testing.assert_allclose(with_log_px["gap"], np.linspace(0.5, 3.0, len(images)), atol=1e-9)
    np.testing.assert_array_equal(with_log_px["log_px"], log_px)
    with pytest.raises(ValueError, match="log p\\(x\\) has 3 values"):
        point_quantities(trained_vae, images, log_px=np.zeros(3))


def test_the_nearest_neighbour_distance_matches_scikit_learn(trained_vae, images, quantities):
    mu, _ = _posterior(trained_vae, images)
    distances, _ = NearestNeighbors(n_neighbors=2).fit(mu).kneighbors(mu)
    np.testing.assert_allclose(quantities["neighbour"], distances[:, 1], rtol=1e-5, atol=1e-6)
    # Chunks that split the codes give the same answer, and a point never counts as its own neighbour.
    np.testing.assert_allclose(nearest_neighbour_distance(mu, chunk=7), distances[:, 1], rtol=1e-5, atol=1e-6)
    assert nearest_neighbour_distance(np.array([[0.0, 0.0], [3.0, 4.0]])).tolist() == [5.0, 5.0]


def test_a_host_sets_the_pages_k_and_a_bad_value_says_what_is_wrong(monkeypatch):
    monkeypatch.delenv(PAGE_LOG_PX_SAMPLES_ENV, raising=False)
    assert diagnostics._page_log_px_samples() == LOG_PX_SAMPLES
    monkeypatch.setenv(PAGE_LOG_PX_SAMPLES_ENV, "2000")
    assert diagnostics._page_log_px_samples() == 2000
    for bad in ("0", "-5", "1e3", "²", "many"):
        monkeypatch.setenv(PAGE_LOG_PX_SAMPLES_ENV, bad)
        with pytest.raises(ValueError, match="must be a whole number from 1 to 100000"):
            diagnostics._page_log_px_samples()
