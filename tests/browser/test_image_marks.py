"""In Chromium: zoomed in, the map's points show their original images, sent by the server in one binary message
per view and kept by the browser; reconstructions on request. An inspected point's neighbours download as CSV
and zip. A browser without WebGL is offered no map of every image, and is told why."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from devtools.browser import (
    MAP_JS,
    VIEWPORT,
    click_at,
    close_popover,
    component_host_js,
    isolated_data_points,
    map_tool,
    open_explore,
    open_popover,
    screenshot,
    wait_for_app,
    wait_for_card,
)
from latent_explorer import session
from latent_explorer.session import shipped_workspace
from latent_explorer.thumbnails import HEADER
from vae_core.images import to_uint8

pytestmark = pytest.mark.browser

HOST = component_host_js("latent_map")
MARKS_JS = f"() => {{ const h = {HOST}; return [Number(h.dataset.imageMarks || 0), h.dataset.imageMarksShow]; }}"
# The thumbnail messages the browser received so far: [images, bytes] each.
MESSAGES_JS = ("() => window.__latentExplorer.marks.filter((m) => m.name === 'map-thumbnails')"
               ".map((m) => [m.count, m.bytes])")
# Every image mark now on the map: its point's index and its picture's grey levels, read back from its data URI.
MARK_PIXELS_JS = "async () => { const m = " + MAP_JS + """;
  const out = [];
  for (const i of m.marks) {
    const image = new Image();
    image.src = m.markSources.get(i);
    await image.decode();
    const c = document.createElement('canvas');
    c.width = image.width; c.height = image.height;
    const context = c.getContext('2d');
    context.drawImage(image, 0, 0);
    const d = context.getImageData(0, 0, c.width, c.height).data;
    out.push({index: i, grey: Array.from({length: c.width * c.height}, (_, k) => d[4 * k])});
  }
  return out; }"""
NO_WEBGL_JS = """(() => {
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    return /webgl/i.test(kind) ? null : getContext.call(this, kind, ...rest);
  };
})();"""
REASON = "Training images too: off, as this browser has no WebGL to draw that many points."


def wait_for_marks(page, source: str) -> int:
    page.wait_for_function(f"() => {{ const [n, s] = ({MARKS_JS})(); return n > 0 && s === '{source}'; }}")
    return page.evaluate(MARKS_JS)[0]


def test_zoomed_in_the_marks_are_the_original_images_then_the_reconstructions(visitor, assert_no_exceptions):
    ws = shipped_workspace("digits")
    page = open_explore(visitor)
    for _ in range(2):
        map_tool(page, "Zoom in").click()
    count = wait_for_marks(page, "originals")
    side = ws.image_side
    # One message for the whole view, raw grey bytes: the header, an index and the pixels of each image.
    assert page.evaluate(MESSAGES_JS) == [[count, HEADER.size + count * (4 + side * side)]]
    marks = page.evaluate(MARK_PIXELS_JS)
    assert len(marks) == count
    for mark in marks:
        np.testing.assert_array_equal(np.array(mark["grey"]).reshape(side, side), to_uint8(ws.image(mark["index"])))
    visitor.screenshot("original-marks")

    # Back to the whole map and in again: the browser holds those images, the server is not asked again.
    map_tool(page, "Reset view").click()
    page.wait_for_function(f"() => ({MARKS_JS})()[0] === 0")
    for _ in range(2):
        map_tool(page, "Zoom in").click()
    assert wait_for_marks(page, "originals") == count
    assert len(page.evaluate(MESSAGES_JS)) == 1

    open_popover(page, "View").locator(".st-key-map_marks button").filter(has_text="reconstructions").click()
    close_popover(page)
    assert wait_for_marks(page, "reconstructions") == count
    reconstructions = page.evaluate(MARK_PIXELS_JS)
    assert [m["index"] for m in reconstructions] == [m["index"] for m in marks]
    # The main model's decodes, not the originals (the two differ for every image of the view).
    assert all(m["grey"] != o["grey"] for m, o in zip(reconstructions, marks))
    visitor.screenshot("reconstruction-marks")
    assert_no_exceptions(page)


def test_an_inspected_points_neighbours_download_as_csv_and_zip(visitor, assert_no_exceptions):
    ws = shipped_workspace("digits")
    page = open_explore(visitor)
    point = isolated_data_points(page, 1)[0]
    index = point["custom"]
    click_at(page, point["px"], point["py"])
    wait_for_card(page, index)
    neighbours = ws.neighbours(index, k=8)[0]
    button = page.get_by_role("button", name="Neighbours (CSV)")
    wait_for_app(page, button)
    with page.expect_download() as csv_download:
        button.click()
    assert csv_download.value.suggested_filename == f"neighbours_of_{index}.csv"
    table = pd.read_csv(csv_download.value.path(), dtype={"class": str})
    assert table["index"].tolist() == neighbours.tolist()
    assert table["class"].tolist() == [ws.class_names[ws.labels[i]] for i in neighbours]
    assert set(table["split"]) == {"held-out"}
    np.testing.assert_allclose(table[["mu_1", "mu_2"]].to_numpy(), ws.encodings["vae"].mu[neighbours], rtol=1e-5)
    assert "kl_nats" in table.columns
    with page.expect_download() as zip_download:
        page.get_by_role("button", name="Neighbours (zip)").click()
    archive = zipfile.ZipFile(zip_download.value.path())
    assert archive.namelist() == [f"{i:05d}_{ws.class_names[ws.labels[i]]}.png" for i in neighbours]
    first = np.array(Image.open(io.BytesIO(archive.read(archive.namelist()[0]))))
    np.testing.assert_array_equal(first, to_uint8(ws.image(int(neighbours[0]))))
    assert_no_exceptions(page)


def test_without_webgl_the_map_of_every_image_is_offered_no_more(browser, warm_app, assert_no_exceptions):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(90_000)
    context.add_init_script(NO_WEBGL_JS)
    try:
        page = context.new_page()
        page.goto(warm_app.url + "/", wait_until="domcontentloaded")
        wait_for_app(page, page.get_by_text(REASON))
        assert page.locator(".st-key-latent_map .lm-fallback").inner_text().startswith("This browser has no WebGL")
        toggle = open_popover(page, "Layers").locator(f".st-key-{session.EVERY_IMAGE} input")
        assert toggle.is_disabled() and not toggle.is_checked()
        close_popover(page)
        screenshot(page, "no-webgl-every-image-off")
        assert_no_exceptions(page)
    finally:
        context.close()
