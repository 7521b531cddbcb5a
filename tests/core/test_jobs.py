"""TrainingJob: background training of tiny digits models, its progress, cancel and divergence."""

from __future__ import annotations

import copy
import time

import pytest
import torch

from vae_core import TrainConfig, evaluate, jobs, load_dataset
from vae_core.jobs import JobSpec, JobStatus, TrainingJob, pair_label

WAIT_S = 120


def tiny_spec(kinds=("ae", "vae"), **train) -> JobSpec:
    return JobSpec("digits", kinds=kinds, latent_dim=2, hidden_dim=16,
                   train=TrainConfig(**{"epochs": 2, "batch_size": 128, **train}))


def wait_until(predicate, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def finished_job(spec: JobSpec) -> TrainingJob:
    job = TrainingJob(spec).start()
    assert job.wait(WAIT_S).done, "the job did not end in time"
    return job


def test_both_models_train_to_the_end_and_form_a_pair():
    spec = tiny_spec(epochs=2)
    job = finished_job(spec)
    progress = job.progress()
    assert progress.status == JobStatus.FINISHED
    assert progress.error is None
    assert (progress.epochs_done, progress.total_epochs, progress.fraction) == (4, 4, 1.0)
    pair = job.result_pair()
    assert set(pair.models()) == {"ae", "vae"}
    assert pair.dataset == "digits"
    for kind, model in pair.models().items():
        assert model.device.type == "cpu"
        assert not model.training
        assert [h["epoch"] for h in pair.histories[kind]] == [1, 2]
        assert pair.histories[kind] == progress.histories[kind]
        assert pair.train_settings[kind] == {**spec.train.to_dict(), "dataset": "digits"}
    assert pair.ae.config.code_activation == "linear"
    assert job.result_label() == "digits · VAE+AE latent 2 · β=1 · 2 epochs"


def test_result_pair_returns_independent_copies():
    job = finished_job(tiny_spec(kinds=("ae",), epochs=1))
    first, second = job.result_pair(), job.result_pair()
    with torch.no_grad():
        next(first.ae.parameters()).zero_()
    assert next(second.ae.parameters()).abs().sum() > 0


def test_history_grows_epoch_by_epoch_with_an_eta_while_running():
    job = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000)).start()
    try:
        seen = []
        wait_until(lambda: seen.append(job.progress()) or seen[-1].epochs_done >= 3)
        running = [p for p in seen if p.status == JobStatus.RUNNING and p.epochs_done >= 1]
        assert running, "no snapshot caught the job running after an epoch"
        lengths = [len(p.histories.get("vae", [])) for p in seen]
        assert lengths == sorted(lengths) and lengths[-1] >= 3
        latest = running[-1]
        assert latest.current_kind == "vae"
        assert latest.current_epoch == latest.epochs_done + 1
        assert latest.eta_s is not None and latest.eta_s > 0
        assert 0 < latest.fraction < 1
        assert [h["epoch"] for h in latest.histories["vae"]] == list(range(1, latest.epochs_done + 1))
    finally:
        job.cancel()
        job.wait(WAIT_S)


def test_cancel_keeps_the_model_trained_so_far():
    job = TrainingJob(tiny_spec(kinds=("ae", "vae"), epochs=10_000)).start()
    wait_until(lambda: job.progress().epochs_done >= 2)
    job.cancel()
    assert job.wait(WAIT_S) == JobStatus.CANCELLED
    pair = job.result_pair()
    # The AE (trained first) was stopped long before 10 000 epochs; the VAE never started.
    assert pair.vae is None
    history = pair.histories["ae"]
    assert 2 <= len(history) < 10_000
    # The kept weights are those the last reported epoch was measured on (an AE is deterministic).
    test_images = load_dataset("digits").images("test")
    assert evaluate(pair.ae, test_images)["loss"] == pytest.approx(history[-1]["test_loss"], rel=1e-5)
    assert job.result_label().endswith("· stopped")


def test_cancel_before_the_first_epoch_keeps_nothing():
    job = TrainingJob(tiny_spec(epochs=5))
    job.cancel()
    job.start()
    assert job.wait(WAIT_S) == JobStatus.CANCELLED
    assert job.result_pair() is None
    assert job.result_label() is None
    assert job.progress().epochs_done == 0


def test_real_divergence_is_reported_and_the_finished_model_is_kept():
    # A learning rate of 10 makes the VAE's log-variance overflow exp() in its first epoch;
    # the AE, trained first, has no exponential and survives it.
    job = finished_job(tiny_spec(kinds=("ae", "vae"), epochs=2, learning_rate=10.0))
    progress = job.progress()
    assert progress.status == JobStatus.FAILED
    assert "VAE training diverged in epoch 1" in progress.error
    assert "smaller learning rate" in progress.error
    pair = job.result_pair()
    assert pair.vae is None and pair.ae is not None
    assert len(pair.histories["ae"]) == 2 and "vae" not in pair.histories
    assert all(torch.isfinite(p).all() for p in pair.ae.parameters())


def test_divergence_after_some_epochs_keeps_the_last_good_weights(monkeypatch):
    """Poison the weights at the start of epoch 3: train_model must restore epoch 2's and the job report it."""
    real_train_model = jobs.train_model
    weights_after_epoch = {}

    def train_model_that_blows_up_in_epoch_3(model, dataset, config, on_epoch, should_stop):
        def record(report):
            weights_after_epoch[report.epoch] = copy.deepcopy(model.state_dict())
            on_epoch(report)

        def poison_in_epoch_3():
            if len(weights_after_epoch) == 2:
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))
            return should_stop()

        return real_train_model(model, dataset, config, on_epoch=record, should_stop=poison_in_epoch_3)

    monkeypatch.setattr(jobs, "train_model", train_model_that_blows_up_in_epoch_3)
    job = finished_job(tiny_spec(kinds=("vae",), epochs=5))
    progress = job.progress()
    assert progress.status == JobStatus.FAILED
    assert "diverged in epoch 3" in progress.error and "epoch 2 were kept" in progress.error
    pair = job.result_pair()
    assert len(pair.histories["vae"]) == 2
    kept = pair.vae.state_dict()
    for name, tensor in weights_after_epoch[2].items():
        assert torch.equal(kept[name], tensor.cpu()), name
    assert job.result_label().endswith("training failed, last good weights")


def test_failure_other_than_divergence_ends_the_job_with_its_message(monkeypatch):
    def dataset_gone(*args, **kwargs):
        raise OSError("disk unplugged")

    monkeypatch.setattr(jobs, "load_dataset", dataset_gone)
    job = finished_job(tiny_spec())
    assert job.status == JobStatus.FAILED
    assert "disk unplugged" in job.progress().error
    assert job.result_pair() is None


def state_of(job: TrainingJob, kind: str = "vae") -> dict[str, torch.Tensor]:
    return getattr(job.result_pair(), kind).state_dict()


def test_same_seed_same_weights_even_when_jobs_are_started_together():
    spec = tiny_spec(kinds=("vae",), epochs=2, seed=7)
    # Started together, the second waits for the first: they must not draw from each other's noise.
    together = [TrainingJob(spec).start() for _ in range(2)]
    for job in together:
        assert job.wait(WAIT_S) == JobStatus.FINISHED
    alone = finished_job(spec)
    other_seed = finished_job(tiny_spec(kinds=("vae",), epochs=2, seed=8))
    reference = state_of(alone)
    for job in together:
        assert all(torch.equal(reference[k], v) for k, v in state_of(job).items())
    assert not all(torch.equal(reference[k], v) for k, v in state_of(other_seed).items())


def test_a_job_trains_the_same_pair_as_the_cli(tmp_path):
    from vae_core.checkpoint import load_checkpoint
    from vae_core.cli import main as cli_main

    output = tmp_path / "cli.pt"
    assert cli_main(["train", "--dataset", "digits", "--model", "both", "--latent-dim", "2", "--hidden-dim", "16",
                     "--ae-code", "linear", "--epochs", "2", "--seed", "5", "--json", "-o", str(output)]) == 0
    from_cli = load_checkpoint(output)
    from_job = finished_job(tiny_spec(epochs=2, seed=5)).result_pair()
    for kind in ("ae", "vae"):
        expected = getattr(from_cli, kind).state_dict()
        assert all(torch.equal(expected[k], v) for k, v in getattr(from_job, kind).state_dict().items()), kind
        assert from_job.train_settings[kind] == from_cli.train_settings[kind]


def test_a_queued_job_waits_and_can_be_cancelled_while_waiting():
    first = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000)).start()
    second = TrainingJob(tiny_spec(kinds=("vae",), epochs=1)).start()
    try:
        wait_until(lambda: first.progress().epochs_done >= 1)
        assert second.status == JobStatus.QUEUED
        second.cancel()
        assert second.wait(WAIT_S) == JobStatus.CANCELLED
        assert first.status == JobStatus.RUNNING
    finally:
        first.cancel()
        first.wait(WAIT_S)


def test_a_job_nobody_watches_stops_itself():
    job = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000), abandon_after_s=0.5).start()
    assert job.wait(WAIT_S) == JobStatus.CANCELLED
    assert job.progress().abandoned
    assert job.progress().epochs_done < 10_000


def test_a_watched_job_keeps_training():
    job = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000), abandon_after_s=0.5).start()
    try:
        watch_until = time.monotonic() + 2.0
        while time.monotonic() < watch_until:
            job.keep_alive()
            assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
            time.sleep(0.05)
    finally:
        job.cancel()
        job.wait(WAIT_S)
    assert job.status == JobStatus.CANCELLED and not job.progress().abandoned


@pytest.mark.parametrize("changes, message", [
    ({"dataset": "imagenet"}, "unknown dataset"),
    ({"kinds": ()}, "kinds"),
    ({"kinds": ("gan",)}, "kinds"),
    ({"kinds": ("vae", "vae")}, "kinds"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"hidden_dim": 0}, "hidden_dim"),
    ({"ae_code_activation": "tanh"}, "code_activation"),
])
def test_spec_refuses_settings_a_model_cannot_have(changes, message):
    with pytest.raises(ValueError, match=message):
        JobSpec(**{"dataset": "digits", **changes})


def test_spec_trains_the_ae_before_the_vae_and_supports_sweeps():
    spec = JobSpec("digits", kinds=("vae", "ae"))
    assert spec.kinds == ("ae", "vae")
    assert spec.model_config("ae").input_shape == (1, 8, 8)
    sweep = [spec.with_train(beta=b) for b in (0.5, 4.0)]
    assert [s.train.beta for s in sweep] == [0.5, 4.0]
    assert spec.train.beta == 1.0 and sweep[0].kinds == spec.kinds


def test_pair_label_describes_what_the_pair_records():
    job = finished_job(JobSpec("digits", kinds=("vae",), latent_dim=3, hidden_dim=16,
                               train=TrainConfig(epochs=1, beta=4.0, loss="mse")))
    pair = job.result_pair()
    assert pair_label(pair) == "digits · VAE latent 3 · β=4 · MSE · 1 epoch"
    pair.ae = finished_job(JobSpec("digits", kinds=("ae",), latent_dim=5, hidden_dim=16,
                                   train=TrainConfig(epochs=2))).result_pair().ae
    pair.histories["ae"] = [{}, {}]
    assert pair_label(pair) == "digits · VAE latent 3, AE latent 5 · β=4 · MSE · VAE 1 epoch, AE 2 epochs"
    pair.train_settings["vae"] = {"beta": "huge", "loss": ["not", "a", "loss"]}
    assert pair_label(pair) == "digits · VAE latent 3, AE latent 5 · VAE 1 epoch, AE 2 epochs"
