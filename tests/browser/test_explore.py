"""The landing page in a real browser: the latent map of the shipped digits models, drawn and decoded in the
browser: hover, clicks on points and on empty space, box and lasso, and the inspect panel's order."""

from __future__ import annotations

import re
import zipfile
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

from devtools.browser import (
    MAP_JS,
    active_models_label,
    click_at,
    component_host_js,
    empty_spot,
    flip_switch,
    isolated_data_points,
    map_legend,
    map_points,
    map_state,
    map_to_page,
    map_tool,
    open_explore,
    script_runs_started,
    wait_for_app,
    wait_for_card,
    wait_for_region,
)
from latent_explorer.contract import MAX_IMAGE_MARKS
from latent_explorer.session import shipped_workspace
from vae_core.images import to_uint8
from vae_core.latent import points_in_region

pytestmark = pytest.mark.browser

LENS_PIXELS_JS = f"""() => {{ const c = {MAP_JS}.lens;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return {{w: c.width, h: c.height, grey: Array.from({{length: c.width * c.height}}, (_, i) => d[4 * i])}}; }}"""




def inspect_heading(page):
    return page.get_by_role("heading", name=re.compile(r"^Image #\d+ · "))


def test_default_page_is_explore_with_the_shipped_digits_map(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    assert urlsplit(page.url).path in ("/", "/explore")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert re.search(r"^Digits.*shipped$", active_models_label(page))
    sidebar_text = sidebar.inner_text()
    assert "VAE latent 2" in sidebar_text and "AE latent 2" in sidebar_text
    held_out = int(re.search(r"([\d,]+) held-out images", sidebar_text).group(1).replace(",", ""))
    # Every held-out image is on the map at its code, with its class; the view shows all but the outermost.
    drawn = page.evaluate(f"""() => {{ const m = {MAP_JS};
        return {{x: Array.from(m.x), y: Array.from(m.y), labels: Array.from(m.labels)}}; }}""")
    ws = shipped_workspace("digits")
    assert len(drawn["x"]) == held_out == len(ws)
    np.testing.assert_allclose(np.stack([drawn["x"], drawn["y"]], axis=1), ws.encodings["vae"].mu, atol=1e-6)
    assert drawn["labels"] == ws.labels.tolist()
    visible = map_points(page)["points"]
    assert len(visible) >= 0.98 * held_out and {p["name"] for p in visible} == {str(d) for d in range(10)}
    assert page.evaluate(f"() => {MAP_JS}.data.axis_titles") == ["z1", "z2"]
    hint = page.locator(".st-key-inspect_card .ic-hint")
    hint.wait_for(state="visible")
    assert hint.inner_text().startswith("Click a point to inspect it")
    assert map_legend(page) == [str(d) for d in range(10)]
    visitor.screenshot("explore")
    assert_no_exceptions(page)


def test_clicking_three_points_inspects_each(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    seen: set[int] = set()
    for _ in range(3):
        point = isolated_data_points(page, 1, exclude=seen)[0]
        index, label = point["custom"], point["name"]
        click_at(page, point["px"], point["py"])
        heading = page.get_by_role("heading", name=f"Image #{index} · {label}", exact=True)
        wait_for_app(page, heading)
        wait_for_card(page, index)
        tiles = page.locator(".st-key-inspect_card figure")
        captions = [c.strip() for c in tiles.locator("figcaption").all_inner_texts()]
        assert captions[:3] == ["original", "AE reconstruction", "VAE reconstruction"]
        assert tiles.count() == 3 + 8 + 8 and page.locator(".st-key-inspect_card .ic-waiting").count() == 0
        assert page.get_by_test_id("stMetricLabel").filter(has_text="KL (nats)").is_visible()
        # The map marks the selection and the URL carries it.
        assert f"point={index}" in page.url
        assert map_state(page)["selected"] == index
        assert inspect_heading(page).count() == 1
        visitor.screenshot(f"point-{index}")
        seen.add(index)
    assert len(seen) == 3
    assert_no_exceptions(page)


def test_clicking_empty_space_decodes_that_location(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    spot = empty_spot(page)
    click_at(page, spot["px"], spot["py"])
    heading = page.get_by_role("heading", name=f"Decoded at z = ({spot['x']:.2f}, {spot['y']:.2f})", exact=True)
    wait_for_app(page, heading)
    wait_for_card(page, "location")
    assert page.locator(".st-key-inspect_card figcaption").all_inner_texts() == ["VAE decoder"]
    assert inspect_heading(page).count() == 0  # empty space selects no image
    location = map_state(page)["location"]
    assert location == pytest.approx([spot["x"], spot["y"]], abs=1e-9)
    wait_for_app(page, page.get_by_role("button", name="Open this z in the editor"))
    visitor.screenshot("decoded-location")
    assert_no_exceptions(page)


def test_hover_decodes_in_the_browser_as_torch_does_without_a_rerun(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    page.wait_for_timeout(500)
    runs_before = script_runs_started(page)
    area = map_points(page)["area"]
    vae = shipped_workspace("digits").model("vae")
    seen = set()
    for fx, fy in ((0.3, 0.35), (0.55, 0.6), (0.7, 0.3), (0.45, 0.75)):
        px, py = area["left"] + fx * (area["right"] - area["left"]), area["top"] + fy * (area["bottom"] - area["top"])
        page.mouse.move(px, py, steps=4)
        page.wait_for_function(f"() => {MAP_JS}.lensCaption.textContent.startsWith('z = (')")
        page.wait_for_timeout(60)  # the animation frame that draws it
        caption = map_state(page)["lens"]
        z = [float(v) for v in re.match(r"z = \(([-+.\d]+), ([-+.\d]+)\)", caption).groups()]
        lens = page.evaluate(LENS_PIXELS_JS)
        assert (lens["w"], lens["h"]) == (8, 8)
        import torch

        with torch.no_grad():
            expected = vae.decode(torch.tensor([z], dtype=torch.float32))[0, 0].numpy()
        # The caption rounds z to two decimals: the decode at the rounded z is within a few grey levels.
        got = np.array(lens["grey"]).reshape(8, 8)
        assert np.abs(got.astype(int) - to_uint8(expected).astype(int)).max() <= 8
        seen.add(caption)
    assert len(seen) == 4
    page.wait_for_timeout(300)
    assert script_runs_started(page) == runs_before, "hovering must not run the script"
    assert_no_exceptions(page)


def test_box_and_lasso_select_a_region(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    area = map_points(page)["area"]
    width, height = area["right"] - area["left"], area["bottom"] - area["top"]
    points = shipped_workspace("digits").map_points["vae"]

    map_tool(page, "Box").click()
    start = (area["left"] + 0.3 * width, area["top"] + 0.3 * height)
    end = (area["left"] + 0.6 * width, area["top"] + 0.65 * height)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    state = wait_for_region(page, "box")
    expected = len(points_in_region(points, "box", np.array(state["region"]["vertices"])))
    assert expected > 0
    wait_for_app(page, page.get_by_role("heading", name=f"Selection: {expected:,} images"))
    # The map dims what the server counted (Plotly's own selection until its reply): they agree.
    wait_for_app(page, lambda: map_state(page)["members"] == expected)
    visitor.screenshot("box")

    map_tool(page, "Lasso").click()
    centre = (area["left"] + 0.5 * width, area["top"] + 0.5 * height)
    angles = np.linspace(0, 2 * np.pi, 24)
    page.mouse.move(centre[0] + 0.25 * width, centre[1])
    page.mouse.down()
    for a in angles[1:]:
        page.mouse.move(centre[0] + 0.25 * width * np.cos(a), centre[1] + 0.2 * height * np.sin(a))
    page.mouse.up()
    state = wait_for_region(page, "lasso")
    expected = len(points_in_region(points, "lasso", np.array(state["region"]["vertices"])))
    assert expected > 0
    wait_for_app(page, page.get_by_role("heading", name=f"Selection: {expected:,} images"))
    wait_for_app(page, lambda: map_state(page)["members"] == expected)
    assert page.locator('[data-testid="stImage"]').filter(has_text="mean image of the selection").count() == 1

    page.locator(".st-key-latent_map .lm-clear").click()
    wait_for_app(page, lambda: page.get_by_role("heading", name=re.compile("^Selection:")).count() == 0)
    assert map_state(page)["region"] is None
    assert_no_exceptions(page)


# Stamps, in the page's clock, when each part of the panel first shows for image `index`: the card's first
# image and its last, and the server's costliest text (the importance-weighted log p(x), `log_px`).
PANEL_TIMES_JS = f"""
([index, logPx]) => {{
  const t = {{}};
  window.__panelTimes = t;
  new MutationObserver(() => {{
    const card = {component_host_js("inspect_card")};
    const now = performance.now();
    if (card && t.first === undefined && card.dataset.first === String(index)) t.first = now;
    if (card && t.complete === undefined && card.dataset.complete === String(index)) t.complete = now;
    if (t.logpx === undefined && [...document.querySelectorAll('.katex')].some(e => e.textContent.includes(logPx)))
      t.logpx = now;
  }}).observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
}}
"""


def test_the_first_images_come_before_the_costly_parts(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    first, second = isolated_data_points(page, 2)
    click_at(page, first["px"], first["py"])
    wait_for_card(page, first["custom"])
    page.get_by_text("The mathematics of this point").click()  # stays open for the next point
    wait_for_app(page, lambda: page.locator(".katex").count() >= 4)
    # The open panel makes the page taller (a scroll bar, a narrower map), and drawing it may scroll the map out of
    # the window, where a visitor would scroll back to it: where is the point now?
    page.locator(".st-key-latent_map").scroll_into_view_if_needed()
    second["px"], second["py"] = map_to_page(page, second["x"], second["y"])
    log_px = f"{abs(shipped_workspace('digits').log_px(second['custom'])):.2f}"  # KaTeX draws its own minus
    page.evaluate(PANEL_TIMES_JS, [second["custom"], log_px])
    click_at(page, second["px"], second["py"])
    wait_for_card(page, second["custom"])
    wait_for_app(page, lambda: page.evaluate("() => window.__panelTimes.logpx !== undefined"))
    times = page.evaluate("() => window.__panelTimes")
    run_start = page.evaluate("""() => {
        const click = window.__latentExplorer.marks.filter(m => m.name === 'map-click').pop();
        return window.__runStarts.find(s => s > click.t); }""")
    # The reconstructions and draws are decoded in the browser on the click itself, before the server has
    # even started the run that brings the rest (the original and neighbours, the metrics, log p(x)). A run
    # still going when the click's began shows no new start; then the server's images must still come later.
    assert times["first"] < times["complete"] and times["first"] < times["logpx"], (times, run_start)
    if run_start is not None:
        assert times["first"] < run_start < times["complete"], (times, run_start)
    visitor.screenshot("progressive")
    assert_no_exceptions(page)


def test_a_click_moves_the_highlight_without_redrawing_the_points(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    first, second = isolated_data_points(page, 2)
    click_at(page, first["px"], first["py"])
    wait_for_card(page, first["custom"])
    drawn = map_state(page)["drawn"]
    click_at(page, second["px"], second["py"])
    wait_for_card(page, second["custom"])
    wait_for_app(page, page.get_by_role("heading", name=f"Image #{second['custom']} · {second['name']}"))
    state = map_state(page)
    assert state["selected"] == second["custom"]
    assert state["drawn"] == drawn  # only the overlay changed: the points layer was not drawn again
    px, py = map_to_page(page, second["x"], second["y"])
    assert (px, py) == pytest.approx((second["px"], second["py"]), abs=0.5)
    assert_no_exceptions(page)


def test_the_decoder_background_is_a_plotly_image_decoded_in_the_browser(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    flip_switch(page, "Layers", "Decoder background")
    # One layout image under the points, covering the visible region, decoded here (a data: URI, no request). It
    # comes with the rerun the switch asks for (which a run already under way may absorb: no new run start to count).
    wait_for_app(page, lambda: page.evaluate(f"() => ({MAP_JS}.overlay.layout.images || []).length === 1"))
    image, extent = page.evaluate(f"""() => {{ const m = {MAP_JS};
        return [m.overlay.layout.images[0], m.visibleExtent()]; }}""")
    assert image["source"].startswith("data:image/png;base64,") and image["layer"] == "below"
    assert image["x"] == pytest.approx(extent[0][0]) and image["y"] == pytest.approx(extent[1][1])
    assert image["x"] + image["sizex"] == pytest.approx(extent[0][1])
    visitor.screenshot("decoder-background")
    assert_no_exceptions(page)


def test_a_box_selection_downloads_as_csv_and_zip(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    area = map_points(page)["area"]
    width, height = area["right"] - area["left"], area["bottom"] - area["top"]
    map_tool(page, "Box").click()
    page.mouse.move(area["left"] + 0.35 * width, area["top"] + 0.35 * height)
    page.mouse.down()
    page.mouse.move(area["left"] + 0.6 * width, area["top"] + 0.6 * height, steps=8)
    page.mouse.up()
    region = wait_for_region(page, "box")["region"]
    ws = shipped_workspace("digits")
    expected = points_in_region(ws.map_points["vae"], "box", np.array(region["vertices"]))
    wait_for_app(page, page.get_by_role("heading", name=f"Selection: {len(expected):,} images"))
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="Codes (CSV)").click()
    table = pd.read_csv(csv_download.value.path(), dtype={"class": str})
    assert csv_download.value.suggested_filename == "selection.csv"
    assert table["index"].tolist() == expected.tolist()
    assert table["class"].tolist() == [ws.class_names[ws.labels[i]] for i in expected]
    np.testing.assert_allclose(table[["mu_1", "mu_2"]].to_numpy(), ws.encodings["vae"].mu[expected], rtol=1e-5)
    with page.expect_download() as zip_download:
        page.get_by_role("button", name="Images (zip)").click()
    names = zipfile.ZipFile(zip_download.value.path()).namelist()
    assert names == [f"{i:05d}_{ws.class_names[ws.labels[i]]}.png" for i in expected]
    assert_no_exceptions(page)


def test_zoomed_in_the_points_become_their_images(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    marks = f"() => Number({component_host_js('latent_map')}.dataset.imageMarks || 0)"
    assert page.evaluate(marks) == 0  # the whole map: points
    # Plotly's zoom in, twice, about the centre of the map (the toolbar's + button).
    for _ in range(2):
        map_tool(page, "Zoom in").click()
    page.wait_for_function(f"() => ({marks})() > 0")
    state = page.evaluate(f"""() => {{ const m = {MAP_JS}, images = m.overlay.layout.images;
        const visible = m.x.filter((x, i) => m.insidePlot(m.screenX[i], m.screenY[i])).length;
        return {{visible, images: images.map((e) => [e.x, e.y, e.source.slice(0, 22)])}}; }}""")
    assert 0 < state["visible"] <= MAX_IMAGE_MARKS and len(state["images"]) == state["visible"]
    # Each image sits on its point (test_image_marks.py checks that it is its original).
    points = {(round(p["x"], 5), round(p["y"], 5)) for p in map_points(page)["points"]}
    assert {(round(x, 5), round(y, 5)) for x, y, _ in state["images"]} == points
    assert {source for _, _, source in state["images"]} == {"data:image/png;base64,"}
    visitor.screenshot("image-marks")
    # Back to the whole map: points again.
    map_tool(page, "Reset view").click()
    page.wait_for_function(f"() => ({marks})() === 0")
    assert_no_exceptions(page)
