"""AppTests run on the small embedded digits: the app's own default is the Fashion-MNIST pair wherever its
images are installed (test_explore_edit.py's landing test removes this pin to check that choice). The pairs
they make are kept in a model store of their own, never in the visitor's default store under ~/.cache."""

from __future__ import annotations

import pytest

from latent_explorer.shipped import LANDING_ENV
from vae_core.store import STORE_ENV


@pytest.fixture(autouse=True, scope="session")
def _land_on_digits(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(LANDING_ENV, "digits")
        patch.setenv(STORE_ENV, str(tmp_path_factory.mktemp("model-store")))
        yield
