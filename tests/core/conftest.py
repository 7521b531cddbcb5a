"""Shared fixtures for the vae_core unit tests.

The machine these run on has two cores that other jobs share; PyTorch's
default of one intra-op thread per core makes tiny models many times slower
under that contention, so every test here runs single-threaded.
"""

from __future__ import annotations

import pytest
from core_helpers import single_thread, small_config

from vae_core.data import load_dataset
from vae_core.engine import TrainingEngine
from vae_core.training import TrainConfig, new_model, train_model


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def trained_vae(digits):
    """A small VAE (64 hidden, 8 latent) trained on digits for 12 epochs (well under a second)."""
    with single_thread():
        model = new_model(small_config("vae", latent_dim=8, hidden_dim=64), seed=0)
        result = train_model(model, digits, TrainConfig(epochs=12, batch_size=64, learning_rate=3e-3, seed=0,
                                                         device="cpu"))
    assert not result.cancelled and len(result.history) == 12
    return result.model.eval()


@pytest.fixture(scope="session")
def trained_ae(digits):
    with single_thread():
        model = new_model(small_config("ae", latent_dim=4, hidden_dim=48, code_activation="linear"), seed=0)
        result = train_model(model, digits, TrainConfig(epochs=3, batch_size=64, learning_rate=3e-3, seed=0,
                                                         device="cpu"))
    return result.model.eval()


@pytest.fixture(scope="session")
def engine():
    """One LocalCluster of two single-threaded workers for every training test: a cluster starts in seconds,
    and a worker, once started, stays warm for the next test. The test process runs single-threaded too, so
    results compare exactly. Closed, with its worker processes, when the tests end."""
    engine = TrainingEngine(max_workers=2, threads_per_worker=1)
    yield engine
    engine.close()
