"""The landing page in a real browser: the latent map of the shipped digits models, clicks on points and space."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from devtools.browser import (
    active_models_label,
    click_at,
    empty_grid_point,
    images_loaded,
    isolated_data_points,
    map_points,
    wait_for_app,
    wait_for_map,
)

pytestmark = pytest.mark.browser


def open_explore(visitor, path: str = "/"):
    page = visitor.open(path)
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    return page


def inspect_heading(page):
    return page.get_by_role("heading", name=re.compile(r"^Image #\d+ · "))


def test_default_page_is_explore_with_the_shipped_digits_map(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    assert urlsplit(page.url).path in ("/", "/explore")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert re.search(r"^Digits.*shipped$", active_models_label(page))
    sidebar_text = sidebar.inner_text()
    assert "VAE latent 2" in sidebar_text and "AE latent 2" in sidebar_text
    snapshot = map_points(page)
    data = [p for p in snapshot["points"] if p["custom"] is not None and p["custom"] >= 0]
    grid = [p for p in snapshot["points"] if p["custom"] is not None and p["custom"] < 0]
    held_out = int(re.search(r"([\d,]+) held-out images", sidebar_text).group(1).replace(",", ""))
    # Every held-out image is on the map exactly once, each class in its own trace named after it.
    assert sorted(p["custom"] for p in data) == list(range(held_out))
    assert {p["name"] for p in data} == {str(d) for d in range(10)}
    assert grid, "latent size 2: the map should carry the invisible grid that makes empty space clickable"
    axes = page.locator(".js-plotly-plot").first.inner_text()
    assert "z1" in axes and "z2" in axes
    assert page.get_by_text("Click a point to inspect it").is_visible()
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
        panel_images = page.locator('[data-testid="stImage"]').filter(
            has_text=re.compile(r"^(original|AE reconstruction|VAE reconstruction)$"))
        assert panel_images.count() == 3
        assert images_loaded(page, panel_images)
        assert page.get_by_test_id("stMetricLabel").filter(has_text="KL (nats)").is_visible()
        # The map marks the selection and the URL carries it.
        assert f"point={index}" in page.url
        assert any(p["name"] == f"selected #{index}" for p in map_points(page)["points"])
        assert inspect_heading(page).count() == 1
        visitor.screenshot(f"point-{index}")
        seen.add(index)
    assert len(seen) == 3
    assert_no_exceptions(page)


def test_clicking_empty_space_decodes_that_location(visitor, assert_no_exceptions):
    page = open_explore(visitor)
    spot = empty_grid_point(page)
    click_at(page, spot["px"], spot["py"])
    heading = page.get_by_role("heading", name=f"Decoded at z = ({spot['x']:.2f}, {spot['y']:.2f})", exact=True)
    wait_for_app(page, heading)
    decoded = page.locator('[data-testid="stImage"]').filter(has_text="VAE decoder")
    assert decoded.count() == 1 and images_loaded(page, decoded)
    assert inspect_heading(page).count() == 0  # empty space selects no image
    assert any(p["name"] == "decoded location" for p in map_points(page)["points"])
    visitor.screenshot("decoded-location")
    assert_no_exceptions(page)
