"""The beta sweep: one VAE per beta, trained in turn in one task; more beta trades reconstruction for a smaller KL."""

import pytest
import torch

from vae_core import load_dataset
from vae_core.jobs import BetaSweep, JobSpec, JobStatus
from vae_core.training import TrainConfig


def spec(epochs=3):
    return JobSpec("digits", kinds=("ae", "vae"), latent_dim=2, hidden_dim=32,
                   train=TrainConfig(epochs=epochs, batch_size=128, seed=0))


def test_sweep_traces_rate_against_distortion(engine):
    sweep = BetaSweep(spec(epochs=6), [4.0, 0.25, 1.0], engine=engine).start()
    for job in sweep.jobs.values():
        assert job.wait(timeout=120) == JobStatus.FINISHED
    assert sweep.done and sweep.fraction == 1.0
    points = sweep.points()
    assert [p.beta for p in points] == [0.25, 1.0, 4.0]
    assert all(p.epochs_done == 6 for p in points)
    # A heavier KL weight buys a smaller KL (rate) at the price of a worse reconstruction (distortion).
    assert points[0].kl > points[1].kl > points[2].kl
    assert points[0].reconstruction < points[2].reconstruction
    pair = sweep.pair(4.0)
    assert pair.ae is None and pair.vae is not None
    assert pair.train_settings["vae"]["beta"] == 4.0
    # Active units of each VAE on the held-out digits, against the variance of its encoder means computed here.
    held_out = load_dataset("digits").images("test")
    for beta in (0.25, 4.0):
        with torch.no_grad():
            mu, _ = sweep.pair(beta).vae.encode(held_out)
        assert sweep.active_units(beta) == int((mu.double().var(0, unbiased=False) > 0.01).sum())


def test_sweep_can_be_cancelled_and_needs_two_betas(engine):
    with pytest.raises(ValueError):
        BetaSweep(spec(), [1.0, 1.0])
    sweep = BetaSweep(spec(epochs=200), [0.5, 2.0], engine=engine).start()
    sweep.cancel()
    for job in sweep.jobs.values():
        assert job.wait(timeout=120) == JobStatus.CANCELLED
    assert sweep.done
