"""Turning decoded arrays into crisp pictures: nearest-neighbour upscaling, mosaics, PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of a 2-d image: every pixel becomes a factor x factor block."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def tile(images: np.ndarray, columns: int, padding: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """(N, H, W) images into one mosaic, row by row, with padding lines between them."""
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    mosaic = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding), pad_value,
                     dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        mosaic[top:top + h, left:left + w] = image
    return mosaic


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A [0, 1] grey image as PNG bytes, upscaled by nearest neighbour."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(upscale(image, scale) if scale > 1 else image)).save(buffer, format="PNG")
    return buffer.getvalue()


def display_scale(image_side: int, target_pixels: int) -> int:
    """Integer upscale factor that brings an image side near target_pixels (at least 1)."""
    return max(1, round(target_pixels / image_side))


def framed_mosaic_png(images: np.ndarray, columns: int, scale: int, framed: np.ndarray,
                      colour: tuple[int, int, int] = (214, 39, 40)) -> bytes:
    """``tile(images, columns)`` as RGB PNG bytes, upscaled, with a frame of ``colour`` in the padding around each
    image where ``framed`` (bool, (N,)) is set."""
    mosaic = tile(images, columns)
    rgb = np.repeat(to_uint8(upscale(mosaic, scale) if scale > 1 else mosaic)[..., None], 3, axis=2)
    _, h, w = images.shape
    columns = max(1, min(columns, len(images)))
    for i in np.flatnonzero(framed):
        r, c = divmod(int(i), columns)
        # The cell with its one-pixel padding ring, in upscaled pixels.
        top, left = r * (h + 1) * scale, c * (w + 1) * scale
        bottom, right = top + (h + 2) * scale, left + (w + 2) * scale
        ring = np.ones((bottom - top, right - left), dtype=bool)
        ring[scale:-scale, scale:-scale] = False
        rgb[top:bottom, left:right][ring] = colour
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
