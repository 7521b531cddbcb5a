"""The seeds' ideas on screen: a clicked point's posterior and reparameterised draws, a shared view, prior samples."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.browser import click_at, image_src, isolated_data_points, wait_for_app, wait_for_map

pytestmark = pytest.mark.browser

OVERLAYS_JS = """
() => {
  const gd = document.querySelectorAll('.js-plotly-plot')[0];
  const out = {};
  gd._fullData.forEach(t => { if (t.name && !t.customdata) out[t.name] = {x: Array.from(t.x), y: Array.from(t.y)}; });
  return out;
}
"""


def open_explore(visitor, path: str = "/"):
    page = visitor.open(path)
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    return page


def overlays(page) -> dict:
    return page.evaluate(OVERLAYS_JS)


def test_posterior_and_its_draws_are_drawn_and_a_shared_link_reopens_the_view(
        visitor, new_visitor, assert_no_exceptions):
    page = open_explore(visitor)
    point = isolated_data_points(page, 1)[0]
    click_at(page, point["px"], point["py"])
    heading = page.get_by_role("heading", name=f"Image #{point['custom']} · {point['name']}", exact=True)
    wait_for_app(page, heading)
    wait_for_app(page, lambda: "q(z|x) 1σ" in overlays(page))

    drawn = overlays(page)
    for n in (1, 2):
        ellipse = drawn[f"q(z|x) {n}σ"]
        # The outline is centred on the clicked point's code (its samples run round the full circle).
        centre_x = sum(ellipse["x"][:-1]) / (len(ellipse["x"]) - 1)
        centre_y = sum(ellipse["y"][:-1]) / (len(ellipse["y"]) - 1)
        assert centre_x == pytest.approx(point["x"], abs=1e-3) and centre_y == pytest.approx(point["y"], abs=1e-3)
    width_1 = max(drawn["q(z|x) 1σ"]["x"]) - min(drawn["q(z|x) 1σ"]["x"])
    width_2 = max(drawn["q(z|x) 2σ"]["x"]) - min(drawn["q(z|x) 2σ"]["x"])
    assert width_2 == pytest.approx(2 * width_1, rel=1e-3)
    assert len(drawn["z = μ + σ·ε"]["x"]) == 8
    draws = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(r"^ε=\("))
    assert draws.count() == 8
    visitor.screenshot("posterior")

    page.get_by_role("button", name=re.compile("Share")).click()
    link = page.get_by_test_id("stPopoverBody").locator("code").first.inner_text().strip()
    assert parse_qs(urlsplit(link).query)["point"] == [str(point["custom"])]

    other = new_visitor()
    shared = other.open(urlsplit(link).path + "?" + urlsplit(link).query)
    wait_for_app(shared, shared.get_by_role("heading", name=f"Image #{point['custom']} · {point['name']}",
                                            exact=True))
    wait_for_map(shared)
    wait_for_app(shared, lambda: "q(z|x) 1σ" in overlays(shared))
    assert overlays(shared)["q(z|x) 1σ"] == drawn["q(z|x) 1σ"]
    assert overlays(shared)["z = μ + σ·ε"] == drawn["z = μ + σ·ε"]  # the draws are seeded by the point
    other.screenshot("shared-view")
    assert_no_exceptions(page)
    assert_no_exceptions(shared)


def test_sample_reroll_draws_a_new_grid_and_the_link_keeps_the_seed(visitor, assert_no_exceptions):
    page = visitor.open("/sample")
    wait_for_app(page, page.get_by_role("heading", name="Sample — the prior"))
    grid = "decodes of z ~ N"
    first = image_src(page, grid)
    page.get_by_role("button", name="Re-roll").click()
    wait_for_app(page, lambda: image_src(page, grid) != first)
    seed = parse_qs(urlsplit(page.url).query)["seed"][0]
    assert page.get_by_text(f"seed {seed}").count() >= 1
    visitor.screenshot("sample-rerolled")
    assert_no_exceptions(page)
