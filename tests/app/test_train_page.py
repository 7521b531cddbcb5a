"""The Train page through Streamlit's AppTest: form, live training, stop, divergence, checkpoint upload."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from vae_core import DATASETS, ModelConfig, ModelPair, TrainConfig, available_devices, is_available, new_model
from vae_core import checkpoint as checkpoint_module
from vae_core.checkpoint import checkpoint_bytes
from vae_core.engine import TrainingEngine, TrainingRefused
from vae_core.jobs import BetaSweep, JobSpec, JobStatus, TrainingJob

PAGE = str(Path(__file__).resolve().parents[2] / "latent_explorer" / "app_pages" / "train.py")
JOB_WAIT_S = 120
DEFAULT_KEY = "digits"  # the shipped pair a new session starts on


def fresh_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def run_until_job_ends(at: AppTest) -> None:
    """Rerun the page (as the fragment's timer would) until it has concluded the job."""
    deadline = time.monotonic() + JOB_WAIT_S
    while "training_job" in at.session_state:
        assert time.monotonic() < deadline, "the training job did not end in time"
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception


def start_training(at: AppTest, **values) -> None:
    settings = {"train_epochs": 2, "train_hidden": 16, **values}
    for key, value in settings.items():
        at.number_input(key=key).set_value(value)
    at.button(key="train_start").click()
    at.run()
    assert not at.exception, at.exception
    assert "training_job" in at.session_state


def own_workspaces(at: AppTest) -> dict:
    return at.session_state["own_workspaces"] if "own_workspaces" in at.session_state else {}


def active_key(at: AppTest) -> str:
    return at.session_state["workspace_key"] if "workspace_key" in at.session_state else DEFAULT_KEY


def messages(elements) -> str:
    return "\n".join(e.value for e in elements)


def tiny_pair(dataset: str = "digits") -> ModelPair:
    config = ModelConfig(kind="vae", input_shape=DATASETS[dataset].image_shape, hidden_dim=8, latent_dim=2)
    return ModelPair(dataset=dataset, vae=new_model(config, seed=3))


def upload(at: AppTest, name: str, data: bytes) -> None:
    at.file_uploader(key="checkpoint_upload").set_value((name, data, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception


# --- rendering -----------------------------------------------------------------------------

def test_page_offers_only_what_this_machine_can_train():
    at = fresh_page()
    assert at.title[0].value == "Train"
    available = [DATASETS[n].title for n in DATASETS if is_available(n)]
    assert at.selectbox(key="train_dataset").options == available
    devices = [d.upper() for d in available_devices()]
    if len(devices) > 1:
        assert at.selectbox(key="train_device").options == devices
    else:  # a menu with a single choice is not shown
        assert not [s for s in at.selectbox if s.key == "train_device"]
    latent = at.number_input(key="train_latent")
    assert (latent.min, latent.max, latent.value) == (1, 64, 2)
    assert at.number_input(key="train_epochs").min == 1
    assert at.number_input(key="train_batch").min >= 1
    beta = at.number_input(key="train_beta")
    assert beta.min == 0 and beta.value == 1.0
    assert at.radio(key="train_model").options == ["AE + VAE", "VAE", "AE"]
    assert [o.split(" ")[0] for o in at.radio(key="train_architecture").options] == ["MLP", "Convolutional"]
    assert len(at.radio(key="train_loss").options) == 2
    assert all(float(v) > 0 for v in at.select_slider(key="train_lr").options)
    assert not at.button(key="train_start").disabled
    assert at.get("download_button")[0].label == "Download checkpoint"
    # How to install a missing dataset is for whoever runs the server: the sidebar's Help says it, not this page.
    assert not any("is not available here" in c.value or "LATENT_EXPLORER_DATA" in c.value for c in at.caption)
    # The shipped pair carries its history: it is drawn as curves.
    assert len(at.get("plotly_chart")) == 3


# --- training ------------------------------------------------------------------------------

def test_a_training_run_becomes_this_sessions_active_model():
    at = fresh_page()
    start_training(at, train_epochs=2)
    assert at.button(key="train_start").disabled, "a second run must not start while one trains"
    run_until_job_ends(at)

    assert active_key(at) == "own-1"
    pair = own_workspaces(at)["own-1"].pair
    assert set(pair.models()) == {"ae", "vae"}
    assert [len(pair.histories[k]) for k in ("ae", "vae")] == [2, 2]
    assert pair.train_settings["vae"]["epochs"] == 2 and pair.train_settings["vae"]["dataset"] == "digits"
    # The device it ran on is recorded by the worker and shown with the pair's settings.
    trained_on = pair.train_settings["vae"]["trained_on"]
    assert any(f"trained on {trained_on.upper()}" in c.value for c in at.caption)
    assert "Training finished" in messages(at.success)
    assert "Digits · AE \\+ VAE latent 2 · β=1 · 2 epochs" in messages(at.success)
    assert not at.button(key="train_start").disabled
    assert len(at.get("plotly_chart")) == 3  # the new pair's history

    # Another browser session sees none of it.
    other = fresh_page()
    assert own_workspaces(other) == {}
    assert active_key(other) == DEFAULT_KEY


def test_stop_keeps_the_model_trained_so_far():
    at = fresh_page()
    start_training(at, train_epochs=500)
    job = at.session_state["training_job"]
    deadline = time.monotonic() + JOB_WAIT_S
    while job.progress().epochs_done < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    at.run()  # the fragment now shows progress, live curves and the Stop button
    assert "AE + VAE epoch" in at.get("progress")[0].proto.text
    assert at.get("plotly_chart")
    at.button(key="train_stop").click()
    at.run()
    run_until_job_ends(at)

    assert active_key(at) == "own-1"
    pair = own_workspaces(at)["own-1"].pair
    assert pair.ae is not None and pair.vae is not None, "the AE and the VAE train side by side: a stop keeps both"
    assert 1 <= len(pair.histories["ae"]) == len(pair.histories["vae"]) < 500
    assert "stopped; the model trained so far is kept" in messages(at.success)


def test_divergence_is_explained_and_the_last_good_model_kept():
    at = fresh_page()
    # A learning rate of 10 (beyond the form's choices) makes the VAE diverge in its first epoch.
    spec = JobSpec("digits", hidden_dim=16, train=TrainConfig(epochs=2, learning_rate=10.0))
    at.session_state["training_job"] = TrainingJob(spec).start()
    at.run()
    run_until_job_ends(at)

    errors = messages(at.error)
    assert "VAE training diverged in epoch 1" in errors
    assert "The last good model is kept" in errors
    assert active_key(at) == "own-1"
    pair = own_workspaces(at)["own-1"].pair
    assert pair.ae is not None and pair.vae is None


def test_divergence_with_nothing_to_keep_leaves_the_active_model_alone():
    at = fresh_page()
    spec = JobSpec("digits", kinds=("vae",), hidden_dim=16, train=TrainConfig(epochs=2, learning_rate=10.0))
    at.session_state["training_job"] = TrainingJob(spec).start()
    at.run()
    run_until_job_ends(at)
    assert "diverged" in messages(at.error) and "Nothing was kept" in messages(at.error)
    assert active_key(at) == DEFAULT_KEY
    assert own_workspaces(at) == {}


def test_a_training_left_alone_stops_and_says_why():
    at = fresh_page()
    job = TrainingJob(JobSpec("digits", kinds=("ae",), hidden_dim=16, train=TrainConfig(epochs=500)),
                      abandon_after_s=0.5)
    at.session_state["training_job"] = job.start()
    # Nobody reruns the page (the tab was closed), so nothing calls keep_alive().
    assert job.wait(JOB_WAIT_S).done
    at.run()
    assert not at.exception, at.exception
    assert "no page looked at it" in messages(at.warning)
    assert "training_job" not in at.session_state


# --- checkpoint upload ---------------------------------------------------------------------

def test_a_good_checkpoint_is_loaded_once_and_becomes_active():
    at = fresh_page()
    pair = tiny_pair()
    upload(at, "mine.pt", checkpoint_bytes(pair))
    assert "Loaded mine\\.pt" in messages(at.success)
    assert active_key(at) == "own-1"
    loaded = own_workspaces(at)["own-1"].pair.vae.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in pair.vae.state_dict().items())
    at.run()
    at.run()
    assert list(own_workspaces(at)) == ["own-1"], "the same upload was processed again on a rerun"


def test_random_bytes_are_refused_and_the_previous_model_stays_active():
    at = fresh_page()
    upload(at, "mine.pt", checkpoint_bytes(tiny_pair()))
    upload(at, "noise.pt", bytes(range(256)) * 64)
    assert "noise\\.pt was not loaded" in messages(at.error)
    assert "not a PyTorch checkpoint" in messages(at.error)
    assert active_key(at) == "own-1"
    assert list(own_workspaces(at)) == ["own-1"]


class OpensAFileWhenUnpickled:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def test_a_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"format": "latent-explorer-checkpoint", "payload": OpensAFileWhenUnpickled(marker)}, buffer)
    hostile = buffer.getvalue()
    # The payload is live: an unsafe load would run it.
    torch.load(io.BytesIO(hostile), weights_only=False)["payload"].close()
    assert marker.exists()
    marker.unlink()

    at = fresh_page()
    upload(at, "model.pt", hostile)
    assert not marker.exists()
    assert "could run code" in messages(at.error)
    assert active_key(at) == DEFAULT_KEY
    assert own_workspaces(at) == {}


def test_an_oversized_file_is_refused_before_loading(monkeypatch):
    data = checkpoint_bytes(tiny_pair())
    monkeypatch.setattr(checkpoint_module, "MAX_CHECKPOINT_BYTES", len(data) - 1)
    at = fresh_page()
    upload(at, "big.pt", data)
    assert "a checkpoint may be at most" in messages(at.error)
    assert own_workspaces(at) == {}


def test_a_checkpoint_of_a_missing_dataset_points_to_help():
    missing = [name for name in DATASETS if not is_available(name)]
    if not missing:
        pytest.skip("every dataset is available on this machine")
    at = fresh_page()
    upload(at, "elsewhere.pt", checkpoint_bytes(tiny_pair(missing[0])))
    assert "which this server does not have" in messages(at.error)
    # How to install it is for whoever runs the server: the sidebar's Help, not the visitor's error.
    assert "sidebar's Help says how to add it" in messages(at.error) and "apt-get" not in messages(at.error)
    assert own_workspaces(at) == {}


def test_a_checkpoint_with_a_garbled_history_still_loads_and_draws():
    pair = tiny_pair()
    good = {"epoch": 1, "train_loss": 40.0, "test_loss": 41.0, "train_reconstruction": 39.0,
            "test_reconstruction": 40.0, "train_kl": 1.0, "test_kl": 1.0}
    pair.histories["vae"] = [{"epoch": "one", "train_loss": "NaN"}, {}, {**good, "test_kl": float("inf")}, good]
    pair.train_settings["vae"] = {"epochs": "many", "beta": "large"}
    at = fresh_page()
    upload(at, "garbled.pt", checkpoint_bytes(pair))
    assert active_key(at) == "own-1"
    assert len(at.get("plotly_chart")) == 3


def test_a_hostile_file_name_is_shown_as_plain_text():
    at = fresh_page()
    upload(at, "$$\\huge x$$ [click](http://evil).pt", checkpoint_bytes(tiny_pair()))
    success = messages(at.success)
    assert "\\$\\$" in success and "\\[click\\]" in success
    label = own_workspaces(at)["own-1"].label
    assert not set("$[]\\") & set(label)



def test_beta_sweep_uses_the_settings_on_screen_plots_rate_against_distortion_and_loads_a_point():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    # Edits in the form reach the sweep together with its button: hidden and latent size, epochs, architecture.
    at.number_input(key="train_hidden").set_value(32)
    at.number_input(key="train_latent").set_value(3)
    at.number_input(key="train_epochs").set_value(2)
    at.radio(key="train_architecture").set_value("conv")
    at.multiselect(key="sweep_betas").set_value([0.5, 4.0])
    at.button(key="sweep_start").click().run()
    assert not at.exception, at.exception
    sweep = at.session_state["training_job"]
    assert sorted(sweep.jobs) == [0.5, 4.0]
    for beta, job in sweep.jobs.items():
        config = job.spec.model_config("vae")
        assert (config.hidden_dim, config.latent_dim, config.architecture) == (32, 3, "conv")
        assert (job.spec.kinds, job.spec.train.epochs, job.spec.train.beta) == (("vae",), 2, beta)
    assert at.button(key="train_start").disabled and at.button(key="sweep_start").disabled
    for job in sweep.jobs.values():
        job.wait(timeout=JOB_WAIT_S)
    at.run()  # the fragment concludes the sweep, and the whole page reruns
    assert not at.exception, at.exception
    assert "training_job" not in at.session_state and at.session_state["beta_sweep"] is sweep
    assert "The β sweep has ended" in messages(at.success)
    assert not at.button(key="sweep_start").disabled
    charts = {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
    assert charts["sweep_plot"]["data"][0]["text"] == ["β=0.5", "β=4"]
    assert charts["sweep_active_units"]["data"][0]["x"] == [0.5, 4.0]
    assert charts["sweep_active_units"]["data"][0]["y"] == [sweep.active_units(0.5), sweep.active_units(4.0)]
    assert "own_workspaces" not in at.session_state or not at.session_state["own_workspaces"]
    at.selectbox(key="sweep_pick").set_value(4.0)
    at.button(key="sweep_load").click().run()
    assert not at.exception
    assert at.session_state["workspace_key"] == "own-1"
    workspace = at.session_state["own_workspaces"]["own-1"]
    assert workspace.pair.train_settings["vae"]["beta"] == 4.0 and workspace.pair.ae is None
    assert workspace.pair.vae.config.architecture == "conv" and workspace.pair.vae.config.latent_dim == 3


def test_a_session_trains_one_thing_at_a_time():
    at = fresh_page()
    start_training(at, train_epochs=500)
    assert at.button(key="train_start").disabled and at.button(key="sweep_start").disabled
    job = at.session_state["training_job"]
    # A second start from this session (a forged or raced request) is refused in words.
    second = TrainingJob(job.spec, owner=job.owner)
    with pytest.raises(TrainingRefused, match="already has a training"):
        second.start()
    job.cancel()
    run_until_job_ends(at)
    assert not at.button(key="train_start").disabled


def test_a_queued_training_shows_its_place_in_the_queue():
    engine = TrainingEngine(max_workers=1, threads_per_worker=1)
    long_spec = JobSpec("digits", kinds=("vae",), hidden_dim=16, train=TrainConfig(epochs=10_000))
    ahead = [TrainingJob(long_spec, owner=f"other-{i}", engine=engine).start() for i in range(2)]
    mine = TrainingJob(long_spec, engine=engine).start()
    try:
        deadline = time.monotonic() + JOB_WAIT_S
        while ahead[0].progress().queue_position is not None:  # the first has left the queue for the worker
            assert time.monotonic() < deadline
            time.sleep(0.05)
        at = fresh_page()
        at.session_state["training_job"] = mine
        at.run()
        assert not at.exception, at.exception
        assert "2nd in the queue" in at.get("progress")[0].proto.text
    finally:
        engine.close()  # stops the three, and its LocalCluster's worker process


class SharedClusterBusy(TrainingEngine):
    """A shared cluster's scheduler that has taken the training, whose workers other servers' trainings hold."""

    def queue_position(self, job) -> None:
        return None

    def waiting_for_cluster(self, job) -> bool:
        return True


def test_a_training_sent_to_a_busy_shared_cluster_says_it_waits_for_the_clusters_workers():
    job = TrainingJob(JobSpec("digits", kinds=("vae",), hidden_dim=16),
                      engine=SharedClusterBusy("tcp://127.0.0.1:9"))  # never started: nothing is reached
    at = fresh_page()
    at.session_state["training_job"] = job
    at.run()
    assert not at.exception, at.exception
    assert "waiting for one of its workers, which other servers share" in at.get("progress")[0].proto.text


def test_the_sidebar_keeps_a_sweep_alive_on_other_pages():
    app = AppTest.from_file(str(Path(PAGE).parents[1] / "streamlit_app.py"), default_timeout=120)
    app.switch_page("app_pages/sample.py").run()
    spec = JobSpec("digits", kinds=("vae",), hidden_dim=16, train=TrainConfig(epochs=10_000))
    sweep = BetaSweep(spec, [0.5, 2.0], abandon_after_s=600).start()
    kept_alive = []
    real_keep_alive = sweep.keep_alive
    sweep.keep_alive = lambda: kept_alive.append(None) or real_keep_alive()
    app.session_state["training_job"] = sweep
    try:
        for _ in range(3):  # any page's run draws the sidebar, which keeps this session's training alive
            app.run()
            assert not app.exception, app.exception
        assert len(kept_alive) == 3
        assert "A training is under way" in messages(app.sidebar.info)
    finally:
        sweep.cancel()
    # Left alone, a sweep stops itself.
    left_alone = BetaSweep(spec, [0.5, 2.0], abandon_after_s=0.5).start()
    for job in left_alone.jobs.values():
        assert job.wait(JOB_WAIT_S) == JobStatus.CANCELLED
    assert all(job.progress().abandoned for job in left_alone.jobs.values())


def test_a_session_keeps_its_three_most_recently_used_pairs():
    def script():
        import streamlit as st

        from latent_explorer import session, shipped, widgets
        from vae_core import load_checkpoint

        pair_file = shipped.ASSETS / shipped.SHIPPED_FILES["digits"]
        if "made" not in st.session_state:
            st.session_state["made"] = [session.add_own_pair(load_checkpoint(pair_file), f"pair {n}")
                                        for n in range(1, 4)]
            session.activate("own-1")  # used again: now the most recent of the three
            st.session_state["made"].append(session.add_own_pair(load_checkpoint(pair_file), "pair 4"))
        widgets.sidebar()
        st.write(list(session.own_workspaces()))

    at = AppTest.from_function(script, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["made"] == ["own-1", "own-2", "own-3", "own-4"]
    # pair 2 was the least recently used: it went from memory, with a notice that says where it still is.
    assert list(at.session_state["own_workspaces"]) == ["own-3", "own-1", "own-4"]
    assert at.session_state["workspace_key"] == "own-4"
    notice = " ".join(i.value for i in at.sidebar.info).replace("\\", "")  # shown as Markdown, escaped
    assert "pair 2 (yours) was let go" in notice and "open it again from Your models" in notice
    at.run()
    assert not at.sidebar.info  # said once


def test_on_a_cluster_the_workers_choose_their_device(monkeypatch):
    """The web server's own devices say nothing about a cluster's workers: a GPU worker must not be told 'cpu'."""
    monkeypatch.setenv("LATENT_EXPLORER_CLUSTER", "tcp://127.0.0.1:9")
    at = fresh_page()
    assert not [s for s in at.selectbox if s.key == "train_device"]
    captured = {}
    monkeypatch.setattr(TrainingJob, "start", lambda job: captured.setdefault("spec", job.spec) and job)
    at.button(key="train_start").click().run()
    assert captured["spec"].train.device == "auto"
