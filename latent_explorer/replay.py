"""The training replay's frames as a binary pack for the map (latent_explorer/web/map_replay.js).

Each frame is the held-out points' map coordinates after one epoch, quantised to uint16 over the extent of
every frame (a step of 1/65535 of it, finer than a screen pixel at any zoom the map offers, and half the bytes
of float32). The pack is built once per workspace and model, and sent only when a visitor opens the replay.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from vae_core.workspace import Workspace

from .figures import map_extent
from .pack import Pack, encode_pack

LEVELS = 65535

_packs: weakref.WeakKeyDictionary[Workspace, dict[str, Pack]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _build(ws: Workspace, kind: str) -> Pack:
    frames = ws.replay_points(kind)
    low = frames.min(axis=(0, 1)).astype(np.float64)
    span = np.maximum(frames.max(axis=(0, 1)) - low, 1e-12)
    steps = np.rint((frames - low) / span * LEVELS).astype(np.uint16)
    meta = {"type": "replay", "kind": kind, "epochs": ws.replay_epochs(kind).tolist(),
            "low": low.tolist(), "step": (span / LEVELS).tolist()}
    return encode_pack(meta, {"frames": steps})


def replay_pack(ws: Workspace, kind: str) -> Pack:
    """The frames of one model's replay (ValueError if it has none), built once per workspace and model."""
    with _lock:
        built = _packs.setdefault(ws, {}).get(kind)
    if built is None:
        built = _build(ws, kind)
        with _lock:
            built = _packs[ws].setdefault(kind, built)
    return built


def replay_extent(ws: Workspace, kind: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges that hold every point of every frame, so the axes stay still while the points move."""
    return map_extent(ws.replay_points(kind).reshape(-1, 2))
