"""The explorer's browser components (``st.components.v2``, no build step), declared as a packaged component.

pyproject.toml declares each of them under ``[[tool.streamlit.component.components]]`` with ``asset_dir`` =
latent_explorer/web, so their scripts, styles and Plotly.js are files the server sends over HTTP
(``/_stcore/bidi-components/latent-explorer.<name>/<file>``) and the browser caches, not text inside every
render. Streamlit finds that declaration only for an installed project (``pip install -e .``, in the
requirements), and only in an editable install, which leaves pyproject.toml beside the package.

- ``load_runtime``: a hidden element whose module loads Plotly.js and every script of ``RUNTIME_SCRIPTS``, once.
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
lets it mount or update the element. What each receives is a dataclass here with a JSDoc twin in web/
(tests/core/test_component_contract.py keeps the two equal); the packs (binary weights and codes) are files named
by their content's hash, which a browser fetches once and keeps, so a hundred visitors of one link do not each
receive them through the websocket.

Events come back as trigger values (one rerun of the enclosing fragment each) and carry a sequence
number that the server echoes as ``ack``, so a component can tell a reply to its latest event from a
stale one.
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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import plotly
import streamlit as st
from streamlit.errors import StreamlitAPIException

from vae_core.images import to_uint8

from .events import MAX_IMAGE_MARKS, MAX_LASSO_VERTICES
from .pack import Pack

WEB = Path(__file__).resolve().parent / "web"
# The name pyproject.toml gives the project: Streamlit names a packaged component "<project>.<component>".
PROJECT = "latent-explorer"
# The browser's scripts, in the order they run (classic scripts sharing one scope; Plotly.js runs beside them
# when it arrives). A new file of web/ is one more line here.
RUNTIME_SCRIPTS = (
    "runtime.js",
    "map_layers.js",
    "latent_map.js",
    "inspect_card.js",
    "latent_editor.js",
    "drawing_pad.js",
    "map_replay.js",
)
# What web/mount.js calls for each component: the global function of RUNTIME_SCRIPTS that mounts it.
MOUNTS = {"map": "lxMountMap", "card": "lxMountCard", "editor": "lxMountEditor", "pad": "lxMountDrawingPad"}
# Plotly.js of the installed ``plotly`` package, copied beside our scripts under its version's name (git-ignored),
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
    """Each script with a hash of its content: the browser keeps it under that version (web/runtime_loader.js)."""
    return [{"name": name, "version": hashlib.blake2b((WEB / name).read_bytes(), digest_size=8).hexdigest()}
            for name in names]


_copy_plotly_js()
_RUNTIME_DATA = {"plotly": _versioned([PLOTLY_JS])[0], "scripts": _versioned(RUNTIME_SCRIPTS), "mounts": MOUNTS}
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


BACKGROUND_TILES = 22  # the decoder background's tiles per side, decoded in the browser or on the server


def send_thumbnails(message: bytes) -> None:
    """Hand one thumbnails message (latent_explorer/thumbnails.py) to the browser's cache of image marks."""
    _mount("thumbnails", data=message, key=HIDDEN_KEY_PREFIX + "thumbnails")


@dataclass(frozen=True)
class MapData:
    """What the latent map receives on every run; its JavaScript twin is the ``MapData`` typedef at the top of
    web/latent_map.js. Every event carries ``seq``, echoed back here as ``ack``."""

    pack: str                             # id of the pack with the codes, labels and decoders
    kind: str                             # "vae" or "ae": whose codes are drawn
    view: str                             # "z" (latent size 2), "pca", "tsne" or "active" (two latent axes)
    points: dict | None                   # t-SNE only: {pack, array} of the coordinates, else the codes projected
    axis_titles: list[str]
    extent: list[list[float]]             # [[x0, x1], [y0, y1]]: the whole map
    equal_axes: bool                      # one unit as long across as up (every linear view)
    view_key: str                         # a new key resets zoom and pan
    height: int                           # at most, CSS pixels
    colours: list[str]                    # the class palette, "#rrggbb"
    selected: int | None                  # the inspected image
    location: list[float] | None          # a decoded spot [x, y]
    region: dict | None                   # {shape: "box" | "lasso", vertices}
    posterior: bool                       # draw q(z|x) of the selection
    background: bool                      # tile the decoder's output under the points
    eps: list[list[float]] | None         # the draws' noise, the same for every image
    ack: int                              # the sequence number of the last event the server handled
    probe: dict | None                    # a person's own picture (latent_explorer/probe.py)
    lens: dict | None = None              # {z, pixels}: the server's decode where the browser cannot decode
    server_background: dict | None = None  # {uri, extent}: the server's background, likewise
    max_lasso_vertices: int = MAX_LASSO_VERTICES  # a longer lasso is thinned to this many before it is sent
    region_members: str | None = None     # which points the region takes: ``member_bits``
    image_marks: int = MAX_IMAGE_MARKS    # zoomed in to at most this many visible points, they become images
    background_tiles: int = BACKGROUND_TILES  # the decoder background's tiles per side
    # Zoomed in, the points show their "originals" (a page that answers the map's thumbnails event) or their
    # "reconstructions" (decoded in the browser; any page).
    marks: str = "reconstructions"
    webgl: bool = True                    # False once this browser said it cannot draw WebGL
    layers: dict | None = None            # drawn under the points: latent_explorer/map_layers.py density_layer
    projection: dict | None = None        # {mean, components, names}: two latent axes (view "active"), else the pack's
    replay: dict | None = None            # {pack, epochs}: the training replay's frames, while it is open
    # {pack, array, quantity, label, title, colorscale, cmin, cmax}: the held-out points coloured by a per-point
    # quantity (latent_explorer/colouring.py) on a colour bar; None: by class
    colour_by: dict | None = None
    overlays: list[dict] | None = None     # the page's own marks (latent_explorer/page_maps.py Overlay.to_data)
    interactive: bool = True               # False: a map to look at, without inspect, lens, regions or keys
    title: str | None = None
    point_opacity: float | None = None     # the held-out points', where the page's marks must stand out

    def to_data(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CardData:
    """What the inspect card receives; its twin is the ``CardData`` typedef in web/inspect_card.js."""

    pack: str                             # id of the pack with the codes, labels and decoders
    kinds: list[str]                      # the models shown, the main one first
    titles: dict                          # kind -> its title ("VAE", "AE")
    selected: int | None                  # the inspected image
    location: list[float] | None          # a decoded spot [x, y]
    location_kind: str                    # whose decoder the spot is decoded by
    eps: list[list[float]] | None         # the posterior draws' noise
    neighbours: int                       # how many nearest neighbours the server lists (their places, until then)
    server: dict | None                   # {index | location | probe, pixels, tiles}: the images only the server has
    hint: str                             # shown while nothing is selected
    ack: int                              # the sequence number of the last event the server handled
    probe: dict | None                    # a person's own picture (latent_explorer/probe.py)
    location_label: str | None = None     # how the heading names a decoded spot on two of many axes, else z = (…)
    colour: dict | None = None            # the map's colour_by: the card says the point's value

    def to_data(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EditorData:
    """What the latent editor receives; its twin is the ``EditorData`` typedef in web/latent_editor.js."""

    pack: str                             # id of the pack with the decoders
    kind: str                             # whose decoder the sliders drive
    z: list[float]                        # the latent vector, snapped to ``step``
    z_version: int                        # a new version moves the sliders, even to the same z
    limit: float                          # each slider's range is ±limit
    step: float                           # a slider's step, and the grid every z is snapped to
    sweep: list[float]                    # the traversal strips' values of the swept dimension
    traversal_rows: int                   # strips for the first this many dimensions
    title: str                            # the decoder's title
    colours: list[str]                    # the class palette of the pad's dots
    ack: int                              # the sequence number of the last event the server handled
    server: dict | None                   # {z, pixels}: the server's decode where the browser cannot decode

    def to_data(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PadData:
    """What the drawing pad receives; its twin is the ``PadData`` typedef in web/drawing_pad.js."""

    size: list[int]                       # [height, width] of the drawing it sends

    def to_data(self) -> dict:
        return asdict(self)


def latent_map(data: MapData, key: str, **callbacks):
    """Events: ``point`` {index}, ``location`` {x, y}, ``region`` {shape, vertices}, ``hover`` {z},
    ``probe`` {} (the star of a person's own picture was clicked), ``thumbnails`` {indices} (the visible
    points whose original images the browser lacks), ``webgl`` {available: false} (no WebGL here)."""
    return _mount("map", data=data.to_data(), key=key, **callbacks)


def inspect_card(data: CardData, key: str, **callbacks):
    """Events: ``point`` {index} (a neighbour was clicked)."""
    return _mount("card", data=data.to_data(), key=key, **callbacks)


def latent_editor(data: EditorData, key: str, **callbacks):
    """Events: ``z`` {z} when a slider or the pad is let go, ``decode`` {z} when the server must decode."""
    return _mount("editor", data=data.to_data(), key=key, **callbacks)


def drawing_pad(data: PadData, key: str, **callbacks):
    """Events: ``drawing`` {pixels} (raw grey bytes at ``data.size``, base64) after every stroke."""
    return _mount("pad", data=data.to_data(), key=key, **callbacks)


def member_bits(indices: np.ndarray, count: int) -> str:
    """Which of ``count`` points are members (their indices), one bit a point, first point lowest, in base64:
    8.75 KB for 70,000 points (web/latent_map.js, lxBits)."""
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
