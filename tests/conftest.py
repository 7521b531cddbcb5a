"""Fixtures for every test level."""

from __future__ import annotations

import pytest

from vae_core.engine import close_default_engine


@pytest.fixture(scope="session", autouse=True)
def _close_the_default_training_engine():
    """Close the engine that pages and jobs started without one of their own, with its LocalCluster's workers,
    while the test session still owns its output (at exit, dask's log lines would go to closed streams)."""
    yield
    close_default_engine()
