"""log p(x) of whole image sets, computed in a background thread of the server so that no page waits for it.

A job lives on its Workspace (one per model and set), so however many sessions ask, each set is computed once
per server process; the pages poll its progress.
"""

from __future__ import annotations

import atexit
import threading

from vae_core.diagnostics import LikelihoodJob

# Threads still computing; stopped when the process exits, since torch aborts the interpreter if a daemon thread
# is inside one of its operations while Python shuts down.
_running: dict[LikelihoodJob, threading.Thread] = {}
_running_lock = threading.Lock()


def started(job: LikelihoodJob) -> LikelihoodJob:
    """The job, running in a thread of its own unless someone already started it."""
    if job.claim():
        thread = threading.Thread(target=_run, args=(job,), name="log p(x)", daemon=True)
        with _running_lock:
            _running[job] = thread
        thread.start()
    return job


def _run(job: LikelihoodJob) -> None:
    try:
        job.run()
    finally:
        with _running_lock:
            _running.pop(job, None)


@atexit.register
def _stop_running_jobs() -> None:
    with _running_lock:
        running = list(_running.items())
    for job, _ in running:
        job.cancel()
    for _, thread in running:
        thread.join(timeout=30)
