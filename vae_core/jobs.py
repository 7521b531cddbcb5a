"""Training in a background thread, with progress that a user interface can poll.

A web page cannot wait while a model trains: its script has to return so the
browser stays responsive. ``TrainingJob`` runs ``train_model`` for an AE, a
VAE or both (one after the other) in a daemon thread, publishes every finished
epoch under a lock, and answers ``progress()`` with a consistent snapshot as
often as it is asked. ``cancel()`` stops it between batches; what finished
training so far is kept.

Only one job trains at a time in a process. ``train_model`` seeds torch's
global random generator (weight initialisation and the VAE's noise use it), so
two jobs interleaving would draw from each other's stream and neither would be
reproducible from its seed; a job that finds another one training waits,
``queued``, until it is done. So that a job whose watcher went away does not
hold that slot, a job can be told to stop itself when ``keep_alive()`` stops
coming (``abandon_after_s``).

Typical use::

    job = TrainingJob(JobSpec("digits", kinds=("vae",), train=TrainConfig(epochs=20))).start()
    while not job.progress().status.done:
        time.sleep(0.5)
    pair = job.result_pair()
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field, replace
from enum import Enum

from .data import DATASETS, ImageDataset, load_dataset
from .losses import RECONSTRUCTION_LOSSES
from .models import KIND_TITLES, ModelConfig, ModelKind, ModelPair
from .training import EpochReport, TrainConfig, TrainingDiverged, new_model, train_model

# Training order, the same as the CLI's, so a job and `python -m vae_core train`
# with the same seed give the same pair. Labels name the VAE first instead: it is
# the model the explorer centres on.
KIND_ORDER: tuple[ModelKind, ...] = ("ae", "vae")

_TRAINING_SLOT = threading.Lock()
_SLOT_POLL_S = 0.1


class JobStatus(str, Enum):
    QUEUED = "queued"  # waiting for another job in this process to finish
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (JobStatus.FINISHED, JobStatus.CANCELLED, JobStatus.FAILED)


@dataclass(frozen=True)
class JobSpec:
    """What to train: dataset, which models, their sizes and the optimisation settings.

    Both models share the hidden and latent sizes; ``ae_code_activation`` is
    the AE's only extra setting (the VAE's code is a Gaussian, never clipped).
    """

    dataset: str
    kinds: tuple[ModelKind, ...] = KIND_ORDER
    latent_dim: int = 2
    hidden_dim: int = 256
    ae_code_activation: str = "linear"
    train: TrainConfig = field(default_factory=TrainConfig)
    data_dir: str | None = None
    # A dataset in no registry (a person's own images), trained on as given; `dataset` is its name.
    custom_dataset: ImageDataset | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.custom_dataset is not None:
            if self.custom_dataset.name != self.dataset:
                raise ValueError(f"the custom dataset is {self.custom_dataset.name!r}, not {self.dataset!r}")
        elif self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        kinds = tuple(self.kinds)
        if not kinds or set(kinds) - set(KIND_ORDER) or len(set(kinds)) != len(kinds):
            raise ValueError(f"kinds must be 'ae', 'vae' or both, each once, not {kinds}")
        object.__setattr__(self, "kinds", tuple(k for k in KIND_ORDER if k in kinds))
        for kind in self.kinds:
            self.model_config(kind)  # raises ValueError on sizes a model cannot have

    def model_config(self, kind: ModelKind) -> ModelConfig:
        shape = DATASETS[self.dataset].image_shape if self.custom_dataset is None else self.custom_dataset.image_shape
        return ModelConfig(kind=kind, input_shape=shape,
                           hidden_dim=int(self.hidden_dim), latent_dim=int(self.latent_dim),
                           code_activation=self.ae_code_activation if kind == "ae" else "relu")

    def with_train(self, **changes) -> JobSpec:
        """The same spec with some training settings changed, e.g. ``spec.with_train(beta=4.0)`` for a sweep."""
        return replace(self, train=replace(self.train, **changes))

    @property
    def total_epochs(self) -> int:
        return len(self.kinds) * self.train.epochs


@dataclass(frozen=True)
class JobProgress:
    """A consistent snapshot of a job, safe to read from any thread.

    ``histories`` holds, per model kind, the EpochReport dicts of its finished
    epochs. ``current_epoch`` is the epoch of ``current_kind`` being trained
    now (1-based; 0 before training starts). ``eta_s`` is the mean epoch time
    so far times the epochs left, None until an epoch has finished.
    """

    status: JobStatus
    kinds: tuple[str, ...]
    histories: dict[str, list[dict]]
    current_kind: str | None
    current_epoch: int
    epochs: int
    epochs_done: int
    total_epochs: int
    elapsed_s: float
    eta_s: float | None
    error: str | None
    abandoned: bool = False  # cancelled because keep_alive() stopped coming

    @property
    def fraction(self) -> float:
        return min(self.epochs_done / self.total_epochs, 1.0) if self.total_epochs else 0.0


class TrainingJob:
    """Trains ``spec`` in a background thread once started.

    ``abandon_after_s``: when set, the job stops itself (keeping what it
    trained) if ``keep_alive()`` has not been called for that long, so a job
    whose browser tab was closed does not hold the training slot for hours.
    """

    def __init__(self, spec: JobSpec, abandon_after_s: float | None = None):
        self.spec = spec
        self.abandon_after_s = abandon_after_s
        self._last_seen = time.monotonic()
        self._abandoned = False
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"train-{spec.dataset}", daemon=True)
        self._status = JobStatus.QUEUED
        self._histories: dict[str, list[dict]] = {}
        self._models: dict[str, object] = {}
        self._current_kind: str | None = None
        self._current_epoch = 0
        self._epoch_seconds: list[float] = []
        self._epoch_started = 0.0
        self._started: float | None = None
        self._ended: float | None = None
        self._error: str | None = None

    # --- control ---------------------------------------------------------------------
    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop; it does within one batch, keeping the epochs that finished."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def keep_alive(self) -> None:
        """Someone is still watching: postpone abandonment."""
        with self._lock:
            self._last_seen = time.monotonic()

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job ends or the timeout passes; returns the status then."""
        self._thread.join(timeout)
        return self.status

    # --- reading -----------------------------------------------------------------------
    @property
    def status(self) -> JobStatus:
        with self._lock:
            return self._status

    def progress(self) -> JobProgress:
        with self._lock:
            epochs_done = sum(len(h) for h in self._histories.values())
            remaining = self.spec.total_epochs - epochs_done
            eta = None
            if self._status == JobStatus.RUNNING and self._epoch_seconds:
                eta = sum(self._epoch_seconds) / len(self._epoch_seconds) * remaining
            if self._started is None:
                elapsed = 0.0
            else:
                elapsed = (self._ended or time.perf_counter()) - self._started
            return JobProgress(
                status=self._status, kinds=self.spec.kinds,
                histories={kind: list(history) for kind, history in self._histories.items()},
                current_kind=self._current_kind, current_epoch=self._current_epoch,
                epochs=self.spec.train.epochs, epochs_done=epochs_done, total_epochs=self.spec.total_epochs,
                elapsed_s=elapsed, eta_s=eta, error=self._error, abandoned=self._abandoned)

    def result_pair(self) -> ModelPair | None:
        """The models whose training has ended with at least one finished epoch, on the CPU; None if none has.

        Callable at any time; a model still training is left out. Each call
        returns its own copies, so a caller may move or change them freely.
        """
        with self._lock:
            if not self._models:
                return None
            custom = self.spec.custom_dataset
            pair = ModelPair(dataset=self.spec.dataset, data_manifest=None if custom is None else custom.manifest)
            for kind, model in self._models.items():
                setattr(pair, kind, copy.deepcopy(model))
                pair.histories[kind] = list(self._histories[kind])
                pair.train_settings[kind] = {**self.spec.train.to_dict(), "dataset": self.spec.dataset}
            return pair

    def result_label(self) -> str | None:
        """A short description of result_pair(), with how the job ended when it did not finish."""
        pair = self.result_pair()
        if pair is None:
            return None
        label = pair_label(pair)
        status = self.status
        if status == JobStatus.CANCELLED:
            return f"{label} · stopped"
        if status == JobStatus.FAILED:
            return f"{label} · training failed, last good weights"
        return label

    # --- the training thread -----------------------------------------------------------
    def _run(self) -> None:
        if not self._wait_for_training_slot():
            self._end(JobStatus.CANCELLED)
            return
        try:
            self._train_all()
        except TrainingDiverged as err:
            self._end(JobStatus.FAILED, str(err))
        except Exception as err:  # noqa: BLE001 - a dead thread would leave the page waiting forever
            self._end(JobStatus.FAILED, f"Training failed: {type(err).__name__}: {err}.")
        finally:
            _TRAINING_SLOT.release()

    def _wait_for_training_slot(self) -> bool:
        """Take the process-wide training slot; False when cancelled while waiting."""
        while not _TRAINING_SLOT.acquire(timeout=_SLOT_POLL_S):
            if self._should_stop():
                return False
        return True

    def _should_stop(self) -> bool:
        """Polled by the training loop between batches: cancelled, or abandoned by its watcher."""
        if self._cancel.is_set():
            return True
        if self.abandon_after_s is not None:
            with self._lock:
                if time.monotonic() - self._last_seen > self.abandon_after_s:
                    self._abandoned = True
                    self._cancel.set()
                    return True
        return False

    def _train_all(self) -> None:
        with self._lock:
            self._status = JobStatus.RUNNING
            self._started = time.perf_counter()
        dataset = self.spec.custom_dataset or load_dataset(self.spec.dataset, self.spec.data_dir, download=False)
        for kind in self.spec.kinds:
            if self._should_stop():
                self._end(JobStatus.CANCELLED)
                return
            model = new_model(self.spec.model_config(kind), seed=self.spec.train.seed)
            with self._lock:
                self._current_kind = kind
                self._current_epoch = 1
                self._histories[kind] = []
                self._epoch_started = time.perf_counter()
            try:
                result = train_model(model, dataset, self.spec.train, on_epoch=self._record_epoch,
                                     should_stop=self._should_stop)
            except TrainingDiverged:
                self._keep(kind, model)  # train_model restored the last good epoch's weights
                raise
            self._keep(kind, model)
            if result.cancelled:
                self._end(JobStatus.CANCELLED)
                return
        self._end(JobStatus.FINISHED)

    def _record_epoch(self, report: EpochReport) -> None:
        now = time.perf_counter()
        with self._lock:
            self._histories[report.model].append(report.to_dict())
            # Wall time, not report.train_s: the test evaluation is part of what the user waits for.
            self._epoch_seconds.append(now - self._epoch_started)
            self._epoch_started = now
            self._current_epoch = min(report.epoch + 1, report.epochs)

    def _keep(self, kind: str, model) -> None:
        """Publish a model whose training has ended, if it finished an epoch; the thread never touches it again."""
        with self._lock:
            if not self._histories.get(kind):
                self._histories.pop(kind, None)
                return
        model = model.cpu().eval()
        with self._lock:
            self._models[kind] = model

    def _end(self, status: JobStatus, error: str | None = None) -> None:
        with self._lock:
            self._status = status
            self._error = error
            self._current_kind = None
            if self._started is not None:
                self._ended = time.perf_counter()


def pair_label(pair: ModelPair) -> str:
    """E.g. 'digits · VAE+AE latent 2 · β=1 · 10 epochs', from what the pair itself records."""
    kinds = [k for k in reversed(KIND_ORDER) if k in pair.models()]  # the VAE first: it is the one explored
    models = pair.models()
    latents = {models[k].config.latent_dim for k in kinds}
    if len(latents) == 1:
        parts = [f"{'+'.join(KIND_TITLES[k] for k in kinds)} latent {latents.pop()}"]
    else:
        parts = [", ".join(f"{KIND_TITLES[k]} latent {models[k].config.latent_dim}" for k in kinds)]
    # Settings of an uploaded checkpoint are whatever its author wrote: only known values are described.
    settings = {k: pair.train_settings.get(k, {}) for k in kinds}
    beta = settings.get("vae", {}).get("beta")
    if isinstance(beta, (int, float)) and math.isfinite(beta):
        parts.append(f"β={beta:g}")
    losses = {s.get("loss") for s in settings.values() if s.get("loss") in RECONSTRUCTION_LOSSES} - {"bce"}
    parts += [loss.upper() for loss in sorted(losses)]
    epochs = {k: len(pair.histories.get(k, [])) for k in kinds}
    if any(epochs.values()):
        if len(set(epochs.values())) == 1:
            parts.append(_epochs_text(epochs[kinds[0]]))
        else:
            parts.append(", ".join(f"{KIND_TITLES[k]} {_epochs_text(n)}" for k, n in epochs.items()))
    return " · ".join([pair.dataset, *parts])


def _epochs_text(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


@dataclass(frozen=True)
class SweepPoint:
    """One VAE of a beta sweep: its held-out distortion (reconstruction) and rate (KL), in nats per image."""

    beta: float
    status: JobStatus
    epochs_done: int
    reconstruction: float | None
    kl: float | None


class BetaSweep:
    """VAEs that differ only in beta, to trace the rate-distortion curve.

    Each beta is its own TrainingJob; all start at once and take the training
    slot in turn, so the sweep needs no scheduler of its own.
    """

    def __init__(self, spec: JobSpec, betas, abandon_after_s: float | None = None):
        betas = sorted({float(b) for b in betas})
        if len(betas) < 2:
            raise ValueError("a sweep needs at least two different beta values")
        vae_only = replace(spec, kinds=("vae",))
        self.spec = vae_only
        self.jobs = {beta: TrainingJob(vae_only.with_train(beta=beta), abandon_after_s) for beta in betas}

    def start(self) -> BetaSweep:
        for job in self.jobs.values():
            job.start()
        return self

    def cancel(self) -> None:
        for job in self.jobs.values():
            job.cancel()

    def keep_alive(self) -> None:
        for job in self.jobs.values():
            job.keep_alive()

    @property
    def done(self) -> bool:
        return all(job.status.done for job in self.jobs.values())

    @property
    def fraction(self) -> float:
        progresses = [job.progress() for job in self.jobs.values()]
        return sum(p.epochs_done for p in progresses) / sum(p.total_epochs for p in progresses)

    def points(self) -> list[SweepPoint]:
        points = []
        for beta, job in self.jobs.items():
            progress = job.progress()
            history = progress.histories.get("vae") or []
            last = history[-1] if history else {}
            points.append(SweepPoint(beta, progress.status, len(history), last.get("test_reconstruction"),
                                     last.get("test_kl")))
        return points

    def pair(self, beta: float) -> ModelPair | None:
        return self.jobs[beta].result_pair()

    def label(self, beta: float) -> str | None:
        return self.jobs[beta].result_label()
