"""The latent maps of Edit, Sample and Compare: the Explore map's component (one renderer, the same colours, axes
and legend), to look at rather than to inspect, with each page's own marks drawn over the codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae_core.latent import prior_circle
from vae_core.workspace import Workspace

from . import components
from .contract import MapData, OverlayData
from .figures import CLASS_COLOURS, HIGHLIGHT_COLOUR
from .pack import workspace_pack


@dataclass(frozen=True)
class Overlay:
    """A mark of the page: a line (a path, a circle) or points, in map coordinates, with its legend entry."""

    name: str
    points: np.ndarray  # (n, 2)
    colour: str = "#111111"
    mode: str = "lines"  # "lines", "markers" or "lines+markers"
    dash: str = "solid"  # "solid", "dash" or "dot"
    size: int = 8  # a marker's size, CSS pixels
    symbol: str = "circle"  # or "star"

    def to_data(self) -> OverlayData:
        return OverlayData(name=self.name, points=np.atleast_2d(np.asarray(self.points, dtype=float)).round(5).tolist(),
                           colour=self.colour, mode=self.mode, dash=self.dash, size=self.size, symbol=self.symbol)


def prior_circles(projected: bool) -> list[Overlay]:
    """The prior's 1- and 2-sigma circles (in PCA coordinates only approximately, since PCA recentres)."""
    note = " (approx. in PCA axes)" if projected else ""
    return [Overlay(f"prior {n}σ{note}", prior_circle(n), colour="#555555", dash=dash)
            for n, dash in ((1, "dash"), (2, "dot"))]


def map_extent_data(extent) -> list[list[float]]:
    return [[float(extent[0][0]), float(extent[0][1])], [float(extent[1][0]), float(extent[1][1])]]


def page_map(ws: Workspace, kind: str, key: str, extent, overlays: list[Overlay], height: int,
             title: str | None = None, point_opacity: float | None = None) -> MapData:
    """The MapData of a page's map of ``kind``'s held-out codes (the page has sent ``workspace_pack(ws)``)."""
    pack_id = workspace_pack(ws).id
    extent_data = map_extent_data(extent)
    return MapData(
        pack=pack_id, kind=kind, view="z" if ws.latent_dim(kind) == 2 else "pca", decodes=False, points=None,
        axis_titles=list(ws.projections[kind].axis_titles), extent=extent_data, equal_axes=True,
        view_key=f"{key}/{pack_id}/{kind}/{extent_data}", height=height, colours=list(CLASS_COLOURS),
        highlight=HIGHLIGHT_COLOUR, selected=None,
        location=None, region=None, posterior=False, background=False, eps=None, ack=0, probe=None,
        overlays=[overlay.to_data() for overlay in overlays], interactive=False, title=title,
        point_opacity=point_opacity)


def draw(data: MapData, key: str) -> None:
    components.latent_map(data, key=key)
