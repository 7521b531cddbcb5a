"""Running one page script alone through AppTest, on the shipped digits models or a variant of them."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from latent_explorer import session
from vae_core import load_checkpoint, load_dataset
from vae_core.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]

SHIPPED = REPO_ROOT / "assets" / "digits-latent2.pt"


def page_path(name: str) -> str:
    return str(REPO_ROOT / "app_pages" / f"{name}.py")


def run_page(page: str, **state) -> AppTest:
    at = AppTest.from_file(page, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def own_pair_state(without: str) -> dict:
    """Session state that makes a pair of the shipped models, minus one of them, the active one."""
    pair = load_checkpoint(SHIPPED)
    setattr(pair, without, None)
    ws = Workspace(pair, load_dataset(pair.dataset, download=False), label=f"shipped without {without}")
    return {session.OWN_WORKSPACES: {"own-1": ws}, session.WORKSPACE: "own-1"}


def image_captions(at: AppTest) -> list[str]:
    """Every image caption on the page in order, however the rows are laid out."""
    return [caption for element in at.image for caption in element.captions]
