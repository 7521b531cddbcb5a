"""The explorer's browser components (``st.components.v2``, no build step), declared as a packaged component.

pyproject.toml declares each of them under ``[[tool.streamlit.component.components]]`` with ``asset_dir`` =
latent_explorer/web, so their scripts, styles and Plotly.js are files the server sends over HTTP
(``/_stcore/bidi-components/latent-explorer.<name>/<file>``) and the browser caches, not text inside every
render. Streamlit finds that declaration only for an installed project (``pip install -e .``, in the
requirements), and only in an editable install, which leaves pyproject.toml beside the package.

- ``load_runtime``: a hidden element whose module loads Plotly.js and the modules of ``RUNTIME_MODULES``, once.
- ``send_pack``: a hidden element that hands a binary pack (latent_explorer/pack.py) to the browser, which
  keeps it by id for every component of the page and of later pages; the pack itself is a file of asset_dir that
  the browser fetches once and keeps.
- ``latent_map``: the map of the codes, drawn by Plotly.js, hovered, zoomed and selected in the browser.
- ``send_thumbnails``: a hidden element that hands the map the original images of its visible points
  (latent_explorer/thumbnails.py), in one binary message, for its image marks.
- ``inspect_card``: the clicked image with its reconstructions, draws and neighbours.
- ``latent_editor``: sliders and a 2-d pad over the latent vector, decoded while they move.
- ``drawing_pad``: a pad to draw an image on, sent after every stroke.
- ``remember_owner``: sets the cookie that tells the server whose models this browser's are.

The map, the card, the editor and the pad share one small module (web/mount.js) that waits for the runtime and
lets it mount or update the element. What each receives and sends is a dataclass of latent_explorer/contract.py,
with a generated JSDoc twin in web/contract.js; the packs (binary weights and codes) are files named
by their content's hash, which a browser fetches once and keeps, so a hundred visitors of one link do not each
receive them through the websocket.

Events come back as trigger values (one rerun of the enclosing fragment each; latent_explorer/events.py reads
them) and carry a sequence number that the server echoes as ``ack``, so a component can tell a reply to its
latest event from a stale one.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.resources
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly
import streamlit as st
from streamlit.errors import StreamlitAPIException

from vae_core.images import to_uint8

from .contract import CardData, EditorData, MapData, PadData
from .pack import Pack

WEB = Path(__file__).resolve().parent / "web"
# The name pyproject.toml gives the project: Streamlit names a packaged component "<project>.<component>".
PROJECT = "latent-explorer"
# The browser's ES modules, which web/runtime_loader.js links by their imports (so in no particular order here),
# starting from RUNTIME_ENTRY, whose export the components' own modules use (web/mount.js, pack_carrier.js,
# thumbnails_carrier.js). A new module of web/ is one more line here.
RUNTIME_ENTRY = "lib.js"
RUNTIME_MODULES = (
    RUNTIME_ENTRY,
    "runtime.js",
    "latent_map.js",
    "map_figure.js",
    "map_hits.js",
    "map_input.js",
    "map_lens.js",
    "map_marks.js",
    "map_overlays.js",
    "map_inset.js",
    "map_background.js",
    "map_layers.js",
    "map_replay.js",
    "inspect_card.js",
    "latent_editor.js",
    "drawing_pad.js",
)
# Plotly.js of the installed ``plotly`` package, copied beside our modules under its version's name (git-ignored),
# gzip-compressed (web/runtime_loader.js decompresses it): the figures the Python side builds are then read by the
# same Plotly version, nothing 4.8 MB large is committed, and an upgrade of plotly is a new file name, which no
# browser has cached.
PLOTLY_JS = f"plotly-{plotly.__version__}.min.js.gz"
HIDDEN_KEY_PREFIX = "lx_hidden_"
# The runtime and the packs draw nothing; without this their empty element containers would take a gap.
HIDDEN_CSS = f'[class*="st-key-{HIDDEN_KEY_PREFIX}"] {{ display: none; }}'
# Styles of every page, drawn once by app.py:
# - captions (Streamlit fades them to 60 % opacity) read at 3.8:1 on the sidebar; this grey, opaque, reads
#   above 4.5:1 (WCAG AA) on white and on the sidebar;
# - below 1200 px the main pane's wide side padding goes, so the Explore card's column keeps its width;
# - the maths panel's formulas a little smaller than KaTeX's default, so its aligned lines fit the card's column.
PAGE_CSS = HIDDEN_CSS + """
[data-testid="stCaptionContainer"] { opacity: 1; color: #555862; }
@media (max-width: 1200px) {
  [data-testid="stMainBlockContainer"] { padding-left: 1.5rem; padding-right: 1.5rem; }
}
.st-key-math_panel .katex-display > .katex { font-size: 0.95em; }
/* Explore, map first: a one-line heading, the map's column as wide as the card leaves it (the card keeps 300 px
   for its numbers and formulas), and below 900 px the card under the map. */
[data-testid="stMainBlockContainer"]:has(.st-key-explore_panes) { padding-top: 3.5rem; }
.st-key-explore_heading h1 { font-size: 1.75rem; padding: 0; white-space: nowrap; }
.st-key-explore_heading { row-gap: 0.25rem; }
.st-key-explore_heading > [data-testid="stElementContainer"]:last-child {
  flex: 1 1 14rem !important; width: auto !important;
}
.st-key-explore_panes [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]:first-child {
  flex: 1 1 0 !important; width: auto !important; min-width: 0;
}
.st-key-explore_panes [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]:last-child {
  flex: 0 0 clamp(300px, 32%, 440px) !important; width: auto !important;
}
@media (max-width: 899px) {
  .st-key-explore_panes [data-testid="stHorizontalBlock"] { flex-direction: column; }
  .st-key-explore_panes [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] {
    flex: 1 1 auto !important; width: 100% !important;
  }
}
"""


def _publish(name: str, write) -> bool:
    """Write a file of asset_dir once, atomically (several servers may write it at once); False where asset_dir
    cannot be written (a read-only installation), and the caller then sends the bytes another way."""
    target = WEB / name
    if target.exists():
        return True
    try:
        target.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".publishing-", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def _gzip_to(data: bytes):
    """A writer of ``data`` gzip-compressed, once: the server's gzip layer then leaves the file alone (its type is
    application/gzip), where it compressed Plotly.js again, about 90 ms of CPU, for every first visitor."""
    def write(out) -> None:
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as compressed:
            compressed.write(data)
    return write


def _copy_plotly_js() -> None:
    """Put the installed Plotly.js under asset_dir, compressed, once."""
    source = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    if not (WEB / PLOTLY_JS).exists() and not _publish(PLOTLY_JS, _gzip_to(source.read_bytes())):
        raise RuntimeError(f"cannot write {WEB / PLOTLY_JS}: the browser components need it")


def _versioned(names) -> list[dict]:
    """Each file with a hash of its content: the browser keeps it under that version (web/runtime_loader.js)."""
    return [{"name": name, "version": hashlib.blake2b((WEB / name).read_bytes(), digest_size=8).hexdigest()}
            for name in names]


_copy_plotly_js()
_RUNTIME_DATA = {"plotly": _versioned([PLOTLY_JS])[0], "modules": _versioned(RUNTIME_MODULES), "entry": RUNTIME_ENTRY}
# Each component's files in web/ (the names pyproject.toml declares).
COMPONENTS = {
    "runtime": {"js": "runtime_loader.js"},
    "pack": {"js": "pack_carrier.js"},
    # The original images of the map's visible points (latent_explorer/thumbnails.py), kept by the browser.
    "thumbnails": {"js": "thumbnails_carrier.js"},
    # Not isolated in a shadow root: Plotly.js styles its toolbar and drag layers from the document's head.
    "map": {"css": "latent_map.css", "js": "mount.js", "isolate_styles": False},
    "card": {"css": "inspect_card.css", "js": "mount.js"},
    "editor": {"css": "latent_editor.css", "js": "mount.js"},
    "pad": {"css": "drawing_pad.css", "js": "mount.js"},
    # Set from the page itself (v2 components are not in an iframe), so it is the app's own first-party cookie;
    # the server reads it back from the next request's headers (st.context.cookies).
    "owner": {"js": "owner_cookie.js"},
}


@functools.cache
def _registered(name: str):
    """Registered at its first mount: Streamlit finds a file of asset_dir only inside a running app."""
    try:
        return st.components.v2.component(f"{PROJECT}.{name}", **COMPONENTS[name])
    except StreamlitAPIException as error:
        raise RuntimeError(f"Streamlit does not know the component {PROJECT}.{name}: install the project itself "
                           "with `pip install -r requirements.txt` (it holds `-e .`), then start again.") from error


def _mount(name: str, **arguments):
    return _registered(name)(**arguments)


OWNER_COOKIE_MAX_AGE_S = 400 * 86_400  # the longest browsers keep a cookie


def remember_owner(name: str, token: str) -> None:
    """Keep this browser's owner token in a cookie, so its models are its own after a reload or a restart.

    The page writes the cookie only where the browser has none. State: ``token``, the token the browser holds,
    reported when it is not ``token`` (another tab of a first visit wrote first); latent_explorer/session.py
    reads it under this component's key (session.OWNER_REPORT) and adopts it.
    """
    _mount("owner", data={"name": name, "token": token, "max_age": OWNER_COOKIE_MAX_AGE_S},
           key=HIDDEN_KEY_PREFIX + "owner")


def hidden_slot(name: str):
    """A container that takes no room on the page (for packs drawn inside a fragment)."""
    return st.container(key=HIDDEN_KEY_PREFIX + name)


def load_runtime() -> None:
    """The components' code, for this page and the next (draw it before any component)."""
    _mount("runtime", data=_RUNTIME_DATA, key=HIDDEN_KEY_PREFIX + "runtime")


# Packs as files of asset_dir, served over HTTP and kept by the browser (Cache Storage, by id), so that every visitor
# of a shared link does not receive the same megabytes through the websocket. Git-ignored, pruned by age.
PACK_FILES = "packs"
PACK_FILES_KEPT_DAYS = 30


def published_pack(pack: Pack) -> str | None:
    """The pack's file under asset_dir (written once), or None where asset_dir cannot be written."""
    name = f"{PACK_FILES}/{pack.id}.lxp.gz"
    try:
        os.utime(WEB / name)  # in use: not pruned
        return name
    except FileNotFoundError:
        pass
    except OSError:
        return None
    if not _publish(name, _gzip_to(pack.data)):
        return None
    _prune_pack_files()
    return name


def _prune_pack_files() -> None:
    """Packs no page has published for a month go: the folder does not grow with every model ever trained."""
    oldest = time.time() - PACK_FILES_KEPT_DAYS * 86_400
    for path in (WEB / PACK_FILES).glob("*.lxp.gz"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
        except OSError:
            pass  # another server pruned it first


def send_pack(pack: Pack) -> None:
    """Make the pack available to the page's components: the browser fetches its file once and keeps it; where no
    file can be written, its bytes travel through the websocket instead."""
    file = published_pack(pack)
    _mount("pack", data={"id": pack.id, "file": file} if file else pack.data,
           key=HIDDEN_KEY_PREFIX + "pack_" + pack.id)




def send_thumbnails(message: bytes) -> None:
    """Hand one thumbnails message (latent_explorer/thumbnails.py) to the browser's cache of image marks."""
    _mount("thumbnails", data=message, key=HIDDEN_KEY_PREFIX + "thumbnails")


def latent_map(data: MapData, key: str, **callbacks):
    """Events: ``point`` {index}, ``location`` {x, y}, ``region`` {shape, vertices}, ``probe`` {} (the star of a
    person's own picture was clicked), ``thumbnails`` {indices} (the visible points whose original images the
    browser lacks), ``webgl`` {available: false} (no WebGL here). Where the browser cannot decode, the lens
    fetches its decodes from ``data.decode_url`` (latent_explorer/decode_route.py)."""
    return _mount("map", data=data.to_data(), key=key, **callbacks)


def inspect_card(data: CardData, key: str, **callbacks):
    """Events: ``point`` {index} (a neighbour was clicked)."""
    return _mount("card", data=data.to_data(), key=key, **callbacks)


def latent_editor(data: EditorData, key: str, **callbacks):
    """Events: ``z`` {z} when a slider or the pad is let go. Where the browser cannot decode, the editor fetches
    its decodes from ``data.decode_url`` (latent_explorer/decode_route.py)."""
    return _mount("editor", data=data.to_data(), key=key, **callbacks)


def drawing_pad(data: PadData, key: str, **callbacks):
    """Events: ``drawing`` {pixels} (raw grey bytes at ``data.size``, base64) after every stroke."""
    return _mount("pad", data=data.to_data(), key=key, **callbacks)


def member_bits(indices: np.ndarray, count: int) -> str:
    """Which of ``count`` points are members (their indices), one bit a point, first point lowest, in base64:
    8.75 KB for 70,000 points (web/map_overlays.js, lxBits)."""
    inside = np.zeros(count, dtype=bool)
    inside[np.asarray(indices, dtype=np.int64)] = True
    return base64.b64encode(np.packbits(inside, bitorder="little").tobytes()).decode("ascii")


def png_data_uri(png: bytes) -> str:
    """Inline image data: no separate media request for the browser to make."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def grey_pixels(pictures: np.ndarray) -> str:
    """Grey images (N, H, W) in [0, 1] as raw bytes in base64: the components paint them in the same task
    they arrive in (latent_explorer/web/runtime.js, lxPaintBytes), where a PNG would be decoded later."""
    return base64.b64encode(to_uint8(np.asarray(pictures)).tobytes()).decode("ascii")
