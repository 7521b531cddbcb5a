"""Your own images in a real browser: upload a zip of class folders, preview it, train, and explore the new pair."""

from __future__ import annotations

import re

import pytest

from devtools.browser import (
    active_models_label,
    click_at,
    flip_switch,
    images_loaded,
    map_count,
    map_points,
    open_train,
    set_number,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from devtools.sample_images import shapes_zip

pytestmark = pytest.mark.browser

TRAIN_WAIT_S = 240  # two epochs of twelve images; generous for a shared 2-core machine






def test_upload_preview_and_train_on_a_zip_of_class_folders(visitor, assert_no_exceptions):
    page = open_train(visitor)
    shipped = active_models_label(page)
    page.get_by_test_id("stFileUploader").filter(has_text="Images to train on").locator('input[type="file"]') \
        .set_input_files(files=[{"name": "shapes.zip", "mimeType": "application/zip", "buffer": shapes_zip()}])

    summary = page.get_by_text("12 images in 2 classes, 28x28 grey: 10 to train on, 2 held out for the map.")
    wait_for_app(page, summary)
    assert page.get_by_text("The images are 20x20 pixels: resized to 28x28.").is_visible()
    rows = page.get_by_test_id("stImage").filter(has_text=re.compile(r"^(bright|dark) · 6 images$"))
    assert rows.count() == 2
    wait_for_app(page, lambda: images_loaded(page, rows))
    form = page.locator(".st-key-train_settings")
    assert form.get_by_role("combobox", name="Dataset").input_value() == "Your images: shapes"
    visitor.screenshot("previewed")

    set_number(page, "Latent size", 2)
    set_number(page, "Hidden size", 16)
    set_number(page, "Epochs", 2)
    page.get_by_role("button", name="Train", exact=True).click()
    finished = page.get_by_test_id("stAlert").filter(has_text="Training finished")
    wait_for_app(page, finished, timeout_s=TRAIN_WAIT_S)

    active = active_models_label(page)
    assert active != shipped, active
    assert active.startswith("Your images: shapes · AE + VAE latent 2") and active.endswith("(yours)"), active
    sidebar = page.get_by_test_id("stSidebar").inner_text()
    assert "Your images: shapes · 2 held-out images" in sidebar, sidebar
    assert page.get_by_role("button", name="Download the data manifest").is_visible()
    visitor.screenshot("trained")

    # Explored like any dataset: its held-out images on the map, one clicked and inspected, then all twelve.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(r"Explore$")).click()
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    points = map_points(page)["points"]
    assert len(points) == 2 and {p["name"] for p in points} <= {"bright", "dark"}
    click_at(page, points[0]["px"], points[0]["py"])
    wait_for_card(page, points[0]["custom"])
    assert page.get_by_role("heading", name=f"Image #{points[0]['custom']} · {points[0]['name']}").is_visible()
    flip_switch(page, "Layers", "Training images too")
    wait_for_app(page, lambda: map_count(page) == 12)
    visitor.screenshot("explored")
    assert_no_exceptions(page)
