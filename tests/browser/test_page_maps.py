"""Edit's, Sample's and Compare's latent maps in Chromium: the Explore map's component (one renderer), drawn by
Plotly.js with the page's marks and their legend entries, legends clear of the axis titles, and a click on a point
that neither inspects nor reruns (those maps are to look at)."""

from __future__ import annotations

import pytest

from devtools.browser import component_host_js, wait_for_app

pytestmark = pytest.mark.browser


def open_map(visitor, path: str, key: str):
    page = visitor.open(path)
    page.wait_for_function(f"() => {{ const h = {component_host_js(key)}; "
                           "return !!(h && h.dataset.ready === '1' && Number(h.dataset.drawn || 0) > 0); }",
                           timeout=120_000)
    wait_for_app(page)
    return page


def legend(page, key: str) -> list[str]:
    return page.locator(f".st-key-{key} g.legend .traces text.legendtext").all_text_contents()


def boxes(page, selector: str) -> list[dict]:
    return page.evaluate(f"() => [...document.querySelectorAll('{selector}')].map(e => {{"
                         " const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; })")


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def check_the_map(page, key: str, marks: list[str]) -> dict:
    """The component drew the points and the page's marks; legend clear of the axis titles; no lens, no regions."""
    map_js = f"{component_host_js(key)}.__latentMap"
    assert legend(page, key) == [str(d) for d in range(10)] + marks
    shapes = page.evaluate(f"() => {map_js}.overlay.layout.shapes.length")
    assert shapes >= len(marks)
    entries = boxes(page, f".st-key-{key} .legend .traces")
    titles = boxes(page, f".st-key-{key} .g-xtitle text, .st-key-{key} .g-ytitle text")
    assert len(titles) == 2 and not [(e, t) for e in entries for t in titles if overlap(e, t)]
    ticks = boxes(page, f".st-key-{key} .xtick text")
    assert not [t for t in ticks if overlap(t, titles[0])], "the x axis's title sits on its tick labels"
    assert not page.locator(f".st-key-{key} .lm-lens-card").is_visible()
    assert page.locator(f".st-key-{key} .modebar-btn[data-val='lasso']").count() == 0
    # A click on a drawn point: nothing selected, no event sent to the server (Compare's page polls its log p(x)
    # meanwhile, so runs are not counted here).
    point = page.evaluate(f"""() => {{ const m = {map_js}, box = m.overlay.getBoundingClientRect();
        for (let i = 0; i < m.x.length; i++) if (m.insidePlot(m.screenX[i], m.screenY[i]))
          return [box.left + m.screenX[i], box.top + m.screenY[i]];
        return null; }}""")
    page.mouse.click(*point)
    page.wait_for_timeout(600)
    assert page.evaluate(f"() => {map_js}.seq") == 0
    assert page.evaluate(f"() => {component_host_js(key)}.dataset.selected || ''") == ""
    return {"shapes": shapes}


def test_edit_sample_and_compare_draw_their_maps_with_the_explore_component(visitor, assert_no_exceptions):
    page = open_map(visitor, "/edit?model=digits", "attr_map")
    check_the_map(page, "attr_map", ["direction", "moved z"])
    visitor.screenshot("edit-map")
    page = open_map(visitor, "/sample?model=digits", "interpolation_map")
    check_the_map(page, "interpolation_map", ["lerp", "slerp", "prior 1σ", "prior 2σ"])
    visitor.screenshot("sample-map")
    page = open_map(visitor, "/compare?model=digits", "compare_map_vae")
    for key, title in (("compare_map_ae", "AE codes μ(x)"), ("compare_map_vae", "VAE codes μ(x)")):
        check_the_map(page, key, ["prior 1σ", "prior 2σ"])
        assert page.locator(f".st-key-{key} .gtitle").text_content() == title
    visitor.screenshot("compare-maps")
    assert_no_exceptions(page)
