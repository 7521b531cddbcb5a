"""The whole Fashion-MNIST dataset on the map (70,000 images, the training split told apart), and a person's own
picture, uploaded or drawn, encoded and placed on the map, in real Chromium."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from devtools.browser import (
    MAP_JS,
    click_at,
    flip_switch,
    map_count,
    map_legend,
    map_points,
    map_state,
    map_to_page,
    map_tool,
    open_explore,
    script_runs_started,
    wait_for_app,
    wait_for_card,
    wait_for_map,
    wait_for_region,
)
from latent_explorer.session import shipped_workspace
from vae_core import is_available
from vae_core.image_sources import like_the_dataset, read_image
from vae_core.latent import points_in_region

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not is_available("fashion-mnist"),
                                 reason="needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")]




def test_all_70000_images_can_be_explored(visitor, new_visitor, assert_no_exceptions):
    page = open_explore(visitor, "/?model=fashion-mnist")
    flip_switch(page, "Layers", "Training images too")
    wait_for_app(page, lambda: map_count(page) == 70_000, timeout_s=180)
    wait_for_map(page)
    wait_for_app(page, lambda: map_legend(page, "legend2") == ["held-out 10,000", "training 60,000"])
    ws = shipped_workspace("fashion-mnist")
    drawn = page.evaluate(f"() => {{ const m = {MAP_JS}; return [Array.from(m.x.slice(10000, 10005)),"
                          f" Array.from(m.y.slice(10000, 10005))]; }}")
    np.testing.assert_allclose(np.array(drawn).T, ws.codes("vae", every_image=True).mu[10000:10005], atol=1e-6)

    # A training image, clicked: the card says where it comes from; its neighbours come from all 70,000.
    points = map_points(page)["points"]
    training = [p for p in points if p["custom"] >= 10_000]
    target = training[len(training) // 3]
    click_at(page, target["px"], target["py"])
    wait_for_card(page, map_state(page)["selected"])
    index = map_state(page)["selected"]
    assert index is not None and page.get_by_text("From the training split").is_visible()
    wait_for_app(page, lambda: f"point={index}" in page.url)
    neighbours = [int(re.match(r"#(\d+) ·", c).group(1))
                  for c in page.locator(".st-key-inspect_card figcaption").filter(has_text="#").all_inner_texts()]
    assert neighbours == ws.neighbours(index, k=8, every_image=True)[0].tolist()
    visitor.screenshot("every-image")

    # Hovering decodes in the browser even over 70,000 points, without a run.
    runs = script_runs_started(page)
    area = map_points(page)["area"]
    for k in range(5):
        page.mouse.move(area["left"] + (0.2 + 0.12 * k) * (area["right"] - area["left"]),
                        area["top"] + 0.5 * (area["bottom"] - area["top"]), steps=3)
    page.wait_for_timeout(200)
    assert map_state(page)["lens"].startswith("z = (") and script_runs_started(page) == runs

    # A box over all 70,000: the server decides which images it takes (Plotly's own selection shows until its
    # reply, which can differ by a point on the box's edge), and the map then shows those.
    map_tool(page, "Box").click()
    width, height = area["right"] - area["left"], area["bottom"] - area["top"]
    page.mouse.move(area["left"] + 0.45 * width, area["top"] + 0.45 * height)
    page.mouse.down()
    page.mouse.move(area["left"] + 0.55 * width, area["top"] + 0.6 * height, steps=6)
    page.mouse.up()
    region = wait_for_region(page, "box")["region"]
    all_points = ws.projections["vae"](ws.codes("vae", every_image=True).mu)
    expected = len(points_in_region(all_points, "box", np.array(region["vertices"])))
    assert expected > 0
    wait_for_app(page, lambda: map_state(page)["members"] == expected)
    wait_for_app(page, page.get_by_role("heading", name=f"Selection: {expected:,} images"))

    # A link to a training image reopens the map with every image on it.
    other = new_visitor()
    shared = other.open(f"/?model=fashion-mnist&point={index}")
    wait_for_app(shared, lambda: map_count(shared) == 70_000, timeout_s=180)
    wait_for_card(shared, index)
    assert map_state(shared)["selected"] == index
    assert_no_exceptions(page)
    assert_no_exceptions(shared)


def shirt_png() -> bytes:
    """A dark T-shirt shape on white paper, as a phone might photograph a sketch."""
    picture = np.full((120, 100), 250, np.uint8)
    picture[20:100, 25:75] = 20
    picture[20:40, 5:95] = 20
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_uploaded_or_drawn_picture_is_encoded_and_placed_on_the_map(visitor, assert_no_exceptions):
    page = open_explore(visitor, "/?model=fashion-mnist")
    page.get_by_text("Encode your own image").click()
    page.get_by_test_id("stFileUploader").filter(has_text="A PNG or JPEG").locator('input[type="file"]') \
        .set_input_files(files=[{"name": "shirt.png", "mimeType": "image/png", "buffer": shirt_png()}])
    wait_for_app(page, page.get_by_role("heading", name="Your image"))
    wait_for_card(page, "probe")
    # The star sits at the VAE's code of the converted picture (light on dark, 28x28), as torch computes it.
    ws = shipped_workspace("fashion-mnist")
    image = like_the_dataset(read_image(shirt_png(), "shirt.png", ws.dataset.image_shape))
    codes = ws.encode(image)
    probe = page.evaluate(f"() => {MAP_JS}.probeCode()")
    np.testing.assert_allclose(probe["position"], codes["vae"].mu[0], atol=1e-5)
    assert map_state(page)["selected"] is None
    neighbours = [int(re.match(r"#(\d+) ·", c).group(1))
                  for c in page.locator(".st-key-inspect_card figcaption").filter(has_text="#").all_inner_texts()]
    assert neighbours == ws.neighbours_of_code(codes["vae"].mu[0], k=8)[0].tolist()
    # Most of its neighbours are T-shirts or shirts: the models read it as a top.
    tops = {ws.class_names.index("T-shirt/top"), ws.class_names.index("Shirt")}
    assert sum(ws.labels[j] in tops for j in neighbours) >= 5
    assert page.get_by_test_id("stMetricLabel").filter(has_text="KL (nats)").is_visible()
    visitor.screenshot("uploaded-picture")

    # A click on a point inspects it; a click on the star brings the picture back.
    point = next(p for p in map_points(page)["points"] if np.hypot(p["x"] - probe["position"][0],
                                                                   p["y"] - probe["position"][1]) > 1.0)
    click_at(page, point["px"], point["py"])
    wait_for_card(page, point["custom"])
    star = map_to_page(page, *probe["position"])
    click_at(page, *star)
    wait_for_card(page, "probe")
    assert page.get_by_role("heading", name="Your image").is_visible()
    wait_for_app(page, lambda: "point=" not in page.url)

    # Drawing: each stroke is encoded as it ends, and the star moves.
    page.get_by_role("tab", name="Draw").click()
    pad = page.locator(".st-key-probe_pad canvas")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 112, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + 112, box["y"] + 200, steps=10)
    page.mouse.up()
    wait_for_app(page, page.get_by_text("Your drawing, encoded by both models"))
    drawn = page.evaluate(f"() => {MAP_JS}.probeCode()")
    assert drawn["position"] != probe["position"]
    visitor.screenshot("drawn-picture")
    assert parse_qs(urlsplit(page.url).query).get("model") == ["fashion-mnist"]
    assert_no_exceptions(page)
