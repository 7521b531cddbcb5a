"""The training pool's queue: at most N workers, first come first served, one training per owner."""

from __future__ import annotations

import sys
import time
import types

import pytest
from core_helpers import WAIT_S, wait_until

from vae_core import TrainConfig
from vae_core.jobs import BetaSweep, JobSpec, JobStatus, TrainingJob
from vae_core.pool import WORKERS_ENV, TrainingPool, TrainingRefused


def spec(epochs: int = 10_000) -> JobSpec:
    return JobSpec("digits", kinds=("vae",), latent_dim=2, hidden_dim=16, train=TrainConfig(epochs=epochs))


def stop(*works) -> None:
    for work in works:
        work.cancel()
    for work in works:
        for job in getattr(work, "jobs", {None: work}).values():
            job.wait(WAIT_S)


def test_first_come_first_served_with_one_training_per_owner():
    pool = TrainingPool(max_workers=1, threads_per_worker=1)
    a1 = TrainingJob(spec(), owner="A", pool=pool).start()
    b1 = TrainingJob(spec(), owner="B", pool=pool).start()
    c1 = TrainingJob(spec(), owner="C", pool=pool).start()
    a2 = None
    try:
        wait_until(lambda: a1.status == JobStatus.RUNNING)
        with pytest.raises(TrainingRefused, match="already has a training queued or running"):
            TrainingJob(spec(), owner="A", pool=pool).start()
        with pytest.raises(TrainingRefused):
            TrainingJob(spec(), owner="B", pool=pool).start()  # queued counts as well as running
        assert [j.progress().queue_position for j in (a1, b1, c1)] == [None, 1, 2]
        assert [j.status for j in (b1, c1)] == [JobStatus.QUEUED, JobStatus.QUEUED]

        a1.cancel()
        assert a1.wait(WAIT_S) == JobStatus.CANCELLED
        wait_until(lambda: b1.status == JobStatus.RUNNING)
        assert c1.progress().queue_position == 1
        a2 = TrainingJob(spec(), owner="A", pool=pool).start()  # A may train again, behind C
        assert a2.progress().queue_position == 2
    finally:
        stop(*[j for j in (a1, b1, c1, a2) if j is not None])


def test_at_most_max_workers_train_at_once_and_a_waiting_job_can_be_cancelled():
    pool = TrainingPool(max_workers=2, threads_per_worker=1)
    jobs = [TrainingJob(spec(), owner=owner, pool=pool).start() for owner in "ABC"]
    try:
        wait_until(lambda: jobs[0].status == jobs[1].status == JobStatus.RUNNING)
        time.sleep(0.5)
        assert jobs[2].status == JobStatus.QUEUED and jobs[2].progress().queue_position == 1
        jobs[2].cancel()
        assert jobs[2].wait(WAIT_S) == JobStatus.CANCELLED
        assert jobs[2].progress().epochs_done == 0
        assert [j.status for j in jobs[:2]] == [JobStatus.RUNNING, JobStatus.RUNNING]
    finally:
        stop(*jobs)


def test_a_sweep_takes_one_place_and_counts_as_its_owners_one_training():
    pool = TrainingPool(max_workers=2, threads_per_worker=1)
    sweep = BetaSweep(spec(epochs=3), [0.5, 2.0, 8.0], owner="A", pool=pool).start()
    other = TrainingJob(spec(epochs=2), owner="B", pool=pool).start()
    try:
        with pytest.raises(TrainingRefused):
            TrainingJob(spec(), owner="A", pool=pool).start()
        running_at_once = 0
        while not sweep.done:
            running_at_once = max(running_at_once, sum(j.status == JobStatus.RUNNING for j in sweep.jobs.values()))
            time.sleep(0.01)
        assert running_at_once == 1, "a sweep's VAEs train one after the other, in its one worker"
        assert [p.status for p in sweep.points()] == [JobStatus.FINISHED] * 3
        assert other.wait(WAIT_S) == JobStatus.FINISHED
        TrainingJob(spec(epochs=1), owner="A", pool=pool).start().wait(WAIT_S)  # A's sweep is over: A may train
    finally:
        stop(sweep, other)


def test_worker_count_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert TrainingPool().max_workers == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=WORKERS_ENV):
            TrainingPool()


def test_a_sweep_member_cancelled_while_waiting_is_skipped_when_the_sweep_starts():
    pool = TrainingPool(max_workers=1, threads_per_worker=1)
    ahead = TrainingJob(spec(), owner="A", pool=pool).start()
    sweep = BetaSweep(spec(epochs=2), [0.5, 2.0, 8.0], owner="B", pool=pool).start()
    try:
        wait_until(lambda: ahead.status == JobStatus.RUNNING)
        sweep.jobs[2.0].cancel()
        assert sweep.jobs[2.0].wait(WAIT_S) == JobStatus.CANCELLED
        ahead.cancel()
        statuses = set()
        while not sweep.done:
            statuses.add(sweep.jobs[2.0].status)
            time.sleep(0.01)
        assert statuses == {JobStatus.CANCELLED}, "a cancelled member must never run"
        assert [p.status for p in sweep.points()] == [JobStatus.FINISHED, JobStatus.CANCELLED, JobStatus.FINISHED]
    finally:
        stop(ahead, sweep)


def test_a_worker_that_cannot_start_fails_its_job_in_words(monkeypatch):
    pool = TrainingPool(max_workers=1, threads_per_worker=1)

    def no_more_processes(*args, **kwargs):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(pool._context, "Process", no_more_processes)
    job = TrainingJob(spec(epochs=1), owner="A", pool=pool).start()
    assert job.wait(WAIT_S) == JobStatus.FAILED
    assert "could not start a worker process" in job.progress().error
    assert "Resource temporarily unavailable" in job.progress().error
    monkeypatch.undo()
    assert TrainingJob(spec(epochs=1), owner="A", pool=pool).start().wait(WAIT_S) == JobStatus.FINISHED


def test_a_pool_needs_a_worker():
    for bad in (0, -2):
        with pytest.raises(ValueError, match="at least one worker"):
            TrainingPool(max_workers=bad)


def test_a_worker_never_runs_the_servers_main_script(tmp_path, monkeypatch):
    # Under Streamlit, __main__ is the page script; under some test runners, a wrapper that cannot run alone.
    marker = tmp_path / "main ran"
    script = tmp_path / "server_main.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('not to be run by a worker')\n")
    server_main = types.ModuleType("__main__")
    server_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", server_main)

    job = TrainingJob(spec(epochs=1), pool=TrainingPool(max_workers=1, threads_per_worker=1)).start()
    assert job.wait(WAIT_S) == JobStatus.FINISHED, job.progress().message
    assert not marker.exists()
