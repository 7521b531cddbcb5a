"""Per-image ELBO and log p(x) for the pages (LikelihoodJob), and the prior's holes per code, on a Workspace."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from core_helpers import REPO_ROOT

from vae_core import load_checkpoint, load_dataset
from vae_core.diagnostics import (
    HOLE_RATIO,
    LikelihoodJob,
    density_grid,
    elbo_per_image,
    in_prior_hole,
    log_px_per_image,
    prior_hole_fraction,
)
from vae_core.training import evaluate
from vae_core.workspace import HELD_OUT, Workspace


@pytest.fixture(scope="module")
def digits_workspace() -> Workspace:
    pair = load_checkpoint(REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt")
    return Workspace(pair, load_dataset(pair.dataset, download=False), label="shipped digits")


def test_the_per_image_elbo_averages_to_evaluates(trained_vae, digits):
    images = digits.images("test")
    elbo = elbo_per_image(trained_vae, images, batch_size=100)
    assert elbo.shape == (len(images),)
    # Same seed, same batches: the same draws as evaluate, so the same mean.
    assert elbo.mean() == pytest.approx(-evaluate(trained_vae, images, batch_size=100)["loss"], rel=1e-5)


def test_a_job_gives_log_px_above_the_elbo_on_average_and_runs_once(trained_vae, digits):
    images = digits.images("test")[:80]
    loads = []

    def load() -> torch.Tensor:
        loads.append(1)
        return images

    job = LikelihoodJob(trained_vae, load, samples=8)
    assert not job.finished and job.progress == 0.0
    claims = []
    threads = [threading.Thread(target=lambda: claims.append(job.claim())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claims) == [False, False, False, True]
    assert not job.wait(timeout=0)
    job.run()
    assert job.wait(timeout=0) and job.error is None and job.progress == 1.0 and len(loads) == 1
    result = job.result
    np.testing.assert_allclose(result.log_px, log_px_per_image(trained_vae, images, samples=8))
    np.testing.assert_allclose(result.elbo, elbo_per_image(trained_vae, images))
    np.testing.assert_allclose(result.gap, result.log_px - result.elbo)
    assert result.samples == 8 and result.gap.mean() > 0


def test_a_failing_set_is_reported_not_raised(trained_vae):
    def broken() -> torch.Tensor:
        raise OSError("no such file")

    job = LikelihoodJob(trained_vae, broken)
    job.run()
    assert job.finished and job.result is None and "no such file" in job.error


def test_a_cancelled_job_stops_after_its_batch(trained_vae, digits):
    job = LikelihoodJob(trained_vae, lambda: digits.images("train"), samples=2)  # 1,437 images: three batches
    job.cancel()
    job.run()
    assert job.finished and job.result is None and "cancelled" in job.error
    assert 0 < job.done_images < job.total_images  # one batch of 500, not all the images


def test_the_workspace_keeps_one_job_per_set_and_resizes_other_sets(digits_workspace):
    ws = digits_workspace
    assert ws.likelihood_job(HELD_OUT, samples=4) is ws.likelihood_job(HELD_OUT, samples=4)
    assert ws.likelihood_job(HELD_OUT, samples=4) is not ws.likelihood_job(HELD_OUT, samples=5)
    bigger = ws.likelihood_job("noise", images=lambda: torch.rand(6, 3, 28, 28), samples=4)
    bigger.run()
    assert bigger.error is None and bigger.result.log_px.shape == (6,)
    assert "digits" not in ws.comparison_sets()


def test_hole_marks_agree_with_the_densities(digits_workspace):
    ws = digits_workspace
    codes = ws.encodings["vae"]
    grid = density_grid(codes.mu, codes.sigma, (-2.0, 2.0), (-2.0, 2.0), n=25)
    z = np.stack(np.meshgrid(grid.x, grid.y), -1).reshape(-1, 2)
    marked = ws.in_prior_hole(z).reshape(25, 25)
    assert marked.any() and not marked.all()
    np.testing.assert_array_equal(marked, grid.log_q < grid.log_p - np.log(HOLE_RATIO))
    np.testing.assert_array_equal(in_prior_hole(z, codes.mu, codes.sigma).reshape(25, 25), marked)
    assert ws.prior_hole_fraction() == prior_hole_fraction(codes.mu, codes.sigma)
