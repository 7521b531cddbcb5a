"""Where trainings run: on dask.distributed, a LocalCluster of this machine by default, or a cluster of its own.

A training in the web server's own process would compete with every
visitor's clicks for the interpreter and the cores, and a crash or an
out-of-memory kill would take the server down with it. So each training runs
as one dask task on a worker process:

- with nothing set, on a ``LocalCluster`` of this machine, started at the
  first training and scaled down to no worker at all when idle (``adapt``):
  at most ``max_workers`` worker processes (the physical cores, or
  ``$LATENT_EXPLORER_TRAINING_WORKERS``), one training each, each with its
  share of the cores as torch threads and at the lowest CPU priority (the
  ``LowPriority`` worker plugin), so the server stays responsive;
- with ``$LATENT_EXPLORER_CLUSTER=tcp://host:port``, on the workers of that
  scheduler (GPU machines, say), and the server starts no process at all;
- the trainings beyond what the workers can take wait in one first-come,
  first-served queue of the server's own, where each sees its place; an
  owner (a browser session) may have only one training queued or running;
- a worker never re-runs the server's ``__main__`` (``_start_workers_without_main``);
- a worker that dies (killed, out of memory) fails its training with a
  message, keeping each model's last finished epoch; its nanny restarts it;
- a training no worker takes within ``worker_start_s`` (120 s, or
  ``$LATENT_EXPLORER_WORKER_START_S``) fails with a message saying so, and its
  owner may start again: on a LocalCluster counted from its submission, on a
  cluster's scheduler only while that scheduler has no worker at all (a task
  behind other servers' tasks is waiting for the shared workers, and its job
  says so: ``waiting_for_cluster``).

Everything between the server and a training travels through the scheduler:
the worker puts its progress (each epoch's report and weights, and at the end
the training's replay) on a
``distributed.Queue``, a ``distributed.Event`` per job asks it to stop, and
the task's end says it is over. A dispatcher thread in the server hands the
messages to the jobs (``vae_core.jobs``), which the pages poll.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing.spawn
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch
from distributed import Client, Event, KilledWorker, LocalCluster, Queue, WorkerPlugin, get_client, get_worker
from distributed.system import MEMORY_LIMIT

from .data import load_dataset
from .pairs import train_pair, weights_bytes
from .training import TrainingDiverged, physical_cpu_cores

WORKERS_ENV = "LATENT_EXPLORER_TRAINING_WORKERS"
CLUSTER_ENV = "LATENT_EXPLORER_CLUSTER"
WORKER_START_ENV = "LATENT_EXPLORER_WORKER_START_S"
# A worker process starts in seconds (torch's import is most of it); this long without one, none is coming.
DEFAULT_WORKER_START_S = 120.0
WORKER_NICENESS = 10
# How distributed's Nanny names the worker process it starts (see _start_workers_without_main).
WORKER_PROCESS_NAME = "Dask Worker process (from Nanny)"
# An idle local worker is kept this long before adapt retires it: a visitor who trains again soon
# does not wait for a new worker process, and an idle server holds no worker for long.
IDLE_WORKER_S = 60
STOP_CHECK_S = 0.25  # how often a training asks the scheduler whether it should stop
_POLL_S = 0.1  # how often the dispatcher looks for messages and cancellations
_NAME_PREFIX = "latent-explorer-training"
# The name of a training's task on the scheduler, before its ticket's id (what dask shows as its prefix).
TASK_PREFIX = "latent_explorer_training"

WORKER_DIED = ("Training failed: its worker process died (killed, most likely because the machine ran out "
               "of memory). Try a smaller model or batch, or train when the server is less busy.")


class TrainingRefused(RuntimeError):
    """The owner already has a training queued or running; the message says so in words for them."""


@dataclass(eq=False)
class _Ticket:
    """One place in the queue: jobs of one owner, trained one after the other by one dask task."""

    jobs: list
    owner: str | None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    future: object = None  # the dask Future of its task, once submitted
    submitted_at: float = 0.0  # time.monotonic() of the submission
    reached_worker: bool = False  # its task has sent a message: a worker runs it
    worker_pid: int | None = None
    stops_sent: set = field(default_factory=set)

    @property
    def done(self) -> bool:
        """Every job has ended (its task may still be finishing)."""
        return all(job.status.done for job in self.jobs)

    def event_name(self, what: str) -> str:
        return _event_name(self.id, what)


def _event_name(ticket_id: str, what: str) -> str:
    """The name of a ticket's Event on the scheduler: ``began``, or ``stop-<index>`` for each of its jobs."""
    return f"{_NAME_PREFIX}-{ticket_id}-{what}"


class LowPriority(WorkerPlugin):
    """Makes a local worker train on CPU time the server does not want, with its share of the cores.

    Linux's SCHED_IDLE runs the worker only when a core would otherwise be
    idle, so a click is never queued behind a training step; elsewhere (and
    as well) a higher nice value. Set on every thread of the worker process;
    threads it starts later (the task's, torch's) inherit it.
    """

    name = "latent-explorer-low-priority"

    def __init__(self, niceness: int, torch_threads: int):
        self.niceness = niceness
        self.torch_threads = torch_threads

    def setup(self, worker) -> None:
        lower_priority(self.niceness)
        torch.set_num_threads(self.torch_threads)


def lower_priority(niceness: int) -> None:
    """Lower every thread of this process: SCHED_IDLE where Linux has it, and ``niceness`` more."""
    threads = _thread_ids()
    if threads is None:  # not Linux: nice is per process there
        try:
            os.nice(niceness)
        except OSError:  # not permitted here: train at the server's priority rather than not at all
            pass
        return
    for thread in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + niceness, 19))
            if hasattr(os, "SCHED_IDLE"):
                os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # the thread has ended, or this is not permitted
            pass


def _thread_ids() -> list[int] | None:
    try:
        return [int(entry.name) for entry in Path("/proc/self/task").iterdir()]
    except OSError:
        return None


class TrainingEngine:
    """Runs TrainingJobs as dask tasks, at most as many at once as the cluster has workers, in order of arrival.

    ``address``: a scheduler (``tcp://host:port``) to submit to; None means
    ``$LATENT_EXPLORER_CLUSTER`` where set, else a LocalCluster of this
    machine, started at the first training. ``max_workers`` and
    ``threads_per_worker`` size the LocalCluster. ``worker_start_s``: how long
    a training may wait for a worker that does not start (None:
    ``$LATENT_EXPLORER_WORKER_START_S``, else 120 s).
    """

    def __init__(self, address: str | None = None, max_workers: int | None = None,
                 threads_per_worker: int | None = None, niceness: int = WORKER_NICENESS,
                 worker_start_s: float | None = None):
        self.address = address or cluster_address()
        self.worker_start_s = worker_start_s if worker_start_s is not None else _worker_start_from_environment()
        if not self.worker_start_s > 0:
            raise ValueError(f"a worker needs some time to start, not {self.worker_start_s} s")
        self._workers_seen_at = -math.inf  # time.monotonic() when the cluster's scheduler last had a worker
        cores = physical_cpu_cores()
        self.max_workers = max_workers if max_workers is not None else _workers_from_environment() or cores
        if self.max_workers < 1:
            raise ValueError(f"a training engine needs at least one worker, not {self.max_workers}")
        self.threads_per_worker = threads_per_worker or max(1, cores // self.max_workers)
        self.niceness = niceness
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._running: list[_Ticket] = []
        self._dispatcher: threading.Thread | None = None
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._queue: Queue | None = None
        self._queue_name = f"{_NAME_PREFIX}-{uuid.uuid4().hex}-progress"

    @property
    def local(self) -> bool:
        """Whether trainings run on a LocalCluster this engine starts (rather than on a scheduler's workers)."""
        return self.address is None

    # --- the queue -------------------------------------------------------------------
    def submit(self, jobs: list, owner: str | None = None) -> None:
        """Queue jobs to be trained one after the other by one task; one queued or running ticket per owner."""
        with self._lock:
            if owner is not None and any(t.owner == owner and not t.done for t in self._waiting + self._running):
                raise TrainingRefused("This session already has a training queued or running; stop it or "
                                      "wait for it to end before starting another one.")
            self._waiting.append(_Ticket(list(jobs), owner))
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch, name="training-engine", daemon=True)
                self._dispatcher.start()

    def queue_position(self, job) -> int | None:
        """1 for the next training to get a worker, 2 for the one after...; None when the job is not waiting."""
        with self._lock:
            for position, ticket in enumerate(self._waiting, start=1):
                if any(j is job for j in ticket.jobs):
                    return position
        return None

    def waiting_for_cluster(self, job) -> bool:
        """Whether the job was sent to a cluster's scheduler (not this engine's LocalCluster) and no worker has
        taken it yet: the workers are shared with other servers, whose trainings may be ahead of it."""
        if self.local:
            return False
        with self._lock:
            return any(any(j is job for j in ticket.jobs) and ticket.future is not None and not ticket.reached_worker
                       for ticket in self._running)

    def worker_pid(self, job) -> int | None:
        """The process id (on its worker's machine) of the worker training ``job``, once it has started."""
        with self._lock:
            for ticket in self._running:
                if any(j is job for j in ticket.jobs):
                    return ticket.worker_pid
        return None

    def close(self) -> None:
        """Stop every training (keeping what each trained), then the client and any LocalCluster this started."""
        with self._lock:
            tickets = self._waiting + self._running
            dispatcher = self._dispatcher
        for ticket in tickets:
            for job in ticket.jobs:
                job.cancel()
        if dispatcher is not None:
            dispatcher.join()
        self._disconnect()

    # --- the dispatcher thread: the only one that talks to dask ---------------------
    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._waiting and not self._running:
                    self._dispatcher = None
                    return
            if not self._connect():
                continue
            try:
                self._apply_cancellations()
                self._start_waiting()
                self._receive()
                self._fail_tickets_no_worker_took()
                self._conclude_ended()
            except Exception as err:  # noqa: BLE001 - the scheduler has gone: end every training in words
                self._lost_the_cluster(err)
            time.sleep(_POLL_S)

    def _lost_the_cluster(self, err: Exception) -> None:
        """Fail every queued and running training (each keeps its last finished epoch) and start afresh."""
        where = "the training engine's LocalCluster" if self.local else f"the training cluster at {self.address}"
        message = f"Training failed: {where} stopped answering ({type(err).__name__}: {err})."
        with self._lock:
            tickets = self._waiting + self._running
            self._waiting, self._running = [], []
        for ticket in tickets:
            for job in ticket.jobs:
                job._end("failed", message)
        self._disconnect()

    def _connect(self) -> bool:
        """Connect to the cluster (starting the LocalCluster) once; on failure, fail the waiting jobs in words."""
        if self._client is not None:
            return True
        try:
            if self.local:
                _start_workers_without_main()
                # Everything on the loopback interface, the scheduler's HTTP routes on a free port.
                self._cluster = LocalCluster(
                    n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0", memory_limit=MEMORY_LIMIT // self.max_workers,
                    silence_logs=logging.ERROR)
                # A small target duration asks for one worker per training, however short the last ones were.
                self._cluster.adapt(minimum=0, maximum=self.max_workers, target_duration="1ms", interval="1s",
                                    wait_count=IDLE_WORKER_S)
                self._client = Client(self._cluster, set_as_default=False)
                self._client.register_plugin(LowPriority(self.niceness, self.threads_per_worker))
            else:
                self._client = Client(self.address, set_as_default=False, timeout="10s")
            self._queue = Queue(self._queue_name, client=self._client)
        except Exception as err:  # noqa: BLE001 - any failure to reach or start a cluster: say so, do not hang
            self._disconnect()
            where = "start its worker processes" if self.local else f"reach the training cluster at {self.address}"
            message = f"Training could not {where}: {type(err).__name__}: {err}."
            with self._lock:
                tickets, self._waiting = self._waiting, []
            for ticket in tickets:
                for job in ticket.jobs:
                    job._end("failed", message)
            return False
        return True

    def _disconnect(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = self._queue = None
        for closable in (client, cluster):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - already gone; nothing left to close
                    pass

    def _capacity(self) -> int:
        """How many tickets may be with the cluster at once: what its workers can train side by side."""
        if self.local:
            return self.max_workers
        try:
            return max(1, sum(self._client.nthreads().values()))
        except Exception:  # noqa: BLE001 - the scheduler is briefly unreachable: one at a time meanwhile
            return 1

    def _apply_cancellations(self) -> None:
        """Pass cancels (and abandonments) on to the tasks; end cancelled jobs that never started."""
        with self._lock:
            tickets = self._waiting + self._running
        for ticket in tickets:
            for index, job in enumerate(ticket.jobs):
                if job.status.done or not job._should_stop():
                    continue
                if ticket.future is None:
                    job._end("cancelled")
                else:
                    self._stop(ticket, index)
        with self._lock:
            self._waiting = [t for t in self._waiting if not t.done]

    def _stop(self, ticket: _Ticket, index: int) -> None:
        if index not in ticket.stops_sent:
            Event(ticket.event_name(f"stop-{index}"), client=self._client).set()
            ticket.stops_sent.add(index)

    def _start_waiting(self) -> None:
        with self._lock:
            if not self._waiting:
                return
        capacity = self._capacity()
        while True:
            with self._lock:
                if not self._waiting or len(self._running) >= capacity:
                    return
                ticket = self._waiting.pop(0)
                self._running.append(ticket)
            try:
                for index, job in enumerate(ticket.jobs):
                    if job.status.done:  # cancelled while it waited: the task skips it
                        self._stop(ticket, index)
                ticket.submitted_at = time.monotonic()
                ticket.future = self._client.submit(
                    train_ticket, [job.spec for job in ticket.jobs], ticket.id, self._queue_name,
                    self.threads_per_worker if self.local else None, key=f"{TASK_PREFIX}-{ticket.id}", pure=False)
            except Exception as err:  # noqa: BLE001 - the scheduler refused it: say so, do not hang
                for job in ticket.jobs:
                    job._end("failed", f"Training could not be sent to its workers: {type(err).__name__}: {err}.")
                with self._lock:
                    self._running.remove(ticket)

    def _receive(self) -> None:
        """Hand the tasks' messages to their jobs."""
        # All that is there, without waiting: a get that waits and times out is logged as an error by the scheduler.
        messages = self._queue.get(batch=True)
        with self._lock:
            tickets = {ticket.id: ticket for ticket in self._running}
        for ticket_id, kind, index, *content in messages:
            ticket = tickets.get(ticket_id)
            if ticket is None:  # from a ticket already concluded
                continue
            ticket.reached_worker = True
            job = ticket.jobs[index]
            if kind == "start":
                ticket.worker_pid = content[0]
                job._started_in_worker()
            elif kind == "training":
                job._training_started(tuple(content[0]), content[1])
            elif kind == "epoch":
                job._epoch_finished(*content)
            elif kind == "replays":
                job._replays_received(*content)
            elif kind == "end":
                job._end(*content)

    def _fail_tickets_no_worker_took(self) -> None:
        """Fail the tasks no worker has taken within worker_start_s, so that their owners may start again.

        On the LocalCluster the time counts from the submission: its workers are started for this engine's tasks
        alone. On a cluster's scheduler it counts only while the scheduler has no worker: with workers there, a
        task waits its turn behind other servers' tasks (waiting_for_cluster), however long they take.
        """
        with self._lock:
            untaken = [t for t in self._running if t.future is not None and not t.reached_worker and not t.done]
        if not untaken:
            return
        now = time.monotonic()
        if not self.local and self._client.nthreads():
            self._workers_seen_at = now
        for ticket in untaken:
            since = ticket.submitted_at if self.local else max(ticket.submitted_at, self._workers_seen_at)
            if now - since <= self.worker_start_s:
                continue
            if self.local:
                message = (f"Training failed: its worker process did not start within {self.worker_start_s:g} s "
                           "(this machine may be short of memory or processes). Start the training again, or try "
                           "when the server is less busy.")
            else:
                message = (f"Training failed: the training cluster at {self.address} had no worker to take it for "
                           f"{self.worker_start_s:g} s. Start the training again once its workers are back.")
            for index, job in enumerate(ticket.jobs):
                job._end("failed", message)
                self._stop(ticket, index)  # should a worker take the task after all, it ends at once
            # Cancelled, the task is done: _conclude_ended then frees its place and its Events.
            ticket.future.cancel()

    def _conclude_ended(self) -> None:
        """A task has ended: read what it sent last, fail what it left unfinished, and forget it."""
        with self._lock:
            ended = [t for t in self._running if t.future is not None and t.future.done()]
        if not ended:
            return
        self._receive()  # a task's messages are all queued before it ends
        for ticket in ended:
            if not ticket.done:
                message = _task_failure(ticket.future)
                for job in ticket.jobs:
                    job._end("failed", message)
            for index in range(len(ticket.jobs)):
                Event(ticket.event_name(f"stop-{index}"), client=self._client).clear()  # frees it on the scheduler
            Event(ticket.event_name("began"), client=self._client).clear()
            ticket.future.release()
            with self._lock:
                self._running.remove(ticket)


def _task_failure(future) -> str:
    """Why a task ended without ending all of its jobs, in words."""
    if future.status == "error":
        error = future.exception()
        if isinstance(error, KilledWorker):
            return WORKER_DIED
        return f"Training failed: {type(error).__name__}: {error}."
    return f"Training failed: the training cluster dropped it (its task is {future.status})."


class _StopSignal:
    """Whether a job's stop Event is set, asking the scheduler at most every STOP_CHECK_S (it is polled per batch)."""

    def __init__(self, event: Event):
        self.event = event
        self.checked = float("-inf")
        self.stop = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.stop and now - self.checked >= STOP_CHECK_S:
            self.checked = now
            self.stop = self.event.is_set()
        return self.stop


def train_ticket(specs: list, ticket_id: str, queue_name: str, torch_threads: int | None) -> None:
    """The dask task: train each spec in turn, putting its progress on the queue ``queue_name``."""
    queue = Queue(queue_name)

    def send(*message) -> None:
        queue.put([ticket_id, *message])

    began = Event(_event_name(ticket_id, "began"))
    if began.is_set():  # dask retries a task whose worker died: the training it was is over
        for index in range(len(specs)):
            send("end", index, "failed", WORKER_DIED)
        return
    began.set()
    torch.set_num_threads(torch_threads or _cores_per_training_here())
    for index, spec in enumerate(specs):
        stop = _StopSignal(Event(_event_name(ticket_id, f"stop-{index}")))
        if stop():
            send("end", index, "cancelled", None)
            continue
        send("start", index, os.getpid())
        try:
            dataset = spec.custom_dataset or load_dataset(spec.dataset, spec.data_dir, download=False)
            result = train_pair(
                spec, dataset, should_stop=stop,
                on_start=lambda kinds, device, index=index: send("training", index, list(kinds), device),
                on_epoch=lambda report, model, index=index: send("epoch", index, report.to_dict(),
                                                                 weights_bytes(model)))
            # Once, with the result: every epoch's codes (megabytes for 10k images) in one message, not per epoch.
            send("replays", index, {kind: (replay.epochs, replay.codes)
                                    for kind, replay in result.pair.replays.items()})
            send("end", index, "cancelled" if result.cancelled else "finished", None)
        except TrainingDiverged as err:
            send("end", index, "failed", str(err))
        except Exception as err:  # noqa: BLE001 - reported to the job, which shows it to its user
            send("end", index, "failed", f"Training failed: {type(err).__name__}: {err}.")


def _cores_per_training_here() -> int:
    """On a cluster's worker: this machine's physical cores shared among the trainings its workers can run at once."""
    worker = get_worker()
    try:
        workers = get_client().scheduler_info(n_workers=-1)["workers"].values()
        here = sum(info["nthreads"] for info in workers if info.get("host") == worker.ip)
    except Exception:  # noqa: BLE001 - the scheduler did not say: count this worker alone
        here = 0
    return max(1, physical_cpu_cores() // max(here, worker.state.nthreads))


def _start_workers_without_main() -> None:
    """Keep multiprocessing from re-running the parent's ``__main__`` in dask's worker processes.

    A spawned or fork-served child first runs the parent's main script again (as
    ``__mp_main__``) in case the target lives there. distributed's never does.
    Under Streamlit, ``__main__`` is the page script, which would run whole in
    every worker; under a test runner's wrapper it may not even run outside its
    launcher, and then every worker dies before training. So the preparation
    data of processes named ``WORKER_PROCESS_NAME`` leaves the main module out;
    other processes are untouched.
    """
    prepare = multiprocessing.spawn.get_preparation_data
    if getattr(prepare, "leaves_main_out_for", None) == WORKER_PROCESS_NAME:
        return

    @functools.wraps(prepare)
    def preparation_data(name):
        data = prepare(name)
        if name == WORKER_PROCESS_NAME:
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data.leaves_main_out_for = WORKER_PROCESS_NAME
    multiprocessing.spawn.get_preparation_data = preparation_data


def cluster_address() -> str | None:
    """The scheduler that ``$LATENT_EXPLORER_CLUSTER`` names, or None: train on a LocalCluster of this machine."""
    return os.environ.get(CLUSTER_ENV) or None


def _worker_start_from_environment() -> float:
    value = os.environ.get(WORKER_START_ENV)
    if not value:
        return DEFAULT_WORKER_START_S
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{WORKER_START_ENV} must be a number of seconds, not {value!r}") from None


def _workers_from_environment() -> int | None:
    value = os.environ.get(WORKERS_ENV)
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{WORKERS_ENV} must be a whole number of worker processes, at least 1, not {value!r}")
    return int(value)


_default_engine: TrainingEngine | None = None
_default_engine_lock = threading.Lock()


def default_engine() -> TrainingEngine:
    """The process-wide engine (created on first use), shared by every browser session of a server."""
    global _default_engine
    with _default_engine_lock:
        if _default_engine is None:
            _default_engine = TrainingEngine()
        return _default_engine


def close_default_engine() -> None:
    """Stop the process-wide engine's trainings and its LocalCluster, if it was ever started."""
    global _default_engine
    with _default_engine_lock:
        engine, _default_engine = _default_engine, None
    if engine is not None:
        engine.close()
