"""The seeds' ideas on screen: a clicked point's posterior and reparameterised draws, a shared view, prior samples."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from devtools.browser import (
    MAP_JS,
    click_at,
    image_src,
    isolated_data_points,
    open_explore,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from latent_explorer.session import shipped_workspace

pytestmark = pytest.mark.browser

POSTERIOR_JS = f"() => {MAP_JS}.posteriorGeometry({MAP_JS}.selected)"




def test_posterior_and_its_draws_are_drawn_and_a_shared_link_reopens_the_view(
        visitor, new_visitor, assert_no_exceptions):
    page = open_explore(visitor)
    point = isolated_data_points(page, 1)[0]
    click_at(page, point["px"], point["py"])
    heading = page.get_by_role("heading", name=f"Image #{point['custom']} · {point['name']}", exact=True)
    wait_for_app(page, heading)
    wait_for_card(page, point["custom"])

    drawn = page.evaluate(POSTERIOR_JS)
    ws = shipped_workspace("digits")
    mu, sigma = ws.encodings["vae"].mu[point["custom"]], ws.encodings["vae"].sigma[point["custom"]]
    assert drawn["centre"] == pytest.approx([point["x"], point["y"]], abs=1e-6)
    for n in (1, 2):
        outline = np.array(drawn["outlines"][str(n)])
        # Latent size 2, identity projection: the n-sigma ellipse of N(mu, diag(sigma^2)), axis aligned.
        np.testing.assert_allclose(((outline - mu) / (n * sigma)) ** 2 @ np.ones(2), 1.0, atol=1e-6)
        np.testing.assert_allclose(outline.max(0) - outline.min(0), 2 * n * sigma, rtol=1e-3)
    # The eight draws z = mu + sigma * eps, with the eps the card shows and decodes.
    eps = np.array(page.evaluate(f"() => {MAP_JS}.data.eps"))
    np.testing.assert_allclose(drawn["draws"], mu + sigma * eps, atol=1e-6)
    draws = page.locator(".st-key-inspect_card figcaption").filter(has_text=re.compile(r"^ε=\("))
    assert draws.count() == 8
    assert draws.first.inner_text() == "ε=(" + ",".join(f"{v:+.1f}" for v in eps[0]) + ")"
    visitor.screenshot("posterior")

    page.get_by_role("button", name=re.compile("Share")).click()
    link = page.get_by_test_id("stPopoverBody").locator("code").first.inner_text().strip()
    assert parse_qs(urlsplit(link).query)["point"] == [str(point["custom"])]

    other = new_visitor()
    shared = other.open(urlsplit(link).path + "?" + urlsplit(link).query)
    wait_for_app(shared, shared.get_by_role("heading", name=f"Image #{point['custom']} · {point['name']}",
                                            exact=True))
    wait_for_map(shared)
    wait_for_card(shared, point["custom"])
    assert shared.evaluate(POSTERIOR_JS) == drawn  # the same posterior, the same draws
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
