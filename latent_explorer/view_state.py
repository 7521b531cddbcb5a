"""What a link carries: the view as one value, read from a query string strictly and written back to one.

Every URL parameter of the app is read and written here (``ViewState.from_query``, ``ViewState.to_query``);
latent_explorer.session opens the model a link names and keeps the view in the session. A link is a stranger's
text: each value is checked against a strict pattern and a length before it is converted, and one that is not what
the app writes becomes a notice (its text escaped and shortened) and is left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from latent_explorer import events
from latent_explorer.contract import MAX_LASSO_VERTICES
from latent_explorer.text import plain
from vae_core.diagnostics import POINT_QUANTITIES
from vae_core.latent import MAX_SEED
from vae_core.workspace import Workspace

# The parameters, in the order a link writes them; the first names the model the others belong to.
PARAMETERS = ("model", "point", "at", "z", "seed", "region", "view", "colour")
BELONG_TO_THE_MODEL = ("point", "at", "z", "region", "view")

# Checked before anything is converted: str.isdigit accepts "²", and int() refuses more than 4,300 digits.
MAX_QUERY_CHARS = 2000
MAX_REGION_CHARS = 40 * MAX_LASSO_VERTICES  # a lasso's vertices at four decimals
WHOLE_NUMBER = re.compile(r"[0-9]{1,12}")
DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?")
MAP_VIEW_PATTERN = re.compile(r"(pca|tsne|active)(?::([1-9][0-9]{0,3}),([1-9][0-9]{0,3}))?")
# A decoded location (``at``) may lie anywhere on a zoomed-out map, but a decode far past every code shows nothing
# and can overflow the decoder.
LOCATION_LIMIT = 1000.0


@dataclass(frozen=True)
class MapView:
    """The Explore map's axes above latent size 2 as a link names them: PCA (the default), t-SNE, or two active
    dimensions (0-based; None: the two most active)."""
    name: str  # "pca", "tsne" or "active"
    dims: tuple[int, int] | None = None

    def text(self) -> str | None:
        """As a link writes it; None for PCA, the default, which a link leaves out."""
        if self.name == "pca":
            return None
        return self.name if self.dims is None else f"{self.name}:{self.dims[0] + 1},{self.dims[1] + 1}"


@dataclass(frozen=True)
class ViewState:
    model: str | None = None  # a shipped key or a store id; None for a pair no link can name
    point: int | None = None  # the inspected image (held-out first, then the training split)
    at: tuple[float, ...] | None = None  # the whole code decoded after a click on empty space
    z: tuple[float, ...] | None = None  # the editor's latent vector
    seed: int = 0  # the Sample page's seed
    region: events.Region | None = None  # the Explore map's box or lasso
    view: MapView | None = None
    colour: str | None = None  # a POINT_QUANTITIES key the map is coloured by; None: by class

    def to_query(self) -> dict[str, str]:
        """The query string that reopens this view: everything travels with the model it belongs to, so a view
        of a pair no link can name writes nothing."""
        if self.model is None:
            return {}
        values = {"model": self.model,
                  "point": None if self.point is None else str(self.point),
                  "at": None if self.point is not None or self.at is None else _numbers_text(self.at),
                  "z": None if self.z is None else _numbers_text(self.z),
                  "seed": str(self.seed) if self.seed else None,
                  "region": None if self.region is None else events.region_text(self.region),
                  "view": None if self.view is None else self.view.text(),
                  "colour": self.colour if self.colour in POINT_QUANTITIES else None}
        return {name: value for name, value in values.items() if value is not None}

    @classmethod
    def from_query(cls, query: Mapping[str, str], ws: Workspace, model: str | None) -> tuple[ViewState, list[str]]:
        """The view a link's values name for ``ws`` (the model it names, already opened), and a notice for each
        value that is left out. ``query`` holds the link's values by name; "model" among them is not read here."""
        notices: list[str] = []
        found: dict = {"model": model}
        point = query.get("point")
        if point is not None:
            if WHOLE_NUMBER.fullmatch(point) and int(point) < ws.total:
                found["point"] = int(point)
            else:
                notices.append(f"point {quoted(point)} does not exist in this dataset; no point selected")
        at = query.get("at")
        if at is not None:
            location = parse_numbers(at, ws.latent_dim(), limit=LOCATION_LIMIT)
            if location is None:
                notices.append(f"location {quoted(at)} is not {ws.latent_dim()} numbers within "
                               f"±{LOCATION_LIMIT:g}; nothing decoded")
            elif "point" in found:
                notices.append("the location it names is not decoded, as the point it names is inspected instead")
            else:
                found["at"] = tuple(location)
        z = query.get("z")
        if z is not None:
            values = parse_numbers(z, ws.latent_dim())
            if values is not None:
                found["z"] = tuple(values)
            else:
                notices.append(f"latent vector {quoted(z)} is not {ws.latent_dim()} numbers; starting from the "
                               "default")
        region = query.get("region")
        if region is not None:
            found["region"] = _parse_region(region)
            if found["region"] is None:
                notices.append(f"region {quoted(region)} is not a box or a lasso; nothing selected")
        view = query.get("view")
        if view is not None:
            linked = _parse_map_view(view, ws)
            if isinstance(linked, str):
                notices.append(f"view {quoted(view)} {linked}; showing the default map")
            else:
                found["view"] = linked
        seed = query.get("seed")
        if seed is not None:
            if WHOLE_NUMBER.fullmatch(seed) and int(seed) <= MAX_SEED:
                found["seed"] = int(seed)
            else:
                notices.append(f"seed {quoted(seed)} is not a whole number from 0 to {MAX_SEED:,}; using 0")
        colour = query.get("colour")
        if colour is not None:
            if colour in POINT_QUANTITIES and ws.vae is not None:
                found["colour"] = colour
            else:
                notices.append(f"colour {quoted(colour)} is not a quantity this map can be coloured by; "
                               "colouring by class")
        return cls(**found), notices


def quoted(value: str) -> str:
    """A link's value in a notice: escaped and shortened (a link is a stranger's text)."""
    return "'" + plain(value, limit=40) + "'"


def _numbers_text(values) -> str:
    return ",".join(f"{v:.3f}" for v in values)


def parse_numbers(text: str, count: int, limit: float = math.inf) -> list[float] | None:
    """Exactly ``count`` plain decimal numbers within ±limit, separated by commas (no "nan", "inf", "1_0" or
    other digits)."""
    parts = text.split(",") if len(text) <= MAX_QUERY_CHARS else []
    if len(parts) != count or not all(DECIMAL.fullmatch(part) for part in parts):
        return None
    values = [float(part) for part in parts]
    return values if all(math.isfinite(v) and abs(v) <= limit for v in values) else None


def _parse_region(text: str) -> events.Region | None:
    """A link's box or lasso (``box:x0,y0;x1,y1``): plain decimal numbers only, at most a lasso's vertices long."""
    _, _, vertices = text.partition(":")
    if len(text) > MAX_REGION_CHARS or not all(DECIMAL.fullmatch(number) for vertex in vertices.split(";")
                                               for number in vertex.split(",")):
        return None
    return events.region_from_text(text)


def _parse_map_view(text: str, ws: Workspace) -> MapView | str:
    """A link's map view, or what is wrong with it."""
    match = MAP_VIEW_PATTERN.fullmatch(text)
    if match is None:
        return "is not pca, tsne or active:i,j"
    view, first, second = match.groups()
    if ws.latent_dim() <= 2:
        return f"is for latent sizes above 2, and this model's is {ws.latent_dim()}"
    if view != "active":
        return "is not pca, tsne or active:i,j" if first else MapView(view)
    if ws.vae is None:
        return "needs a VAE, and this pair holds none"
    if first is None:
        return MapView(view)
    dims = (int(first) - 1, int(second) - 1)
    offered, _ = ws.axis_dimensions()
    if dims[0] == dims[1] or not set(dims) <= set(offered):
        names = ", ".join(str(d + 1) for d in sorted(offered))
        return f"does not name two different dimensions among the ones the map offers ({names})"
    return MapView(view, dims)
