"""Training on a CUDA GPU: one captured step replayed as a CUDA graph, checked against op-by-op steps.

These run only where torch sees a CUDA device (CI has none; they run on a GPU machine with
``python -m pytest tests/core/test_training_cuda.py``).
"""

from __future__ import annotations

import pytest
import torch
from core_helpers import small_config

from vae_core import training
from vae_core.pairs import JobSpec, train_pair
from vae_core.training import TrainConfig, new_model, train_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _train(digits, kind="vae", epochs=4, seed=0, batch_size=64):
    model = new_model(small_config(kind, latent_dim=4, hidden_dim=64), seed=seed)
    return train_model(model, digits, TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=3e-3,
                                                  seed=seed, device="cuda"))


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_graphed_steps_learn_as_op_by_op_steps_do(digits, kind, monkeypatch):
    graphed = _train(digits, kind)
    monkeypatch.setattr(training, "_GRAPH_MIN_BATCHES", 10**9)  # op by op
    eager = _train(digits, kind)
    for a, b in zip(graphed.history, eager.history):
        # The same weights and batches; only the VAE's noise is drawn in another order.
        assert a.test_loss == pytest.approx(b.test_loss, abs=0.02 * abs(b.test_loss) + 0.5)
    assert graphed.history[-1].test_loss < graphed.history[0].test_loss


def test_the_graph_starts_from_the_initial_weights_and_a_fresh_adam(digits, monkeypatch):
    """The capture's warm-up steps must leave no trace: the first step equals an op-by-op first step (an AE,
    which draws no noise, on one batch of the same order)."""
    graphed = _train(digits, "ae", epochs=1)
    monkeypatch.setattr(training, "_GRAPH_MIN_BATCHES", 10**9)
    eager = _train(digits, "ae", epochs=1)
    for p, q in zip(graphed.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)


def test_graphed_training_is_reproducible_from_its_seed(digits):
    first, second = _train(digits, seed=3), _train(digits, seed=3)
    for p, q in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(p, q)
    assert [r.test_loss for r in first.history] == [r.test_loss for r in second.history]


def test_a_last_short_batch_and_a_stop_work_beside_the_graph(digits):
    n = len(digits.images("train"))
    batch_size = 64
    assert n % batch_size, "the digits' training split should leave a short last batch"
    calls = []

    def stop_in_the_second_epoch() -> bool:
        calls.append(1)
        return len(calls) > n // batch_size + 5

    model = new_model(small_config("vae", latent_dim=4, hidden_dim=64), seed=0)
    result = train_model(model, digits, TrainConfig(epochs=3, batch_size=batch_size, seed=0, device="cuda"),
                         should_stop=stop_in_the_second_epoch)
    assert result.cancelled and [r.epoch for r in result.history] == [1, 2]
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_a_pair_trained_on_auto_records_the_gpu_it_ran_on(digits):
    spec = JobSpec("digits", kinds=("vae",), latent_dim=2, hidden_dim=16, train=TrainConfig(epochs=1))
    started = []
    pair = train_pair(spec, digits, on_start=lambda kinds, device: started.append(device)).pair
    assert pair.train_settings["vae"]["device"] == "auto"
    assert pair.train_settings["vae"]["trained_on"] == started[0] == f"cuda:{torch.cuda.current_device()}"
