"""The explorer's browser components (``st.components.v2``: inline HTML, CSS and JS, no build step).

- ``load_runtime``: hidden elements carrying Plotly.js (from the installed ``plotly`` package) and the code
  of every component below (web/*.js), once.
- ``send_pack``: a hidden element that hands a binary pack (latent_explorer/pack.py) to the browser, which
  keeps it by id for every component of the page and of later pages.
- ``latent_map``: the map of the codes, drawn by Plotly.js, hovered, zoomed and selected in the browser.
- ``inspect_card``: the clicked image with its reconstructions, draws and neighbours.
- ``latent_editor``: sliders and a 2-d pad over the latent vector, decoded while they move.
- ``drawing_pad``: a pad to draw an image on, sent after every stroke.
- ``remember_owner``: sets the cookie that tells the server whose models this browser's are.

A component's element carries its script every time it is drawn again, so the scripts of the map, the
card and the editor are a few lines that hand over to the runtime; the runtime's element and the packs
are the same bytes on every run, which Streamlit's message cache sends by reference, so code and
weights cross the network once per browser session.

Events come back as trigger values (one rerun of the enclosing fragment each) and carry a sequence
number that the server echoes as ``ack``, so a component can tell a reply to its latest event from a
stale one.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from plotly.offline import get_plotlyjs

from vae_core.images import to_uint8

from .pack import Pack

WEB = Path(__file__).resolve().parent / "web"
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
"""


def _source(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")


_RUNTIME = "\n".join(_source(name) for name in ("runtime.js", "latent_map.js", "inspect_card.js",
                                                  "latent_editor.js", "drawing_pad.js")) + """
if (!LX.lib) {
  LX.lib = {registerPack: lxRegisterPack, map: lxMountMap, card: lxMountCard, editor: lxMountEditor,
            pad: lxMountDrawingPad};
  window.dispatchEvent(new Event('lx-runtime'));
}
export default function () {}
"""


def _bootstrap(mount: str) -> str:
    """A component's own script: wait for the runtime, then let it mount or update this element."""
    return f"""
export default function (component) {{
  const start = (lib) => {{ component.parentElement.__lxInstance = lib.{mount}(component); }};
  const LX = window.__latentExplorer;
  if (LX && LX.lib) start(LX.lib);
  else window.addEventListener('lx-runtime', () => start(window.__latentExplorer.lib), {{once: true}});
  return () => {{
    const instance = component.parentElement.__lxInstance;
    if (instance && instance.destroy) instance.destroy();
  }};
}}
"""


_runtime = st.components.v2.component("latent_explorer_runtime", js=_RUNTIME)
# Plotly.js sets window.Plotly; the map waits for this event when it mounts first.
_plotly = st.components.v2.component("latent_explorer_plotly", js=get_plotlyjs() + """
window.dispatchEvent(new Event('lx-plotly'));
export default function () {}
""")
_pack_carrier = st.components.v2.component("latent_explorer_pack", js="""
export default function ({data}) {
  const register = () => window.__latentExplorer.lib.registerPack(data);
  if (!data) return;
  if (window.__latentExplorer && window.__latentExplorer.lib) register();
  else window.addEventListener('lx-runtime', register, {once: true});
}
""")
# Not isolated in a shadow root: Plotly.js styles its toolbar and drag layers from the document's head.
_map = st.components.v2.component("latent_explorer_map", css=_source("latent_map.css"), js=_bootstrap("map"),
                                  isolate_styles=False)
_card = st.components.v2.component("latent_explorer_card", css=_source("inspect_card.css"), js=_bootstrap("card"))
_editor = st.components.v2.component("latent_explorer_editor", css=_source("latent_editor.css"),
                                     js=_bootstrap("editor"))
_pad = st.components.v2.component("latent_explorer_pad", css=_source("drawing_pad.css"), js=_bootstrap("pad"))


# Set from the page itself (v2 components are not in an iframe), so it is the app's own first-party cookie; the
# server reads it back from the next request's headers (st.context.cookies).
_owner_cookie = st.components.v2.component("latent_explorer_owner", js="""
export default function ({data}) {
  if (data && data.name && data.token) {
    document.cookie = `${data.name}=${data.token}; path=/; max-age=${data.max_age}; SameSite=Lax`;
  }
}
""")
OWNER_COOKIE_MAX_AGE_S = 400 * 86_400  # the longest browsers keep a cookie


def remember_owner(name: str, token: str) -> None:
    """Keep this browser's owner token in a cookie, so its models are its own after a reload or a restart."""
    _owner_cookie(data={"name": name, "token": token, "max_age": OWNER_COOKIE_MAX_AGE_S},
                  key=HIDDEN_KEY_PREFIX + "owner")


def hidden_slot(name: str):
    """A container that takes no room on the page (for packs drawn inside a fragment)."""
    return st.container(key=HIDDEN_KEY_PREFIX + name)


def load_runtime() -> None:
    """The components' code, for this page and the next (draw it before any component)."""
    _plotly(key=HIDDEN_KEY_PREFIX + "plotly")
    _runtime(key=HIDDEN_KEY_PREFIX + "runtime")


def send_pack(pack: Pack) -> None:
    """Make the pack available to the page's components (its bytes travel once per browser session)."""
    _pack_carrier(data=pack.data, key=HIDDEN_KEY_PREFIX + "pack_" + pack.id)


@dataclass(frozen=True)
class MapData:
    """What the latent map receives on every run; its JavaScript twin is the ``MapData`` typedef at the top of
    web/latent_map.js. Every event carries ``seq``, echoed back here as ``ack``."""

    pack: str                             # id of the pack with the codes, labels and decoders
    kind: str                             # "vae" or "ae": whose codes are drawn
    view: str                             # "z" (latent size 2), "pca" or "tsne"
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
    # {pack, array, quantity, label, title, colorscale, cmin, cmax}: the held-out points coloured by a per-point
    # quantity (latent_explorer/colouring.py) on a colour bar; None: by class
    colour_by: dict | None = None
    overlays: list[dict] | None = None     # the page's own marks (latent_explorer/page_maps.py Overlay.to_data)
    interactive: bool = True               # False: a map to look at, without inspect, lens, regions or keys
    title: str | None = None
    point_opacity: float | None = None     # the held-out points', where the page's marks must stand out

    def to_data(self) -> dict:
        return asdict(self)


def latent_map(data: MapData, key: str, **callbacks):
    """Events: ``point`` {index}, ``location`` {x, y}, ``region`` {shape, vertices}, ``hover`` {z},
    ``probe`` {} (the star of a person's own picture was clicked)."""
    return _map(data=data.to_data(), key=key, **callbacks)


def inspect_card(data: dict, key: str, **callbacks):
    """Events: ``point`` {index} (a neighbour was clicked)."""
    return _card(data=data, key=key, **callbacks)


def latent_editor(data: dict, key: str, **callbacks):
    """Events: ``z`` {z} when a slider or the pad is let go, ``decode`` {z} when the server must decode."""
    return _editor(data=data, key=key, **callbacks)


def drawing_pad(data: dict, key: str, **callbacks):
    """Events: ``drawing`` {pixels} (raw grey bytes at ``data["size"]``, base64) after every stroke."""
    return _pad(data=data, key=key, **callbacks)


def png_data_uri(png: bytes) -> str:
    """Inline image data: no separate media request for the browser to make."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def grey_pixels(pictures: np.ndarray) -> str:
    """Grey images (N, H, W) in [0, 1] as raw bytes in base64: the components paint them in the same task
    they arrive in (latent_explorer/web/runtime.js, lxPaintBytes), where a PNG would be decoded later."""
    return base64.b64encode(to_uint8(np.asarray(pictures)).tobytes()).decode("ascii")
