"""Running one page script alone through AppTest, on the shipped digits models or a variant of them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from latent_explorer import components, session
from vae_core import load_checkpoint, load_dataset
from vae_core.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]

SHIPPED = REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt"


def page_path(name: str) -> str:
    return str(REPO_ROOT / "latent_explorer" / "app_pages" / f"{name}.py")


def sent_pack_bytes(proto) -> bytes:
    """The bytes of a pack element (components.send_pack) as the browser gets them: from the published file it
    names, or inline where no file could be written."""
    if proto.WhichOneof("data") == "bytes":
        return proto.bytes
    reference = json.loads(proto.json)
    return gzip.decompress((components.WEB / reference["file"]).read_bytes())


def run_app(state: dict | None = None, **query) -> AppTest:
    """The whole app (its entry script, which app.py serves) run once with this session state and these link
    parameters, without an exception."""
    at = AppTest.from_file(str(REPO_ROOT / "latent_explorer" / "streamlit_app.py"), default_timeout=120)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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


def map_data(at: AppTest, key: str) -> dict:
    """The MapData the page sent to its latent map component (latent_explorer/components.py) mounted with ``key``."""
    found = [e.proto for e in at.get("bidi_component") if e.proto.id.endswith("-" + key)]
    assert len(found) == 1, f"expected one map {key!r}, found {len(found)}"
    assert found[0].component_name == f"{components.PROJECT}.map", found[0].component_name
    return json.loads(found[0].json)


def overlay_points(data: dict, name: str) -> list[list[float]]:
    """The points of the page's mark called ``name`` on a map."""
    [overlay] = [o for o in data["overlays"] if o["name"] == name]
    return overlay["points"]
