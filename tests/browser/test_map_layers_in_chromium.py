"""The map's layers in a real browser: the shipped Fashion-MNIST VAE's aggregate posterior shaded under the
points, the prior's circles and the holes outlined, and a click on a point still inspects it; two of a larger
VAE's active dimensions as the axes, a spot decoded with the others at their held-out mean."""

from __future__ import annotations

import re

import numpy as np
import pytest

from devtools.browser import (
    MAP_JS,
    alert,
    click_at,
    empty_spot,
    flip_switch,
    isolated_data_points,
    open_explore,
    open_train,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from latent_explorer.session import shipped_workspace
from vae_core import ModelConfig, ModelPair, TrainConfig, is_available, load_dataset, new_model, train_model
from vae_core.checkpoint import checkpoint_bytes
from vae_core.latent import dimension_name
from vae_core.workspace import Workspace

pytestmark = pytest.mark.browser

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


@pytest.mark.skipif(not is_available("fashion-mnist"),
                    reason="needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")
def test_the_density_layer_and_its_holes_are_drawn_and_a_click_still_inspects(visitor, assert_no_exceptions):
    page = open_explore(visitor, "/?model=fashion-mnist")
    assert not page.evaluate(LAYERS_JS)["density"]
    flip_switch(page, "Layers", "Density and holes")
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

    flip_switch(page, "Layers", "Density and holes")
    gone = wait_for_layers(page, False)
    assert not gone["density"] and not gone["circles"]


@pytest.fixture(scope="module")
def latent5_checkpoint() -> tuple[bytes, Workspace]:
    """A digits VAE of latent size 5 that uses every dimension (twenty epochs), as checkpoint bytes, and its
    workspace as the server will make it."""
    dataset = load_dataset("digits")
    pair = ModelPair(dataset="digits")
    model = new_model(ModelConfig(kind="vae", input_shape=(1, 8, 8), hidden_dim=64, latent_dim=5), seed=0)
    pair.vae = train_model(model, dataset, TrainConfig(epochs=20, seed=0)).model
    return checkpoint_bytes(pair), Workspace(pair, dataset, label="latent 5")


def test_active_dimensions_are_the_axes_and_a_spot_decodes_with_the_rest_at_their_mean(
        visitor, assert_no_exceptions, latent5_checkpoint):
    data, ws = latent5_checkpoint
    page = open_train(visitor)
    page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload checkpoint") \
        .locator('input[type="file"]').set_input_files(
            files=[{"name": "latent5.pt", "mimeType": "application/octet-stream", "buffer": data}])
    wait_for_app(page, alert(page, "Loaded latent5.pt"))
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(r"Explore$")).click()
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    page.get_by_text("Active dimensions", exact=True).click()
    wait_for_app(page, page.get_by_text(re.compile(r"other 3 dimensions at their held-out mean")))
    page.wait_for_function(f"() => {MAP_JS}.data.view === 'active' && {MAP_JS}.host.dataset.ready === '1'",
                           timeout=90_000)
    first, second = ws.axis_dimensions()[0][:2]
    titles = page.evaluate(f"() => {MAP_JS}.data.axis_titles")
    assert titles[0].startswith(dimension_name(first) + " (KL ") and titles[1].startswith(dimension_name(second))
    # The points sit at their codes' two coordinates.
    drawn = page.evaluate(f"() => ({{x: Array.from({MAP_JS}.x), y: Array.from({MAP_JS}.y)}})")
    mu = ws.encodings["vae"].mu
    np.testing.assert_allclose(drawn["x"], mu[:, first], atol=1e-5)
    np.testing.assert_allclose(drawn["y"], mu[:, second], atol=1e-5)

    # Hovering empty space decodes the whole code there, the other dimensions at their held-out mean.
    spot = empty_spot(page)
    page.mouse.move(spot["px"], spot["py"], steps=3)
    page.wait_for_function(f"() => /the rest at their held-out mean/.test({MAP_JS}.lensCaption.textContent)",
                           timeout=30_000)
    z = np.array(page.evaluate(f"([x, y]) => {MAP_JS}.latentAt([x, y])", [spot["x"], spot["y"]]))
    expected = mu.mean(0)
    expected[[first, second]] = spot["x"], spot["y"]
    np.testing.assert_allclose(z, expected, atol=1e-5)

    # A click there: the card decodes it and names it by its axes; the link keeps the view.
    click_at(page, spot["px"], spot["py"])
    wait_for_card(page, "location")
    heading = page.get_by_role("heading", name=re.compile(rf"^Decoded at {dimension_name(first)} = "))
    wait_for_app(page, heading)
    assert "the rest at their held-out mean" in heading.inner_text()
    page.wait_for_function("(v) => new URL(location.href).searchParams.get('view') === v",
                           arg=f"active:{first + 1},{second + 1}", timeout=30_000)
