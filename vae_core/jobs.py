"""Training a pair of models, in the foreground or in a worker process whose progress a user interface polls.

``train_pair`` is the one place that trains: an AE, a VAE or both, one after
the other, each from a freshly initialised model. The CLI calls it directly;
``TrainingJob`` has it run in a worker process of the pool in ``pool.py`` and
answers ``progress()`` with a consistent snapshot as often as it is asked,
from the reports the worker sends after every epoch. ``cancel()`` stops the
job between batches; what finished training so far is kept. Every job draws
its random numbers from generators of its own, so it is reproducible from its
seed whatever else runs.

So that a job whose watcher went away does not hold a worker, a job can be
told to stop itself when ``keep_alive()`` stops coming (``abandon_after_s``).

Typical use::

    job = TrainingJob(JobSpec("digits", kinds=("vae",), train=TrainConfig(epochs=20))).start()
    while not job.progress().status.done:
        time.sleep(0.5)
    pair = job.result_pair()
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum

import torch

from .data import DATASETS, ImageDataset
from .models import (
    ARCHITECTURES,
    Autoencoder,
    ModelConfig,
    ModelKind,
    ModelPair,
    build_model,
    original_autoencoder_config,
    original_vae_config,
)
from .pool import TrainingPool, default_pool
from .training import EpochReport, TrainConfig, new_model, train_model

# Training order, the same for a job and the CLI, so both give the same pair from the same seed.
KIND_ORDER: tuple[ModelKind, ...] = ("ae", "vae")


class JobStatus(str, Enum):
    QUEUED = "queued"  # waiting for a free worker, or for the jobs before it in its sweep
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (JobStatus.FINISHED, JobStatus.CANCELLED, JobStatus.FAILED)


@dataclass(frozen=True)
class JobSpec:
    """What to train: dataset, which models, their architecture and sizes, and the optimisation settings.

    Both models share the architecture and the hidden and latent sizes; a size
    left as None takes the seed documents' value for each kind (AE 256 hidden,
    32 latent; VAE 400 and 20). ``ae_code_activation`` is the AE's only extra
    setting (the VAE's code is a Gaussian, never clipped).
    """

    dataset: str
    kinds: tuple[ModelKind, ...] = KIND_ORDER
    latent_dim: int | None = 2
    hidden_dim: int | None = 256
    ae_code_activation: str = "linear"
    train: TrainConfig = field(default_factory=TrainConfig)
    data_dir: str | None = None
    architecture: str = "mlp"
    # A person's own images (a "custom:" dataset), which are in no registry: they travel with the spec.
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
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}")
        for kind in self.kinds:
            self.model_config(kind)  # raises ValueError on sizes a model cannot have

    def model_config(self, kind: ModelKind) -> ModelConfig:
        original = original_vae_config() if kind == "vae" else original_autoencoder_config()
        shape = DATASETS[self.dataset].image_shape if self.custom_dataset is None else self.custom_dataset.image_shape
        return ModelConfig(kind=kind, input_shape=shape,
                           hidden_dim=original.hidden_dim if self.hidden_dim is None else self.hidden_dim,
                           latent_dim=original.latent_dim if self.latent_dim is None else self.latent_dim,
                           code_activation=self.ae_code_activation if kind == "ae" else "relu",
                           architecture=self.architecture)

    def with_train(self, **changes) -> JobSpec:
        """The same spec with some training settings changed, e.g. ``spec.with_train(beta=4.0)`` for a sweep."""
        return replace(self, train=replace(self.train, **changes))

    def train_settings(self) -> dict:
        """What a checkpoint records about how each of its models was trained."""
        return {**self.train.to_dict(), "dataset": self.dataset}

    @property
    def total_epochs(self) -> int:
        return len(self.kinds) * self.train.epochs


@dataclass
class PairResult:
    """The models that finished at least one epoch, and whether training was stopped early."""

    pair: ModelPair
    cancelled: bool


def train_pair(
    spec: JobSpec,
    dataset: ImageDataset,
    on_epoch: Callable[[EpochReport, Autoencoder], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_model_start: Callable[[str], None] | None = None,
) -> PairResult:
    """Train the spec's models one after the other (AE first); the one place where a pair is trained.

    ``on_epoch`` gets each finished epoch's report with the model it describes,
    ``on_model_start`` the kind of each model as its training begins.
    ``should_stop`` is polled between batches. A diverging model raises
    TrainingDiverged after its weights were restored to its last good epoch.
    """
    pair = ModelPair(dataset=spec.dataset, data_manifest=dataset.manifest)
    for kind in spec.kinds:
        if should_stop is not None and should_stop():
            return PairResult(pair, cancelled=True)
        model = new_model(spec.model_config(kind), seed=spec.train.seed)
        if on_model_start is not None:
            on_model_start(kind)
        report = None if on_epoch is None else (lambda epoch, model=model: on_epoch(epoch, model))
        result = train_model(model, dataset, spec.train, on_epoch=report, should_stop=should_stop)
        if result.history:
            setattr(pair, kind, model.cpu().eval())
            pair.histories[kind] = [epoch.to_dict() for epoch in result.history]
            pair.train_settings[kind] = spec.train_settings()
        if result.cancelled:
            return PairResult(pair, cancelled=True)
    return PairResult(pair, cancelled=False)


@dataclass(frozen=True)
class JobProgress:
    """A consistent snapshot of a job, safe to read from any thread.

    ``histories`` holds, per model kind, the EpochReport dicts of its finished
    epochs. ``current_epoch`` is the epoch of ``current_kind`` being trained
    now (1-based; 0 before training starts). ``eta_s`` is the mean epoch time
    so far times the epochs left, None until an epoch has finished.
    ``queue_position`` is the job's place among the trainings waiting for a
    worker (1 = next), None when it is not waiting for one.
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
    queue_position: int | None = None

    @property
    def fraction(self) -> float:
        return min(self.epochs_done / self.total_epochs, 1.0) if self.total_epochs else 0.0


class TrainingJob:
    """Trains ``spec`` in a worker process of ``pool`` (the process-wide default pool when None) once started.

    ``abandon_after_s``: when set, the job stops itself (keeping what it
    trained) if ``keep_alive()`` has not been called for that long, so a job
    whose browser tab was closed does not hold a worker for hours. ``owner``
    names who asked for it (a browser session): the pool runs at most one
    training per owner at a time.
    """

    def __init__(self, spec: JobSpec, abandon_after_s: float | None = None, owner: str | None = None,
                 pool: TrainingPool | None = None):
        self.spec = spec
        self.abandon_after_s = abandon_after_s
        self.owner = owner
        self._pool = pool
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._cancel = threading.Event()
        self._last_seen = time.monotonic()
        self._abandoned = False
        self._status = JobStatus.QUEUED
        self._histories: dict[str, list[dict]] = {}
        self._weights: dict[str, bytes] = {}  # each model's weights at its last finished epoch, serialised
        self._finished_kinds: set[str] = set()  # models whose training has ended
        self._current_kind: str | None = None
        self._current_epoch = 0
        self._epoch_seconds: list[float] = []
        self._epoch_started = 0.0
        self._started: float | None = None
        self._ended_at: float | None = None
        self._error: str | None = None

    # --- control ---------------------------------------------------------------------
    def start(self) -> TrainingJob:
        """Queue the job for a worker; raises TrainingRefused when its owner already has one queued or running."""
        self.pool.submit([self], owner=self.owner)
        return self

    @property
    def pool(self) -> TrainingPool:
        return self._pool or default_pool()

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
        self._ended.wait(timeout)
        return self.status

    # --- reading -----------------------------------------------------------------------
    @property
    def status(self) -> JobStatus:
        with self._lock:
            return self._status

    @property
    def worker_pid(self) -> int | None:
        """The process id of the worker training this job, while it runs."""
        return self.pool.worker_pid(self) if self.status == JobStatus.RUNNING else None

    def progress(self) -> JobProgress:
        position = self.pool.queue_position(self)
        with self._lock:
            epochs_done = sum(len(h) for h in self._histories.values())
            remaining = self.spec.total_epochs - epochs_done
            eta = None
            if self._status == JobStatus.RUNNING and self._epoch_seconds:
                eta = sum(self._epoch_seconds) / len(self._epoch_seconds) * remaining
            if self._started is None:
                elapsed = 0.0
            else:
                elapsed = (self._ended_at or time.perf_counter()) - self._started
            return JobProgress(
                status=self._status, kinds=self.spec.kinds,
                histories={kind: list(history) for kind, history in self._histories.items()},
                current_kind=self._current_kind, current_epoch=self._current_epoch,
                epochs=self.spec.train.epochs, epochs_done=epochs_done, total_epochs=self.spec.total_epochs,
                elapsed_s=elapsed, eta_s=eta, error=self._error, abandoned=self._abandoned,
                queue_position=position if self._status == JobStatus.QUEUED else None)

    def result_pair(self) -> ModelPair | None:
        """The models whose training has ended with at least one finished epoch, on the CPU; None if none has.

        Callable at any time; a model still training is left out. Each call
        builds its own models from the weights the worker sent, so a caller may
        move or change them freely.
        """
        with self._lock:
            kinds = [kind for kind in KIND_ORDER if kind in self._finished_kinds and kind in self._weights]
            weights = {kind: self._weights[kind] for kind in kinds}
            histories = {kind: list(self._histories[kind]) for kind in kinds}
        if not kinds:
            return None
        custom = self.spec.custom_dataset
        pair = ModelPair(dataset=self.spec.dataset, data_manifest=None if custom is None else custom.manifest)
        for kind in kinds:
            setattr(pair, kind, _model_from_bytes(self.spec.model_config(kind), weights[kind]))
            pair.histories[kind] = histories[kind]
            pair.train_settings[kind] = self.spec.train_settings()
        return pair

    # --- called by the pool ------------------------------------------------------------
    def _should_stop(self) -> bool:
        """Cancelled, or abandoned by its watcher (which this check then records and turns into a cancel)."""
        if self._cancel.is_set():
            return True
        if self.abandon_after_s is not None:
            with self._lock:
                if time.monotonic() - self._last_seen > self.abandon_after_s:
                    self._abandoned = True
                    self._cancel.set()
                    return True
        return False

    def _started_in_worker(self) -> None:
        with self._lock:
            self._status = JobStatus.RUNNING
            self._started = time.perf_counter()

    def _model_started(self, kind: str) -> None:
        with self._lock:
            self._finished_kinds.update(self._weights)  # the models trained before this one have ended
            self._current_kind = kind
            self._current_epoch = 1
            self._histories[kind] = []
            self._epoch_started = time.perf_counter()

    def _epoch_finished(self, report: dict, weights: bytes) -> None:
        now = time.perf_counter()
        with self._lock:
            self._histories[report["model"]].append(report)
            self._weights[report["model"]] = weights
            # Wall time, not report.train_s: the test evaluation is part of what the user waits for.
            self._epoch_seconds.append(now - self._epoch_started)
            self._epoch_started = now
            self._current_epoch = min(report["epoch"] + 1, report["epochs"])

    def _end(self, status: JobStatus | str, error: str | None = None) -> None:
        """The job is over; a model whose training was cut short keeps its last finished epoch."""
        with self._lock:
            if self._status.done:
                return
            self._finished_kinds.update(self._weights)
            for kind in [k for k, h in self._histories.items() if not h]:
                del self._histories[kind]
            self._status = JobStatus(status)
            self._error = error
            self._current_kind = None
            if self._started is not None:
                self._ended_at = time.perf_counter()
        self._ended.set()


def weights_bytes(model) -> bytes:
    """A model's weights as the bytes a worker sends: torch.save of a plain state dict on the CPU."""
    buffer = io.BytesIO()
    torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def _model_from_bytes(config: ModelConfig, data: bytes):
    with torch.device("meta"):
        model = build_model(config)
    model.to_empty(device="cpu")
    model.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    return model.eval()


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

    Each beta is its own TrainingJob; the pool runs them one after the other
    in a single worker, so a sweep takes one place in the queue, like one
    training, and counts as its owner's one training.
    """

    def __init__(self, spec: JobSpec, betas, abandon_after_s: float | None = None, owner: str | None = None,
                 pool: TrainingPool | None = None):
        betas = sorted({float(b) for b in betas})
        if len(betas) < 2:
            raise ValueError("a sweep needs at least two different beta values")
        vae_only = replace(spec, kinds=("vae",))
        self.spec = vae_only
        self.owner = owner
        self._pool = pool
        self.jobs = {beta: TrainingJob(vae_only.with_train(beta=beta), abandon_after_s, owner, pool)
                     for beta in betas}

    def start(self) -> BetaSweep:
        """Queue the sweep; raises TrainingRefused when its owner already has a training queued or running."""
        (self._pool or default_pool()).submit(list(self.jobs.values()), owner=self.owner)
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

    @property
    def queue_position(self) -> int | None:
        """The sweep's place among the trainings waiting for a worker; None once it has one."""
        return next(iter(self.jobs.values())).progress().queue_position

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
