"""Train: new AE and VAE models with your settings, live curves, checkpoints in and out.

Training runs on a worker of the training engine (vae_core.engine: dask.distributed);
this browser session's state holds its TrainingJob (or BetaSweep), so the result
belongs to this visitor only, and a fragment polls it for the progress bar and
curves without rerunning the whole page. The engine trains one job per session.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from latent_explorer import figures, imported_models, own_images, session
from latent_explorer.job_labels import job_result_label, pair_label, queue_text
from latent_explorer.text import plain
from vae_core import DATASETS, CheckpointError, DatasetUnavailable, TrainConfig, available_devices, is_available
from vae_core import checkpoint as checkpoint_module
from vae_core.checkpoint import checkpoint_bytes, load_checkpoint
from vae_core.data import dataset_title
from vae_core.engine import cluster_address
from vae_core.jobs import BetaSweep, JobProgress, JobSpec, JobStatus, TrainingJob, TrainingRefused
from vae_core.latent import MAX_SEED
from vae_core.models import KIND_TITLES
from vae_core.pairs import MAP_SIZES

# session_state keys
TRAINING_JOB = session.TRAINING_JOB  # this session's running TrainingJob or BetaSweep (the sidebar keeps it alive)
SWEEP = "beta_sweep"  # the last sweep, once it has ended: its points stay loadable
TRAIN_OUTCOME = "train_outcome"
UPLOAD_OUTCOME = "checkpoint_upload_outcome"
UPLOADED_FILE_ID = "checkpoint_upload_file_id"

POLL_S = 0.75
# The curves change once an epoch, not once a poll: redrawn at this pace, a visitor watching a training costs
# the server (and their browser) a quarter of the chart work.
CURVES_POLL_S = 3.0
# A job stops itself when no page has polled it for this long (its tab was closed),
# so it does not hold a training worker for nobody.
ABANDON_AFTER_S = 600
MODEL_CHOICES = {"both": "AE + VAE", "vae": "VAE", "ae": "AE"}
ARCHITECTURE_CHOICES = {"mlp": "MLP (fully connected, as in the seeds)",
                        "conv": "Convolutional (two stride-2 conv layers)"}
LOSS_TITLES = {"bce": "BCE (Bernoulli pixels)", "mse": "MSE (Gaussian pixels)"}
AE_CODE_TITLES = {"linear": "none (linear code)", "relu": "ReLU (as in the seed)"}
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
SWEEP_BETAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# Limits for a shared demo server: large enough for real experiments, small enough
# that one visitor cannot hold a training worker for hours.
MAX_EPOCHS = 500
MAX_HIDDEN = 2048
MAX_LATENT = 64
CURVES = (
    ("loss", "Total loss = reconstruction + β·KL", True),
    ("reconstruction", "Reconstruction −log p(x|z)", True),
    ("kl", "KL(q(z|x) ‖ p(z))", False),  # an AE has no KL term: its curve would be flat zero
)


class Outcome(NamedTuple):
    level: str  # "success", "info", "warning" or "error": the st function that shows it
    text: str


def show(outcome: Outcome | None) -> None:
    if outcome is not None:
        getattr(st, outcome.level)(outcome.text)


def duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


# --- curves ------------------------------------------------------------------------------

def history_points(history: list[dict], field: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of one field; entries that lack it or hold no finite number are skipped,
    since an uploaded checkpoint's history is whatever its author wrote."""
    points = [(h.get("epoch"), h.get(field)) for h in history]
    points = [(e, v) for e, v in points if all(isinstance(n, (int, float)) and math.isfinite(n) for n in (e, v))]
    return [e for e, _ in points], [v for _, v in points]


def loss_curves(histories: dict[str, list[dict]], key_prefix: str) -> None:
    """Total loss, reconstruction and KL per epoch, train and test, one chart each (nats per image)."""
    columns = st.columns(len(CURVES))
    for column, (metric, title, for_ae) in zip(columns, CURVES):
        series = {}
        for kind, history in histories.items():
            if kind == "ae" and not for_ae:
                continue
            for split in ("train", "test"):
                epochs, values = history_points(history, f"{split}_{metric}")
                if values:
                    series[f"{KIND_TITLES.get(kind, kind)} {split}"] = figures.Curve(
                        epochs, values, figures.KIND_COLOURS.get(kind, "#555555"), figures.SPLIT_DASHES[split])
        if series:
            column.plotly_chart(figures.curves(series, title, "nats per image"), key=f"{key_prefix}-{metric}")


# --- training ----------------------------------------------------------------------------

def session_owner() -> str:
    """This browser session's id: the training engine runs at most one training per owner."""
    context = get_script_run_ctx()
    return context.session_id if context is not None else "no-session"


def job_spec(dataset: str, model: str, architecture: str, latent_dim: int, hidden_dim: int, ae_code: str,
             loss: str, beta: float, epochs: int, batch_size: int, learning_rate: float, seed: int,
             device: str) -> JobSpec:
    """The form's values as what to train (a sweep then varies beta and trains VAEs only)."""
    return JobSpec(dataset, kinds=("ae", "vae") if model == "both" else (model,), architecture=architecture,
                   latent_dim=int(latent_dim), hidden_dim=int(hidden_dim), ae_code_activation=ae_code,
                   train=TrainConfig(epochs=int(epochs), batch_size=int(batch_size),
                                     learning_rate=float(learning_rate), beta=float(beta), loss=loss,
                                     seed=int(seed), device=device),
                   custom_dataset=own_images.dataset_named(dataset))


@st.fragment
def training_devices() -> list[str]:
    """What a training may run on: this server's devices, or on a cluster "auto", so that each worker trains on
    its own best device (a GPU worker on its GPU) whatever this server has."""
    return ["auto"] if cluster_address() else available_devices()


def settings_form(busy: bool) -> None:
    """The settings, with two ways to submit them: train one pair, or run a beta sweep with them.

    Not an st.form: a form's values reach the server only when it is submitted, so settings chosen and left
    for another page were lost. Each change reruns only this fragment, and persist_state keeps the values on
    pages that do not show them.
    """
    datasets = [name for name in DATASETS if is_available(name)]
    own = own_images.session_dataset()
    if own is not None:
        datasets.append(own.name)
    devices = training_devices()
    busy_help = "This session's training is under way; stop it or wait for it to end." if busy else None
    with st.container(border=True, key="train_settings"):
        data_col, size_col, optimiser_col = st.columns(3)
        dataset = data_col.selectbox("Dataset", datasets, format_func=dataset_title,
                                     key="train_dataset", persist_state="session")
        model = data_col.radio("Model", list(MODEL_CHOICES), format_func=MODEL_CHOICES.get, horizontal=True,
                               key="train_model", persist_state="session")
        # A menu with one choice says nothing to a visitor: the sidebar names the compute.
        device = devices[0] if len(devices) == 1 else data_col.selectbox(
            "Device", devices, format_func=str.upper, key="train_device", persist_state="session",
            help="Only the devices this server actually has.")
        seed = data_col.number_input("Seed", min_value=0, max_value=MAX_SEED, value=0, step=1, key="train_seed",
                                     persist_state="session", help="Same seed and settings, same model.")
        architecture = size_col.radio("Architecture", list(ARCHITECTURE_CHOICES),
                                      format_func=ARCHITECTURE_CHOICES.get, key="train_architecture",
                                      persist_state="session",
                                      help="Convolutions see neighbouring pixels together: sharper images "
                                           "for the same latent size, and slower training.")
        latent_dim = size_col.number_input("Latent size", min_value=1, max_value=MAX_LATENT,
                                           value=MAP_SIZES.latent_dim, step=1, key="train_latent",
                                           persist_state="session",
                                           help="2 puts the codes straight on the map; more are projected.")
        hidden_dim = size_col.number_input("Hidden size", min_value=8, max_value=MAX_HIDDEN,
                                           value=MAP_SIZES.hidden_dim, step=8, key="train_hidden",
                                           persist_state="session",
                                           help="Units in the hidden layer of each encoder and decoder.")
        ae_code = size_col.selectbox("AE code activation", list(AE_CODE_TITLES), format_func=AE_CODE_TITLES.get,
                                     key="train_ae_code", persist_state="session",
                                     help="A ReLU folds a small code onto the positive quadrant.")
        loss = size_col.radio("Reconstruction loss", list(LOSS_TITLES), format_func=LOSS_TITLES.get,
                              key="train_loss", persist_state="session")
        beta = optimiser_col.number_input("β (weight of the KL term)", min_value=0.0, max_value=100.0, value=1.0,
                                          step=0.5, key="train_beta", persist_state="session",
                                          help="1 trains on the ELBO; larger pulls codes towards the prior. "
                                               "The AE ignores it.")
        epochs = optimiser_col.number_input("Epochs", min_value=1, max_value=MAX_EPOCHS, value=30, step=1,
                                            key="train_epochs", persist_state="session")
        batch_size = optimiser_col.number_input("Batch size", min_value=8, max_value=4096, value=128, step=8,
                                                key="train_batch", persist_state="session")
        learning_rate = optimiser_col.select_slider("Learning rate (Adam)", LEARNING_RATES, value=1e-3,
                                                    format_func=lambda v: f"{v:g}", key="train_lr",
                                                    persist_state="session")
        train_col, sweep_col = st.columns([1, 3], vertical_alignment="bottom")
        train = train_col.button("Train", type="primary", disabled=busy, key="train_start", help=busy_help)
        betas = sweep_col.multiselect(
            "β sweep: one VAE per β with the settings above", SWEEP_BETAS, default=[0.25, 1.0, 4.0],
            key="sweep_betas", persist_state="session", format_func=lambda b: f"{b:g}",
            help="Traces the rate-distortion trade-off (below). The Model choice and β above are not used.")
        sweep = sweep_col.button("Run the sweep", disabled=busy, key="sweep_start", help=busy_help)
    if not (train or sweep):
        return
    try:
        spec = job_spec(dataset, model, architecture, latent_dim, hidden_dim, ae_code, loss, beta, epochs,
                        batch_size, learning_rate, seed, device)
        if train:
            work = TrainingJob(spec, abandon_after_s=ABANDON_AFTER_S, owner=session_owner())
        else:
            work = BetaSweep(spec, betas, abandon_after_s=ABANDON_AFTER_S, owner=session_owner())
        work.start()
    except ValueError as err:
        # The widgets' bounds make most of this unreachable from the page; a forged request still gets words.
        st.error(f"These settings cannot be trained: {err}")
        return
    except TrainingRefused as err:
        st.error(str(err))
        return
    st.session_state.pop(TRAIN_OUTCOME, None)
    st.session_state[TRAINING_JOB] = work
    st.rerun()


# A training sent to a shared cluster (LATENT_EXPLORER_CLUSTER) whose workers other servers' trainings hold.
WAITING_FOR_CLUSTER = ("Sent to the training cluster: waiting for one of its workers, which other servers share "
                       "(their trainings may be ahead of this one)…")


def progress_text(job: TrainingJob, progress: JobProgress) -> str:
    if progress.status == JobStatus.QUEUED:
        return WAITING_FOR_CLUSTER if progress.waiting_for_cluster else queue_text(progress.queue_position)
    if progress.current_kind is None:
        return f"Loading {dataset_title(job.spec.dataset)}…"
    models = " + ".join(KIND_TITLES[kind] for kind in progress.current_kinds)  # a pair trains side by side
    text = (f"{models} epoch {progress.current_epoch} of {progress.epochs} · "
            f"{progress.epochs_done} of {progress.total_epochs} epochs done · {duration(progress.elapsed_s)} so far")
    if job.cancel_requested:
        return text + " · stopping…"
    if progress.eta_s is None:
        return text + " · estimating the time left…"
    return text + f" · about {duration(progress.eta_s)} left"


KEEP_WATCHING = (f"Training continues while you visit other pages; come back here to collect the result. "
                 f"A training no page has looked at for {ABANDON_AFTER_S // 60} minutes is stopped, keeping "
                 "what it learned.")


@st.fragment(run_every=POLL_S)
def training_progress() -> None:
    work: TrainingJob | BetaSweep | None = st.session_state.get(TRAINING_JOB)
    if work is None:  # another run of this fragment has already concluded it
        return
    work.keep_alive()
    if isinstance(work, BetaSweep):
        sweep_progress(work)
        return
    progress = work.progress()
    if progress.status.done:
        st.session_state[TRAIN_OUTCOME] = conclude(work)
        del st.session_state[TRAINING_JOB]
        st.rerun()  # the whole app, once, so the sidebar and every page pick up the new active pair
    st.progress(progress.fraction, text=progress_text(work, progress))
    st.button("Stop", on_click=work.cancel, disabled=work.cancel_requested, key="train_stop",
              help="Stops within one batch and keeps the model trained so far.")
    st.caption(KEEP_WATCHING)


@st.fragment(run_every=CURVES_POLL_S)
def live_curves() -> None:
    work = st.session_state.get(TRAINING_JOB)
    if isinstance(work, TrainingJob):  # a β sweep has its own plot, drawn as its VAEs finish
        loss_curves(work.progress().histories, key_prefix="live")


def sweep_progress(sweep: BetaSweep) -> None:
    if sweep.done:
        st.session_state[SWEEP] = sweep
        del st.session_state[TRAINING_JOB]
        st.session_state[TRAIN_OUTCOME] = Outcome("success", "The β sweep has ended: its points are below, "
                                                             "each one loadable.")
        st.rerun()  # the whole app: the form's buttons come back
    points = sweep.points()
    position = sweep.queue_position
    if position is not None:
        text = queue_text(position)
    elif sweep.waiting_for_cluster:
        text = WAITING_FOR_CLUSTER
    else:
        text = (f"β sweep: {sum(p.status.done for p in points)} of {len(points)} VAEs trained, "
                f"{round(sweep.fraction * 100)}% of all epochs")
    st.progress(sweep.fraction, text=text)
    st.button("Stop the sweep", on_click=sweep.cancel, key="sweep_stop",
              help="Stops the VAE in training within one batch, keeping it, and skips the rest.")
    st.caption(KEEP_WATCHING)


def conclude(job: TrainingJob) -> Outcome:
    """Make what the ended job trained this session's active pair; say what happened."""
    progress = job.progress()
    pair = job.result_pair()
    kept = ""
    if pair is not None:
        label = job_result_label(job)
        try:
            session.add_own_pair(pair, label, dataset=job.spec.custom_dataset)
        except DatasetUnavailable as err:
            return Outcome("error", f"Training ended but its model cannot be explored here: {err}")
        kept = (f"**{plain(label)}** is now this session's active model: every page shows it, and the sidebar "
                "switches back to any other pair.")
    if progress.status == JobStatus.FINISHED:
        return Outcome("success", f"Training finished. {kept}")
    if progress.status == JobStatus.CANCELLED:
        if progress.abandoned:
            reason = f"Training stopped because no page looked at it for {ABANDON_AFTER_S // 60} minutes."
            return Outcome("warning", f"{reason} {kept}" if pair else f"{reason} Nothing was kept.")
        if pair is None:
            return Outcome("info", "Training stopped before an epoch finished; nothing was kept and the "
                                   "active model is unchanged.")
        return Outcome("success", f"Training stopped; the model trained so far is kept. {kept}")
    if pair is None:
        return Outcome("error", f"{progress.error} Nothing was kept; the active model is unchanged.")
    return Outcome("error", f"{progress.error} The last good model is kept. {kept}")


# --- checkpoints -------------------------------------------------------------------------

def adopt_uploaded_checkpoint(name: str, size: int, stream) -> Outcome:
    """Load a visitor's checkpoint safely and make it this session's active pair; never raises for a bad file."""
    limit = checkpoint_module.MAX_CHECKPOINT_BYTES
    shown = plain(name)
    if size > limit:
        return Outcome("error", f"{shown} is {size / 2**20:.1f} MiB; a checkpoint may be at most "
                                f"{limit / 2**20:.0f} MiB. The active model is unchanged.")
    try:
        pair = load_checkpoint(stream, max_bytes=limit)
    except CheckpointError as err:
        return Outcome("error", f"{shown} was not loaded: {err}. The active model is unchanged.")
    dataset = None
    if pair.data_manifest is not None:
        try:
            dataset = own_images.adopt_checkpoint_dataset(pair.data_manifest)
        except DatasetUnavailable as err:
            return Outcome("error", f"{shown} was not loaded: {err}. The active model is unchanged.")
    elif not is_available(pair.dataset):
        return Outcome("error", f"{shown} holds models of {DATASETS[pair.dataset].title}, which this server "
                                "does not have (the sidebar's Help says how to add it); the active model is unchanged.")
    # Only safe characters from a stranger's file name go into the label other pages display.
    label = f"{pair_label(pair)} · uploaded {re.sub(r'[^A-Za-z0-9. -]', '_', name)[:40]}"
    session.add_own_pair(pair, label, dataset=dataset)
    return Outcome("success", f"Loaded {shown}: **{plain(label)}** is now this session's active model.")


def checkpoints() -> None:
    st.subheader("Checkpoints")
    download_col, upload_col = st.columns(2)
    workspace = session.active_workspace()
    pair = workspace.pair
    download_col.download_button(
        "Download checkpoint", data=lambda: checkpoint_bytes(pair),  # built only when clicked
        file_name=f"latent-explorer-{pair.dataset.replace(':', '-')}.pt", mime="application/octet-stream",
        on_click="ignore", key="checkpoint_download",
        help="The active pair: both models, their settings and training history.")
    download_col.caption(f"Active: {plain(workspace.label, limit=300)}")
    uploaded = upload_col.file_uploader(
        "Upload checkpoint", type=["pt", "pth", "ckpt"], key="checkpoint_upload",
        max_upload_size=max(checkpoint_module.MAX_CHECKPOINT_BYTES // 2**20, 1),
        help="A file saved by this app or `python -m vae_core train`. It is read as data only: "
             "nothing in it is ever run.")
    # Right under the file, where the previous file's message was: a new file's loading replaces it at once,
    # instead of leaving an earlier file's error under this one while it loads and the page reruns.
    message = upload_col.empty()
    # The widget keeps returning the same file on every rerun; load it once.
    if uploaded is not None and uploaded.file_id != st.session_state.get(UPLOADED_FILE_ID):
        st.session_state[UPLOADED_FILE_ID] = uploaded.file_id
        with message, st.spinner(f"Loading {plain(uploaded.name)}…"):
            outcome = adopt_uploaded_checkpoint(uploaded.name, uploaded.size, uploaded)
        st.session_state[UPLOAD_OUTCOME] = outcome
        if outcome.level == "success":
            st.rerun()  # the sidebar was drawn before this page and still names the previous pair
    with message:
        show(st.session_state.pop(UPLOAD_OUTCOME, None))


def device_text(settings: dict) -> str:
    """'trained on CUDA:0', 'trained on CPU': the device it ran on, as checkpoints record it now; from older
    checkpoints, which lack it, the device asked for, "auto" (a cluster's worker chose) as what it means."""
    if isinstance(settings.get("trained_on"), str):
        return f"trained on {settings['trained_on'].upper()}"
    device = settings["device"]
    return "the worker's best device" if device == "auto" else str(device).upper()


def settings_text(settings: dict) -> str:
    """' — 30 epochs · batch 128 · Adam 0.001 · β=1 · BCE · seed 0 · trained on CPU' from a pair's recorded
    train_settings."""
    try:
        return (f" — {settings['epochs']} epochs · batch {settings['batch_size']} · "
                f"Adam {settings['learning_rate']:g} · β={settings['beta']:g} · {str(settings['loss']).upper()} · "
                f"seed {settings['seed']} · {device_text(settings)}")
    except (KeyError, TypeError, ValueError):  # an uploaded file may record less, or other types
        return ""


def active_history() -> None:
    workspace = session.active_workspace()
    histories = {kind: h for kind, h in workspace.pair.histories.items() if h}
    st.subheader("Training history of the active pair")
    if not histories:
        st.caption(f"{plain(workspace.label, limit=300)} carries no training history.")
        return
    settings = settings_text(workspace.pair.train_settings.get(workspace.main_kind, {}))
    st.caption(plain(workspace.label + settings, limit=300))
    loss_curves(histories, key_prefix="active")


# --- the beta sweep -----------------------------------------------------------------------

def sweep_section() -> None:
    """The current or last sweep's rate-distortion curve; any finished point can become the active pair."""
    work = st.session_state.get(TRAINING_JOB)
    sweep = work if isinstance(work, BetaSweep) else st.session_state.get(SWEEP)
    if sweep is None:
        return
    st.subheader("β trade-off: rate against distortion")
    st.caption("One VAE per β, trained with the same settings: what each pays in KL (the rate: nats spent "
               "describing z) against what it loses in reconstruction (the distortion). β = 1 is the ELBO; larger "
               "β pushes the codes towards the prior and blurs the images.")
    sweep_results(sweep)


@st.fragment(run_every=POLL_S)
def sweep_results(sweep: BetaSweep) -> None:
    finished = [p for p in sweep.points() if p.kl is not None]
    if finished:
        st.plotly_chart(figures.rate_distortion([p.beta for p in finished], [p.kl for p in finished],
                                                [p.reconstruction for p in finished]), key="sweep_plot")
    loadable = [p.beta for p in finished if p.status.done]
    if len(loadable) >= 2:
        counted = {beta: sweep.active_units(beta) for beta in loadable}
        counted = {beta: count for beta, count in counted.items() if count is not None}
        st.plotly_chart(figures.active_units_by_beta(list(counted), list(counted.values()),
                                                     sweep.spec.model_config("vae").latent_dim),
                        key="sweep_active_units")
        st.caption("Active units: latent dimensions whose encoder mean still varies across the held-out images "
                   "(variance above 0.01). A large β makes unused dimensions cheap to switch off: they collapse "
                   "to the prior and carry nothing.")
    if loadable:
        left, right = st.columns([2, 1], vertical_alignment="bottom")
        beta = left.selectbox("Explore the VAE trained with", loadable, format_func=lambda b: f"β = {b:g}",
                              key="sweep_pick")
        if right.button("Make it the active model", key="sweep_load"):
            job = sweep.jobs[beta]
            session.add_own_pair(job.result_pair(), job_result_label(job), dataset=sweep.spec.custom_dataset)
            st.rerun()


def main() -> None:
    st.title("Train")
    st.caption("Train a new AE, VAE or both on your settings and watch the ELBO's two terms as it learns. "
               "The result becomes the active model and is kept on this server for you (Your models, in the "
               "sidebar); others see it only through a link you share.")
    busy = TRAINING_JOB in st.session_state
    own_images.section()
    settings_form(busy=busy)
    if busy:
        training_progress()
        live_curves()
    else:
        show(st.session_state.pop(TRAIN_OUTCOME, None))
    checkpoints()
    imported_models.section()
    active_history()
    sweep_section()


main()
