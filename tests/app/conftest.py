"""AppTests run on the small embedded digits: the app's own default is the Fashion-MNIST pair wherever its
images are installed (test_explore_edit.py's landing test removes this pin to check that choice)."""

from __future__ import annotations

import pytest

from explorer.session import LANDING_ENV


@pytest.fixture(autouse=True, scope="session")
def _land_on_digits():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(LANDING_ENV, "digits")
        yield
