"""Everyone can use the app: axe-core finds no critical or serious violation on any page, every picture has a
name, and the Explore map, the card's neighbours and the editor's pad work with the keyboard.

axe-core comes from npm (package.json; scripts/test.sh runs `npm ci`) and is injected into each page.
"""

from __future__ import annotations

import math
import os
import re

import pytest

from devtools.browser import (
    MAP_JS,
    REPO_ROOT,
    component_host_js,
    editor_z,
    map_points,
    open_explore,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")
PAGES = {"explore": "/?model=digits&point=12", "edit": "/edit?model=digits", "sample": "/sample?model=digits",
         "compare": "/compare?model=digits", "train": "/train"}
HEADINGS = {"explore": "Explore the latent space", "edit": re.compile(r"^Edit"), "sample": re.compile(r"^Sample"),
            "compare": re.compile(r"^Compare"), "train": re.compile(r"^Train")}

needs_axe = pytest.mark.skipif(not AXE.is_file() and os.environ.get("CI") != "true",
                               reason="axe-core is missing: run `npm ci` in the repository (scripts/test.sh does)")

# The accessible name of every picture on the page, light DOM and the components' open shadow roots alike.
PICTURES_JS = """() => {
  const found = [];
  const visit = (root) => {
    for (const e of root.querySelectorAll('img, canvas, [role="application"]')) {
      if (!e.getClientRects().length) continue; // helper canvases off the page (text measuring)
      // Streamlit's dataframes draw on a canvas and expose their cells as an accessible grid of their own.
      // Plotly's WebGL layers are parts of a chart, not pictures of their own (the map's figure is named).
      const hidden = e.closest('[aria-hidden="true"]') || e.closest('[data-testid^="stDataFrame"]')
        || (e.tagName === 'CANVAS' && e.closest('.js-plotly-plot'));
      found.push({tag: e.tagName, role: e.getAttribute('role'), hidden: !!hidden, where: e.className,
                  name: e.tagName === 'IMG' ? e.getAttribute('alt') : e.getAttribute('aria-label')});
    }
    for (const e of root.querySelectorAll('*')) if (e.shadowRoot) visit(e.shadowRoot);
  };
  visit(document);
  return found;
}"""


def open_page(visitor, name: str):
    page = visitor.open(PAGES[name])
    wait_for_app(page, page.get_by_role("heading", name=HEADINGS[name]).first)
    if name == "explore":
        wait_for_map(page)
        wait_for_card(page, 12)
        wait_for_app(page, page.get_by_text("KL (nats)"))
        page.get_by_text("The mathematics of this point").click()
        wait_for_app(page, page.get_by_text("An importance-weighted estimate"))
    elif name != "train":
        wait_for_app(page, page.get_by_test_id("stImage"))
    return page


@needs_axe
@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_critical_or_serious_violation(visitor, name):
    page = open_page(visitor, name)
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run()).violations.map(v => ({id: v.id, impact: v.impact, "
                               "nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))")
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    visitor.screenshot(name)
    assert not blocking, "\n".join(f"{v['id']} ({v['impact']}): {len(v['nodes'])} nodes, e.g. {v['nodes'][:2]}"
                                   for v in blocking)


@pytest.mark.parametrize("name", ["explore", "edit", "sample", "compare"])
def test_every_picture_has_a_name(visitor, name):
    page = open_page(visitor, name)
    pictures = [p for p in page.evaluate(PICTURES_JS) if not p["hidden"]]
    assert pictures
    unnamed = [p for p in pictures if not (p["name"] or "").strip()]
    assert not unnamed, [p["where"] for p in unnamed]
    # Canvases are pictures or controls to assistive technology only with a role.
    assert all(p["role"] in ("img", "application") for p in pictures if p["tag"] == "CANVAS"), pictures
    if name == "explore":
        names = [p["name"] for p in pictures]
        assert any(re.search(r"image #12, \w", n) for n in names), names  # the card names its image and class
        assert any(n.startswith("Latent map of") for n in names), names


def test_the_map_works_with_the_keyboard(visitor):
    page = open_explore(visitor, "/?model=digits")
    # Tab alone, from the controls above it, reaches the map.
    page.get_by_test_id("stPopoverButton").filter(has_text="Layers").focus()
    for _ in range(30):  # the popovers, Share, then the map
        page.keyboard.press("Tab")
        if page.evaluate(f"() => document.activeElement === {MAP_JS}.overlay"):
            break
    assert page.evaluate(f"() => document.activeElement === {MAP_JS}.overlay")
    # Arrow keys move a cursor that decodes where it stands, like the mouse's hover, and say where it is.
    page.keyboard.press("ArrowRight")
    first = page.evaluate(f"() => {MAP_JS}.lensCaption.textContent")
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    assert re.match(r"z = \(", first) and page.evaluate(f"() => {MAP_JS}.lensCaption.textContent") != first
    status = page.evaluate(f"() => {MAP_JS}.status.textContent")
    assert "nearest image #" in status
    # Plus zooms Plotly's axes in about the cursor, minus back out.
    width = f"() => {{ const [[x0, x1]] = {MAP_JS}.visibleExtent(); return x1 - x0; }}"
    whole = page.evaluate(width)
    page.keyboard.press("+")
    page.wait_for_function(f"() => ({width})() < {whole} * 0.7")
    page.keyboard.press("-")
    page.wait_for_function(f"() => Math.abs(({width})() - {whole}) < {whole} * 0.01")
    # Enter inspects the image nearest the cursor.
    cursor = [float(v) for v in page.evaluate(f"() => {component_host_js('latent_map')}.dataset.cursor").split(",")]
    snapshot = map_points(page)
    box = page.evaluate(f"() => {{ const m = {MAP_JS}; const [px, py] = m.toPx({cursor[0]}, {cursor[1]}); "
                        "const r = m.overlay.getBoundingClientRect(); return [r.left + px, r.top + py]; }")
    nearest = min(snapshot["points"], key=lambda p: math.hypot(p["px"] - box[0], p["py"] - box[1]))
    page.keyboard.press("Enter")
    wait_for_card(page, nearest["custom"])
    assert page.get_by_role("heading", name=f"Image #{nearest['custom']} · {nearest['name']}").is_visible()


def test_the_cards_neighbours_work_with_the_keyboard(visitor):
    page = open_explore(visitor, "/?model=digits&point=12")
    wait_for_card(page, 12)
    neighbour = page.locator(".st-key-inspect_card .ic-link").first
    label = neighbour.get_attribute("aria-label")
    index = int(re.match(r"#(\d+) · ", label).group(1))
    assert neighbour.get_attribute("tabindex") == "0" and neighbour.get_attribute("role") == "button"
    neighbour.focus()
    page.keyboard.press("Enter")
    wait_for_card(page, index)
    wait_for_app(page, lambda: f"point={index}" in page.url)


def test_the_editors_pad_works_with_the_keyboard(visitor):
    page = visitor.open("/edit?model=digits&z=0.5,0.5")
    wait_for_app(page, page.get_by_role("heading", name=HEADINGS["edit"]).first)
    page.wait_for_function(f"() => {component_host_js('latent_editor')}?.dataset.z === '0.50,0.50'")
    pad = page.locator(".st-key-latent_editor canvas.le-pad")
    assert pad.get_attribute("tabindex") == "0"
    pad.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"() => {component_host_js('latent_editor')}.dataset.z !== '0.50,0.50'")
    z1, z2 = (float(v) for v in editor_z(page).split(","))
    assert z1 > 0.5 and z2 < 0.5
    # Letting go of the key commits the vector, as letting go of the pointer does: the link carries it.
    wait_for_app(page, lambda: f"z={z1:.3f},{z2:.3f}" in page.url.replace("%2C", ","))
