"""Trainings that a user interface starts and polls: a TrainingJob, or a BetaSweep of them.

A ``TrainingJob`` has ``train_pair`` (``vae_core.pairs``) run on a worker of
the training engine (``vae_core.engine``: dask.distributed) and answers
``progress()`` with a consistent snapshot as often as it is asked, from the
reports the worker sends after every epoch. ``cancel()`` stops the job between
batches; what finished training so far is kept. Every job draws its random
numbers from generators of its own, so it is reproducible from its seed
whatever else runs.

So that a job whose watcher went away does not hold a worker, a job can be
told to stop itself when ``keep_alive()`` stops coming (``abandon_after_s``).

Typical use::

    job = TrainingJob(JobSpec("digits", kinds=("vae",), train=TrainConfig(epochs=20))).start()
    while not job.progress().status.done:
        time.sleep(0.5)
    pair = job.result_pair()
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from enum import Enum

from .data import load_dataset
from .engine import TrainingEngine, TrainingRefused, default_engine
from .latent import active_units, encode_images
from .models import ModelPair
from .pairs import KIND_ORDER, JobSpec, PairResult, model_from_bytes, train_pair, weights_bytes
from .replay import Replay

# What callers of this module use from the modules below it, importable from here as before.
__all__ = ["KIND_ORDER", "BetaSweep", "JobProgress", "JobSpec", "JobStatus", "PairResult", "SweepPoint",
           "TrainingJob", "TrainingRefused", "train_pair", "weights_bytes"]


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
class JobProgress:
    """A consistent snapshot of a job, safe to read from any thread.

    ``histories`` holds, per model kind, the EpochReport dicts of its finished
    epochs. ``current_kinds`` are the models in training now, side by side,
    and ``current_epoch`` the epoch they are in (1-based; 0 before training
    starts). ``eta_s`` is the mean epoch time
    so far times the epochs left, None until an epoch has finished.
    ``queue_position`` is the job's place among the trainings waiting for a
    worker (1 = next), None when it is not waiting for one.
    ``waiting_for_cluster``: it has left this server's queue for a shared
    cluster's scheduler, where it waits for one of the workers other servers
    use too. ``device`` is where it trains ('cuda:0', 'cpu'), once its models
    are built.
    """

    status: JobStatus
    kinds: tuple[str, ...]
    histories: dict[str, list[dict]]
    current_kinds: tuple[str, ...]
    current_epoch: int
    epochs: int
    epochs_done: int
    total_epochs: int
    elapsed_s: float
    eta_s: float | None
    error: str | None
    abandoned: bool = False  # cancelled because keep_alive() stopped coming
    queue_position: int | None = None
    waiting_for_cluster: bool = False
    device: str | None = None

    @property
    def current_kind(self) -> str | None:
        """The first model in training now (the AE of a pair); None before training starts and once it ends."""
        return self.current_kinds[0] if self.current_kinds else None

    @property
    def fraction(self) -> float:
        return min(self.epochs_done / self.total_epochs, 1.0) if self.total_epochs else 0.0


class TrainingJob:
    """Trains ``spec`` on a worker of ``engine`` (the process-wide default engine when None) once started.

    ``abandon_after_s``: when set, the job stops itself (keeping what it
    trained) if ``keep_alive()`` has not been called for that long, so a job
    whose browser tab was closed does not hold a worker for hours. ``owner``
    names who asked for it (a browser session): the engine runs at most one
    training per owner at a time.
    """

    def __init__(self, spec: JobSpec, abandon_after_s: float | None = None, owner: str | None = None,
                 engine: TrainingEngine | None = None):
        self.spec = spec
        self.abandon_after_s = abandon_after_s
        self.owner = owner
        self._engine = engine
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._cancel = threading.Event()
        self._last_seen = time.monotonic()
        self._abandoned = False
        self._status = JobStatus.QUEUED
        self._histories: dict[str, list[dict]] = {}
        self._weights: dict[str, bytes] = {}  # each model's weights at its last finished epoch, serialised
        self._replays: dict[str, Replay] = {}
        self._finished_kinds: set[str] = set()  # models whose training has ended
        self._current_kinds: tuple[str, ...] = ()
        self._current_epoch = 0
        self._device: str | None = None
        self._epoch_seconds: list[float] = []
        self._epoch_started = 0.0
        self._started: float | None = None
        self._ended_at: float | None = None
        self._error: str | None = None

    # --- control ---------------------------------------------------------------------
    def start(self) -> TrainingJob:
        """Queue the job for a worker; raises TrainingRefused when its owner already has one queued or running."""
        self.engine.submit([self], owner=self.owner)
        return self

    @property
    def engine(self) -> TrainingEngine:
        return self._engine or default_engine()

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
        return self.engine.worker_pid(self) if self.status == JobStatus.RUNNING else None

    def progress(self) -> JobProgress:
        position = self.engine.queue_position(self)
        waiting_for_cluster = self.engine.waiting_for_cluster(self)
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
                current_kinds=self._current_kinds, current_epoch=self._current_epoch,
                epochs=self.spec.train.epochs, epochs_done=epochs_done, total_epochs=self.spec.total_epochs,
                elapsed_s=elapsed, eta_s=eta, error=self._error, abandoned=self._abandoned,
                queue_position=position if self._status == JobStatus.QUEUED else None,
                waiting_for_cluster=waiting_for_cluster and self._status == JobStatus.QUEUED, device=self._device)

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
            replays = {kind: self._replays[kind] for kind in kinds if kind in self._replays}
            device = self._device
        if not kinds:
            return None
        custom = self.spec.custom_dataset
        pair = ModelPair(dataset=self.spec.dataset, data_manifest=None if custom is None else custom.manifest)
        for kind in kinds:
            setattr(pair, kind, model_from_bytes(self.spec.model_config(kind), weights[kind]))
            pair.histories[kind] = histories[kind]
            pair.train_settings[kind] = self.spec.train_settings(device)
        pair.replays.update(replays)
        return pair

    # --- called by the engine ------------------------------------------------------------
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

    def _training_started(self, kinds: tuple[str, ...], device: str) -> None:
        """The models are built (the dataset is loaded): they now train side by side, on ``device``."""
        with self._lock:
            self._device = device
            self._current_kinds = kinds
            self._current_epoch = 1
            for kind in kinds:
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
            # The epoch every model in training is in: models side by side report the same epoch one after another.
            self._current_epoch = min(min(len(self._histories[kind]) for kind in self._current_kinds) + 1,
                                      report["epochs"])
            if report["epoch"] == report["epochs"]:
                self._finished_kinds.add(report["model"])

    def _replays_received(self, replays: dict[str, tuple]) -> None:
        """Each model's codes per epoch (epochs, float16 codes), sent once after its training ended."""
        with self._lock:
            self._replays.update({kind: Replay(epochs, codes) for kind, (epochs, codes) in replays.items()})

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
            self._current_kinds = ()
            if self._started is not None:
                self._ended_at = time.perf_counter()
        self._ended.set()


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

    Each beta is its own TrainingJob; the engine runs them one after the other
    in a single task, so a sweep takes one place in the queue, like one
    training, and counts as its owner's one training.
    """

    def __init__(self, spec: JobSpec, betas, abandon_after_s: float | None = None, owner: str | None = None,
                 engine: TrainingEngine | None = None):
        betas = sorted({float(b) for b in betas})
        if len(betas) < 2:
            raise ValueError("a sweep needs at least two different beta values")
        vae_only = replace(spec, kinds=("vae",))
        self.spec = vae_only
        self.owner = owner
        self._engine = engine
        self.jobs = {beta: TrainingJob(vae_only.with_train(beta=beta), abandon_after_s, owner, engine)
                     for beta in betas}
        self._active_units: dict[float, int] = {}

    def start(self) -> BetaSweep:
        """Queue the sweep; raises TrainingRefused when its owner already has a training queued or running."""
        (self._engine or default_engine()).submit(list(self.jobs.values()), owner=self.owner)
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

    @property
    def waiting_for_cluster(self) -> bool:
        """Whether the sweep waits on a shared cluster's scheduler for a worker (JobProgress.waiting_for_cluster)."""
        return any(job.progress().waiting_for_cluster for job in self.jobs.values())

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

    def active_units(self, beta: float) -> int | None:
        """Active units (``latent.active_units``) of the VAE trained with ``beta`` on the held-out split, once its
        training has ended; computed once per beta."""
        if beta not in self._active_units:
            pair = self.pair(beta) if self.jobs[beta].status.done else None
            if pair is None or pair.vae is None:
                return None
            dataset = self.spec.custom_dataset or load_dataset(self.spec.dataset, download=False)
            self._active_units[beta] = active_units(encode_images(pair.vae, dataset.test_images).mu)
        return self._active_units[beta]
