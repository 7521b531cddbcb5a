"""Explore says which split an image number belongs to once the training images join the map."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from latent_explorer import session
from latent_explorer.session import shipped_workspace

APP = str(Path(__file__).resolve().parents[2] / "latent_explorer" / "streamlit_app.py")


def test_the_numbering_of_both_splits_is_said_when_the_training_images_are_shown():
    ws = shipped_workspace("digits")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["model"] = "digits"
    at.run()
    numbering = f"training images #{len(ws):,} to #{ws.total - 1:,}"
    assert not any(numbering in c.value for c in at.caption)
    at.toggle(key=session.EVERY_IMAGE).set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"Held-out images are numbered #0 to #{len(ws) - 1:,}, {numbering}" in c.value for c in at.caption)
