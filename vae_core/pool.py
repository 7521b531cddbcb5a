"""Worker processes that train, started by a small pool with a fair queue: how the web server trains.

A training in the server's own process would compete with every visitor's
clicks for the interpreter and the cores, and a crash or an out-of-memory kill
would take the server down with it. Here each training runs in a worker
process instead:

- at most ``max_workers`` at once (default: the physical cores, or
  ``$LATENT_EXPLORER_TRAINING_WORKERS``), each with an equal share of the
  cores as torch threads, so workers never oversubscribe the CPU;
- the rest wait in one first-come, first-served queue, and an owner (a
  browser session) may have only one training queued or running, so no one
  can crowd others out;
- workers run at the lowest CPU priority (Linux's ``SCHED_IDLE``, and ``os.nice(10)``), so
  the server and the browser stay responsive while they train;
- workers start from a fork server with torch already imported (or by spawn
  where there is none), never by forking the server, whose torch threads a
  fork would leave in an undefined state;
- a worker never re-runs the server's ``__main__`` (see ``_start_workers_without_main``);
- a worker that dies (killed, out of memory) fails its jobs with a message
  saying so, keeping each model's last finished epoch; the pool carries on.

A worker reports over a pipe after every epoch (the report and the weights),
and a dispatcher thread in the server hands those reports to the jobs, which
the pages poll.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import os
import signal
import threading
from dataclasses import dataclass, field

import torch

from .training import TrainingDiverged, physical_cpu_cores

WORKERS_ENV = "LATENT_EXPLORER_TRAINING_WORKERS"
WORKER_NICENESS = 10
WORKER_NAME = "latent-explorer-training"
_POLL_S = 0.1  # how often the dispatcher checks for cancellations and abandoned jobs


class TrainingRefused(RuntimeError):
    """The owner already has a training queued or running; the message says so in words for them."""


@dataclass(eq=False)
class _Ticket:
    """One place in the queue: jobs of one owner, trained one after the other by one worker."""

    jobs: list
    owner: str | None
    process: multiprocessing.process.BaseProcess | None = None
    connection: multiprocessing.connection.Connection | None = None
    cancel_flags: list = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every job has ended (the worker may still be exiting)."""
        return all(job.status.done for job in self.jobs)


class TrainingPool:
    """Runs TrainingJobs in worker processes, at most ``max_workers`` at once, in order of arrival."""

    def __init__(self, max_workers: int | None = None, threads_per_worker: int | None = None,
                 niceness: int = WORKER_NICENESS):
        cores = physical_cpu_cores()
        self.max_workers = max_workers if max_workers is not None else _workers_from_environment() or cores
        if self.max_workers < 1:
            raise ValueError(f"a training pool needs at least one worker, not {self.max_workers}")
        self.threads_per_worker = threads_per_worker or max(1, cores // self.max_workers)
        self.niceness = niceness
        if "forkserver" in multiprocessing.get_all_start_methods():
            self._context = multiprocessing.get_context("forkserver")
            # torch imported once in the fork server instead of by every worker. Not scikit-learn, which only
            # digits trainings use: preloaded it made their first epoch come 0.9 s sooner (0.9 s after the
            # job was queued, not 1.8 s) but kept 140 MB more resident in the fork server for good.
            self._context.set_forkserver_preload(["vae_core.jobs"])
        else:
            self._context = multiprocessing.get_context("spawn")
        _start_workers_without_main()
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._running: list[_Ticket] = []
        self._dispatcher: threading.Thread | None = None

    # --- the queue -------------------------------------------------------------------
    def submit(self, jobs: list, owner: str | None = None) -> None:
        """Queue jobs to be trained one after the other by one worker; one queued or running ticket per owner."""
        with self._lock:
            if owner is not None and any(t.owner == owner and not t.done for t in self._waiting + self._running):
                raise TrainingRefused("This session already has a training queued or running; stop it or "
                                      "wait for it to end before starting another one.")
            self._waiting.append(_Ticket(list(jobs), owner))
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch, name="training-pool", daemon=True)
                self._dispatcher.start()

    def queue_position(self, job) -> int | None:
        """1 for the next training to get a worker, 2 for the one after...; None when the job is not waiting."""
        with self._lock:
            for position, ticket in enumerate(self._waiting, start=1):
                if any(j is job for j in ticket.jobs):
                    return position
        return None

    def worker_pid(self, job) -> int | None:
        with self._lock:
            for ticket in self._running:
                if ticket.process is not None and any(j is job for j in ticket.jobs):
                    return ticket.process.pid
        return None

    # --- the dispatcher thread -------------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._waiting and not self._running:
                    self._dispatcher = None
                    return
            self._apply_cancellations()
            self._start_waiting()
            with self._lock:
                started = [t for t in self._running if t.process is not None]
            handles = {}
            for ticket in started:
                handles[ticket.connection] = ticket
                handles[ticket.process.sentinel] = ticket
            for handle in multiprocessing.connection.wait(list(handles), timeout=_POLL_S):
                ticket = handles[handle]
                if ticket not in self._running:
                    continue  # concluded already, through its other handle
                # The worker's end of the pipe closes only when it exits: end of file means it is gone.
                if handle is not ticket.connection or not self._receive(ticket):
                    self._reap(ticket)

    def _apply_cancellations(self) -> None:
        """Pass cancels (and abandonments) on to the workers; end cancelled jobs that never started."""
        with self._lock:
            tickets = self._waiting + self._running
        for ticket in tickets:
            for index, job in enumerate(ticket.jobs):
                if job.status.done or not job._should_stop():
                    continue
                if ticket.process is None:
                    job._end("cancelled")
                else:
                    ticket.cancel_flags[index].set()
        with self._lock:
            self._waiting = [t for t in self._waiting if not t.done]

    def _start_waiting(self) -> None:
        while True:
            with self._lock:
                if not self._waiting or len(self._running) >= self.max_workers:
                    return
                ticket = self._waiting.pop(0)
                self._running.append(ticket)
            # Outside the lock: the first start also starts the fork server, which takes seconds.
            try:
                receiver, sender = self._context.Pipe(duplex=False)
                flags = [self._context.Event() for _ in ticket.jobs]
                for flag, job in zip(flags, ticket.jobs):
                    if job.status.done:  # cancelled while it waited: the worker skips it
                        flag.set()
                process = self._context.Process(
                    target=_work, args=([job.spec for job in ticket.jobs], flags, sender, self.niceness,
                                        self.threads_per_worker),
                    name=WORKER_NAME, daemon=True)
                process.start()
            except Exception as err:  # noqa: BLE001 - e.g. no more processes allowed: say so, do not hang
                for job in ticket.jobs:
                    job._end("failed", f"Training could not start a worker process: {type(err).__name__}: {err}.")
                with self._lock:
                    self._running.remove(ticket)
                continue
            sender.close()  # the worker holds the only sending end: its death reads as end of file here
            with self._lock:
                ticket.connection, ticket.cancel_flags, ticket.process = receiver, flags, process

    def _receive(self, ticket: _Ticket) -> bool:
        """Hand one message of the worker to its job; False at the end of the stream (the worker has exited)."""
        try:
            message = ticket.connection.recv()
        except (EOFError, OSError):
            return False
        kind, index, *content = message
        job = ticket.jobs[index]
        if kind == "start":
            job._started_in_worker()
        elif kind == "model":
            job._model_started(*content)
        elif kind == "epoch":
            job._epoch_finished(*content)
        elif kind == "end":
            job._end(*content)
        return True

    def _reap(self, ticket: _Ticket) -> None:
        """The worker process has ended: read what it sent last, then fail whatever it left unfinished."""
        while self._receive(ticket):
            pass
        ticket.process.join()
        message = _death_message(ticket.process.exitcode)
        for job in ticket.jobs:
            job._end("failed", message)
        ticket.connection.close()
        with self._lock:
            self._running.remove(ticket)


def _death_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        if -exitcode == signal.SIGKILL:
            return (f"Training failed: its worker process was killed ({name}), most likely because the server "
                    "ran out of memory. Try a smaller model or batch, or train when the server is less busy.")
        return f"Training failed: its worker process was stopped by {name}."
    return f"Training failed: its worker process ended unexpectedly (exit code {exitcode})."


def _start_workers_without_main() -> None:
    """Keep multiprocessing from re-running the parent's ``__main__`` in our workers.

    A spawned or fork-served child first runs the parent's main script again (as ``__mp_main__``) in case
    the target lives there. Ours never does: ``_work`` lives here. Under Streamlit, ``__main__`` is the page
    script, which would run whole in every worker; under a test runner's wrapper it may not even run outside
    its launcher, and then every worker dies before training. So the preparation data of processes named
    ``WORKER_NAME`` leaves the main module out; other processes are untouched.
    """
    prepare = multiprocessing.spawn.get_preparation_data
    if getattr(prepare, "leaves_main_out_for", None) == WORKER_NAME:
        return

    @functools.wraps(prepare)
    def preparation_data(name):
        data = prepare(name)
        if name == WORKER_NAME:
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data.leaves_main_out_for = WORKER_NAME
    multiprocessing.spawn.get_preparation_data = preparation_data


def _workers_from_environment() -> int | None:
    value = os.environ.get(WORKERS_ENV)
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{WORKERS_ENV} must be a whole number of worker processes, at least 1, not {value!r}")
    return int(value)


def _lower_priority(niceness: int) -> None:
    """Train on CPU time the server does not want: Linux's SCHED_IDLE runs the worker only when a core would
    otherwise be idle, so a click is never queued behind a training step; elsewhere a higher nice value."""
    try:
        os.nice(niceness)
    except OSError:  # not permitted here: train at the server's priority rather than not at all
        pass
    if hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass


def _work(specs: list, cancel_flags: list, connection, niceness: int, threads: int) -> None:
    """A worker process: train each spec in turn, reporting over ``connection``; runs at lower priority."""
    from .data import load_dataset
    from .jobs import train_pair, weights_bytes

    _lower_priority(niceness)
    torch.set_num_threads(threads)  # the threads torch starts now inherit the priority
    try:
        for index, (spec, stop) in enumerate(zip(specs, cancel_flags)):
            if stop.is_set():
                connection.send(("end", index, "cancelled", None))
                continue
            connection.send(("start", index))
            try:
                dataset = spec.custom_dataset or load_dataset(spec.dataset, spec.data_dir, download=False)
                result = train_pair(
                    spec, dataset, should_stop=stop.is_set,
                    on_model_start=lambda kind, index=index: connection.send(("model", index, kind)),
                    on_epoch=lambda report, model, index=index: connection.send(
                        ("epoch", index, report.to_dict(), weights_bytes(model))))
                connection.send(("end", index, "cancelled" if result.cancelled else "finished", None))
            except TrainingDiverged as err:
                connection.send(("end", index, "failed", str(err)))
            except ConnectionError:
                raise
            except Exception as err:  # noqa: BLE001 - reported to the job, which shows it to its user
                connection.send(("end", index, "failed", f"Training failed: {type(err).__name__}: {err}."))
    except (ConnectionError, EOFError):
        pass  # the server has gone: there is no one left to report to
    finally:
        connection.close()


_default_pool: TrainingPool | None = None
_default_pool_lock = threading.Lock()


def default_pool() -> TrainingPool:
    """The process-wide pool (created on first use), shared by every browser session of a server."""
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None:
            _default_pool = TrainingPool()
        return _default_pool
