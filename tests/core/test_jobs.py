"""TrainingJob on the dask engine's workers: progress, cancel, divergence, crashes, reproducibility, the CLI's equal."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import pytest
import torch
from core_helpers import WAIT_S, state_dicts_equal, wait_until

from vae_core import TrainConfig, evaluate, load_dataset
from vae_core.data import IDX_FILES
from vae_core.engine import TrainingEngine
from vae_core.jobs import JobSpec, JobStatus, TrainingJob, train_pair


def tiny_spec(kinds=("ae", "vae"), **train) -> JobSpec:
    return JobSpec("digits", kinds=kinds, latent_dim=2, hidden_dim=16,
                   train=TrainConfig(**{"epochs": 2, "batch_size": 128, **train}))


def finished_job(spec: JobSpec, engine: TrainingEngine) -> TrainingJob:
    job = TrainingJob(spec, engine=engine).start()
    assert job.wait(WAIT_S).done, "the job did not end in time"
    return job


def state_of(job: TrainingJob, kind: str = "vae") -> dict[str, torch.Tensor]:
    return getattr(job.result_pair(), kind).state_dict()


def test_both_models_train_to_the_end_and_form_a_pair(engine):
    spec = tiny_spec(epochs=2)
    job = finished_job(spec, engine)
    progress = job.progress()
    assert progress.status == JobStatus.FINISHED
    assert progress.error is None and progress.queue_position is None
    assert (progress.epochs_done, progress.total_epochs, progress.fraction) == (4, 4, 1.0)
    pair = job.result_pair()
    assert set(pair.models()) == {"ae", "vae"}
    assert pair.dataset == "digits"
    for kind, model in pair.models().items():
        assert model.device.type == "cpu"
        assert not model.training
        assert [h["epoch"] for h in pair.histories[kind]] == [1, 2]
        assert pair.histories[kind] == progress.histories[kind]
        # The device asked for ("auto") and the one it ran on, as the worker reported it.
        assert pair.train_settings[kind] == {**spec.train.to_dict(), "dataset": "digits", "trained_on": "cpu"}
    assert progress.device == "cpu"
    assert pair.ae.config.code_activation == "linear"
    assert job.worker_pid is None


def test_result_pair_returns_independent_copies(engine):
    job = finished_job(tiny_spec(kinds=("ae",), epochs=1), engine)
    first, second = job.result_pair(), job.result_pair()
    with torch.no_grad():
        next(first.ae.parameters()).zero_()
    assert next(second.ae.parameters()).abs().sum() > 0


def test_history_grows_epoch_by_epoch_with_an_eta_while_running(engine):
    job = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000), engine=engine).start()
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
        assert job.result_pair() is None, "a model still in training is not part of the result"
    finally:
        job.cancel()
        job.wait(WAIT_S)


def test_cancel_keeps_both_models_trained_so_far(engine):
    job = TrainingJob(tiny_spec(kinds=("ae", "vae"), epochs=10_000), engine=engine).start()
    wait_until(lambda: job.progress().epochs_done >= 2)
    job.cancel()
    assert job.wait(WAIT_S) == JobStatus.CANCELLED
    pair = job.result_pair()
    # The AE and the VAE train side by side: a stop keeps both, with as many epochs each.
    assert pair.ae is not None and pair.vae is not None
    history = pair.histories["ae"]
    assert 1 <= len(history) < 10_000 and len(pair.histories["vae"]) == len(history)
    # The kept weights are those the last reported epoch was measured on (an AE is deterministic).
    test_images = load_dataset("digits").images("test")
    assert evaluate(pair.ae, test_images)["loss"] == pytest.approx(history[-1]["test_loss"], rel=1e-5)


def test_cancel_before_the_first_epoch_keeps_nothing(engine):
    job = TrainingJob(tiny_spec(epochs=5), engine=engine)
    job.cancel()
    job.start()
    assert job.wait(WAIT_S) == JobStatus.CANCELLED
    assert job.result_pair() is None
    assert job.progress().epochs_done == 0


def test_real_divergence_is_reported_and_the_finished_model_is_kept(engine):
    # A learning rate of 10 makes the VAE's log-variance overflow exp() in its first epoch;
    # the AE, trained beside it, has no exponential and survives it.
    job = finished_job(tiny_spec(kinds=("ae", "vae"), epochs=2, learning_rate=10.0), engine)
    progress = job.progress()
    assert progress.status == JobStatus.FAILED
    assert "VAE training diverged in epoch 1" in progress.error
    assert "smaller learning rate" in progress.error
    pair = job.result_pair()
    assert pair.vae is None and pair.ae is not None
    assert len(pair.histories["ae"]) == 1 and "vae" not in pair.histories
    assert all(torch.isfinite(p).all() for p in pair.ae.parameters())


def test_failure_other_than_divergence_ends_the_job_with_its_message(engine, tmp_path):
    for stem in IDX_FILES.values():  # files with the right names and the wrong contents
        (tmp_path / stem).write_bytes(b"not an IDX file")
    spec = JobSpec("fashion-mnist", kinds=("vae",), latent_dim=2, hidden_dim=16, data_dir=str(tmp_path),
                   train=TrainConfig(epochs=1))
    job = finished_job(spec, engine)
    assert job.status == JobStatus.FAILED
    assert "DatasetUnavailable" in job.progress().error and "not an IDX file" in job.progress().error
    assert job.result_pair() is None


def test_a_killed_worker_fails_its_job_with_a_message_and_keeps_the_last_epoch(engine):
    spec = tiny_spec(kinds=("vae",), epochs=10_000, seed=3)
    job = TrainingJob(spec, engine=engine).start()
    bystander = TrainingJob(tiny_spec(kinds=("vae",), epochs=3), engine=engine)
    try:
        wait_until(lambda: job.progress().epochs_done >= 2)
        os.kill(job.worker_pid, signal.SIGKILL)
        assert job.wait(WAIT_S) == JobStatus.FAILED
        error = job.progress().error
        assert "worker process died" in error and "out of memory" in error
        pair = job.result_pair()
        epochs = len(pair.histories["vae"])
        assert epochs >= 2 and job.progress().epochs_done == epochs
        # What is kept is exactly the model after its last finished epoch.
        reference = train_pair(spec.with_train(epochs=epochs), load_dataset("digits")).pair.vae
        assert state_dicts_equal(pair.vae.state_dict(), reference.state_dict())
        # The engine carries on (the worker's nanny has started a new worker process).
        assert bystander.start().wait(WAIT_S) == JobStatus.FINISHED
    finally:
        job.cancel()
        bystander.cancel()


def test_same_seed_same_weights_together_alone_and_while_the_process_draws_samples(engine):
    spec = tiny_spec(kinds=("vae",), epochs=3, seed=7)
    stop = threading.Event()

    def draw_like_a_page():  # samples from torch's global generator, as a careless page might
        while not stop.is_set():
            torch.randn(64, 2)
            torch.manual_seed(int(time.monotonic_ns() % 1000))

    page = threading.Thread(target=draw_like_a_page, daemon=True)
    page.start()
    try:
        together = [TrainingJob(spec, engine=engine).start() for _ in range(2)]  # both workers at once
        for job in together:
            assert job.wait(WAIT_S) == JobStatus.FINISHED
        in_process = train_pair(spec, load_dataset("digits")).pair.vae.state_dict()
    finally:
        stop.set()
        page.join()
    alone = finished_job(spec, engine)
    other_seed = finished_job(tiny_spec(kinds=("vae",), epochs=3, seed=8), engine)
    reference = state_of(alone)
    for job in together:
        assert state_dicts_equal(reference, state_of(job))
    assert state_dicts_equal(reference, in_process)
    assert not state_dicts_equal(reference, state_of(other_seed))


def test_a_job_trains_the_same_pair_as_the_cli(engine, tmp_path):
    from vae_core.checkpoint import load_checkpoint
    from vae_core.cli import main as cli_main

    output = tmp_path / "cli.pt"
    assert cli_main(["train", "--dataset", "digits", "--model", "both", "--latent-dim", "2", "--hidden-dim", "16",
                     "--ae-code", "linear", "--epochs", "2", "--seed", "5", "--threads", "1", "--json",
                     "-o", str(output)]) == 0
    from_cli = load_checkpoint(output)
    from_job = finished_job(tiny_spec(epochs=2, seed=5), engine).result_pair()
    for kind in ("ae", "vae"):
        assert state_dicts_equal(getattr(from_cli, kind).state_dict(), getattr(from_job, kind).state_dict()), kind
        assert from_job.train_settings[kind] == from_cli.train_settings[kind]


def test_a_worker_runs_at_a_lower_priority_than_the_server(engine):
    job = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000), engine=engine).start()
    try:
        wait_until(lambda: job.progress().epochs_done >= 1)
        worker = os.getpriority(os.PRIO_PROCESS, job.worker_pid)
        assert worker == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)
        if hasattr(os, "SCHED_IDLE"):
            assert os.sched_getscheduler(job.worker_pid) == os.SCHED_IDLE
    finally:
        job.cancel()
        job.wait(WAIT_S)


def test_a_job_nobody_watches_stops_itself(engine):
    job = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000), abandon_after_s=0.5, engine=engine).start()
    assert job.wait(WAIT_S) == JobStatus.CANCELLED
    assert job.progress().abandoned
    assert job.progress().epochs_done < 10_000


def test_a_watched_job_keeps_training(engine):
    job = TrainingJob(tiny_spec(kinds=("vae",), epochs=10_000), abandon_after_s=0.5, engine=engine).start()
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
    ({"architecture": "transformer"}, "architecture"),
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


def test_spec_sizes_left_open_are_the_seed_documents_per_kind():
    spec = JobSpec("fashion-mnist", latent_dim=None, hidden_dim=None, architecture="conv")
    assert (spec.model_config("ae").hidden_dim, spec.model_config("ae").latent_dim) == (256, 32)
    assert (spec.model_config("vae").hidden_dim, spec.model_config("vae").latent_dim) == (400, 20)
    assert {spec.model_config(k).architecture for k in ("ae", "vae")} == {"conv"}


def test_a_pair_stopped_after_its_first_epoch_keeps_both_models(digits):
    reported = []
    result = train_pair(tiny_spec(kinds=("ae", "vae"), epochs=5), digits,
                        on_epoch=lambda report, model: reported.append(report.model),
                        should_stop=lambda: bool(reported))
    assert result.cancelled
    assert set(result.pair.models()) == {"ae", "vae"}, "a stop after an epoch must keep the AE and the VAE"
    assert reported == ["ae", "vae"]
    assert [len(result.pair.histories[kind]) for kind in ("ae", "vae")] == [1, 1]


def test_side_by_side_each_model_trains_as_it_would_alone(digits):
    spec = tiny_spec(kinds=("ae", "vae"), epochs=2, seed=4)
    pair = train_pair(spec, digits).pair
    for kind in ("ae", "vae"):
        alone = train_pair(replace(spec, kinds=(kind,)), digits).pair
        assert state_dicts_equal(getattr(pair, kind).state_dict(), getattr(alone, kind).state_dict()), kind
        assert [h["test_loss"] for h in pair.histories[kind]] == [h["test_loss"] for h in alone.histories[kind]]


def test_a_running_pair_reports_both_models_in_training(engine):
    job = TrainingJob(tiny_spec(kinds=("ae", "vae"), epochs=10_000), engine=engine).start()
    try:
        wait_until(lambda: job.progress().epochs_done >= 2)
        progress = job.progress()
        assert progress.current_kinds == ("ae", "vae") and progress.current_kind == "ae"
        done = [len(progress.histories[kind]) for kind in ("ae", "vae")]
        assert progress.current_epoch == min(done) + 1 and max(done) - min(done) <= 1
    finally:
        job.cancel()
        job.wait(WAIT_S)


def test_the_cli_trains_on_a_cluster_the_pair_it_trains_at_home(engine, tmp_path):
    from vae_core.checkpoint import load_checkpoint
    from vae_core.cli import main as cli_main

    assert TrainingJob(tiny_spec(epochs=1), engine=engine).start().wait(WAIT_S) == JobStatus.FINISHED
    address = engine._cluster.scheduler_address
    common = ["train", "--dataset", "digits", "--latent-dim", "2", "--hidden-dim", "16", "--ae-code", "linear",
              "--epochs", "2", "--seed", "6", "--threads", "1", "--json"]
    assert cli_main([*common, "--cluster", address, "-o", str(tmp_path / "cluster.pt")]) == 0
    assert cli_main([*common, "-o", str(tmp_path / "here.pt")]) == 0
    on_cluster, here = load_checkpoint(tmp_path / "cluster.pt"), load_checkpoint(tmp_path / "here.pt")
    for kind in ("ae", "vae"):
        assert state_dicts_equal(getattr(on_cluster, kind).state_dict(), getattr(here, kind).state_dict()), kind
        assert len(on_cluster.histories[kind]) == 2


def test_the_cli_says_when_it_cannot_reach_a_cluster(tmp_path, capsys):
    from vae_core.cli import main as cli_main

    code = cli_main(["train", "--dataset", "digits", "--epochs", "1", "--cluster", "tcp://127.0.0.1:9",
                     "-o", str(tmp_path / "never.pt")])
    assert code == 2
    assert "could not reach the training cluster at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "never.pt").exists()
