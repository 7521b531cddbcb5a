"""Every latent map's axes hold all its points at one scale across and up; the Explore map is the keyboard's
first stop (a skip link) and every switch stays within the keyboard's reach (in the "Layers" and "View" popovers); a
decoded location travels in a link; the models menu shows each name in full."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.browser import (
    MAP_JS,
    click_at,
    component_host_js,
    empty_spot,
    flip_switch,
    map_axes,
    map_state,
    open_explore,
    wait_for_app,
    wait_for_card,
)

pytestmark = pytest.mark.browser

MAX_TABS_TO_THE_MAP = 6
EQUAL_SCALE_TOLERANCE = 0.02


def check_axes(page, key: str) -> None:
    axes = map_axes(page, key)
    assert axes["points"] > 0 and axes["outside"] == 0, (key, axes)
    assert axes["up"] == pytest.approx(axes["across"], rel=EQUAL_SCALE_TOLERANCE), (key, axes)


@pytest.mark.parametrize("model", ["digits", "fashion-mnist"])
def test_every_map_holds_all_its_points_at_equal_scale(visitor, assert_no_exceptions, model):
    if model != "digits":  # the Fashion-MNIST pair's wide codes are where percentile axes cut points
        from latent_explorer.shipped import shipped_keys
        if model not in shipped_keys():
            pytest.skip(f"the {model} images are not on this machine")
    page = open_explore(visitor, f"/?model={model}")
    check_axes(page, "latent_map")
    # A zoom the visitor made is kept when a switch reruns the page and the points are drawn again.
    visible = f"() => {MAP_JS}.visibleExtent()"
    whole = page.evaluate(visible)
    page.evaluate(f"() => {MAP_JS}.overlay.focus()")
    page.keyboard.press("+")
    width = whole[0][1] - whole[0][0]
    page.wait_for_function(f"() => {{ const [[x0, x1]] = ({visible})(); return x1 - x0 < {width} * 0.7; }}")
    zoomed = page.evaluate(visible)
    drawn = page.evaluate(f"() => Number({component_host_js('latent_map')}.dataset.drawn)")
    flip_switch(page, "View", "Colour-blind-safe colours")
    page.wait_for_function(f"() => Number({component_host_js('latent_map')}.dataset.drawn) > {drawn}")
    wait_for_app(page)
    assert sum(page.evaluate(visible), []) == pytest.approx(sum(zoomed, []))
    for path, keys in (("/edit", ["attr_map"]), ("/sample", ["interpolation_map"]),
                       ("/compare", ["compare_map_ae", "compare_map_vae"])):
        page = visitor.open(f"{path}?model={model}")
        for key in keys:
            check_axes(page, key)
    assert_no_exceptions(page)


def focused_is_map(page) -> bool:
    return page.evaluate(f"() => document.activeElement === {MAP_JS}.overlay")


def test_the_map_is_reached_in_six_tab_presses_and_every_switch_on_the_way(visitor, assert_no_exceptions):
    page = open_explore(visitor, "/?model=digits")
    tabs = 0
    while tabs < MAX_TABS_TO_THE_MAP and not focused_is_map(page):
        page.keyboard.press("Tab")
        tabs += 1
        if page.evaluate("() => document.activeElement.textContent") == "Skip to the map":
            page.keyboard.press("Enter")
    assert focused_is_map(page), f"the map is not reached in {MAX_TABS_TO_THE_MAP} Tab presses"
    page.keyboard.press("ArrowRight")  # the keyboard drives the map from there
    assert page.evaluate(f"() => {component_host_js('latent_map')}.dataset.cursor")
    # Every switch is still within the keyboard's reach: the popovers that hold them are stops of the Tab path from
    # the top of the page, Enter opens one, and Tab goes through its switches.
    page.locator("#lx-skip-to-map").focus()  # the top of the path
    menus = []
    for _ in range(40):
        page.keyboard.press("Tab")
        menu = page.evaluate("() => document.activeElement.closest('[data-testid=stPopoverButton]') ? "
                             "document.activeElement.textContent : null")
        if menu and ("Layers" in menu or "View" in menu) and menu not in menus:
            menus.append(menu)
            page.keyboard.press("Enter")
            body = page.get_by_test_id("stPopoverBody")
            body.wait_for()
            count = body.evaluate("(b) => (window.__switches = [...b.querySelectorAll('[role=switch]:not(:disabled)')])"
                                  ".length")
            reached = set()
            # Streamlit draws an open popover at the end of the page: Tab reaches it after the page's other stops.
            for _ in range(60):
                reached.add(page.evaluate("() => window.__switches.indexOf(document.activeElement)"))
                if set(range(count)) <= reached:
                    break
                page.keyboard.press("Tab")
            assert set(range(count)) <= reached, (menu, set(range(count)) - reached)
            page.keyboard.press("Escape")
            body.wait_for(state="detached")
            if len(menus) == 2:
                break
    assert len(menus) == 2 and count >= 1, menus
    assert_no_exceptions(page)


def test_the_models_menu_shows_each_name_in_full(visitor, assert_no_exceptions):
    page = visitor.open("/?model=digits")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    page.get_by_test_id("stSidebar").get_by_role("combobox", name="Models").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    names = options.evaluate_all("(all) => all.map(o => { const t = o.querySelector('div') || o; "
                                 "return [t.textContent, t.scrollWidth <= t.clientWidth]; })")
    assert len(names) >= 2 and all(whole for _, whole in names), names
    assert any("(8x8, scikit-learn, embedded) — shipped" in name for name, _ in names), names
    assert_no_exceptions(page)


def test_a_decoded_location_travels_in_the_link(visitor, new_visitor, assert_no_exceptions):
    page = open_explore(visitor, "/?model=digits")
    spot = empty_spot(page)
    click_at(page, spot["px"], spot["py"])
    wait_for_card(page, "location")
    wait_for_app(page, lambda: "at" in parse_qs(urlsplit(page.url).query))
    link = page.url
    at = [float(v) for v in parse_qs(urlsplit(link).query)["at"][0].split(",")]
    assert at == pytest.approx([spot["x"], spot["y"]], abs=0.0006)  # three decimals
    friend = new_visitor()
    opened = open_explore(friend, link[link.index("/", len("http://")):])
    wait_for_card(opened, "location")
    assert map_state(opened)["location"] == pytest.approx(at)
    wait_for_app(opened, opened.get_by_role("heading", name=f"Decoded at z = ({at[0]:.2f}, {at[1]:.2f})"))
    assert_no_exceptions(opened)
