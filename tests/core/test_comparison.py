"""vae_core.comparison: prior mass and coverage, image picks, AE-vs-VAE reconstructions, cached summaries."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vae_core import load_checkpoint, load_dataset
from vae_core.comparison import (
    compare_reconstructions,
    comparison_indices,
    interpolation_partner,
    model_summaries,
    prior_coverage,
    prior_mass_inside,
    radius_holding_prior_mass,
)
from vae_core.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]

SHIPPED = REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt"


@pytest.fixture(scope="module")
def shipped_workspace() -> Workspace:
    pair = load_checkpoint(SHIPPED)
    return Workspace(pair, load_dataset(pair.dataset, download=False), label="shipped digits")


# --- the prior's mass --------------------------------------------------------------------

def test_prior_mass_matches_known_values():
    assert prior_mass_inside(2.0, 2) == pytest.approx(1 - math.exp(-2.0))  # Rayleigh CDF
    assert prior_mass_inside(1.0, 2) == pytest.approx(1 - math.exp(-0.5))
    assert prior_mass_inside(1.0, 1) == pytest.approx(0.682689, abs=1e-6)  # the 68% rule
    assert prior_mass_inside(2.0, 1) == pytest.approx(0.954500, abs=1e-6)


@pytest.mark.parametrize("dim", [1, 2, 8, 32])
def test_radius_holding_prior_mass_inverts_prior_mass(dim):
    radius = radius_holding_prior_mass(0.8647, dim)
    assert prior_mass_inside(radius, dim) == pytest.approx(0.8647, abs=1e-9)


def test_coverage_of_prior_draws_matches_prior_mass_in_two_dimensions():
    codes = np.random.default_rng(0).standard_normal((20_000, 2))
    coverage = prior_coverage(codes, 2.0)
    assert coverage.radius == 2.0
    assert coverage.fraction == pytest.approx(coverage.prior_mass, abs=0.01)


def test_coverage_drops_for_codes_wider_than_the_prior():
    codes = 4.0 * np.random.default_rng(0).standard_normal((20_000, 2))
    assert prior_coverage(codes, 2.0).fraction == pytest.approx(1 - math.exp(-2.0 / 16), abs=0.01)


def test_coverage_in_higher_dimensions_widens_the_radius_to_the_same_mass():
    codes = np.random.default_rng(1).standard_normal((20_000, 16))
    coverage = prior_coverage(codes, 2.0)
    assert coverage.radius > 4.0  # a radius of 2 would hold almost none of N(0, I_16)
    assert coverage.prior_mass == pytest.approx(1 - math.exp(-2.0))
    assert coverage.fraction == pytest.approx(coverage.prior_mass, abs=0.01)


# --- which images ---------------------------------------------------------------------------

def test_comparison_indices_are_distinct_reproducible_and_in_range():
    picks = comparison_indices(50, 10, seed=3)
    assert len(set(picks.tolist())) == 10 and picks.min() >= 0 and picks.max() < 50
    assert np.array_equal(picks, comparison_indices(50, 10, seed=3))
    assert not np.array_equal(picks, comparison_indices(50, 10, seed=4))


def test_comparison_indices_put_the_first_in_front_once():
    picks = comparison_indices(20, 6, seed=0, first=13)
    assert picks[0] == 13 and (picks == 13).sum() == 1 and len(set(picks.tolist())) == 6


def test_comparison_indices_never_ask_for_more_than_exist():
    assert sorted(comparison_indices(4, 10, seed=0, first=2).tolist()) == [0, 1, 2, 3]


def test_interpolation_partner_is_of_another_class():
    labels = np.array([3, 3, 3, 5, 3])
    assert interpolation_partner(labels, 0) == 3
    assert interpolation_partner(labels, 3) == 0


def test_interpolation_partner_with_one_class_is_another_image():
    assert interpolation_partner(np.zeros(4, dtype=int), 3) == 0


# --- the shipped pair, side by side ---------------------------------------------------------

def test_reconstruction_errors_are_per_image_pixel_mse(shipped_workspace):
    ws = shipped_workspace
    indices = np.array([5, 0, 42])
    comparison = compare_reconstructions(ws, indices)
    assert np.array_equal(comparison.indices, indices)
    assert comparison.originals.shape == (3, ws.image_side, ws.image_side)
    for kind in ("ae", "vae"):
        expected = [np.mean((ws.reconstruction(kind, i) - ws.image(i)) ** 2) for i in indices]
        np.testing.assert_allclose(comparison.pixel_mse[kind], expected, rtol=1e-5)
        np.testing.assert_allclose(comparison.reconstructions[kind][1], ws.reconstruction(kind, 0), atol=1e-6)


def test_reconstruction_errors_over_the_split_average_to_the_summary(shipped_workspace):
    ws = shipped_workspace
    comparison = compare_reconstructions(ws, np.arange(len(ws)))
    for kind, summary in model_summaries(ws).items():
        assert comparison.pixel_mse[kind].mean() == pytest.approx(summary.pixel_mse, rel=1e-4)


def test_shipped_vae_codes_sit_in_the_prior_and_ae_codes_do_not(shipped_workspace):
    ws = shipped_workspace
    vae = prior_coverage(ws.encodings["vae"].mu, 2.0)
    ae = prior_coverage(ws.encodings["ae"].mu, 2.0)
    assert vae.fraction > 0.7 and ae.fraction < 0.3


def test_model_summaries_are_computed_once_per_workspace(shipped_workspace, monkeypatch):
    from vae_core import workspace

    pair = load_checkpoint(SHIPPED)
    ws = Workspace(pair, shipped_workspace.dataset, label="counted")
    calls = []
    original = workspace.evaluate
    monkeypatch.setattr(workspace, "evaluate", lambda model, *a, **k: calls.append(model) or original(model, *a, **k))
    first = model_summaries(ws)
    second = model_summaries(ws)
    assert first == second and len(calls) == 2  # one pass over the split per model, not per call
    assert first["vae"].kl > 0 and first["ae"].kl is None
    # Another workspace of the same models computes its own (a new pair is never shown an old pair's figures).
    other = Workspace(pair, shipped_workspace.dataset, label="another")
    model_summaries(other)
    assert len(calls) == 4


def test_per_point_analyses_are_cached_per_workspace_and_shared_by_concurrent_callers(shipped_workspace,
                                                                                      monkeypatch):
    import threading

    from vae_core import workspace

    ws = Workspace(load_checkpoint(SHIPPED), shipped_workspace.dataset, label="concurrent")
    calls = []
    original = workspace.point_log_px
    monkeypatch.setattr(workspace, "point_log_px", lambda *a, **k: calls.append(1) or original(*a, **k))
    results = []
    threads = [threading.Thread(target=lambda: results.append(ws.log_px(5))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(set(results)) == 1
    assert ws.log_px(5) == results[0] and len(calls) == 1
    assert ws.log_px(5) >= ws.analyse(5).elbo - 1.0

