"""Nearest-neighbour upscaling, mosaics and PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vae_core.images import display_scale, png_bytes, tile, to_uint8, upscale


def test_upscale_turns_each_pixel_into_a_block():
    image = np.arange(6, dtype=float).reshape(2, 3) / 5
    big = upscale(image, 4)
    assert big.shape == (8, 12)
    for r in range(2):
        for c in range(3):
            assert (big[4 * r:4 * r + 4, 4 * c:4 * c + 4] == image[r, c]).all()
    assert np.array_equal(upscale(image, 1), image)


def test_tile_lays_images_out_row_by_row_with_padding():
    images = np.stack([np.full((2, 3), i / 10) for i in range(5)])
    mosaic = tile(images, columns=2, padding=1, pad_value=1.0)
    assert mosaic.shape == (3 * (2 + 1) + 1, 2 * (3 + 1) + 1)
    for i in range(5):
        r, c = divmod(i, 2)
        top, left = 1 + r * 3, 1 + c * 4
        np.testing.assert_allclose(mosaic[top:top + 2, left:left + 3], i / 10)
    # Padding lines and the unused sixth cell hold the pad value.
    assert (mosaic[0] == 1.0).all() and (mosaic[:, 0] == 1.0).all() and (mosaic[3] == 1.0).all()
    assert (mosaic[7:9, 5:8] == 1.0).all()
    assert mosaic.dtype == np.float32


def test_tile_with_more_columns_than_images_and_no_padding():
    images = np.random.default_rng(0).random((3, 4, 4))
    mosaic = tile(images, columns=10, padding=0)
    assert mosaic.shape == (4, 12)
    np.testing.assert_allclose(mosaic, np.hstack(list(images)), rtol=1e-6)
    assert tile(images, columns=0, padding=0).shape == (12, 4)  # at least one column


def test_to_uint8_rounds_and_clips():
    assert to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0])).tolist() == [0, 0, 128, 255, 255]


@pytest.mark.parametrize("scale", [1, 3])
def test_png_bytes_decode_to_the_right_picture(scale):
    image = np.random.default_rng(1).random((8, 5))
    data = png_bytes(image, scale=scale)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == (5 * scale, 8 * scale)  # (width, height)
    assert decoded.mode == "L"
    pixels = np.asarray(decoded)
    assert np.array_equal(pixels, to_uint8(upscale(image, scale)))


def test_display_scale():
    assert display_scale(28, 280) == 10
    assert display_scale(8, 100) == 12
    assert display_scale(28, 5) == 1
