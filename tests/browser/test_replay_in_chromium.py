"""The training replay in real Chromium: the scrubber and the play button move the shipped digits map's points
through their codes epoch by epoch, ending on the final codes, and a click on an earlier epoch inspects nothing
stale."""

from __future__ import annotations

import re

import numpy as np
import pytest

from devtools.browser import (
    MAP_JS,
    click_at,
    component_host_js,
    flip_switch,
    isolated_data_points,
    map_state,
    open_explore,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from latent_explorer.session import shipped_workspace

pytestmark = pytest.mark.browser

HOST = component_host_js("latent_map")
# The drawn x and y of every held-out point, read from Plotly's own traces, in image order.
DRAWN_JS = "() => { const m = " + MAP_JS + """, gd = m.overlay, n = m.heldOut();
  const x = new Array(n).fill(null), y = new Array(n).fill(null);
  m.traceOf.forEach(({split, c}, k) => {
    if (split !== 'held-out' || c === null) return;
    let j = 0;
    for (let i = 0; i < n; i++) if (m.labels[i] === c) { x[i] = gd.data[k].x[j]; y[i] = gd.data[k].y[j]; j++; }
  });
  return {x, y};
}"""


def drawn(page) -> np.ndarray:
    xy = page.evaluate(DRAWN_JS)
    return np.stack([np.array(xy["x"], dtype=float), np.array(xy["y"], dtype=float)], axis=1)


def point_on_page(page, index: int) -> tuple[float, float]:
    """Where the final map draws an image, in page pixels as the page is scrolled now."""
    return tuple(page.evaluate("(i) => { const m = " + MAP_JS + """, box = m.overlay.getBoundingClientRect();
        return [box.left + m.screenX[i], box.top + m.screenY[i]]; }""", index))


def wait_for_epoch(page, epoch: int) -> None:
    page.wait_for_function(f"(e) => {HOST}.dataset.replayEpoch === String(e) && "
                           f"{HOST}.dataset.replayPlaying !== '1'", arg=int(epoch), timeout=60_000)


def open_replay(page):
    flip_switch(page, "Layers", re.compile(r"^Training replay"))
    wait_for_app(page)
    page.wait_for_selector(".lm-replay[data-ready='1']")
    wait_for_map(page)


def test_the_replay_plays_from_the_first_epoch_to_the_final_codes(visitor):
    page = open_explore(visitor)
    ws = shipped_workspace("digits")
    frames, epochs = ws.replay_points("vae"), ws.replay_epochs("vae")
    final = ws.map_points["vae"]
    open_replay(page)
    wait_for_epoch(page, epochs[-1])
    np.testing.assert_allclose(drawn(page), final, atol=1e-5)
    slider = page.get_by_label("Training epoch shown on the map")
    slider.focus()
    page.keyboard.press("Home")  # the scrubber is a range input: keys move it
    wait_for_epoch(page, epochs[0])
    assert page.locator(".lm-replay-label").text_content().startswith(f"Epoch {epochs[0]} of {epochs[-1]}")
    first = drawn(page)
    step = (frames.max(axis=(0, 1)) - frames.min(axis=(0, 1))) / 65535
    np.testing.assert_allclose(first, frames[0], atol=float(step.max()) * 1.01)
    assert np.abs(first - final).max() > 0.5, "the first epoch's map should differ from the final one"
    page.keyboard.press("ArrowRight")
    wait_for_epoch(page, epochs[1])
    np.testing.assert_allclose(drawn(page), frames[1], atol=float(step.max()) * 1.01)

    seen = set()
    page.get_by_role("button", name="Play the training replay").click()
    page.wait_for_function(f"() => {HOST}.dataset.replayPlaying === '1'")
    while page.evaluate(f"() => {HOST}.dataset.replayPlaying") == "1":
        seen.add(int(page.evaluate(f"() => {HOST}.dataset.replayEpoch")))
        page.wait_for_timeout(100)
    wait_for_epoch(page, epochs[-1])
    assert len(seen) > 3, f"the play button should step through the epochs, saw {sorted(seen)}"
    np.testing.assert_allclose(drawn(page), final, atol=1e-5)


def test_a_click_on_an_earlier_epoch_returns_to_the_final_map_and_inspects_nothing_stale(visitor):
    page = open_explore(visitor)
    ws = shipped_workspace("digits")
    epochs = ws.replay_epochs("vae")
    open_replay(page)
    page.get_by_label("Training epoch shown on the map").focus()
    page.keyboard.press("Home")
    wait_for_epoch(page, epochs[0])
    # The map takes the focus now, without scrolling: a click would give it the focus and might scroll the page
    # under the pointer.
    page.evaluate(MAP_JS + ".overlay.focus({preventScroll: true})")
    target = isolated_data_points(page, 1)[0]  # where a point of the final map lies, in page pixels
    click_at(page, target["px"], target["py"])
    wait_for_epoch(page, epochs[-1])
    assert map_state(page)["selected"] is None, "a click on an earlier epoch's map must not inspect a point"
    assert "Back at the final epoch" in page.locator(".st-key-latent_map .lm-status").text_content()
    np.testing.assert_allclose(drawn(page), ws.map_points["vae"], atol=1e-5)
    # The final map: a click inspects the point under it. The pointer goes there first: the lens's caption
    # changes with it, and on a page scrolled to its end that moves the map a line (not the replay's doing).
    page.mouse.move(*point_on_page(page, target["custom"]))
    page.wait_for_function(f"() => !{HOST}.dataset.lens.includes('move over')")
    click_at(page, *point_on_page(page, target["custom"]))
    wait_for_card(page, target["custom"])
