"""The original images of the map's visible points, in one binary message per view: the image marks.

Zoomed in until at most ``contract.MAX_IMAGE_MARKS`` points are visible, the map asks for the images it does not
hold yet (latent_explorer/events.py ``thumbnail_request``) and the server answers with their raw grey
bytes: no PNG to decode and no JSON numbers to parse, so the browser paints them in the task they arrive in.

Layout (little-endian): ``b"LXT1"``, uint32 count, uint16 height, uint16 width, the 20 ASCII bytes of the
pack id the indices refer to, ``count`` uint32 indices, then ``count * height * width`` uint8 pixels,
image after image, row after row (0 black, 255 white).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from vae_core.images import to_uint8
from vae_core.workspace import Workspace

MAGIC = b"LXT1"
PACK_ID_BYTES = 20  # latent_explorer/pack.py's ids: the first 20 hex digits of a SHA-256
HEADER = struct.Struct(f"<4sIHH{PACK_ID_BYTES}s")


@dataclass(frozen=True)
class Thumbnails:
    pack: str
    indices: np.ndarray  # (count,) int
    pixels: np.ndarray  # (count, height, width) uint8


def encode_thumbnails(pack_id: str, indices: np.ndarray, pixels: np.ndarray) -> bytes:
    """One message: the grey uint8 images ``pixels`` (count, height, width) of ``indices``."""
    indices = np.asarray(indices, dtype="<u4")
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or len(pixels) != len(indices):
        raise ValueError(f"{len(indices)} indices need {len(indices)} images of (height, width), got {pixels.shape}")
    name = pack_id.encode("ascii")
    if len(name) != PACK_ID_BYTES:
        raise ValueError(f"a pack id has {PACK_ID_BYTES} characters, not {len(name)}")
    count, height, width = pixels.shape
    return HEADER.pack(MAGIC, count, height, width, name) + indices.tobytes() + pixels.tobytes()


def decode_thumbnails(message: bytes) -> Thumbnails:
    """The browser's reading of a message, in Python (for tests and tools)."""
    magic, count, height, width, name = HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError("not a thumbnails message")
    start = HEADER.size
    indices = np.frombuffer(message, "<u4", count, start).astype(np.int64)
    pixels = np.frombuffer(message, np.uint8, count * height * width, start + 4 * count)
    return Thumbnails(name.decode("ascii"), indices, pixels.reshape(count, height, width))


def thumbnails_message(ws: Workspace, pack_id: str, indices: np.ndarray) -> bytes:
    """The original images of held-out or training ``indices`` (grey: colour images averaged over channels)."""
    pictures = ws.image_tensors(np.asarray(indices, dtype=np.int64)).mean(1).numpy()
    return encode_thumbnails(pack_id, indices, to_uint8(pictures))
