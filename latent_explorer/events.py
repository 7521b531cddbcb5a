"""What the browser components send, checked before a page acts on it.

A component's trigger value is whatever the page's JavaScript sent, and on a hosted demo that page
is in a stranger's hands: each reader returns a well-formed value or None, never raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_LASSO_VERTICES = 2000
MAX_IMAGE_MARKS = 400  # latent_explorer/thumbnails.py: the most images one view of the map shows as marks


@dataclass(frozen=True)
class Region:
    shape: str  # "box" (two opposite corners) or "lasso" (a polygon)
    vertices: np.ndarray  # (k, 2)

    def to_data(self) -> dict:
        return {"shape": self.shape, "vertices": self.vertices.tolist()}


def sequence(payload) -> int:
    """The event's sequence number (0 when missing), echoed back to the component as ``ack``."""
    value = payload.get("seq") if isinstance(payload, dict) else None
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0


def index(payload, count: int) -> int | None:
    value = payload.get("index") if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() and 0 <= value < count else None


def thumbnail_request(payload, count: int) -> np.ndarray | None:
    """The map's visible points whose original images it wants: 1 to MAX_IMAGE_MARKS distinct whole numbers
    in [0, count), in the order sent; None for anything else (the whole request is then ignored)."""
    raw = payload.get("indices") if isinstance(payload, dict) else None
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_IMAGE_MARKS:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               and float(v).is_integer() and 0 <= v < count for v in raw):
        return None
    return np.array(list(dict.fromkeys(int(v) for v in raw)), dtype=np.int64)


def webgl_missing(payload) -> bool:
    """True only for the map's report that this browser cannot draw WebGL: ``{available: false}``."""
    return isinstance(payload, dict) and payload.get("available") is False


def vector(values, dim: int, limit: float = 1e6) -> np.ndarray | None:
    """A list of `dim` finite numbers (within ±limit), as floats."""
    if not isinstance(values, (list, tuple)) or len(values) != dim:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= limit
               for v in values):
        return None
    return np.array(values, dtype=float)


def location(payload) -> np.ndarray | None:
    if not isinstance(payload, dict):
        return None
    return vector([payload.get("x"), payload.get("y")], 2)


def region(payload) -> Region | None:
    """A box or lasso; None for anything else (including a cleared selection)."""
    if not isinstance(payload, dict) or payload.get("shape") not in ("box", "lasso"):
        return None
    raw = payload.get("vertices")
    if not isinstance(raw, list) or len(raw) > MAX_LASSO_VERTICES:
        return None
    points = [vector(v, 2) for v in raw]
    if any(p is None for p in points):
        return None
    needed = 2 if payload["shape"] == "box" else 3
    return Region(payload["shape"], np.array(points)) if len(points) >= needed else None


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
