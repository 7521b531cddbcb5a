"""From a point on the map into the latent editor; its sliders and pad decode in the browser while they move."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch

from devtools.browser import (
    click_at,
    component_host_js,
    editor_slider,
    editor_z,
    isolated_data_points,
    open_explore,
    script_runs_started,
    wait_for_app,
    wait_for_card,
)
from latent_explorer.session import shipped_workspace
from vae_core.images import to_uint8

pytestmark = pytest.mark.browser

STEP = 0.05  # the editor's slider step
EDITOR = component_host_js("latent_editor")
DECODES_JS = "() => window.__latentExplorer.marks.filter(m => m.name === 'editor-decode').length"
PICTURE_JS = f"""() => {{ const c = {EDITOR}.shadowRoot.querySelector('.le-image');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return Array.from({{length: c.width * c.height}}, (_, i) => d[4 * i]); }}"""


def on_step(value: float) -> str:
    """A latent value as the slider shows it: rounded to the slider's step, two decimals."""
    return f"{round(value / STEP) * STEP:.2f}".replace("-0.00", "0.00")


def open_point_in_editor(visitor):
    page = open_explore(visitor)
    point = isolated_data_points(page, 1)[0]
    click_at(page, point["px"], point["py"])
    wait_for_card(page, point["custom"])
    wait_for_app(page, page.get_by_role("button", name="Open in editor"))
    page.get_by_role("button", name="Open in editor").click()
    wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
    wait_for_app(page, lambda: editor_z(page) != "")
    return page, point


def slider_values(page) -> tuple[str, str]:
    return editor_slider(page, "z1").input_value(), editor_slider(page, "z2").input_value()


def assert_picture_is_the_decode(page) -> None:
    """The editor's picture is torch's decode of the z it shows (to a grey level)."""
    z = [float(v) for v in editor_z(page).split(",")]
    with torch.no_grad():
        expected = shipped_workspace("digits").model("vae").decode(torch.tensor([z]))[0, 0].numpy()
    got = np.array(page.evaluate(PICTURE_JS)).reshape(expected.shape)
    assert np.abs(got.astype(int) - to_uint8(expected).astype(int)).max() <= 1


def test_open_in_editor_starts_the_sliders_at_the_points_mu(visitor, assert_no_exceptions):
    page, point = open_point_in_editor(visitor)
    assert urlsplit(page.url).path == "/edit"
    # Latent size 2: the map's axes are z1 and z2, so the point's map position is its mu.
    expected = (on_step(point["x"]), on_step(point["y"]))
    assert tuple(f"{float(v):.2f}" for v in slider_values(page)) == expected
    assert editor_z(page) == ",".join(expected)
    caption = page.locator(".st-key-latent_editor .le-caption").first.inner_text()
    assert caption == "VAE decoder at z = (" + ", ".join(f"{float(v):+.2f}" for v in expected) + ")"
    assert page.get_by_text(f"Starting from image #{point['custom']} ({point['name']})").is_visible()
    assert_picture_is_the_decode(page)
    visitor.screenshot("editor-from-point")
    assert_no_exceptions(page)


def test_a_slider_drag_decodes_every_frame_without_a_run_then_the_server_learns_the_value(
        visitor, assert_no_exceptions):
    page, _ = open_point_in_editor(visitor)
    page.wait_for_timeout(500)
    box = editor_slider(page, "z1").bounding_box()
    before, runs, decodes = editor_z(page), script_runs_started(page), page.evaluate(DECODES_JS)
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    seen = set()
    for k in range(1, 13):
        page.mouse.move(x + k * box["width"] * 0.03, y)
        page.wait_for_timeout(40)
        seen.add(editor_z(page))
    # While the button is held: a new picture for each position, and not one script run.
    assert len(seen) >= 8 and page.evaluate(DECODES_JS) - decodes >= 8
    assert script_runs_started(page) == runs
    assert_picture_is_the_decode(page)
    page.mouse.up()
    dragged = editor_z(page)
    assert dragged != before
    # Let go: the server hears the value once, and writes it into the link (only a run of the script can).
    z1, z2 = (float(v) for v in dragged.split(","))
    wait_for_app(page, lambda: f"z={z1:.3f},{z2:.3f}" in page.url.replace("%2C", ","))
    visitor.screenshot("after-drag")
    assert_no_exceptions(page)


def test_keyboard_steps_and_the_pad(visitor, assert_no_exceptions):
    page, _ = open_point_in_editor(visitor)
    z1_before, z2_before = (float(v) for v in slider_values(page))
    editor_slider(page, "z2").focus()
    page.keyboard.press("ArrowRight")
    expected = f"{z2_before + STEP:.2f}"
    wait_for_app(page, lambda: editor_z(page).endswith("," + expected))
    assert f"{float(slider_values(page)[1]):.2f}" == expected
    wait_for_app(page, lambda: f"z={z1_before:.3f},{float(expected):.3f}" in page.url.replace("%2C", ","))
    assert_picture_is_the_decode(page)

    # The pad moves z1 and z2 together; the sliders follow it while it is dragged.
    pad = page.locator(".st-key-latent_editor canvas.le-pad").bounding_box()
    runs = script_runs_started(page)
    page.mouse.move(pad["x"] + pad["width"] * 0.5, pad["y"] + pad["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(pad["x"] + pad["width"] * 0.75, pad["y"] + pad["height"] * 0.25, steps=6)
    page.wait_for_timeout(60)
    assert script_runs_started(page) == runs
    z1, z2 = (float(v) for v in editor_z(page).split(","))
    # The pad spans ±4 on both axes: three quarters across is +2, a quarter down is +2.
    assert z1 == pytest.approx(2.0, abs=0.1) and z2 == pytest.approx(2.0, abs=0.1)
    assert tuple(f"{float(v):.2f}" for v in slider_values(page)) == (f"{z1:.2f}", f"{z2:.2f}")
    page.mouse.up()
    wait_for_app(page, lambda: f"z={z1:.3f},{z2:.3f}" in page.url.replace("%2C", ","))
    assert_picture_is_the_decode(page)
    traversal = page.locator(".st-key-latent_editor .le-caption").last.inner_text()
    assert re.match(r"rows z1…z2, columns -3.00, -2.25", traversal)
    visitor.screenshot("after-pad")
    assert_no_exceptions(page)
