"""log p(x) of whole image sets, computed in a background thread of the server so that no page waits for it.

A job lives on its Workspace (one per model and set), so however many sessions ask, each set is computed once
per server process; the pages poll its progress.
"""

from __future__ import annotations

import threading

from vae_core.diagnostics import LikelihoodJob


def started(job: LikelihoodJob) -> LikelihoodJob:
    """The job, running in a thread of its own unless someone already started it."""
    if job.claim():
        threading.Thread(target=job.run, name="log p(x)", daemon=True).start()
    return job
