"""The image marks' binary message (latent_explorer/thumbnails.py) and the map's request for it
(latent_explorer/events.py): raw grey bytes of exactly the images asked for; any malformed request is ignored."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from latent_explorer import events
from latent_explorer.contract import MAX_IMAGE_MARKS, ThumbnailsEvent, WebglEvent
from latent_explorer.session import shipped_workspace
from latent_explorer.thumbnails import decode_thumbnails, encode_thumbnails, thumbnails_message
from vae_core.images import to_uint8

PACK_ID = "0123456789abcdef0123"


def test_the_message_is_a_fixed_header_the_indices_then_the_raw_pixels():
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    message = encode_thumbnails(PACK_ID, np.array([7, 70_000]), pixels)
    # Read by hand, as the browser's lxReceiveThumbnails does, not through decode_thumbnails.
    assert message[:4] == b"LXT1"
    assert struct.unpack_from("<IHH", message, 4) == (2, 3, 4)
    assert message[12:32] == PACK_ID.encode()
    assert struct.unpack_from("<2I", message, 32) == (7, 70_000)
    assert message[40:] == bytes(range(24))
    assert len(message) == 32 + 2 * 4 + 2 * 3 * 4


def test_a_message_decodes_to_what_was_encoded():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    decoded = decode_thumbnails(encode_thumbnails(PACK_ID, np.array([4, 0, 9, 3, 1]), pixels))
    assert decoded.pack == PACK_ID
    assert decoded.indices.tolist() == [4, 0, 9, 3, 1]
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_the_images_are_the_workspaces_originals_in_the_order_asked():
    ws = shipped_workspace("digits")
    indices = np.array([12, 0, len(ws) + 5])  # the last one a training image
    decoded = decode_thumbnails(thumbnails_message(ws, PACK_ID, indices))
    assert decoded.indices.tolist() == indices.tolist()
    for index, picture in zip(indices, decoded.pixels):
        np.testing.assert_array_equal(picture, to_uint8(ws.image(int(index))))
    assert decoded.pixels.shape[1:] == (ws.image_side, ws.image_side)


def test_malformed_messages_are_refused():
    with pytest.raises(ValueError):
        encode_thumbnails(PACK_ID, np.array([1, 2]), np.zeros((1, 3, 3), np.uint8))
    with pytest.raises(ValueError):
        encode_thumbnails("short", np.array([1]), np.zeros((1, 3, 3), np.uint8))
    with pytest.raises(ValueError):
        decode_thumbnails(b"LXP1" + bytes(40))


def test_a_request_within_bounds_is_read_in_order_without_repeats():
    assert events.thumbnails({"indices": [5, 0, 359, 5.0]}, 360) == ThumbnailsEvent([5, 0, 359], 0)
    every = list(range(MAX_IMAGE_MARKS))
    assert events.thumbnails({"indices": every, "request": 3}, 360 + 400) == ThumbnailsEvent(every, 3)


@pytest.mark.parametrize("payload", [
    {"indices": []},
    {"indices": list(range(MAX_IMAGE_MARKS + 1))},
    {"indices": [360]}, {"indices": [-1]}, {"indices": [1.5]}, {"indices": ["3"]}, {"indices": [True]},
    {"indices": [math.nan]}, {"indices": [math.inf]}, {"indices": [[1]]}, {"indices": [1, None]},
    {"indices": "1,2"}, {"indices": {"0": 1}}, {}, None, [1, 2], "indices",
])
def test_any_other_request_is_ignored_whole(payload):
    assert events.thumbnails(payload, 360) is None


def test_only_a_plain_no_is_a_browser_without_webgl():
    assert events.webgl({"available": False}) == WebglEvent(False)
    for payload in ({"available": 0}, {"available": "false"}, {}, None, False):
        assert events.webgl(payload) is None
