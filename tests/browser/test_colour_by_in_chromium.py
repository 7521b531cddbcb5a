"""The Explore map coloured by a per-point quantity, in Chromium: a colour bar is drawn, the points take the
quantity's colours, and clicking a point still inspects it, with its value in the card."""

from __future__ import annotations

import re

import pytest

from devtools.browser import (
    MAP_JS,
    click_at,
    component_host_js,
    isolated_data_points,
    map_legend,
    open_explore,
    wait_for_app,
    wait_for_card,
)
from latent_explorer.session import shipped_workspace

pytestmark = pytest.mark.browser


def test_colour_by_kl_shows_a_colour_bar_and_clicking_still_inspects(visitor, assert_no_exceptions):
    page = open_explore(visitor, "/?model=digits&colour=kl")
    page.wait_for_function(f"() => {component_host_js('latent_map')}.dataset.colourBy === 'kl'")
    colour_bar = page.locator(".st-key-latent_map .colorbar")
    colour_bar.wait_for(state="visible")
    assert "KL" in colour_bar.locator(".cbtitle").text_content()
    kl = shipped_workspace("digits").point_quantities()["kl"]
    # Every held-out point's marker colour is its KL, on the one colour axis of the bar.
    coloured = page.evaluate(f"""() => {MAP_JS}.overlay.data
        .filter((t) => t.marker && t.marker.coloraxis === 'coloraxis')
        .reduce((n, t) => n + t.marker.color.length, 0)""")
    assert coloured == len(kl)
    values = page.evaluate(f"() => Array.from({MAP_JS}.colourValues)")
    # The class legend keeps its entries, grey (a class colour would read as a value on the bar), still toggles.
    assert map_legend(page) == [str(d) for d in range(10)]
    legend_colours = page.evaluate(f"""() => {MAP_JS}.overlay.data.filter((t) => t.showlegend !== false
        && t.legendgroup && t.legendgroup.startsWith('class-')).map((t) => t.marker.color)""")
    assert set(legend_colours) == {"#777777"}
    assert values == pytest.approx(kl.tolist(), rel=1e-5)
    point = isolated_data_points(page, 1)[0]
    index, label = point["custom"], point["name"]
    click_at(page, point["px"], point["py"])
    wait_for_app(page, page.get_by_role("heading", name=f"Image #{index} · {label}", exact=True))
    wait_for_card(page, index)
    quantity = page.locator(".st-key-inspect_card .ic-quantity").inner_text()
    match = re.fullmatch(r"KL\(q\(z\|x\) ‖ p\(z\)\), nats: (-?[\d.]+)", quantity)
    assert match and float(match.group(1)) == pytest.approx(kl[index], rel=2e-3, abs=2e-3)
    assert "colour=kl" in page.url and f"point={index}" in page.url
    visitor.screenshot("colour-by-kl")
    assert_no_exceptions(page)
