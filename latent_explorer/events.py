"""What the browser components send, checked before a page acts on it.

A component's trigger value is whatever the page's JavaScript sent, and on a hosted demo that page
is in a stranger's hands: each reader returns the event's dataclass (latent_explorer/contract.py) when the
payload is well formed, else None; none raises.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import numpy as np

from .contract import (
    MAX_IMAGE_MARKS,
    MAX_LASSO_VERTICES,
    DrawingEvent,
    LocationEvent,
    PointEvent,
    RegionData,
    ThumbnailsEvent,
    WebglEvent,
    ZEvent,
)


@dataclass(frozen=True)
class Region:
    shape: str  # "box" (two opposite corners) or "lasso" (a polygon)
    vertices: np.ndarray  # (k, 2)

    def to_data(self) -> RegionData:
        return RegionData(self.shape, self.vertices.tolist())


def _field(payload, name: str):
    return payload.get(name) if isinstance(payload, dict) else None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value, count: int) -> bool:
    """A whole number in [0, count)."""
    return _number(value) and float(value).is_integer() and 0 <= value < count


def sequence(payload) -> int:
    """The event's sequence number (0 when missing), echoed back to the component as ``ack``."""
    value = _field(payload, "seq")
    return int(value) if _number(value) else 0


def point(payload, count: int) -> PointEvent | None:
    """An image of ``count`` to inspect."""
    value = _field(payload, "index")
    return PointEvent(int(value), sequence(payload)) if _whole(value, count) else None


def thumbnails(payload, count: int) -> ThumbnailsEvent | None:
    """The map's visible points whose original images it wants: 1 to MAX_IMAGE_MARKS whole numbers in [0, count),
    repeats dropped, in the order sent; None for anything else (the whole request is then ignored)."""
    raw = _field(payload, "indices")
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_IMAGE_MARKS or not all(_whole(v, count) for v in raw):
        return None
    request = _field(payload, "request")
    return ThumbnailsEvent(list(dict.fromkeys(int(v) for v in raw)), int(request) if _number(request) else 0)


def webgl(payload) -> WebglEvent | None:
    """The map's report on WebGL: ``{available: false}`` is the only one it sends."""
    available = _field(payload, "available")
    return WebglEvent(available) if isinstance(available, bool) else None


def vector(values, dim: int, limit: float = 1e6) -> np.ndarray | None:
    """A list of `dim` finite numbers (within ±limit), as floats."""
    if not isinstance(values, (list, tuple)) or len(values) != dim:
        return None
    if not all(_number(v) and abs(v) <= limit for v in values):
        return None
    return np.array(values, dtype=float)


def location(payload) -> LocationEvent | None:
    """A click on empty space of the map."""
    xy = vector([_field(payload, "x"), _field(payload, "y")], 2)
    return None if xy is None else LocationEvent(float(xy[0]), float(xy[1]), sequence(payload))


def editor_z(payload, dim: int, limit: float) -> ZEvent | None:
    """The editor let go at z: ``dim`` numbers within ±limit."""
    z = vector(_field(payload, "z"), dim, limit)
    return None if z is None else ZEvent(z.tolist(), sequence(payload))


def drawing(payload, pixels: int) -> DrawingEvent | None:
    """A stroke finished on the pad: exactly ``pixels`` grey bytes in base64."""
    text = _field(payload, "pixels")
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return DrawingEvent(text, sequence(payload)) if len(raw) == pixels else None


def region(payload) -> Region | None:
    """A box or lasso; None for anything else (including a cleared selection)."""
    shape, raw = _field(payload, "shape"), _field(payload, "vertices")
    if shape not in ("box", "lasso") or not isinstance(raw, list) or len(raw) > MAX_LASSO_VERTICES:
        return None
    points = [vector(v, 2) for v in raw]
    if any(p is None for p in points):
        return None
    return Region(shape, np.array(points)) if len(points) >= (2 if shape == "box" else 3) else None


def region_text(region: Region) -> str:
    """A region for a link: ``box:x0,y0;x1,y1`` (a lasso: its vertices likewise), four decimals."""
    return region.shape + ":" + ";".join(f"{x:.4f},{y:.4f}" for x, y in region.vertices)


def region_from_text(text: str) -> Region | None:
    """The region of a link (``region_text``), or None when the text is not one."""
    shape, _, rest = text.partition(":")
    vertices = []
    for pair in rest.split(";"):
        try:
            vertices.append([float(v) for v in pair.split(",")])
        except ValueError:
            return None
    return region({"shape": shape, "vertices": vertices})
