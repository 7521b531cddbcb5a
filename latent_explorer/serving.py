"""How the web server's process computes, set once when it serves its first run.

Every visitor's run is a thread of the same process, and a crowd runs many at once. Torch's own intra-op threads
(one per core by default) then fight those threads and each other: on two busy cores one card's analysis
(256 decodes of a 2-400-784 decoder) took 75 ms with two torch threads against 2-5 ms with one
(benchmarks/README.md, "Crowd"). So the server computes each visitor's small tensors on one thread and lets the
visitors' threads use the cores; trainings run in worker processes of their own (vae_core.engine), unaffected.
"""

from __future__ import annotations

import functools
import os

import torch

TORCH_THREADS_ENV = "LATENT_EXPLORER_SERVER_TORCH_THREADS"


@functools.cache
def configure_process() -> int:
    """Torch's intra-op threads for this process (a host with many cores and few visitors may raise it); how many."""
    threads = int(os.environ.get(TORCH_THREADS_ENV, "1"))
    torch.set_num_threads(threads)
    return threads
