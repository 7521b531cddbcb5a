"""The training replay: each model's held-out codes after every epoch, kept, saved and loaded."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from core_helpers import REPO_ROOT, WAIT_S, snapshot, state_dicts_equal

from vae_core.checkpoint import CheckpointError, checkpoint_dict, load_checkpoint, save_checkpoint
from vae_core.jobs import JobStatus, TrainingJob
from vae_core.latent import encode_images
from vae_core.pairs import JobSpec, model_from_bytes, train_pair, weights_bytes
from vae_core.replay import MAX_REPLAY_BYTES, Replay, ReplayRecorder, planned_epochs
from vae_core.store import ModelStore
from vae_core.training import TrainConfig


def tiny_spec(epochs: int = 4, latent_dim: int = 2, **train) -> JobSpec:
    return JobSpec("digits", latent_dim=latent_dim, hidden_dim=32,
                   train=TrainConfig(epochs=epochs, batch_size=64, learning_rate=3e-3, seed=3, device="cpu", **train))


def test_frames_are_the_codes_of_each_epochs_weights(digits):
    """Each frame equals the codes computed afresh from the weights that epoch ended with (saved as bytes)."""
    spec = tiny_spec(epochs=4, latent_dim=3)
    weights = {"ae": [], "vae": []}
    result = train_pair(spec, digits, on_epoch=lambda report, model: weights[report.model].append(
        weights_bytes(model)))
    images = digits.images("test")
    for kind in ("ae", "vae"):
        replay = result.pair.replays[kind]
        assert replay.epochs.tolist() == [1, 2, 3, 4]
        assert replay.codes.dtype == np.float16 and replay.codes.shape == (4, len(images), 3)
        for frame, saved in zip(replay.codes, weights[kind]):
            model = model_from_bytes(spec.model_config(kind), saved)
            expected = encode_images(model, images).mu.astype(np.float16)
            np.testing.assert_array_equal(frame, expected)
        assert not np.array_equal(replay.codes[0], replay.codes[-1])  # the frames do move


def test_recording_changes_no_weight_and_no_figure(digits):
    """Same seed, same weights and same history, with the replay recorded or not."""
    spec = tiny_spec(epochs=3)
    recorded = train_pair(spec, digits).pair
    plain = train_pair(spec, digits, record_replay=False).pair
    assert plain.replays == {} and set(recorded.replays) == {"ae", "vae"}
    for kind in ("ae", "vae"):
        assert state_dicts_equal(snapshot(recorded.models()[kind]), snapshot(plain.models()[kind]))
        strip = [{k: v for k, v in epoch.items() if not k.endswith("_s")} for epoch in recorded.histories[kind]]
        assert strip == [{k: v for k, v in epoch.items() if not k.endswith("_s")} for epoch in plain.histories[kind]]


def test_a_stopped_training_ends_its_replay_on_its_last_epoch(digits):
    epochs_started = []
    spec = tiny_spec(epochs=6)
    result = train_pair(spec, digits, on_epoch=lambda report, model: epochs_started.append(report.epoch),
                        should_stop=lambda: len(epochs_started) >= 4)
    assert result.cancelled
    replay = result.pair.replays["vae"]
    assert replay.epochs[-1] == len(result.pair.histories["vae"]) == 2
    codes = encode_images(result.pair.vae, digits.images("test")).mu.astype(np.float16)
    np.testing.assert_array_equal(replay.codes[-1], codes)


def test_long_trainings_keep_evenly_spaced_epochs_and_the_last():
    assert planned_epochs(30, 10_000, 2) == set(range(1, 31))
    many = planned_epochs(10_000, 360, 2)
    assert 1 in many and 10_000 in many and len(many) == 500
    big = planned_epochs(30, 10_000, 20)  # 400 kB a frame: the byte budget decides
    assert len(big) == MAX_REPLAY_BYTES // (10_000 * 20 * 2) and 30 in big
    recorder = ReplayRecorder(epochs=10, images=5, latent_dim=2)
    recorder.planned = {1, 10}
    for epoch in range(1, 8):  # stopped after epoch 7, which was not planned
        recorder.buffer_for(epoch, torch.device("cpu")).fill_(epoch)
        recorder.epoch_done()
    recorder.buffer_for(8, torch.device("cpu")).fill_(float("nan"))  # diverged: never marked done
    replay = recorder.replay()
    assert replay.epochs.tolist() == [1, 7] and replay.codes[:, 0, 0].tolist() == [1.0, 7.0]


def test_the_replay_round_trips_through_a_checkpoint(digits, tmp_path):
    pair = train_pair(tiny_spec(epochs=2), digits).pair
    loaded = load_checkpoint(save_checkpoint(pair, tmp_path / "pair.pt"))
    for kind in ("ae", "vae"):
        np.testing.assert_array_equal(loaded.replays[kind].codes, pair.replays[kind].codes)
        np.testing.assert_array_equal(loaded.replays[kind].epochs, pair.replays[kind].epochs)


def test_the_model_store_keeps_the_replay(digits, tmp_path):
    pair = train_pair(tiny_spec(epochs=2), digits).pair
    store = ModelStore(str(tmp_path / "store"))
    kept = store.open(store.put(pair, "with a replay", owner_token="owner")).pair
    for kind in ("ae", "vae"):
        np.testing.assert_array_equal(kept.replays[kind].codes, pair.replays[kind].codes)


def test_a_checkpoint_without_a_replay_loads_without_one(digits, tmp_path):
    """Checkpoints written before training kept a replay: no 'replay' entry at all."""
    pair = train_pair(tiny_spec(epochs=1), digits, record_replay=False).pair
    content = checkpoint_dict(pair)
    assert all("replay" not in entry for entry in content["models"].values())
    path = tmp_path / "old.pt"
    torch.save(content, path)
    loaded = load_checkpoint(path)
    assert loaded.replays == {} and set(loaded.models()) == {"ae", "vae"}


def test_a_shipped_checkpoint_from_before_the_replay_still_loads():
    """The digits pair as committed before the replay existed (git history), read by this loader."""
    blob = subprocess.run(["git", "show", "b4de9a3:assets/digits-latent2.pt"], cwd=REPO_ROOT, capture_output=True)
    if blob.returncode != 0:
        pytest.skip("this checkout has no git history")
    loaded = load_checkpoint(blob.stdout)
    assert loaded.replays == {} and loaded.vae is not None


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(codes=r["codes"].float()), "float16"),
    (lambda r: r.update(codes=r["codes"][:, :, :1]), "latent size"),
    (lambda r: r.update(epochs=r["epochs"].flip(0)), "increasing"),
    (lambda r: r.update(codes=torch.full_like(r["codes"], float("inf"))), "non-finite"),
    (lambda r: r.pop("epochs"), "'epochs' and 'codes'"),
])
def test_a_broken_replay_is_refused_in_words(digits, tmp_path, change, message):
    content = checkpoint_dict(train_pair(tiny_spec(epochs=2), digits).pair)
    change(content["models"]["vae"]["replay"])
    torch.save(content, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "broken.pt")


def test_replay_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="one frame per epoch"):
        Replay(np.array([1, 2]), np.zeros((3, 4, 2), dtype=np.float16))


def test_a_job_on_the_engine_brings_back_the_same_replay_as_training_here(engine, digits):
    """The replay travels from the worker with the final result and equals the one trained in this process."""
    spec = tiny_spec(epochs=3)
    job = TrainingJob(spec, engine=engine).start()
    assert job.wait(WAIT_S) == JobStatus.FINISHED
    travelled = job.result_pair().replays
    here = train_pair(spec, digits).pair.replays
    assert set(travelled) == {"ae", "vae"}
    for kind in ("ae", "vae"):
        np.testing.assert_array_equal(travelled[kind].epochs, here[kind].epochs)
        np.testing.assert_array_equal(travelled[kind].codes, here[kind].codes)
