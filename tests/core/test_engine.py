"""The training engine on a LocalCluster of two workers: the queue, one training per owner, stop, a dead worker,
no re-run of the server's __main__, the cluster started lazily and closed with nothing left behind; workers that
never start, and a shared cluster's workers busy with other servers' trainings."""

from __future__ import annotations

import os
import signal
import sys
import time
import types
import uuid

import psutil
import pytest
from core_helpers import WAIT_S, wait_until
from distributed import Client, Event, LocalCluster

from vae_core import TrainConfig
from vae_core import engine as engine_module
from vae_core.engine import CLUSTER_ENV, WORKER_START_ENV, WORKERS_ENV, TrainingEngine, TrainingRefused
from vae_core.jobs import BetaSweep, JobSpec, JobStatus, TrainingJob


def spec(epochs: int = 10_000) -> JobSpec:
    return JobSpec("digits", kinds=("vae",), latent_dim=2, hidden_dim=16, train=TrainConfig(epochs=epochs))


def stop(*works) -> None:
    for work in works:
        work.cancel()
    for work in works:
        for job in getattr(work, "jobs", {None: work}).values():
            job.wait(WAIT_S)


def test_two_sessions_train_at_once_and_a_third_waits_with_its_place_shown(engine):
    a1, b1, c1 = (TrainingJob(spec(), owner=owner, engine=engine).start() for owner in "ABC")
    a2 = None
    try:
        wait_until(lambda: a1.progress().epochs_done >= 1 and b1.progress().epochs_done >= 1)
        assert [j.status for j in (a1, b1, c1)] == [JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.QUEUED]
        assert [j.progress().queue_position for j in (a1, b1, c1)] == [None, None, 1]
        assert a1.worker_pid != b1.worker_pid, "two trainings at once run in two worker processes"
        with pytest.raises(TrainingRefused, match="already has a training queued or running"):
            TrainingJob(spec(), owner="A", engine=engine).start()
        with pytest.raises(TrainingRefused):
            TrainingJob(spec(), owner="C", engine=engine).start()  # queued counts as well as running
        d1 = TrainingJob(spec(), owner="D", engine=engine).start()
        assert d1.progress().queue_position == 2

        a1.cancel()  # stop works, and frees a worker for the first in the queue
        assert a1.wait(WAIT_S) == JobStatus.CANCELLED
        assert a1.result_pair() is not None, "a stopped training keeps what it trained"
        wait_until(lambda: c1.status == JobStatus.RUNNING)
        assert d1.progress().queue_position == 1
        a2 = TrainingJob(spec(), owner="A", engine=engine).start()  # A may train again, behind D
        assert a2.progress().queue_position == 2
        d1.cancel()  # a waiting job can be cancelled: it never runs
        assert d1.wait(WAIT_S) == JobStatus.CANCELLED and d1.progress().epochs_done == 0
        assert a2.progress().queue_position == 1
    finally:
        stop(*[j for j in (a1, b1, c1, a2) if j is not None])


def test_a_sweep_takes_one_place_and_counts_as_its_owners_one_training(engine):
    sweep = BetaSweep(spec(epochs=2), [0.5, 2.0, 8.0], owner="A", engine=engine).start()
    other = TrainingJob(spec(epochs=2), owner="B", engine=engine).start()
    try:
        with pytest.raises(TrainingRefused):
            TrainingJob(spec(), owner="A", engine=engine).start()
        running_at_once = 0
        while not sweep.done:
            running_at_once = max(running_at_once, sum(j.status == JobStatus.RUNNING for j in sweep.jobs.values()))
            time.sleep(0.002)
        # Never two at once (a short member can also come and go between two looks, so none seen is no fault).
        assert running_at_once <= 1, "a sweep's VAEs train one after the other, in its one task"
        assert [p.status for p in sweep.points()] == [JobStatus.FINISHED] * 3
        assert other.wait(WAIT_S) == JobStatus.FINISHED
        TrainingJob(spec(epochs=1), owner="A", engine=engine).start().wait(WAIT_S)  # A's sweep is over: A may train
    finally:
        stop(sweep, other)


def test_a_sweep_member_cancelled_while_waiting_is_skipped_when_the_sweep_starts(engine):
    ahead = [TrainingJob(spec(), owner=owner, engine=engine).start() for owner in "AB"]
    sweep = BetaSweep(spec(epochs=2), [0.5, 2.0, 8.0], owner="C", engine=engine).start()
    try:
        wait_until(lambda: all(job.status == JobStatus.RUNNING for job in ahead))
        sweep.jobs[2.0].cancel()
        assert sweep.jobs[2.0].wait(WAIT_S) == JobStatus.CANCELLED
        ahead[0].cancel()
        statuses = set()
        while not sweep.done:
            statuses.add(sweep.jobs[2.0].status)
            time.sleep(0.01)
        assert statuses == {JobStatus.CANCELLED}, "a cancelled member must never run"
        assert [p.status for p in sweep.points()] == [JobStatus.FINISHED, JobStatus.CANCELLED, JobStatus.FINISHED]
    finally:
        stop(*ahead, sweep)


def test_worker_count_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert TrainingEngine().max_workers == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=WORKERS_ENV):
            TrainingEngine()


def test_an_engine_needs_a_worker():
    for bad in (0, -2):
        with pytest.raises(ValueError, match="at least one worker"):
            TrainingEngine(max_workers=bad)


def test_the_cluster_address_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(CLUSTER_ENV, "tcp://10.0.0.7:8786")
    assert TrainingEngine().address == "tcp://10.0.0.7:8786" and not TrainingEngine().local
    monkeypatch.delenv(CLUSTER_ENV)
    assert TrainingEngine().local


def test_an_unreachable_cluster_fails_the_training_in_words_and_changes_nothing():
    engine = TrainingEngine("tcp://127.0.0.1:9")  # nothing listens on the discard port
    job = TrainingJob(spec(epochs=1), owner="A", engine=engine).start()
    assert job.wait(WAIT_S) == JobStatus.FAILED
    assert "could not reach the training cluster at tcp://127.0.0.1:9" in job.progress().error
    assert job.result_pair() is None
    # The owner may try again: the failure held no place.
    again = TrainingJob(spec(epochs=1), owner="A", engine=engine).start()
    assert again.wait(WAIT_S) == JobStatus.FAILED
    engine.close()


def worker_processes() -> set[int]:
    """This process's children, but for the resource tracker that multiprocessing keeps until the process exits."""
    return {child.pid for child in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(child.cmdline())}


def test_nothing_starts_before_the_first_training_and_close_leaves_no_process(tmp_path, monkeypatch):
    # Under Streamlit, __main__ is the page script; under some test runners, a wrapper that cannot run alone.
    # A worker process must never run it again.
    marker = tmp_path / "main ran"
    script = tmp_path / "server_main.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('not to be run by a worker')\n")
    server_main = types.ModuleType("__main__")
    server_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", server_main)
    before = worker_processes()

    engine = TrainingEngine(max_workers=1, threads_per_worker=1)
    assert worker_processes() == before, "started before the first training"
    job = TrainingJob(spec(epochs=1), engine=engine).start()
    assert job.wait(WAIT_S) == JobStatus.FINISHED, job.progress().error
    assert not marker.exists(), "a worker process ran the server's __main__"
    started = worker_processes() - before
    assert started, "no worker process was started"
    engine.close()
    wait_until(lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                               for pid in started))


def test_a_worker_runs_at_a_lower_priority_than_the_server(engine):
    job = TrainingJob(spec(), engine=engine).start()
    try:
        wait_until(lambda: job.progress().epochs_done >= 1)
        worker = psutil.Process(job.worker_pid)
        for thread in worker.threads():  # every thread: the task's, torch's, the worker's own
            assert os.getpriority(os.PRIO_PROCESS, thread.id) == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)
            if hasattr(os, "SCHED_IDLE"):
                assert os.sched_getscheduler(thread.id) == os.SCHED_IDLE
    finally:
        stop(job)


def test_a_killed_worker_gives_a_message_and_the_nanny_starts_another(engine):
    job = TrainingJob(spec(), engine=engine).start()
    try:
        wait_until(lambda: job.progress().epochs_done >= 1)
        os.kill(job.worker_pid, signal.SIGKILL)
        assert job.wait(WAIT_S) == JobStatus.FAILED
        assert "worker process died" in job.progress().error
        assert job.result_pair() is not None, "the last finished epoch is kept"
        after = TrainingJob(spec(epochs=1), engine=engine).start()
        assert after.wait(WAIT_S) == JobStatus.FINISHED
    finally:
        stop(job)


def test_a_cluster_that_goes_away_fails_its_training_in_words_keeping_the_last_epoch():
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                           host="127.0.0.1", dashboard_address="127.0.0.1:0")
    engine = TrainingEngine(cluster.scheduler_address)
    try:
        job = TrainingJob(spec(), owner="A", engine=engine).start()
        wait_until(lambda: job.progress().epochs_done >= 1)
        cluster.close()
        assert job.wait(WAIT_S) == JobStatus.FAILED
        assert f"the training cluster at {cluster.scheduler_address} stopped answering" in job.progress().error
        assert job.result_pair() is not None
    finally:
        engine.close()
        cluster.close()


class WorkersNeverStart(LocalCluster):
    """A LocalCluster that is asked for workers and starts none, as on a machine that cannot start a process."""

    def adapt(self, *args, **kwargs):
        return None


def test_a_worker_that_never_starts_fails_its_training_in_words_and_the_owner_may_start_again(monkeypatch):
    monkeypatch.setattr(engine_module, "LocalCluster", WorkersNeverStart)
    engine = TrainingEngine(max_workers=1, threads_per_worker=1, worker_start_s=1)
    try:
        job = TrainingJob(spec(epochs=1), owner="A", engine=engine).start()
        assert job.wait(WAIT_S) == JobStatus.FAILED
        assert "its worker process did not start within 1 s" in job.progress().error
        assert job.result_pair() is None
        again = TrainingJob(spec(epochs=1), owner="A", engine=engine).start()  # the failure holds no place
        assert again.wait(WAIT_S) == JobStatus.FAILED
    finally:
        engine.close()


def in_process_cluster(workers: int) -> LocalCluster:
    """A scheduler with ``workers`` single-threaded workers in this process, reached over TCP like a real one."""
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=False, protocol="tcp://",
                        host="127.0.0.1", dashboard_address="127.0.0.1:0")


def test_a_cluster_without_workers_fails_the_training_in_words_and_takes_the_next_once_it_has_one():
    cluster = in_process_cluster(0)
    engine = TrainingEngine(cluster.scheduler_address, worker_start_s=1)
    try:
        job = TrainingJob(spec(epochs=1), owner="A", engine=engine).start()
        assert job.wait(WAIT_S) == JobStatus.FAILED
        assert f"the training cluster at {cluster.scheduler_address} had no worker to take it for 1 s" \
            in job.progress().error
        cluster.scale(1)
        cluster.wait_for_workers(1)
        again = TrainingJob(spec(epochs=1), owner="A", engine=engine).start()
        assert again.wait(WAIT_S) == JobStatus.FINISHED, again.progress().error
    finally:
        engine.close()
        cluster.close()


def occupy_a_worker(started: str, release: str) -> None:
    """Another server's training: holds its worker until told to let go."""
    Event(started).set()
    Event(release).wait()


def test_a_training_behind_other_servers_trainings_waits_for_the_shared_workers_and_says_so():
    cluster = in_process_cluster(1)
    other_server = Client(cluster.scheduler_address, set_as_default=False)
    started, release = (f"other-server-{what}-{uuid.uuid4().hex}" for what in ("started", "release"))
    engine = TrainingEngine(cluster.scheduler_address, worker_start_s=0.2)
    try:
        ahead = other_server.submit(occupy_a_worker, started, release, pure=False)
        assert Event(started, client=other_server).wait(WAIT_S)
        job = TrainingJob(spec(epochs=1), owner="A", engine=engine).start()
        wait_until(lambda: job.progress().waiting_for_cluster)
        time.sleep(1.0)  # five times the bound: with a worker there, waiting behind other servers is no failure
        progress = job.progress()
        assert progress.status == JobStatus.QUEUED and progress.waiting_for_cluster
        assert progress.queue_position is None  # it has left this server's queue
        Event(release, client=other_server).set()
        ahead.result(timeout=WAIT_S)
        assert job.wait(WAIT_S) == JobStatus.FINISHED, job.progress().error
        assert not job.progress().waiting_for_cluster
    finally:
        engine.close()
        other_server.close()
        cluster.close()


def test_a_local_training_is_never_said_to_wait_for_a_shared_cluster(engine):
    job = TrainingJob(spec(epochs=1), engine=engine).start()
    while not job.status.done:
        assert not job.progress().waiting_for_cluster
        time.sleep(0.01)


def test_the_worker_start_bound_comes_from_the_environment(monkeypatch):
    assert TrainingEngine().worker_start_s == 120
    monkeypatch.setenv(WORKER_START_ENV, "30")
    assert TrainingEngine().worker_start_s == 30
    for bad in ("soon", "0", "-5", "nan"):
        monkeypatch.setenv(WORKER_START_ENV, bad)
        with pytest.raises(ValueError, match="worker|seconds"):
            TrainingEngine()
