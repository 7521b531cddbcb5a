"""Words for pairs and trainings (latent_explorer.job_labels): what the sidebar and the Train page call them."""

from __future__ import annotations

import pytest

from latent_explorer.job_labels import job_result_label, ordinal, pair_label, queue_text
from vae_core import TrainConfig
from vae_core.data import load_dataset
from vae_core.jobs import JobSpec, JobStatus, TrainingJob, train_pair, weights_bytes


def trained(**spec) -> object:
    return train_pair(JobSpec("digits", hidden_dim=16, **spec), load_dataset("digits")).pair


def test_pair_label_describes_what_the_pair_records():
    pair = trained(kinds=("vae",), latent_dim=3, train=TrainConfig(epochs=1, beta=4.0, loss="mse"))
    assert pair_label(pair) == "Digits · VAE latent 3 · β=4 · MSE · 1 epoch"
    pair.ae = trained(kinds=("ae",), latent_dim=5, train=TrainConfig(epochs=2)).ae
    pair.histories["ae"] = [{}, {}]
    assert pair_label(pair) == "Digits · VAE latent 3, AE latent 5 · β=4 · MSE · VAE 1 epoch, AE 2 epochs"
    pair.train_settings["vae"] = {"beta": "huge", "loss": ["not", "a", "loss"]}
    assert pair_label(pair) == "Digits · VAE latent 3, AE latent 5 · VAE 1 epoch, AE 2 epochs"


def test_pair_label_names_convolutional_models():
    pair = trained(latent_dim=2, architecture="conv", train=TrainConfig(epochs=1))
    assert pair_label(pair) == "Digits · AE + VAE conv latent 2 · β=1 · 1 epoch"
    pair.ae = trained(kinds=("ae",), latent_dim=2, train=TrainConfig(epochs=1)).ae
    assert pair_label(pair) == "Digits · VAE conv latent 2, AE latent 2 · β=1 · 1 epoch"


@pytest.mark.parametrize("status, suffix", [
    (JobStatus.FINISHED, ""), (JobStatus.CANCELLED, " · stopped"),
    (JobStatus.FAILED, " · training failed, last good weights"),
])
def test_job_result_label_says_how_the_job_ended(status, suffix):
    job = TrainingJob(JobSpec("digits", kinds=("vae",), hidden_dim=16, train=TrainConfig(epochs=1)))
    assert job_result_label(job) is None  # nothing trained yet
    pair = trained(kinds=("vae",), train=TrainConfig(epochs=1))
    # Feed the job what a worker would have reported.
    job._started_in_worker()
    job._training_started(("vae",), "cpu")
    job._epoch_finished(pair.histories["vae"][0], weights_bytes(pair.vae))
    job._end(status)
    assert job_result_label(job) == "Digits · VAE latent 2 · β=1 · 1 epoch" + suffix


def test_queue_words():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
    assert queue_text(1) == "Waiting for a free training worker: next in the queue."
    assert queue_text(3) == "Waiting for a free training worker: 3rd in the queue."
    assert queue_text(None) == "Starting a training worker…"
