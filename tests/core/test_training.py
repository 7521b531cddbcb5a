"""Training on digits: learning, reproducibility, cancel, divergence, config validation, devices."""

from __future__ import annotations

import math

import pytest
import torch
from core_helpers import small_config, snapshot, state_dicts_equal

from vae_core import training
from vae_core.models import ModelConfig
from vae_core.training import (
    EpochReport,
    TrainConfig,
    TrainingDiverged,
    available_devices,
    evaluate,
    new_model,
    resolve_device,
    resolve_precision,
    train_model,
)

LOSS_FIELDS = ("train_loss", "train_reconstruction", "train_kl", "test_loss", "test_reconstruction", "test_kl")


def _config(**overrides) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "batch_size": 128, "learning_rate": 3e-3, "seed": 0, "device": "cpu",
                          **overrides})


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_training_lowers_the_test_loss(digits, kind):
    model = new_model(small_config(kind), seed=0)
    test_x = digits.images("test")
    before = evaluate(model, test_x)
    reports: list[EpochReport] = []
    result = train_model(model, digits, _config(epochs=4), on_epoch=reports.append)
    after = evaluate(model, test_x)
    assert result.model is model and not result.cancelled
    assert after["loss"] < before["loss"] - 5.0, (before, after)  # nats per image
    assert [r.epoch for r in reports] == [1, 2, 3, 4] and result.history == reports
    for report in reports:
        assert report.model == kind and report.epochs == 4
        assert all(math.isfinite(getattr(report, f)) for f in LOSS_FIELDS)
        assert report.train_loss == pytest.approx(report.train_reconstruction + report.train_kl)
        assert report.test_loss == pytest.approx(report.test_reconstruction + report.test_kl)
        assert report.train_s >= 0 and report.elapsed_s >= report.train_s
        if kind == "ae":
            assert report.train_kl == 0 and report.test_kl == 0
        else:
            assert report.train_kl > 0 and report.test_kl > 0
        assert set(report.to_dict()) >= {"epoch", "train_s", "train_loss", "test_loss"}
    assert reports[-1].train_loss < reports[0].train_loss
    assert not model.training  # left in eval mode


def test_evaluate_reports_mean_per_image_terms(trained_vae, digits):
    x = digits.images("test")[:100]
    torch.manual_seed(0)
    figures = evaluate(trained_vae, x, beta=2.0, batch_size=7)
    assert figures["loss"] == pytest.approx(figures["reconstruction"] + 2.0 * figures["kl"])
    mu, logvar = trained_vae.encode(x)
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, torch.exp(0.5 * logvar)),
        torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1).mean().item()
    assert figures["kl"] == pytest.approx(kl, rel=1e-4)
    assert trained_vae.training is False


def test_same_seed_gives_identical_histories_and_weights(digits):
    runs = []
    for draws in (0, 17):
        model = new_model(small_config("vae"), seed=3)
        torch.rand(draws)  # whatever happened to the global RNG in between must not matter
        result = train_model(model, digits, _config(seed=3))
        runs.append(([tuple(getattr(r, f) for f in LOSS_FIELDS) for r in result.history], snapshot(model)))
    assert runs[0][0] == runs[1][0]
    assert state_dicts_equal(runs[0][1], runs[1][1])

    other = new_model(small_config("vae"), seed=4)
    history = [tuple(getattr(r, f) for f in LOSS_FIELDS) for r in train_model(other, digits, _config(seed=4)).history]
    assert history != runs[0][0]
    assert not state_dicts_equal(snapshot(other), runs[0][1])


def test_training_seed_alone_changes_the_run(digits):
    # Same initial weights, different training seed: batches and noise differ.
    a, b = new_model(small_config("vae"), seed=0), new_model(small_config("vae"), seed=0)
    train_model(a, digits, _config(seed=0, epochs=1))
    train_model(b, digits, _config(seed=1, epochs=1))
    assert not state_dicts_equal(snapshot(a), snapshot(b))


def test_should_stop_cancels_and_keeps_the_model(digits):
    model = new_model(small_config("vae"), seed=0)
    initial = snapshot(model)
    calls = []

    def stop_after_three_batches() -> bool:
        calls.append(None)
        return len(calls) > 3

    result = train_model(model, digits, _config(epochs=5, batch_size=64), should_stop=stop_after_three_batches)
    assert result.cancelled is True
    assert result.model is model
    assert len(calls) == 4  # polled before every batch, no batch after the stop
    assert len(result.history) <= 1
    weights = snapshot(model)
    assert not state_dicts_equal(weights, initial)  # three batches were learned
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_should_stop_before_any_batch_leaves_the_initial_weights(digits):
    model = new_model(small_config("ae"), seed=0)
    initial = snapshot(model)
    result = train_model(model, digits, _config(), should_stop=lambda: True)
    assert result.cancelled and result.history == []
    assert state_dicts_equal(snapshot(model), initial)


def test_cancel_in_a_later_epoch_keeps_the_finished_epochs(digits):
    model = new_model(small_config("vae"), seed=0)
    finished = []
    result = train_model(model, digits, _config(epochs=10), on_epoch=finished.append,
                         should_stop=lambda: len(finished) >= 2)
    assert result.cancelled
    assert [r.epoch for r in result.history] == [1, 2]


def test_huge_learning_rate_diverges_and_keeps_the_last_good_weights(digits):
    # lr 10 (the largest TrainConfig allows) with a full-batch step and a heavy KL weight
    # overflows exp(logvar) in the first epoch.
    model = new_model(small_config("vae", hidden_dim=64), seed=0)
    initial = snapshot(model)
    with pytest.raises(TrainingDiverged, match="learning rate"):
        train_model(model, digits, _config(epochs=3, batch_size=2048, learning_rate=10.0, beta=1000.0))
    weights = snapshot(model)
    assert state_dicts_equal(weights, initial)  # diverged in epoch 1: the epoch-0 weights are kept
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_nan_in_a_later_epoch_restores_the_previous_epoch(digits, monkeypatch):
    model = new_model(small_config("vae"), seed=0)
    after_epoch: dict[int, dict] = {}
    poison = {"on": False}
    real_batch_losses = training._batch_losses

    def batch_losses(*args, **kwargs):
        reconstruction, kl = real_batch_losses(*args, **kwargs)
        if poison["on"]:
            reconstruction = reconstruction * float("nan")
        return reconstruction, kl

    def on_epoch(report):
        after_epoch[report.epoch] = snapshot(model)
        if report.epoch == 2:
            poison["on"] = True

    monkeypatch.setattr(training, "_batch_losses", batch_losses)
    with pytest.raises(TrainingDiverged, match="epoch 3"):
        train_model(model, digits, _config(epochs=5), on_epoch=on_epoch)
    assert sorted(after_epoch) == [1, 2]
    weights = snapshot(model)
    assert state_dicts_equal(weights, after_epoch[2])
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_mismatched_image_shape_is_refused(digits):
    model = new_model(ModelConfig(kind="vae", input_shape=(1, 28, 28), hidden_dim=8, latent_dim=2))
    with pytest.raises(ValueError, match="expects images"):
        train_model(model, digits, _config(epochs=1))


def test_mse_and_beta_are_used(digits):
    model = new_model(small_config("vae"), seed=0)
    result = train_model(model, digits, _config(epochs=1, loss="mse", beta=0.5))
    report = result.history[0]
    assert report.train_loss == pytest.approx(report.train_reconstruction + 0.5 * report.train_kl)
    # The Gaussian NLL carries (D/2) log(pi) per image, D = 64 pixels.
    assert report.test_reconstruction > 32 * math.log(math.pi)


@pytest.mark.parametrize("bad", [
    dict(epochs=0), dict(epochs=10_001), dict(batch_size=0), dict(batch_size=65_537),
    dict(learning_rate=0.0), dict(learning_rate=-1e-3), dict(learning_rate=11.0),
    dict(learning_rate=float("nan")), dict(learning_rate=float("inf")),
    dict(beta=-0.1), dict(beta=1001.0), dict(beta=float("nan")), dict(loss="l1"),
])
def test_train_config_rejects_invalid_values(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)


def test_train_config_defaults_and_dict():
    config = TrainConfig()
    assert config.to_dict() == {"epochs": 10, "batch_size": 128, "learning_rate": 1e-3, "beta": 1.0,
                                "loss": "bce", "seed": 0, "device": "auto", "precision": "auto"}
    TrainConfig(beta=0.0, learning_rate=10.0, epochs=1, batch_size=1)  # the edges are allowed


def test_devices():
    devices = available_devices()
    assert devices[-1] == "cpu" and len(devices) == len(set(devices))
    assert resolve_device("auto") == torch.device(devices[0])
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="not available"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert "cuda" not in devices
        with pytest.raises(ValueError):
            resolve_device("cuda:0")


# --- what the speed work must not change ----------------------------------------------------

def test_flushing_subnormal_adam_moments_leaves_the_weights_unchanged(digits, monkeypatch):
    optimizers = []
    real_adam = training._adam
    monkeypatch.setattr(training, "_adam", lambda *args: optimizers.append(real_adam(*args)) or optimizers[-1])
    tiny = torch.finfo(torch.float32).tiny
    weights, subnormals = {}, {}
    for every in (1, 10**9):  # flush after every step, and never
        monkeypatch.setattr(training, "_FLUSH_SUBNORMALS_EVERY", every)
        model = new_model(small_config("vae", latent_dim=2, hidden_dim=32), seed=0)
        # ~1,100 steps: long enough for moments of weights whose gradient turned 0 to decay into subnormals.
        train_model(model, digits, _config(epochs=12, batch_size=16, learning_rate=1e-3))
        weights[every] = snapshot(model)
        subnormals[every] = sum(int(((m != 0) & (m.abs() < tiny)).sum()) for state in optimizers[-1].state.values()
                                for m in (state["exp_avg"], state["exp_avg_sq"]))
    assert subnormals[10**9] > 0, "the run without flushing must have had subnormal moments to flush"
    assert subnormals[1] == 0
    assert state_dicts_equal(weights[1], weights[10**9])


def test_training_and_evaluation_draw_nothing_from_the_global_generator(digits):
    state = torch.random.get_rng_state()
    model = new_model(small_config("vae"), seed=0)
    train_model(model, digits, _config(epochs=1))
    evaluate(model, digits.images("test"))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_evaluation_is_reproducible_from_its_seed(trained_vae, digits):
    x = digits.images("test")
    assert evaluate(trained_vae, x) == evaluate(trained_vae, x)
    assert evaluate(trained_vae, x)["reconstruction"] != evaluate(trained_vae, x, seed=1)["reconstruction"]


def test_precision_auto_is_bf16_only_on_a_cpu_that_computes_it(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(training, "cpu_computes_bf16", lambda: True)
    assert [resolve_precision(p, cpu) for p in ("auto", "bf16", "fp32")] == ["bf16", "bf16", "fp32"]
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"
    monkeypatch.setattr(training, "cpu_computes_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="native bfloat16"):
        resolve_precision("bf16", cpu)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


@pytest.mark.skipif(not training.cpu_computes_bf16(), reason="this CPU has no native bfloat16")
@pytest.mark.parametrize("kind, architecture", [("vae", "mlp"), ("ae", "mlp"), ("vae", "conv")])
def test_bf16_trains_as_well_as_fp32(digits, kind, architecture):
    results = {}
    for precision in ("fp32", "bf16"):
        model = new_model(small_config(kind, hidden_dim=64, architecture=architecture), seed=0)
        results[precision] = (train_model(model, digits, _config(epochs=8, precision=precision)).history[-1],
                              snapshot(model))
    assert not state_dicts_equal(results["fp32"][1], results["bf16"][1]), "bf16 must take another path"
    assert results["bf16"][0].test_loss == pytest.approx(results["fp32"][0].test_loss, abs=1.0)  # nats per image
