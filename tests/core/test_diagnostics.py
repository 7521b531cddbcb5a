"""What the VAE does with its latent space (vae_core.diagnostics), each figure against an independent computation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from core_helpers import REPO_ROOT
from scipy.stats import chi2, multivariate_normal
from sklearn.metrics import roc_auc_score

from vae_core import is_available
from vae_core.diagnostics import (
    HOLE_RATIO,
    auroc,
    density_grid,
    diagnose,
    images_like,
    kl_per_dimension_mean,
    log_aggregate_posterior,
    log_prior,
    log_px_per_image,
    prior_hole_fraction,
)
from vae_core.latent import active_units, encode_images
from vae_core.training import evaluate

DIGITS_CHECKPOINT = REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt"


def test_active_units_count_the_dimensions_whose_mean_code_varies():
    rng = np.random.default_rng(0)
    spreads = np.array([1.0, 0.05, 0.2, 0.002, 0.0])  # standard deviations of mu per dimension
    mu = rng.standard_normal((5000, 5)) * spreads + 3.0
    covariance = np.cov(mu.T, bias=True)
    assert active_units(mu) == int((np.diag(covariance) > 0.01).sum()) == 2  # variances 1 and 0.04


def test_kl_per_dimension_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(1)
    mu = rng.normal(0, 1.5, (40, 3))
    logvar = rng.normal(-1, 0.8, (40, 3))
    sigma = np.exp(0.5 * logvar)
    z = mu[None] + sigma[None] * rng.standard_normal((20000, 40, 3))
    log_q = -0.5 * (np.log(2 * np.pi) + logvar[None] + ((z - mu[None]) / sigma[None]) ** 2)
    log_p = -0.5 * (np.log(2 * np.pi) + z ** 2)
    monte_carlo = (log_q - log_p).mean(axis=(0, 1))
    np.testing.assert_allclose(kl_per_dimension_mean(mu, logvar), monte_carlo, rtol=0.02, atol=0.01)


def test_log_aggregate_posterior_is_the_mean_of_the_images_gaussians():
    rng = np.random.default_rng(2)
    mu, sigma = rng.normal(0, 1, (7, 2)), rng.uniform(0.2, 1.5, (7, 2))
    z = rng.normal(0, 2, (50, 2))
    direct = np.mean([multivariate_normal(m, np.diag(s ** 2)).pdf(z) for m, s in zip(mu, sigma)], axis=0)
    np.testing.assert_allclose(log_aggregate_posterior(z, mu, sigma, chunk=16), np.log(direct), rtol=1e-10)
    np.testing.assert_allclose(log_prior(z), multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z), rtol=1e-12)


@pytest.mark.parametrize("dim", [2, 5])
def test_the_hole_fraction_of_a_narrow_posterior_has_a_closed_form(dim):
    """Every image encodes to N(0, s^2 I): q(z) < p(z)/10 exactly where |z|^2 > r^2 with
    r^2 = 2 (log 10 - d log s) / (1/s^2 - 1), and |z|^2 is chi-square with d degrees of freedom under the prior."""
    s = 0.5
    mu, sigma = np.zeros((6, dim)), np.full((6, dim), s)
    r_squared = 2 * (math.log(HOLE_RATIO) - dim * math.log(s)) / (1 / s ** 2 - 1)
    exact = chi2(dim).sf(r_squared)
    assert prior_hole_fraction(mu, sigma, samples=20000, seed=5) == pytest.approx(exact, abs=0.015)


def test_a_posterior_equal_to_the_prior_leaves_no_holes():
    assert prior_hole_fraction(np.zeros((3, 2)), np.ones((3, 2)), samples=2000) == 0.0


def test_the_density_grid_marks_holes_only_inside_the_prior_disc():
    mu = np.array([[1.5, 1.5], [1.6, 1.4]])
    sigma = np.full((2, 2), 0.3)
    grid = density_grid(mu, sigma, (-3, 3), (-3, 3), n=41)
    x, y = np.meshgrid(grid.x, grid.y)
    inside = x ** 2 + y ** 2 <= 4
    assert grid.hole.any() and not grid.hole[~inside].any()
    expected = inside & (grid.log_q < grid.log_p - math.log(HOLE_RATIO))
    np.testing.assert_array_equal(grid.hole, expected)
    near_codes = np.argmin(np.abs(grid.x - 1.5)), np.argmin(np.abs(grid.y - 1.5))
    assert not grid.hole[near_codes[1], near_codes[0]]
    with pytest.raises(ValueError, match="latent size 2"):
        density_grid(np.zeros((2, 3)), np.ones((2, 3)), (-1, 1), (-1, 1))


def test_auroc_equals_scikit_learns_with_and_without_ties():
    rng = np.random.default_rng(3)
    for positive, negative in [(rng.normal(1, 1, 300), rng.normal(0, 1, 200)),
                               (rng.integers(0, 4, 100).astype(float), rng.integers(0, 5, 120).astype(float))]:
        labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
        assert auroc(positive, negative) == pytest.approx(roc_auc_score(labels, np.r_[positive, negative]), abs=1e-12)
    assert auroc([1.0], [2.0]) == 0.0 and auroc([3.0], [3.0]) == 0.5
    with pytest.raises(ValueError):
        auroc([], [1.0])


def test_images_like_resizes_and_matches_channels():
    grey = torch.rand(4, 1, 8, 8)
    up = images_like(grey, (3, 28, 28))
    assert up.shape == (4, 3, 28, 28) and 0 <= float(up.min()) and float(up.max()) <= 1
    down = images_like(torch.rand(2, 3, 28, 28), (1, 7, 7))
    assert down.shape == (2, 1, 7, 7)
    same = images_like(grey, (1, 8, 8))
    assert torch.equal(same, grey)


def test_diagnose_puts_the_elbo_below_log_px(trained_vae, digits):
    images = digits.images("test")[:120]
    result = diagnose(trained_vae, images, samples=20, ood_images=torch.rand(60, 1, 16, 16), ood_name="noise")
    encoding = encode_images(trained_vae, images)
    assert result.images == 120 and len(result.kl_per_dimension) == 8
    np.testing.assert_allclose(result.kl_per_dimension, kl_per_dimension_mean(encoding.mu, encoding.logvar))
    assert result.active_units == active_units(encoding.mu)
    assert result.elbo == pytest.approx(-evaluate(trained_vae, images)["loss"])
    assert result.log_px > result.elbo
    assert 0.0 <= result.prior_hole_fraction <= 1.0
    # Uniform noise is nothing like the digits: their log p(x) is far lower.
    assert result.ood_auroc > 0.9 and result.to_dict()["ood_dataset"] == "noise"


def test_log_px_is_reported_batch_by_batch(trained_vae, digits):
    seen = []
    values = log_px_per_image(trained_vae, digits.images("test")[:50], samples=4, batch_size=20,
                              on_progress=lambda done, total: seen.append((done, total)))
    assert values.shape == (50,) and np.isfinite(values).all()
    assert seen == [(20, 50), (40, 50), (50, 50)]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae_core", "diagnose", *args], cwd=REPO_ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)


def test_the_diagnose_command_prints_one_json_object():
    result = _cli(str(DIGITS_CHECKPOINT), "--json", "--samples", "8")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"kl_per_dimension", "active_units", "elbo", "log_px", "prior_hole_fraction"}
    assert "ood_auroc" not in report
    assert len(report["kl_per_dimension"]) == 2 and all(v > 0 for v in report["kl_per_dimension"])
    assert isinstance(report["active_units"], int) and 0 <= report["active_units"] <= 2
    assert report["log_px"] >= report["elbo"]
    assert 0.0 <= report["prior_hole_fraction"] <= 1.0


@pytest.mark.skipif(not is_available("fashion-mnist"), reason="Fashion-MNIST is not on this machine")
def test_the_diagnose_command_scores_another_dataset():
    result = _cli(str(DIGITS_CHECKPOINT), "--json", "--samples", "4", "--ood", "fashion-mnist", "--limit", "200")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ood_dataset"] == "fashion-mnist" and 0.0 <= report["ood_auroc"] <= 1.0


def test_the_diagnose_command_explains_what_it_cannot_do(tmp_path):
    missing = _cli(str(tmp_path / "nothing.pt"))
    assert missing.returncode == 2 and "error:" in missing.stderr
    bad = _cli(str(DIGITS_CHECKPOINT), "--samples", "0")
    assert bad.returncode == 2 and "--samples must be at least 1" in bad.stderr
