"""What the Explore map draws under its points (MapData.layers; drawn by web/map_layers.js).

The density layer of a latent-size-2 VAE: its aggregate posterior q(z) over the held-out codes as a shaded
picture, the prior's 1σ and 2σ circles, and the holes (inside the 2σ circle, q(z) < p(z) / 10) outlined.

The grid is fixed per model and map, and wider than the map: it is computed once (Workspace.density caches it)
and zooming or panning costs the server nothing, since Plotly stretches the picture with the axes. q(z) is
smooth on the scale of the codes' σ, which a cell of the grid resolves until the map is zoomed in several
times over; zoomed out past the grid, the shading ends at its edge.
"""

from __future__ import annotations

import io
import threading
from weakref import WeakKeyDictionary

import numpy as np
from PIL import Image

from vae_core.diagnostics import HOLE_RATIO, hole_outline
from vae_core.workspace import Workspace

from .components import png_data_uri
from .contract import MapLayers, PictureOnMap

DENSITY_CELLS = 150          # grid points per side
DENSITY_GRID_MARGIN = 0.25   # the grid reaches this share of the map's width beyond each edge
DENSITY_LOG_RANGE = 6.0      # shading: from the densest spot down to e^-6 of it, on a log scale
DENSITY_RGB = (31, 95, 160)  # the shading's blue; its opacity says how dense
DENSITY_MAX_OPACITY = 0.6
# Per workspace (shared by its sessions) and map extent: the finished layer, so a rerun of the page (every click)
# pays nothing for it.
_LAYERS: WeakKeyDictionary = WeakKeyDictionary()
_LAYERS_LOCK = threading.Lock()
_LAYERS_PER_WORKSPACE = 4


def density_grid_extent(map_extent) -> tuple[tuple[float, float], tuple[float, float]]:
    """The grid's region: the map's, widened by DENSITY_GRID_MARGIN on every side, and at least the prior's 2σ."""
    out = []
    for low, high in map_extent:
        pad = (high - low) * DENSITY_GRID_MARGIN
        out.append((float(min(low - pad, -2.5)), float(max(high + pad, 2.5))))
    return out[0], out[1]


def density_picture(log_q: np.ndarray) -> bytes:
    """q(z) as an RGBA PNG, top row = highest z2: opacity rising with log q over DENSITY_LOG_RANGE nats."""
    finite = np.isfinite(log_q)
    peak = log_q[finite].max() if finite.any() else 0.0
    with np.errstate(invalid="ignore"):
        shade = np.where(finite, np.clip(1 + (log_q - peak) / DENSITY_LOG_RANGE, 0, 1), 0.0)
    rgba = np.zeros((*log_q.shape, 4), dtype=np.uint8)
    rgba[..., :3] = DENSITY_RGB
    rgba[..., 3] = np.round(255 * DENSITY_MAX_OPACITY * shade).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba[::-1], mode="RGBA").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def outline_path(segments: np.ndarray) -> str:
    """Segments (S, 2, 2) as one SVG path in data coordinates (a Plotly path shape)."""
    return " ".join(f"M{a:.4g},{b:.4g}L{c:.4g},{d:.4g}" for (a, b), (c, d) in segments)


def density_layer(ws: Workspace, map_extent) -> MapLayers:
    """MapData.layers for the density, kept per extent."""
    key = tuple(tuple(float(v) for v in pair) for pair in map_extent)
    with _LAYERS_LOCK:
        kept = _LAYERS.setdefault(ws, {})
        if key in kept:
            return kept[key]
    layer = _density_layer(ws, map_extent)
    with _LAYERS_LOCK:
        if len(kept) >= _LAYERS_PER_WORKSPACE:
            kept.pop(next(iter(kept)))
        kept[key] = layer
    return layer


def _density_layer(ws: Workspace, map_extent) -> MapLayers:
    x_range, y_range = density_grid_extent(map_extent)
    grid = ws.density(x_range, y_range, DENSITY_CELLS)
    step_x, step_y = (grid.x[1] - grid.x[0]) / 2, (grid.y[1] - grid.y[0]) / 2
    # The picture's pixels are the grid's cells, each centred on its grid point.
    extent = [[float(grid.x[0] - step_x), float(grid.x[-1] + step_x)],
              [float(grid.y[0] - step_y), float(grid.y[-1] + step_y)]]
    return MapLayers(density=PictureOnMap(png_data_uri(density_picture(grid.log_q)), extent), prior_circles=[1, 2],
                     holes=outline_path(hole_outline(grid)), hole_fraction=ws.prior_hole_fraction())


def density_caption(hole_fraction: float) -> str:
    return (f"Shading: q(z), the held-out codes' Gaussians averaged (darker is denser, log scale) · grey circles: "
            f"the prior's 1σ and 2σ · orange outlines: holes, q(z) < p(z) / {HOLE_RATIO:g} inside 2σ · "
            f"prior_hole_fraction = {hole_fraction:.3f} of prior draws z ~ N(0, I) land where q(z) < p(z) / "
            f"{HOLE_RATIO:g}.")
