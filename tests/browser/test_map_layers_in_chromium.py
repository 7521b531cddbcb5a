"""The density layer in a real browser: the shipped Fashion-MNIST VAE's aggregate posterior shaded under the
points, the prior's circles and the holes outlined, and a click on a point still inspects it."""

from __future__ import annotations

import re

import pytest

from devtools.browser import (
    MAP_JS,
    click_at,
    isolated_data_points,
    open_explore,
    wait_for_app,
    wait_for_card,
)
from latent_explorer.session import shipped_workspace
from vae_core import is_available

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not is_available("fashion-mnist"),
                                 reason="needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")]

# What Plotly holds and what it drew: the layers' layout entries, and the SVG elements under the points
# (Plotly draws a subplot's 'below' images and shapes in its layer-subplot, under the traces).
LAYERS_JS = f"""() => {{ const m = {MAP_JS}, gd = m.overlay;
    const named = (items, name) => (items || []).filter((item) => item.name === name);
    const box = (element) => {{ const r = element.getBoundingClientRect(); return [r.width, r.height]; }};
    return {{
      density: named(gd.layout.images, 'density'),
      circles: (gd.layout.shapes || []).filter((s) => /^prior /.test(s.name || '')),
      holes: named(gd.layout.shapes, 'holes'),
      drawnImages: Array.from(gd.querySelectorAll('.layer-subplot .imagelayer image')).map(box),
      drawnShapes: Array.from(gd.querySelectorAll('.layer-subplot .shapelayer path')).map(box),
      visible: m.visibleExtent(), selected: m.selected,
    }}; }}"""


def wait_for_layers(page, present: bool) -> dict:
    page.wait_for_function(f"() => ({LAYERS_JS})().holes.length === {1 if present else 0}", timeout=90_000)
    return page.evaluate(LAYERS_JS)


def test_the_density_layer_and_its_holes_are_drawn_and_a_click_still_inspects(visitor, assert_no_exceptions):
    page = open_explore(visitor, "/?model=fashion-mnist")
    assert not page.evaluate(LAYERS_JS)["density"]
    page.get_by_text("Density and holes", exact=True).click()
    wait_for_app(page, page.get_by_text(re.compile(r"prior_hole_fraction = 0\.\d{3}")))
    layers = wait_for_layers(page, True)

    (density,) = layers["density"]
    assert density["layer"] == "below" and density["source"].startswith("data:image/png;base64,")
    (x0, x1), (y0, y1) = layers["visible"]
    # The picture covers the whole view (and more: zooming out a little stays shaded).
    assert density["x"] < x0 and density["x"] + density["sizex"] > x1
    assert density["y"] > y1 and density["y"] - density["sizey"] < y0
    assert sorted((c["x1"], c["layer"]) for c in layers["circles"]) == [(1, "below"), (2, "below")]
    (holes,) = layers["holes"]
    assert holes["layer"] == "below" and holes["path"].count("M") > 10
    # Drawn: a picture and three outlines (two circles, the holes) with a size on the page.
    assert any(w > 100 and h > 100 for w, h in layers["drawnImages"])
    assert sum(w > 10 and h > 10 for w, h in layers["drawnShapes"]) >= 3
    ws = shipped_workspace("fashion-mnist")
    caption = page.get_by_text(re.compile(r"prior_hole_fraction")).inner_text()
    assert f"prior_hole_fraction = {ws.prior_hole_fraction():.3f}" in caption
    visitor.screenshot("density-and-holes")

    # A point under the shading is clicked and inspected as ever; the layers stay under the marks.
    point = isolated_data_points(page, 1)[0]
    click_at(page, point["px"], point["py"])
    wait_for_card(page, point["custom"])
    assert page.get_by_role("heading", name=f"Image #{point['custom']} · {point['name']}", exact=True).is_visible()
    after = wait_for_layers(page, True)
    assert after["selected"] == point["custom"] and len(after["density"]) == 1 and len(after["circles"]) == 2

    page.get_by_text("Density and holes", exact=True).click()
    gone = wait_for_layers(page, False)
    assert not gone["density"] and not gone["circles"]
