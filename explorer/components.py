"""The explorer's browser components (``st.components.v2``: inline HTML, CSS and JS, no build step).

- ``send_pack``: a hidden element that hands a binary pack (explorer/pack.py) to the browser, which
  keeps it by id for every component of the page and of later pages.
- ``latent_map``: the map of the codes, drawn, hovered, zoomed and selected in the browser.
- ``inspect_card``: the clicked image with its reconstructions, draws and neighbours.
- ``latent_editor``: sliders and a 2-d pad over the latent vector, decoded while they move.

Each component's script is ``web/runtime.js`` followed by its own file; see those files for the
browser side. Events come back as trigger values (one rerun of the enclosing fragment each) and
carry a sequence number that the server echoes as ``ack``, so a component can tell a reply to its
latest event from a stale one.
"""

from __future__ import annotations

import base64
from pathlib import Path

import streamlit as st

from .pack import Pack

WEB = Path(__file__).resolve().parent / "web"
PACK_KEY_PREFIX = "lx_pack_"
# The pack carrier draws nothing; without this its empty element container would still take a gap.
HIDDEN_PACKS_CSS = f'[class*="st-key-{PACK_KEY_PREFIX}"] {{ display: none; }}'


def _source(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")


_RUNTIME = _source("runtime.js")
_pack_carrier = st.components.v2.component(
    "latent_explorer_pack", js=_RUNTIME + "\nexport default function ({data}) { if (data) lxRegisterPack(data); }\n")
_map = st.components.v2.component("latent_explorer_map", css=_source("latent_map.css"),
                                  js=_RUNTIME + _source("latent_map.js"))
_card = st.components.v2.component("latent_explorer_card", css=_source("inspect_card.css"),
                                   js=_RUNTIME + _source("inspect_card.js"))
_editor = st.components.v2.component("latent_explorer_editor", css=_source("latent_editor.css"),
                                     js=_RUNTIME + _source("latent_editor.js"))


def send_pack(pack: Pack) -> None:
    """Make the pack available to the page's components (its bytes travel once per browser session)."""
    _pack_carrier(data=pack.data, key=PACK_KEY_PREFIX + pack.id)


def latent_map(data: dict, key: str, **callbacks):
    """Events: ``point`` {index}, ``location`` {x, y}, ``region`` {shape, vertices}, ``hover`` {z}."""
    return _map(data=data, key=key, **callbacks)


def inspect_card(data: dict, key: str, **callbacks):
    """Events: ``point`` {index} (a neighbour was clicked)."""
    return _card(data=data, key=key, **callbacks)


def latent_editor(data: dict, key: str, **callbacks):
    """Events: ``z`` {z} when a slider or the pad is let go, ``decode`` {z} when the server must decode."""
    return _editor(data=data, key=key, **callbacks)


def png_data_uri(png: bytes) -> str:
    """Inline image data: no separate media request for the browser to make."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
