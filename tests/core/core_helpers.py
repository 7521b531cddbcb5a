"""Helpers shared by the vae_core tests (imported by the test modules and conftest)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch

from vae_core.models import ModelConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120  # how long a test waits on training worker processes (slow on a busy two-core machine)


@contextlib.contextmanager
def single_thread():
    """Tiny models on a shared two-core machine run many times faster on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def small_config(kind: str = "vae", latent_dim: int = 4, hidden_dim: int = 48, **extra) -> ModelConfig:
    """A digits-sized (1, 8, 8) model small enough to train in a fraction of a second."""
    return ModelConfig(kind=kind, input_shape=(1, 8, 8), hidden_dim=hidden_dim, latent_dim=latent_dim, **extra)


def state_dicts_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def snapshot(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def wait_until(predicate, timeout: float = WAIT_S) -> None:
    """Poll ``predicate`` until it holds; fail the test when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)
