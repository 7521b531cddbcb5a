"""The Explore page at the widths people use (1024, 1440 and a 390 px phone): nothing cut off, the maths panel
within its column, the lens off the data, the posterior readable, the card's numbers signed so they add up, and
a box selection's summary in view in the map's class colours. Screenshots go to test-artifacts/screenshots.
"""

from __future__ import annotations

import re

import pytest

from devtools.browser import (
    MAP_JS,
    component_host_js,
    isolated_data_points,
    map_points,
    map_tool,
    open_explore,
    wait_for_app,
    wait_for_card,
)
from latent_explorer.figures import CLASS_COLOURS
from vae_core import is_available

WIDTHS = [1024, 1440, 390]

# Elements of the main pane whose content is wider than their box (text cut off, or a formula that would
# need a scrollbar), with what they say. KaTeX's aligned lines stick out a pixel or two by design.
CUT_OFF_JS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((e) => e.getClientRects().length && e.scrollWidth > e.clientWidth + 3)
  .map((e) => ({text: e.innerText.slice(0, 80), scroll: e.scrollWidth, client: e.clientWidth}))"""

BOX_JS = ("(e) => { const r = e.getBoundingClientRect(); "
          "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }")


def box(locator) -> dict:
    return locator.evaluate(BOX_JS)


def overlaps(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def number(text: str) -> float:
    return float(text.replace("−", "-").replace(",", ""))


def inspect_point(visitor, width: int, path: str = "/?model=digits"):
    visitor.page.set_viewport_size({"width": width, "height": 1000})
    page = open_explore(visitor, path)
    point = isolated_data_points(page, 1, min_gap_px=4, spread_px=10)[0]
    page.evaluate(f"(i) => {MAP_JS}.selectPoint(i)", point["custom"])
    wait_for_card(page, point["custom"])
    wait_for_app(page, page.get_by_text("KL (nats)"))
    page.get_by_text("The mathematics of this point").click()
    wait_for_app(page, page.get_by_text("An importance-weighted estimate"))
    return page, point


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_is_cut_off_with_a_point_selected(visitor, width):
    page, _ = inspect_point(visitor, width)
    # The page tall enough to show all of it in the screenshot (Streamlit scrolls its own pane).
    visitor.page.set_viewport_size({"width": width, "height": 2600})
    page.wait_for_timeout(500)
    visitor.screenshot(f"explore-{width}px")
    for selector in ('[data-testid="stMetricValue"] div', '[data-testid="stMetricLabel"] p',
                     '[data-testid="stExpander"] .katex-display', '[data-testid="stPopover"] button p',
                     '[data-testid="stWidgetLabel"] p', '[data-testid="stMain"]'):
        assert not page.evaluate(CUT_OFF_JS, selector), (selector, page.evaluate(CUT_OFF_JS, selector))
    # The maths panel shows its last lines: log p(x) and the gap.
    panel = page.get_by_test_id("stExpander").filter(has_text="The mathematics of this point")
    gap = panel.locator(".katex-display").filter(has_text="gap").last
    panel = box(panel.get_by_test_id("stExpanderDetails"))
    assert gap.is_visible() and box(gap)["right"] <= panel["right"] + 1
    assert page.locator(".st-key-map_controls").get_by_role("button", name="Share").is_visible()
    # The card's column keeps a readable width; on a phone the card comes under the map.
    card, plot = box(page.locator(".st-key-inspect_card")), box(page.locator(".st-key-latent_map"))
    if width >= 1024:
        assert card["right"] - card["left"] >= 300 and card["left"] >= plot["right"]
    else:
        assert card["top"] >= plot["bottom"]


@pytest.mark.parametrize("width", [1024, 1440])
def test_the_lens_covers_no_data(visitor, width):
    visitor.page.set_viewport_size({"width": width, "height": 1000})
    page = open_explore(visitor, "/?model=digits")
    area = map_points(page)["area"]
    # Hover the top right of the plot, where the lens used to sit.
    page.mouse.move(area["right"] - 20, area["top"] + 20, steps=3)
    page.wait_for_function(f"() => {MAP_JS}.lensCaption.textContent.startsWith('z = (')")
    lens = page.evaluate(f"() => {{ const r = {MAP_JS}.lensCard.getBoundingClientRect(); "
                         "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }")
    assert not overlaps(lens, area), (lens, area)


@pytest.mark.skipif(not is_available("fashion-mnist"), reason="needs Fashion-MNIST (dataset-fashion-mnist)")
def test_a_tiny_posterior_is_shown_magnified(visitor):
    """On the shipped Fashion model σ is about 0.05: its ellipses are a few pixels on the whole map."""
    page = open_explore(visitor, "/?model=fashion-mnist")
    point = isolated_data_points(page, 1, min_gap_px=4, spread_px=10)[0]
    page.evaluate(f"(i) => {MAP_JS}.selectPoint(i)", point["custom"])
    page.wait_for_function(f"() => !!{component_host_js('latent_map')}.dataset.inset")
    on_map = page.evaluate(f"""() => {{ const m = {MAP_JS}, g = m.posteriorGeometry(m.selected);
        const xs = g.outlines[2].map(([x, y]) => m.toPx(x, y)[0]); return Math.max(...xs) - Math.min(...xs); }}""")
    zoom = float(page.evaluate(f"() => {component_host_js('latent_map')}.dataset.inset"))
    assert on_map < 40 and on_map * zoom >= 60  # a blob on the map, an ellipse in the inset
    inset = page.locator(".st-key-latent_map canvas.lm-inset")
    assert inset.is_visible() and "magnified" in inset.get_attribute("aria-label")
    plot = map_points(page)["area"]
    assert not overlaps(box(inset), plot)
    visitor.screenshot("posterior-magnified")


def test_the_cards_numbers_add_up_as_signed(visitor):
    page, _ = inspect_point(visitor, 1440)
    values = {}
    for metric in page.get_by_test_id("stMetric").all():
        label = metric.get_by_test_id("stMetricLabel").inner_text().strip()
        values[label] = number(metric.get_by_test_id("stMetricValue").inner_text())
    reconstruction = values["E[log p(x|z)] (nats)"]
    assert reconstruction < 0
    assert abs(reconstruction - values["KL (nats)"] - values["ELBO (nats)"]) <= 0.11


def test_a_box_selection_is_summarised_in_view_in_class_colours(visitor):
    page = open_explore(visitor, "/?model=digits")
    area = map_points(page)["area"]
    map_tool(page, "Box").click()
    page.mouse.move(area["left"] + 10, area["top"] + 10)
    page.mouse.down()
    page.mouse.move(area["right"] - 10, area["bottom"] - 10, steps=8)
    page.mouse.up()
    heading = page.get_by_role("heading", name=re.compile(r"^Selection: [\d,]+ images"))
    wait_for_app(page, heading)
    viewport = page.viewport_size
    top = box(heading)["top"]
    assert 0 <= top < viewport["height"], f"the selection's summary starts at {top} px, below the fold"
    chart = page.locator(".st-key-selection_counts .js-plotly-plot")
    chart.wait_for()
    colours = chart.evaluate("(e) => e.data[0].marker.color")
    assert colours[:3] == list(CLASS_COLOURS[:3])


@pytest.mark.parametrize("path", ["/edit?model=digits", "/sample?model=digits"])
def test_buttons_keep_their_labels_at_1024_px(visitor, path):
    visitor.page.set_viewport_size({"width": 1024, "height": 1000})
    page = visitor.open(path)
    wait_for_app(page, page.get_by_role("button", name=re.compile("Share")))
    for selector in ('button [data-testid="stMarkdownContainer"]', 'button [data-testid="stMarkdownContainer"] p',
                     '[data-testid="stWidgetLabel"] p'):
        assert not page.evaluate(CUT_OFF_JS, selector), (selector, page.evaluate(CUT_OFF_JS, selector))
