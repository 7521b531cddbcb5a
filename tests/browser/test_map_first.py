"""The map comes first, on every screen and under a finger (issue 23): on the landing page the whole plot area is on
the first screen at 1440x900, 1024x768 and on a 390x844 phone, with every point inside axes of equal scale, the
controls in one row above it and the decoder at the cursor beside it; a tap decodes or inspects, a finger held on
the map moves the lens, a swipe scrolls the page and leaves the axes alone; the keyboard reaches the map in six Tab
presses; axe-core finds nothing critical or serious.

Each test has a browser context of its own size; the ones at 1440 and 1024 px have a touch screen too (a touch
laptop), the phone is a mobile one.
"""

from __future__ import annotations

import os

import pytest

from devtools.browser import (
    MAP_JS,
    PAGE_SCROLL_JS,
    REPO_ROOT,
    RUN_COUNTER_JS,
    component_host_js,
    empty_spot,
    exception_texts,
    isolated_data_points,
    map_axes,
    map_points,
    open_explore,
    page_scroll,
    touch_drag,
    wait_for_card,
)

pytestmark = pytest.mark.browser

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
needs_axe = pytest.mark.skipif(not AXE.is_file() and os.environ.get("CI") != "true",
                               reason="axe-core is missing: run `npm ci` in the repository (scripts/test.sh does)")
BLOCKING = ("critical", "serious")

SIZES = {"1440x900": {"width": 1440, "height": 900}, "1024x768": {"width": 1024, "height": 768},
         "390x844": {"width": 390, "height": 844}}
PHONE = "390x844"
MIN_PLOT_HEIGHT_AT_1440 = 560
EQUAL_SCALE_TOLERANCE = 0.02
MAX_TABS_TO_THE_MAP = 6
DECODE_WAIT_MS = 1000  # the criterion: a tap on empty space changes the decoded image within 1 s
HOLD_MS = 450           # longer than the map's 300 ms before a held finger drives the lens

BOX_JS = ("(e) => { const r = e.getBoundingClientRect(); "
          "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height}; }")
# The pixels the map's lens shows now, as a data URI.
LENS_JS = f"() => {MAP_JS}.lens.toDataURL()"
RANGES_JS = f"() => {{ const f = {MAP_JS}.overlay._fullLayout; return [f.xaxis.range, f.yaxis.range]; }}"
# What the lens says when it shows the decode at a spot of the map (page pixels).
LENS_LABEL_AT_JS = f"""([px, py]) => {{ const m = {MAP_JS}, r = m.overlay.getBoundingClientRect();
    return m.spotLabel(m.toData(px - r.left, py - r.top)); }}"""
LENS_CAPTION_JS = f"() => {MAP_JS}.lensCaption.textContent"


class SizedVisitor:
    """A visitor whose browser has the size `size`, with a touch screen (a phone's at 390 px)."""

    def __init__(self, browser, server, size: str):
        self.server = server
        self.context = browser.new_context(viewport=SIZES[size], has_touch=True, is_mobile=size == PHONE)
        self.context.set_default_timeout(90_000)
        self.context.add_init_script(RUN_COUNTER_JS)
        self.page = self.context.new_page()

    def open(self, path: str = "/"):
        self.page.goto(self.server.url + path, wait_until="domcontentloaded")
        return self.page


@pytest.fixture(params=list(SIZES))
def size(request) -> str:
    return request.param


@pytest.fixture
def landing(browser, warm_app, log_offset, size, assert_no_exceptions):
    """The landing page (`/`) at `size`, its map drawn; no exception on it at the end."""
    visitor = SizedVisitor(browser, warm_app, size)
    page = open_explore(visitor, "/")
    yield page
    shown = exception_texts(page)
    visitor.context.close()
    assert not shown, shown
    assert_no_exceptions()


def box(locator) -> dict:
    return locator.evaluate(BOX_JS)


def plot_area(page) -> dict:
    area = map_points(page)["area"]
    return {**area, "height": area["bottom"] - area["top"]}


def in_view(page, selector: str) -> bool:
    """Whether the top of the element is on the screen now."""
    return page.evaluate(f"""() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();
        return r.top >= 0 && r.top < innerHeight - 40; }}""")


def test_the_whole_plot_is_on_the_first_screen(landing, size):
    page = landing
    area, viewport = plot_area(page), SIZES[size]
    assert page_scroll(page) == 0
    assert 0 <= area["top"] and area["bottom"] <= viewport["height"], area
    assert 0 <= area["left"] and area["right"] <= viewport["width"], area
    if size == "1440x900":
        assert area["height"] >= MIN_PLOT_HEIGHT_AT_1440, area
    axes = map_axes(page)
    assert axes["points"] > 0 and axes["outside"] == 0, axes
    assert axes["up"] == pytest.approx(axes["across"], rel=EQUAL_SCALE_TOLERANCE), axes


@pytest.mark.parametrize("size", ["1440x900", "1024x768"], indirect=True)
def test_the_controls_take_one_row_and_the_decoder_sits_beside_the_map(landing, size):
    page = landing
    controls = page.locator(".st-key-map_controls > div").all()
    bottoms = [box(control)["bottom"] for control in controls]
    assert len(controls) >= 5 and max(bottoms) - min(bottoms) < 4, bottoms
    map_box = box(page.locator(".st-key-latent_map"))
    assert all(b <= map_box["top"] for b in bottoms)
    # While nothing is selected, the decoder at the cursor, large, beside the map; the map's small lens steps aside.
    lens = page.locator(".st-key-inspect_card .ic-lens canvas[role=img]")
    lens_box = box(lens)
    assert lens.is_visible() and lens_box["left"] >= plot_area(page)["right"] and lens_box["width"] >= 200, lens_box
    assert not page.locator(".st-key-latent_map .lm-lens-card").is_visible()
    # It follows the cursor.
    area = plot_area(page)
    page.mouse.move(area["left"] + 30, area["top"] + 30)
    page.mouse.move((area["left"] + area["right"]) / 2, area["top"] + area["height"] / 3, steps=4)
    caption = page.evaluate(LENS_LABEL_AT_JS, [(area["left"] + area["right"]) / 2, area["top"] + area["height"] / 3])
    page.wait_for_function(f"(c) => {{ const h = {component_host_js('inspect_card')}, "
                           "f = (h.shadowRoot || h).querySelector('.ic-lens figcaption'); "
                           "return !!f && f.textContent === c; }", arg=caption)
    # A click replaces the decoder with the card.
    point = isolated_data_points(page, 1)[0]
    page.mouse.click(point["px"], point["py"])
    wait_for_card(page, point["custom"])
    assert not lens.count()


def test_a_tap_on_empty_space_decodes_there(landing):
    page = landing
    spot = empty_spot(page)
    before = page.evaluate(LENS_JS)
    page.touchscreen.tap(spot["px"], spot["py"])
    page.wait_for_function(f"(before) => ({LENS_JS})() !== before", arg=before, timeout=DECODE_WAIT_MS)
    # The lens shows the tapped spot, and the card decodes it too.
    assert page.evaluate(LENS_CAPTION_JS) == page.evaluate(LENS_LABEL_AT_JS, [spot["px"], spot["py"]])
    wait_for_card(page, "location")
    assert page.evaluate(f"() => {MAP_JS}.location") == pytest.approx([spot["x"], spot["y"]], abs=1e-3)


def test_a_tap_on_a_point_shows_its_card_in_view(landing, size):
    page = landing
    point = isolated_data_points(page, 1)[0]
    page.touchscreen.tap(point["px"], point["py"])
    wait_for_card(page, point["custom"])
    page.wait_for_function(f"""() => {{ const r = {component_host_js('inspect_card')}.getBoundingClientRect();
        return r.top >= 0 && r.top < innerHeight - 40; }}""")
    if size == PHONE:  # the card is under the map: the page scrolled to it, and a button goes back
        assert page_scroll(page) > 0 and not in_view(page, ".st-key-latent_map .lm-plot")
        page.locator(".st-key-inspect_card").get_by_role("button", name="Back to the map").click()
        page.wait_for_function(f"() => {{ const r = {MAP_JS}.plot.getBoundingClientRect(); "
                               "return r.top >= 0 && r.top < innerHeight / 2; }")


def test_a_swipe_over_the_map_scrolls_the_page_and_leaves_the_axes(landing):
    page = landing
    area = plot_area(page)
    ranges = page.evaluate(RANGES_JS)
    x, y = (area["left"] + area["right"]) / 2, area["top"] + 0.8 * area["height"]
    touch_drag(page, x, y, 0, -0.6 * area["height"])
    page.wait_for_function(f"() => ({PAGE_SCROLL_JS})() > 0")
    page.wait_for_timeout(300)  # any pan Plotly would make lands by now
    assert page.evaluate(RANGES_JS) == ranges
    assert page.evaluate(f"() => {MAP_JS}.location") is None  # a swipe is not a tap


@pytest.mark.parametrize("size", ["1440x900", "1024x768"], indirect=True)
def test_the_mouse_wheel_over_the_map_scrolls_the_page(landing):
    page = landing
    area = plot_area(page)
    ranges = page.evaluate(RANGES_JS)
    page.mouse.move((area["left"] + area["right"]) / 2, area["top"] + area["height"] / 2)
    page.mouse.wheel(0, 300)
    page.wait_for_function(f"() => ({PAGE_SCROLL_JS})() > 0")
    page.wait_for_timeout(300)  # any zoom Plotly would make lands by now
    assert page.evaluate(RANGES_JS) == ranges


def test_a_held_finger_moves_the_lens_and_the_page_stays(landing):
    page = landing
    area = plot_area(page)
    ranges = page.evaluate(RANGES_JS)
    width = area["right"] - area["left"]
    x, y = area["left"] + 0.3 * width, area["top"] + 0.7 * area["height"]
    dx, dy = 0.4 * width, -0.4 * area["height"]
    # Where the finger is put down, then where it is lifted: the lens follows it.
    start, end = page.evaluate(LENS_LABEL_AT_JS, [x, y]), page.evaluate(LENS_LABEL_AT_JS, [x + dx, y + dy])
    touch_drag(page, x, y, dx, dy, hold_ms=HOLD_MS)
    assert start != end and page.evaluate(LENS_CAPTION_JS) == end
    assert page_scroll(page) == 0 and page.evaluate(RANGES_JS) == ranges


def test_the_map_is_reached_in_six_tab_presses(landing):
    page = landing
    tabs = 0
    focused = f"() => document.activeElement === {MAP_JS}.overlay"
    while tabs < MAX_TABS_TO_THE_MAP and not page.evaluate(focused):
        page.keyboard.press("Tab")
        tabs += 1
        if page.evaluate("() => document.activeElement.textContent") == "Skip to the map":
            page.keyboard.press("Enter")
    assert page.evaluate(focused), f"the map is not reached in {MAX_TABS_TO_THE_MAP} Tab presses"


@needs_axe
def test_axe_finds_no_critical_or_serious_violation(landing):
    page = landing
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run()).violations.map(v => ({id: v.id, impact: v.impact, "
                               "nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))")
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, "\n".join(f"{v['id']} ({v['impact']}): {len(v['nodes'])} nodes, e.g. {v['nodes'][:2]}"
                                   for v in blocking)
