"""The static Plotly figures drawn by real Plotly.js in Chromium: what overlaps what on screen.

No Streamlit server: each figure is rendered on a blank page at the width the app gives it.
"""

from __future__ import annotations

import numpy as np
import pytest

from latent_explorer.figures import MapSpec, Overlay, latent_map, prior_circle_overlays

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")


def demo_map(height: int) -> MapSpec:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 2))
    return MapSpec(points=points, labels=np.arange(500) % 10, class_names=CLASS_NAMES, axis_titles=("z1", "z2"),
                   height=height, overlays=[Overlay(np.array([0.0, 1.0]), np.array([0.0, 1.0]), "direction"),
                                            *prior_circle_overlays(projected=False)])


def boxes(page, selector: str) -> list[dict]:
    return page.evaluate(f"() => [...document.querySelectorAll('{selector}')].map(e => {{"
                         " const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; })")


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


@pytest.mark.parametrize("width, height", [(420, 340), (560, 380), (900, 560)])  # Edit's and Sample's map columns
def test_map_legend_keeps_off_the_axis_titles(browser, width, height):
    page = browser.new_page(viewport={"width": width + 40, "height": height + 200})
    try:
        page.set_content(latent_map(demo_map(height)).to_html(include_plotlyjs=True, full_html=True,
                                                                default_width=f"{width}px"))
        page.wait_for_selector(".legend .traces")
        legend = boxes(page, ".legend .traces")
        titles = boxes(page, ".g-xtitle text, .g-ytitle text")
        assert len(titles) == 2 and legend
        clashes = [(item, title) for item in legend for title in titles if overlap(item, title)]
        assert not clashes, f"legend entries overlap an axis title: {clashes}"
    finally:
        page.close()
