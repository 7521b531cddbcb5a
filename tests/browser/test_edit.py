"""From a point on the map into the latent slider editor, and moving its sliders with mouse and keyboard."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from devtools.browser import (
    click_at,
    image_src,
    images_loaded,
    isolated_data_points,
    slider,
    slider_thumb_box,
    slider_thumb_text,
    slider_value_text,
    wait_for_app,
    wait_for_map,
)

pytestmark = pytest.mark.browser

STEP = 0.05  # the editor's slider step
DECODED = r"^VAE decoder at z = "


def on_step(value: float) -> str:
    """A latent value as the slider shows it: rounded to the slider's step, two decimals."""
    return f"{round(value / STEP) * STEP:.2f}".replace("-0.00", "0.00")


def decoded_caption(page) -> str:
    return page.locator('[data-testid="stImage"]').filter(has_text=re.compile(DECODED)).first.inner_text().strip()


def open_point_in_editor(visitor):
    page = visitor.open("/")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    point = isolated_data_points(page, 1)[0]
    click_at(page, point["px"], point["py"])
    wait_for_app(page, page.get_by_role("heading", name=f"Image #{point['custom']} · {point['name']}", exact=True))
    page.get_by_role("button", name="Open in editor").click()
    wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
    wait_for_app(page, page.locator('[data-testid="stImage"]').filter(has_text=re.compile(DECODED)))
    return page, point


def test_open_in_editor_starts_the_sliders_at_the_points_mu(visitor, assert_no_exceptions):
    page, point = open_point_in_editor(visitor)
    assert urlsplit(page.url).path == "/edit"
    # Latent size 2: the map's axes are z1 and z2, so the point's map position is its mu.
    expected = (on_step(point["x"]), on_step(point["y"]))
    assert (slider_value_text(page, "z1"), slider_value_text(page, "z2")) == expected
    assert (slider_thumb_text(page, "z1"), slider_thumb_text(page, "z2")) == expected
    assert decoded_caption(page).startswith("VAE decoder at z = (" + ", ".join(
        f"{float(v):+.2f}" for v in expected) + ")")
    assert page.get_by_text(f"Starting from image #{point['custom']} ({point['name']})").is_visible()
    visitor.screenshot("editor-from-point")
    assert_no_exceptions(page)


def test_sliders_move_with_mouse_and_keyboard_and_redecode(visitor, assert_no_exceptions):
    page, _ = open_point_in_editor(visitor)
    decoded = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(DECODED))
    assert images_loaded(page, decoded)

    # Mouse: drag z1's thumb to the right.
    before_src, before_value = image_src(page, DECODED), float(slider_value_text(page, "z1"))
    box = slider_thumb_box(page, "z1")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 25, y, steps=5)
    page.mouse.move(x + 50, y, steps=5)
    page.mouse.up()
    wait_for_app(page, lambda: image_src(page, DECODED) != before_src)
    dragged_value = float(slider_value_text(page, "z1"))
    assert dragged_value > before_value
    assert slider_thumb_text(page, "z1") == f"{dragged_value:.2f}"
    assert decoded_caption(page).startswith(f"VAE decoder at z = ({dragged_value:+.2f}, ")
    assert images_loaded(page, decoded)
    visitor.screenshot("after-drag")

    # Keyboard: focus z2's thumb and press the right arrow key once: one step up.
    before_src, before_text = image_src(page, DECODED), slider_thumb_text(page, "z2")
    slider(page, "z2").focus()
    page.keyboard.press("ArrowRight")
    expected = f"{float(before_text) + STEP:.2f}"
    wait_for_app(page, lambda: image_src(page, DECODED) != before_src)
    assert slider_thumb_text(page, "z2") == expected
    assert slider_value_text(page, "z2") == expected
    assert decoded_caption(page).startswith(f"VAE decoder at z = ({dragged_value:+.2f}, {float(expected):+.2f})")
    assert f"z={dragged_value:.3f},{float(expected):.3f}" in page.url.replace("%2C", ",")
    visitor.screenshot("after-arrow-key")
    assert_no_exceptions(page)
