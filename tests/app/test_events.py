"""latent_explorer.events: what a browser component sends is read strictly; anything malformed is ignored."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest

from latent_explorer import events
from latent_explorer.contract import (
    MAX_LASSO_VERTICES,
    DrawingEvent,
    LocationEvent,
    PointEvent,
    RegionData,
    ZEvent,
)


def test_sequence_numbers():
    assert events.sequence({"seq": 1764000000123}) == 1764000000123
    for payload in ({}, None, {"seq": "7"}, {"seq": math.nan}, [1]):
        assert events.sequence(payload) == 0


@pytest.mark.parametrize("payload, expected", [
    ({"index": 0}, 0), ({"index": 359}, 359), ({"index": 12.0}, 12),
    ({"index": 360}, None), ({"index": -1}, None), ({"index": 1.5}, None), ({"index": "3"}, None),
    ({"index": True}, None), ({"index": math.inf}, None), ({}, None), (None, None), ("3", None),
])
def test_point_index_within_the_map(payload, expected):
    event = events.point({**payload, "seq": 5} if isinstance(payload, dict) else payload, 360)
    assert event == (None if expected is None else PointEvent(expected, 5))


def test_vectors_and_locations():
    np.testing.assert_array_equal(events.vector([1, -2.5], 2), [1.0, -2.5])
    for bad in ([1], [1, 2, 3], [1, "2"], [1, math.nan], [True, 1], "12", None, [1, 5.0]):
        assert events.vector(bad, 2, limit=4) is None
    assert events.location({"x": 0.5, "y": -1, "seq": 3}) == LocationEvent(0.5, -1.0, 3)
    assert events.location({"x": 0.5}) is None and events.location([0.5, 1]) is None


def test_the_editors_events_keep_to_its_limit_and_size():
    assert events.editor_z({"z": [1, -2, 0.5], "seq": 7}, 3, 4.0) == ZEvent([1.0, -2.0, 0.5], 7)
    for bad in ({"z": [1, -2]}, {"z": [1, -2, 4.5]}, {"z": "1,2,3"}, {}, None):
        assert events.editor_z(bad, 3, 4.0) is None


def test_a_drawing_is_exactly_the_pads_bytes_in_base64():
    pixels = base64.b64encode(bytes(range(16))).decode("ascii")
    assert events.drawing({"pixels": pixels, "seq": 2}, 16) == DrawingEvent(pixels, 2)
    for bad in ({"pixels": pixels}, {"pixels": "not base64!"}, {"pixels": 16}, {}, None):
        assert events.drawing(bad, 15 if bad == {"pixels": pixels} else 16) is None


def test_regions():
    box = events.region({"shape": "box", "vertices": [[0, 0], [1, 2]], "seq": 9})
    assert box.shape == "box" and box.vertices.shape == (2, 2)
    assert box.to_data() == RegionData("box", [[0.0, 0.0], [1.0, 2.0]])
    lasso = events.region({"shape": "lasso", "vertices": [[0, 0], [1, 0], [0, 1]]})
    assert lasso.shape == "lasso" and len(lasso.vertices) == 3
    for bad in ({"shape": None, "vertices": []},  # a cleared selection
                {"shape": "circle", "vertices": [[0, 0], [1, 1]]},
                {"shape": "lasso", "vertices": [[0, 0], [1, 1]]},
                {"shape": "box", "vertices": [[0, 0]]},
                {"shape": "box", "vertices": [[0, 0], [1, "x"]]},
                {"shape": "lasso", "vertices": [[0, 0]] * (MAX_LASSO_VERTICES + 1)},
                {"shape": "box"}, None):
        assert events.region(bad) is None
