"""Small archives of images for the tests of "your own images": class folders a tiny model can tell apart."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def shapes_zip(per_class: int = 6, side: int = 20, seed: int = 0, wrapper: str = "shapes/") -> bytes:
    """A .zip of two class folders, 'bright' and 'dark': a square of that brightness on dim noise."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, level in (("bright", 220), ("dark", 40)):
            for i in range(per_class):
                pixels = rng.integers(0, 60, (side, side), dtype=np.uint8)
                pixels[side // 4: 3 * side // 4, side // 4: 3 * side // 4] = level
                # A fixed date: the same arguments give the same bytes (and sha256), whenever they are called.
                entry = zipfile.ZipInfo(f"{wrapper}{name}/{i}.png", date_time=(2020, 1, 1, 0, 0, 0))
                archive.writestr(entry, png_bytes(pixels))
    return buffer.getvalue()
