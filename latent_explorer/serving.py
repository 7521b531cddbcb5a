"""How the web server's process computes, set once when it serves its first run.

Every visitor's run is a thread of the same process, and a crowd runs many at once. Torch's own intra-op threads
(one per core by default) then fight those threads and each other: on two busy cores one card's analysis
(256 decodes of a 2-400-784 decoder) took 75 ms with two torch threads against 2-5 ms with one
(benchmarks/README.md, "Crowd"). So the server computes each visitor's small tensors on one thread and lets the
visitors' threads use the cores; trainings run in worker processes of their own (vae_core.engine), unaffected.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import threading
from collections.abc import Iterator

TORCH_THREADS_ENV = "LATENT_EXPLORER_SERVER_TORCH_THREADS"


@functools.cache
def configure_process() -> int:
    """Torch's intra-op threads for this process (a host with many cores and few visitors may raise it); how many.
    Torch keeps the count per thread once a thread has computed, and every visitor's run is a new thread, which
    starts from the count set here."""
    import torch  # here, not at the top: app.py imports this module before its first run's spinner shows

    threads = int(os.environ.get(TORCH_THREADS_ENV, "1"))
    torch.set_num_threads(threads)
    _keep_freed_memory_returnable()
    return threads



# glibc's malloc, tuned for a process of many short-lived threads and large, short-lived tensors (mallopt's
# parameters, <malloc.h>). By default each visitor's thread may get an arena of its own (up to 8 per core), and a
# freed tensor of a few MB stays in the process, because the threshold above which an allocation is its own mapping
# rises with every large block freed. One process that had shown every page held 1,197 MiB that way and 985 MiB with
# these two settings (benchmarks/README.md, "Server memory").
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20
ARENAS = 2


def _keep_freed_memory_returnable() -> bool:
    """Whether glibc took the settings (elsewhere, another C library: nothing to tune)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


# A newcomer to a saturated server is told so instead of waiting on a bare spinner: from this many other sessions
# opening the app at the same moment.
BUSY_OPENINGS = 5
_openings = 0
_openings_lock = threading.Lock()


@contextlib.contextmanager
def opening() -> Iterator[int]:
    """Counts this session's first run among those under way in the process; yields how many others are."""
    global _openings
    with _openings_lock:
        others = _openings
        _openings += 1
    try:
        yield others
    finally:
        with _openings_lock:
            _openings -= 1


def busy_message(others: int) -> str | None:
    """What a newcomer is told while many others open the app at the same moment (None: not busy)."""
    if others < BUSY_OPENINGS:
        return None
    return (f"Busy: {others} other visitors are opening this page at this moment. Yours is on its way and needs "
            "nothing from you; it may take a few seconds longer than usual.")


# At most this many visitors' runs execute at once; the others wait, blocked, for a slot. A hundred runnable threads
# would share Python's one interpreter lock with the server's event loop, which then answered health checks and
# websockets in seconds; blocked threads leave it the lock. One per core: with two per core, a hundred visitors
# opening a link at once on two cores still stalled the health check for 2 s, with one never past 0.8 s, and the
# opens finished as fast (benchmarks/README.md, "Crowd").
CONCURRENT_RUNS_ENV = "LATENT_EXPLORER_CONCURRENT_RUNS"
_run_slots = threading.BoundedSemaphore(int(os.environ.get(CONCURRENT_RUNS_ENV, 0)) or os.cpu_count() or 1)
_holding = threading.local()


@contextlib.contextmanager
def run_slot() -> Iterator[None]:
    """One of the few places for a visitor's run to execute in; a run nested in another (a fragment drawn by its
    page's full run) keeps its page's place."""
    depth = getattr(_holding, "depth", 0)
    if depth == 0:
        _run_slots.acquire()
    _holding.depth = depth + 1
    try:
        yield
    finally:
        _holding.depth = depth
        if depth == 0:
            _run_slots.release()
