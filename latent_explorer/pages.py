"""The app's pages, defined once: st.navigation gets them in the entry script, st.switch_page by name.

Page objects carry per-run state (st.navigation marks the one it may run), so each run builds its
own from these definitions rather than sharing objects between sessions.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

EXPLORE, EDIT, SAMPLE, COMPARE, TRAIN = "explore", "edit", "sample", "compare", "train"
_DEFINITIONS = {
    EXPLORE: dict(title="Explore", icon=":material/scatter_plot:", default=True),
    EDIT: dict(title="Edit", icon=":material/tune:"),
    SAMPLE: dict(title="Sample", icon=":material/casino:"),
    COMPARE: dict(title="Compare", icon=":material/compare:"),
    TRAIN: dict(title="Train", icon=":material/model_training:"),
}


# By absolute path: the entry script is latent_explorer/streamlit_app.py, or app.py of a checkout, and Streamlit
# resolves a relative page path from whichever of the two it runs.
PAGE_FILES = Path(__file__).resolve().parent / "app_pages"


def page(name: str):
    return st.Page(PAGE_FILES / f"{name}.py", url_path=name, **_DEFINITIONS[name])


def navigation():
    return st.navigation([page(name) for name in _DEFINITIONS])


def switch_to(name: str) -> None:
    st.switch_page(page(name))
