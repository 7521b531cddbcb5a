"""Image marks in a real browser (Debian's Chromium through Playwright): zoomed in until at most 400 points are
visible, how long from the last zoom step until every mark shows its original image, how many bytes the one
binary message of original images weighs, and how many script runs the zoom cost.

Each trial zooms the Explore map towards a random data point in a few quick steps (Plotly.relayout, 40 ms
apart, like a wheel), the last of which leaves between 20 and 400 points visible; the time runs, inside the
page, from that last step to the second animation frame after the map laid the marks out (the frame that puts
them on screen). Then the view goes back to the whole map and zooms to the same window again: those images are
in the browser already, so that return needs no message and no run.

    python -m benchmarks.image_marks                      # the Fashion-MNIST map (10,000 points), 5 trials
    python -m benchmarks.image_marks --model digits --trials 3

Check `uptime` first; the script prints the load average before and after. It prints its figures (and writes
them as JSON with --json); few trials, so medians and ranges, not percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics

from devtools.browser import MAP_JS as MAP
from devtools.browser import (
    RUN_COUNTER_JS,
    VIEWPORT,
    StreamlitServer,
    launch_chromium,
    script_runs_started,
    wait_for_app,
    wait_for_map,
)

STEP_MS = 40
STEPS = 5

# A zoom window around point `index` (at most 70 % of the map's width) holding 20 to 300 points.
WINDOW_JS = "(index) => { const m = " + MAP + """;
  const [[x0, x1], [y0, y1]] = m.data.extent, cx = m.x[index], cy = m.y[index];
  // The plot's own shape: with equal axes, Plotly widens any other window to it.
  const area = m.plotArea(), ratio = m.data.equal_axes ? area.height / area.width : (y1 - y0) / (x1 - x0);
  let half = 0.35 * (x1 - x0);
  const count = (h) => { let n = 0; for (let i = 0; i < m.x.length; i++) {
    if (Math.abs(m.x[i] - cx) <= h && Math.abs(m.y[i] - cy) <= h * ratio) n++; } return n; };
  while (count(half) > 300) half *= 0.8;
  return count(half) >= 20 ? [[cx - half, cx + half], [cy - half * ratio, cy + half * ratio]] : null; }"""

# Zooms from the whole map to `window` in STEPS steps; returns ms from the last step to the marks on screen.
ZOOM_JS = "async ([target, steps, stepMs]) => { const m = " + MAP + """, LX = window.__latentExplorer;
  const [[x0, x1], [y0, y1]] = m.data.extent, before = LX.marks.length;
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  let last = 0;
  for (let s = 1; s <= steps; s++) {
    const f = s / steps, mix = (a, b) => a + (b - a) * f;
    last = performance.now();
    await window.Plotly.relayout(m.overlay, {'xaxis.range': [mix(x0, target[0][0]), mix(x1, target[0][1])],
                                             'yaxis.range': [mix(y0, target[1][0]), mix(y1, target[1][1])]});
    if (s < steps) await new Promise((r) => setTimeout(r, stepMs));
  }
  const shown = () => LX.marks.slice(before).find((k) => k.name === 'map-image-marks' && k.count > 0
                                                   && k.source === 'originals' && k.t >= last);
  while (!shown()) {
    if (performance.now() - last > 60000) throw new Error('no image marks within a minute');
    await new Promise((r) => setTimeout(r, 2));
  }
  await m.drawing; await frame(); await frame();
  const messages = LX.marks.slice(before).filter((k) => k.name === 'map-thumbnails');
  return {ms: performance.now() - last, marks: shown().count, messages: messages.map((k) => [k.count, k.bytes])}; }"""

RESET_JS = "async () => { const m = " + MAP + """;
  await window.Plotly.relayout(m.overlay, {'xaxis.autorange': true, 'yaxis.autorange': true});
  while (Number(m.host.dataset.imageMarks || 0) > 0) await new Promise((r) => setTimeout(r, 5)); }"""


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.0f} ms (min {min(values):.0f}, max {max(values):.0f})"


def run(model: str, trials: int, seed: int) -> dict:
    from playwright.sync_api import sync_playwright

    server = StreamlitServer("app.py", env={"LATENT_EXPLORER_LANDING": model}).start()
    try:
        server.wait_healthy()
        with sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(180_000)
            context.add_init_script(RUN_COUNTER_JS)
            page = context.new_page()
            page.goto(server.url + "/", wait_until="domcontentloaded")
            wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=300)
            wait_for_map(page, timeout_s=300)
            count = page.evaluate(f"() => {MAP}.x.length")
            rng = random.Random(seed)
            first, back = [], []
            while len(first) < trials:
                window = page.evaluate(WINDOW_JS, rng.randrange(count))
                if window is None:
                    continue
                page.evaluate(RESET_JS)
                runs = script_runs_started(page)
                result = page.evaluate(ZOOM_JS, [window, STEPS, STEP_MS])
                page.wait_for_timeout(500)  # any run the zoom caused has started
                result["runs"] = script_runs_started(page) - runs
                first.append(result)
                page.evaluate(RESET_JS)
                runs = script_runs_started(page)
                again = page.evaluate(ZOOM_JS, [window, STEPS, STEP_MS])
                page.wait_for_timeout(500)
                again["runs"] = script_runs_started(page) - runs
                back.append(again)
            browser.close()
    finally:
        server.stop()
    return {"model": model, "points": count, "steps": STEPS, "step_ms": STEP_MS, "first": first, "back": back}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fashion-mnist", help="shipped pair the map shows (fashion-mnist, digits)")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    before = load()
    print(f"load average before: {before}")
    result = run(args.model, args.trials, args.seed)
    result["load_before"], result["load_after"] = before, load()
    print(f"load average after: {result['load_after']}")
    first, back = result["first"], result["back"]
    print(f"{result['model']}: {result['points']:,} points, zoomed in {STEPS} steps {STEP_MS} ms apart")
    print(f"  last zoom step -> every original mark on screen: {summary([r['ms'] for r in first])}")
    print(f"    marks per view: {[r['marks'] for r in first]}")
    print(f"    messages per zoom [images, bytes]: {[r['messages'] for r in first]}")
    print(f"    script runs per zoom: {[r['runs'] for r in first]}")
    print(f"  the same view again (images held): {summary([r['ms'] for r in back])}; "
          f"messages {[len(r['messages']) for r in back]}, runs {[r['runs'] for r in back]}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
