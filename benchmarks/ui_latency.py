"""UI latency of Latent Explorer in a real browser (Debian's Chromium through Playwright), timed to what the
user sees.

Measures, against Streamlit servers this script starts itself:

  floor     the framework's own floor: a minimal page whose @st.fragment holds a slider and a text;
            keyboard ArrowRight on the slider -> the new text on screen
  slider    Edit: ArrowRight on z1 -> the new decode drawn (browser decoding), on digits and the shipped
            Fashion-MNIST pair; and the same with decoding forced onto the server
            (LATENT_EXPLORER_BROWSER_DECODER=off), the path of decoders the browser cannot run
  drag      Edit: the mouse drags z1's thumb for about a second -> decodes drawn per second, runs started
  click     Explore: a click on a real data point (never empty space) -> the inspect card's first image on
            screen, and -> the whole panel (every image of the card painted, the map's highlight drawn),
            on the digits map (360 points) and the 10,000-point Fashion-MNIST map
  hover     Explore: one mouse move over the map -> the decode at the cursor drawn in the lens; and a
            continuous move -> lens frames per second, runs started
  full      Explore with "Training images too" (all 70,000 Fashion-MNIST images): the toggle -> the 70,000
            points drawn (the server's first time apart) and the bytes that came for them, clicks on real
            points as above, and the server's RSS with that map shown
  logpx     click and hover as above on the Fashion-MNIST map coloured by log p(x), while the server computes it
            in the background (a server of its own, with K raised so that the computation outlasts the trials;
            the page polls its progress every second meanwhile)
  switch    a sidebar link -> the new page's title in the DOM
  cold      from launching `streamlit run app.py` to the landing map drawn, in a fresh browser
  memory    RSS of the server process tree with both shipped pairs loaded and both maps shown

Every time runs from the input event (keydown, mousedown, mousemove) to the animation frame after the
result was drawn (the frame that puts it on screen), stamped inside the page with performance.now(): a
capture-phase listener stamps the input and a MutationObserver watches the attributes the components set
when they have drawn (latent_explorer/web/*.js). For clicks and slider steps it also records when the input
left on Streamlit's websocket, when the script run started and ended, the largest websocket frame before
the result and how long the main thread was blocked by long tasks.

    python -m benchmarks.ui_latency                            # full run (about 10 minutes on 2 cores)
    python -m benchmarks.ui_latency --trials 10 --cold-trials 2 --print-only   # quick look
    python -m benchmarks.ui_latency --only floor slider --no-readme --json /tmp/x.json   # an experiment

Check `uptime` first: figures from a loaded machine say nothing. The script prints the load average
before and after and writes benchmarks/results/ui_latency.json and the "UI latency" section of
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks.readme import README, write_section
from devtools.browser import (
    MAP_JS,
    RUN_COUNTER_JS,
    VIEWPORT,
    StreamlitServer,
    component_host_js,
    editor_slider,
    editor_z,
    exception_texts,
    flip_switch,
    isolated_data_points,
    launch_chromium,
    map_points,
    open_popover,
    script_runs_started,
    server_tracebacks,
    set_number,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from devtools.processes import process_tree_rss
from vae_core.diagnostics import PAGE_LOG_PX_SAMPLES_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "ui_latency.json"
SECTION = "## UI latency"
FASHION_CHECKPOINT = REPO_ROOT / "latent_explorer" / "assets" / "fashion-mnist-latent2.pt"
FASHION_DATA = Path("/usr/share/datasets/fashion-mnist")
SERVER_ARGS = ("--server.fileWatcherType", "none")
MEASUREMENTS = ("floor", "slider", "drag", "click", "hover", "full", "training", "logpx", "switch", "cold")
EVERY_FASHION_IMAGE = 70_000

# Budgets from shared/PRODUCT.md, "Budgets", and the issue on instant exploration.
SLIDER_VS_FLOOR = 1.25
CLICK_FIRST_P95_MS = 150.0
CLICK_PANEL_P95_MS = 400.0
HOVER_P95_MS = 2 * 1000 / 60  # "within a frame or two"
DURING_TRAINING_VS_IDLE = 1.5
# K of the log p(x) computed while clicks and hovers are timed: 20x the pages' K, about 100 s for the 10,000 held-out
# Fashion-MNIST images on two quiet cores (benchmarks/README.md, likelihood_cost.py), so it outlasts the trials.
LOG_PX_BENCH_SAMPLES = 2000
LOG_PX_COLOURING = "&colour=log_px"
LOG_PX_PROGRESS = "Computing log p(x) for the colours"
DRAG_MIN_FPS = 20.0
COLD_START_S = 8.0
MEMORY_BYTES = 2**30

FLOOR_APP = '''
import streamlit as st

st.title("Framework floor")


@st.fragment
def floor():
    value = st.slider("value", -4.0, 4.0, 0.0, step=0.05, key="floor_value")
    st.markdown(f"value is {value:.2f}")


floor()
'''

# --- the in-page stopwatch -----------------------------------------------------------------------------------

# arm(probes, trigger): each probe is a function source returning true once its part of the result is drawn;
# the stopwatch stamps the trigger event, the first moment each probe holds, and the animation frame after
# it (when the browser puts that drawing on screen). It also follows Streamlit's run state.
STOPWATCH_JS = r"""
() => {
  if (window.__stopwatch) return;
  const state = () => { const a = document.querySelector('[data-testid="stApp"]');
                        return a ? a.getAttribute('data-test-script-state') : null; };
  window.__stopwatch = {
    arm(probeSources, trigger) {
      const probes = Object.fromEntries(Object.entries(probeSources).map(([k, s]) => [k, eval('(' + s + ')')]));
      const r = {t0: null, hit: {}, frame: {}, runStart: null, runEnd: null};
      this.result = r;
      if (this.obs) this.obs.disconnect();
      if (this.timer) clearInterval(this.timer);
      window.addEventListener(trigger, () => { if (r.t0 === null) r.t0 = performance.now(); },
                              {capture: true, once: true});
      const check = (records) => {
        if (r.t0 === null) return;
        const now = performance.now();
        // Every value the run state took in this batch: a fast run can start and end between callbacks.
        const states = [];
        for (const rec of records || []) {
          if (rec.type === 'attributes' && rec.attributeName === 'data-test-script-state') states.push(rec.oldValue);
        }
        states.push(state());
        for (const s of states.slice(1)) {
          if (r.runStart === null && s === 'running') r.runStart = now;
          if (r.runStart !== null && r.runEnd === null && s === 'notRunning') r.runEnd = now;
        }
        for (const [name, probe] of Object.entries(probes)) {
          if (r.hit[name] !== undefined) continue;
          let ok = false;
          try { ok = !!probe(); } catch (e) { ok = false; }
          if (ok) {
            r.hit[name] = now;
            requestAnimationFrame(() => { r.frame[name] = performance.now(); });
          }
        }
      };
      this.obs = new MutationObserver(check);
      this.obs.observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                                   attributeOldValue: true, characterData: true});
      // Canvas drawing changes no DOM: probes on component state are polled too, every 2 ms.
      this.timer = setInterval(() => check([]), 2);
    },
    stop() { if (this.obs) this.obs.disconnect(); if (this.timer) clearInterval(this.timer); },
  };
}
"""

# Installed before any page script runs: stamps every websocket frame and every long task (main thread
# busy > 50 ms), so a latency can be split into parts.
NETWORK_JS = r"""
(() => {
  const Native = window.WebSocket;
  window.__net = [];
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener('message', (e) => {
        const d = e.data;
        window.__net.push(['recv', performance.now(), d.byteLength || d.size || d.length || 0]);
      });
    }
    send(d) {
      window.__net.push(['send', performance.now(), d.byteLength || d.size || d.length || 0]);
      return super.send(d);
    }
  };
  window.__longtasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
    }).observe({type: 'longtask', buffered: true});
  } catch (e) {}
})();
"""

# From the armed result: when the input left the browser, the largest frame that came back before `until`,
# and how long the main thread was blocked in between.
BREAKDOWN_JS = r"""
(until) => {
  const r = window.__stopwatch.result, t0 = r.t0;
  const net = (window.__net || []).filter(e => e[1] >= t0);
  const sent = net.find(e => e[0] === 'send');
  const before = net.filter(e => e[0] === 'recv' && e[1] <= until);
  let largest = null;
  for (const e of before) if (!largest || e[2] > largest[2]) largest = e;
  let blocked = 0;
  for (const [start, duration] of (window.__longtasks || [])) {
    const a = Math.max(start, t0), b = Math.min(start + duration, until);
    if (b > a) blocked += b - a;
  }
  return {sent_ms: sent ? sent[1] - t0 : null,
          largest_kb: largest ? largest[2] / 1024 : null, largest_ms: largest ? largest[1] - t0 : null,
          received_kb: before.reduce((n, e) => n + e[2], 0) / 1024, blocked_ms: blocked};
}
"""

TEXT_CHANGED = """() => { const p = [...document.querySelectorAll('[data-testid="stMarkdownContainer"] p')]
                           .find(e => e.textContent.startsWith('value is '));
                         return p && p.textContent !== window.__before; }"""
EDITOR_DREW = f"() => {component_host_js('latent_editor')}.dataset.z !== window.__before"
LENS_DREW = f"() => {MAP_JS}.lensCaption.textContent !== window.__before"
CARD = component_host_js("inspect_card")


def title_probe(title: str) -> str:
    return ("() => [...document.querySelectorAll('h1')].map(e => e.textContent.trim())"
            f".some(t => t.startsWith({json.dumps(title)}))")


def arm(page, probes: dict[str, str], trigger: str, before_js: str | None = None) -> None:
    page.evaluate(STOPWATCH_JS)
    if before_js:
        page.evaluate(f"() => {{ window.__before = ({before_js})(); }}")
    page.evaluate("([p, t]) => window.__stopwatch.arm(p, t)", [probes, trigger])


def collect(page, names: list[str], timeout_s: float = 60.0, wait_run: bool = True) -> dict:
    """Wait for every probe (and, by default, the end of the run the input started); stamps in ms from the input."""
    try:
        page.wait_for_function(
            "(names) => names.every(n => window.__stopwatch.result.frame[n] !== undefined)", arg=names,
            timeout=timeout_s * 1000)
    except Exception as err:  # noqa: BLE001 - say what the page showed instead
        state = page.evaluate("() => window.__stopwatch.result")
        raise RuntimeError(f"the expected drawing never showed: stamps {state}, "
                           f"exceptions {exception_texts(page)}") from err
    if wait_run:
        # Until the run ends; a run the observer has not seen start within a second (one that started and
        # ended between two observations) leaves this sample without a split instead of costing 20 s.
        try:
            page.wait_for_function("""() => { const r = window.__stopwatch.result;
                return r.runEnd !== null || (r.runStart === null && performance.now() - r.t0 > 1000); }""",
                                   timeout=20_000)
        except Exception:  # noqa: BLE001 - a run still going after 20 s: no split for this sample
            pass
    page.evaluate("() => window.__stopwatch.stop()")
    r = page.evaluate("() => window.__stopwatch.result")
    last = max(r["frame"][n] for n in names)
    out = {"ms": last - r["t0"], **page.evaluate(BREAKDOWN_JS, last)}
    for name in names:
        out[f"{name}_ms"] = r["frame"][name] - r["t0"]
    for name, key in (("run_start_ms", "runStart"), ("run_end_ms", "runEnd")):
        out[name] = None if r[key] is None else r[key] - r["t0"]
    return out


def idle(page, settle_s: float = 0.4) -> None:
    wait_for_app(page, settle_s=settle_s)
    page.wait_for_timeout(random.randint(150, 350))


# --- statistics ------------------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(samples: list[dict], key: str = "ms") -> dict:
    values = [s[key] for s in samples if s.get(key) is not None]
    return {"n": len(values), "median": percentile(values, 50), "p95": percentile(values, 95),
            "min": min(values) if values else None, "max": max(values) if values else None}


PARTS = ("sent_ms", "run_start_ms", "run_end_ms", "first_ms", "panel_ms", "largest_kb", "largest_ms",
         "received_kb", "blocked_ms")


def measurement(name: str, samples: list[dict], key: str = "ms", **extra) -> dict:
    parts = {k: summary(samples, k) for k in PARTS if k != key and any(s.get(k) is not None for s in samples)}
    return {"name": name, **summary(samples, key), "parts": parts, "samples": samples, **extra}


# --- the measurements ----------------------------------------------------------------------------------------

def new_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(NETWORK_JS)
    context.add_init_script(RUN_COUNTER_JS)
    context.set_default_timeout(120_000)
    return context, context.new_page()


def bench_floor(browser, trials: int, warmup: int, log) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "floor.py"
        script.write_text(textwrap.dedent(FLOOR_APP))
        server = StreamlitServer(script, log_path=REPO_ROOT / "test-artifacts" / "bench-floor.log",
                                 extra_args=SERVER_ARGS).start()
        try:
            server.wait_healthy()
            context, page = new_page(browser)
            page.goto(server.url + "/")
            wait_for_app(page, page.get_by_text("value is 0.00"))
            slider = page.locator('[data-testid="stSlider"] input[type="range"][aria-label="value"]')
            text = ("() => [...document.querySelectorAll('[data-testid=\"stMarkdownContainer\"] p')]"
                    ".map(e => e.textContent).find(t => t.startsWith('value is '))")
            samples = []
            for trial in range(warmup + trials):
                idle(page)
                arm(page, {"shown": TEXT_CHANGED}, "keydown", before_js=text)
                slider.focus()
                page.keyboard.press("ArrowRight")
                sample = collect(page, ["shown"])
                if trial >= warmup:
                    samples.append(sample)
            context.close()
        finally:
            server.stop()
    result = measurement("floor: fragment slider, ArrowRight -> text on screen", samples)
    log(result)
    return result


def open_editor(browser, server, model: str):
    context, page = new_page(browser)
    page.goto(f"{server.url}/edit?model={model}&z=0,0")
    wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
    wait_for_app(page, lambda: editor_z(page) == "0.00,0.00")
    return context, page


def bench_slider(browser, server, model: str, trials: int, warmup: int, log, label: str) -> dict:
    context, page = open_editor(browser, server, model)
    z_now = f"() => {component_host_js('latent_editor')}.dataset.z"
    samples = []
    for trial in range(warmup + trials):
        idle(page)
        if trial % 20 == 19:  # stay inside the slider's range
            page.keyboard.press("Home")
            idle(page)
        arm(page, {"drawn": EDITOR_DREW}, "keydown", before_js=z_now)
        editor_slider(page, "z1").focus()
        page.keyboard.press("ArrowRight")
        sample = collect(page, ["drawn"])
        if trial >= warmup:
            samples.append(sample)
    context.close()
    result = measurement(f"slider: Edit ({model}{label}), ArrowRight -> new decode drawn", samples)
    log(result)
    return result


def bench_drag(browser, server, model: str, log) -> dict:
    """Drag z1's thumb for about a second at the pace of a mouse (an event every ~16 ms)."""
    context, page = open_editor(browser, server, model)
    idle(page, settle_s=1.0)
    box = editor_slider(page, "z1").bounding_box()
    x0, y = box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2
    runs_before = script_runs_started(page)
    page.mouse.move(x0, y)
    page.mouse.down()
    decodes = "() => window.__latentExplorer.marks.filter(m => m.name === 'editor-decode').map(m => m.t)"
    started = page.evaluate("() => performance.now()")
    steps = 60
    for k in range(1, steps + 1):
        page.mouse.move(x0 + k * box["width"] * 0.6 / steps, y)
        page.wait_for_timeout(16)
    ended = page.evaluate("() => performance.now()")
    drawn = [t for t in page.evaluate(decodes) if started <= t <= ended]
    runs_during = script_runs_started(page) - runs_before
    page.mouse.up()
    context.close()
    seconds = (ended - started) / 1000
    gaps = [b - a for a, b in zip(drawn, drawn[1:])]
    result = {"name": f"drag: Edit ({model}), z1 thumb dragged for {seconds:.1f} s", "fps": len(drawn) / seconds,
              "decodes": len(drawn), "mouse_moves": steps, "runs_started": runs_during,
              "gap_median_ms": percentile(gaps, 50), "gap_p95_ms": percentile(gaps, 95)}
    print(f"  {result['name']}: {result['fps']:.0f} decodes drawn per second, {runs_during} runs started",
          flush=True)
    return result


def open_explore(browser, server, model: str, every_image: bool = False, query: str = "", settle_s: float = 1.0):
    context, page = new_page(browser)
    page.goto(f"{server.url}/?model={model}{query}")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    if every_image:
        flip_switch(page, "Layers", "Training images too")
        page.wait_for_function(f"() => {MAP_WITH_EVERY_IMAGE}", timeout=300_000)
        wait_for_map(page)
    idle(page, settle_s=settle_s)
    return context, page


# The map holds all 70,000 images and Plotly has drawn them: the map is ready again (it is not ready from the moment
# it takes new points until they are drawn; a count of drawings would not do, the page may give the map a new element).
MAP_WITH_EVERY_IMAGE = (f"{{ try {{ const m = {MAP_JS}; return m.x.length === {EVERY_FASHION_IMAGE} && "
                        "m.host.dataset.ready === '1'; } catch (e) { return false; } }")


def bench_full_map(browser, server, rounds: int, log) -> dict:
    """The toggle -> all 70,000 points drawn, each round in a new session; the first round is the server's
    first (it encodes the 60,000 training images), the others find those codes cached."""
    samples = []
    for _ in range(rounds):
        context, page = open_explore(browser, server, "fashion-mnist")
        layers = open_popover(page, "Layers")  # the switch lives in the map's Layers popover
        arm(page, {"drawn": f"() => {MAP_WITH_EVERY_IMAGE}"}, "mousedown",
            before_js=f"() => Number({component_host_js('latent_map')}.dataset.drawn || 0)")
        layers.get_by_text("Training images too").first.click()
        samples.append(collect(page, ["drawn"], timeout_s=300))
        context.close()
    first, warm = samples[0], samples[1:]
    result = measurement(f"full map: Explore (fashion-mnist), 'Training images too' -> {EVERY_FASHION_IMAGE:,} "
                         "points drawn, a new session each time", warm,
                         first_ever_ms=first["ms"], first_ever_received_kb=first["received_kb"])
    log(result)
    print(f"    the server's first time: {fmt(first['ms'], 's')}, {first['received_kb']:.0f} KB received",
          flush=True)
    return result


def bench_click(browser, server, model: str, trials: int, warmup: int, log, every_image: bool = False,
                query: str = "", settle_s: float = 1.0) -> dict:
    """Clicks on well separated real points: -> the card's first image on screen, -> the whole panel."""
    context, page = open_explore(browser, server, model, every_image, query, settle_s)
    total_points = page.evaluate(f"() => {MAP_JS}.x.length")
    candidates = isolated_data_points(page, warmup + trials, min_gap_px=3.0, spread_px=12.0)
    samples = []
    for trial, point in enumerate(candidates):
        idle(page)
        i = point["custom"]
        probes = {"first": f"() => {CARD}.dataset.first === '{i}'",
                  "panel": f"() => {CARD}.dataset.complete === '{i}' && {MAP_JS}.host.dataset.selected === '{i}'"}
        arm(page, probes, "mousedown")
        page.mouse.move(point["px"] - 3, point["py"] - 3)
        page.mouse.move(point["px"], point["py"], steps=2)
        page.mouse.click(point["px"], point["py"])
        sample = collect(page, ["first", "panel"])
        sample["index"] = i
        if trial >= warmup:
            samples.append(sample)
        wait_for_card(page, i)
    context.close()
    name = f"click: Explore ({model}, {total_points:,} points), real point ->"
    first = measurement(f"{name} first image on screen", samples, key="first_ms", points=total_points)
    panel = measurement(f"{name} whole panel on screen", samples, key="panel_ms", points=total_points)
    log(first)
    log(panel)
    return {"first": first, "panel": panel}


def bench_hover(browser, server, model: str, trials: int, log, query: str = "", settle_s: float = 1.0) -> dict:
    context, page = open_explore(browser, server, model, query=query, settle_s=settle_s)
    area = map_points(page)["area"]
    rng = random.Random(0)

    def spot():
        return (area["left"] + rng.uniform(0.1, 0.9) * (area["right"] - area["left"]),
                area["top"] + rng.uniform(0.1, 0.9) * (area["bottom"] - area["top"]))

    caption = f"() => {MAP_JS}.lensCaption.textContent"
    runs_before = page.evaluate("() => (window.__net || []).filter(e => e[0] === 'send').length")
    samples = []
    page.mouse.move(*spot())
    for _ in range(trials):
        page.wait_for_timeout(rng.randint(60, 120))
        arm(page, {"drawn": LENS_DREW}, "mousemove", before_js=caption)
        page.mouse.move(*spot())
        samples.append(collect(page, ["drawn"], wait_run=False))
    # A continuous move across the map at a mouse's pace.
    started = page.evaluate("() => performance.now()")
    x0, y0 = spot()
    for k in range(90):
        page.mouse.move(x0 + (k % 30) * 4, y0 + (k // 30) * 12)
        page.wait_for_timeout(16)
    ended = page.evaluate("() => performance.now()")
    lens = [m for m in page.evaluate("() => window.__latentExplorer.marks.filter(m => m.name === 'lens')")
            if started <= m["t"] <= ended]
    sent = page.evaluate("() => (window.__net || []).filter(e => e[0] === 'send').length") - runs_before
    context.close()
    result = measurement(f"hover: Explore ({model}), mouse move -> decode at the cursor on screen", samples,
                         frames_per_s=len(lens) / ((ended - started) / 1000), messages_sent=sent)
    log(result)
    print(f"    continuous move: {result['frames_per_s']:.0f} lens frames per second; "
          f"{sent} websocket messages sent while hovering", flush=True)
    return result


def log_px_still_computing(browser, server) -> bool:
    """Whether the server is still computing the held-out log p(x) (a new visitor asking for it sees the progress)."""
    context, page = open_explore(browser, server, "fashion-mnist", query=LOG_PX_COLOURING, settle_s=0.3)
    try:
        return page.get_by_text(LOG_PX_PROGRESS).count() > 0
    finally:
        context.close()


def bench_during_log_px(browser, trials: int, warmup: int, samples: int, log) -> tuple[dict, dict, bool]:
    """Clicks and hovers on the Fashion-MNIST map coloured by log p(x) while the server computes it: a server of
    its own, so the computation starts with the first page; K = ``samples`` so that it outlasts the trials. The
    measuring page is the one that asked for the colours, and polls the progress every second meanwhile.
    Returns the click and the hover measurements, and whether the computation ran throughout."""
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "bench-log-px.log",
                             extra_args=SERVER_ARGS, env={PAGE_LOG_PX_SAMPLES_ENV: str(samples)}).start()
    try:
        server.wait_healthy()
        # Idle means a quiet spell between two polls of the progress (one a second), hence the short settle.
        click = bench_click(browser, server, "fashion-mnist", trials, warmup, log, query=LOG_PX_COLOURING,
                            settle_s=0.3)
        hover = bench_hover(browser, server, "fashion-mnist", trials, log, query=LOG_PX_COLOURING, settle_s=0.3)
        ran_throughout = log_px_still_computing(browser, server)
        tracebacks = server_tracebacks(server.log_text())
    finally:
        server.stop()
    what = f", while log p(x) (K = {samples}) is computed for the colours"
    for part in ("first", "panel"):
        click[part]["name"] += what
    hover["name"] += what
    hover["tracebacks"] = tracebacks
    return click, hover, ran_throughout


def start_long_training(browser, server, watch: bool, epochs: int = 200):
    """Another visitor trains a Fashion-MNIST AE + VAE (on the training engine's workers) while we measure, and
    either watches its live curves on the Train page (`watch`: that visitor's browser redraws them on these
    same two cores) or goes on to another page, as a visitor whose browser is elsewhere costs this machine
    nothing."""
    context, page = new_page(browser)
    page.goto(server.url + "/train")
    wait_for_app(page, page.get_by_role("button", name="Train", exact=True))
    form = page.locator(".st-key-train_settings")  # the Train settings (no longer an st.form)
    form.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name=re.compile(r"^Fashion-MNIST")).click()
    set_number(page, "Epochs", epochs)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_for_app(page, page.get_by_text(re.compile(r"^(AE \+ VAE|AE|VAE) epoch \d+ of")))
    if not watch:  # by the sidebar: a reload would start a new session, which knows nothing of the training
        sidebar_link(page, "Explore").click()
        wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    return context, page


def sidebar_link(page, name: str):
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(rf"{name}$"))


def stop_training(context, page) -> bool:
    """Stop the training; True when it was still running (so every measurement ran beside it)."""
    if "/train" not in page.url:
        sidebar_link(page, "Train").click()
        wait_for_app(page, page.get_by_role("heading", name="Your own images"))
    stop = page.get_by_role("button", name="Stop", exact=True)
    running = stop.count() > 0
    if running:
        stop.click()
        wait_for_app(page, lambda: stop.count() == 0)
    context.close()
    return running


def bench_page_switch(browser, server, model: str, rounds: int, log) -> dict:
    context, page = new_page(browser)
    page.goto(f"{server.url}/?model={model}")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    titles = {"Edit": "Edit latent features", "Sample": "Sample", "Compare": "Compare", "Train": "Train",
              "Explore": "Explore the latent space"}
    samples = []
    for round_ in range(rounds + 1):  # the first round warms each page's caches and is not counted
        for link, title in titles.items():
            idle(page)
            arm(page, {"title": title_probe(title)}, "mousedown")
            sidebar_link(page, link).click()
            sample = collect(page, ["title"])
            sample["page"] = link
            if round_ > 0:
                samples.append(sample)
    idle(page)
    context.close()
    per_page = {link: summary([s for s in samples if s["page"] == link]) for link in titles}
    result = measurement(f"page switch ({model}): sidebar link -> page title", samples, per_page=per_page)
    log(result)
    return result


MAP_DRAWN_JS = f"""() => {{ const h = {component_host_js('latent_map')};
    return !!(h && h.dataset.ready === '1' && Number(h.dataset.drawn || 0) > 0); }}"""


def bench_cold_start(playwright, path: str, trials: int, log) -> dict:
    samples = []
    for _ in range(trials):
        browser = launch_chromium(playwright)  # a fresh browser, started before the clock (it is the visitor's)
        context, page = new_page(browser)
        server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "bench-cold.log",
                                 extra_args=SERVER_ARGS)
        try:
            t0 = time.perf_counter()
            server.start()
            healthy = server.wait_healthy()
            page.goto(server.url + path, wait_until="commit")
            page.wait_for_function(MAP_DRAWN_JS, timeout=180_000, polling=50)
            drawn = time.perf_counter() - t0
            samples.append({"ms": drawn * 1000, "health_ms": healthy * 1000})
        finally:
            context.close()
            browser.close()
            server.stop()
        time.sleep(2)
    result = measurement(f"cold start: streamlit run app.py -> map drawn ({path})", samples)
    result["parts"]["health_ms"] = summary(samples, "health_ms")
    log(result)
    return result


# --- reporting -------------------------------------------------------------------------------------------------

def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info["cpu"] = re.search(r"Model name:\s*(.+)", lscpu).group(1).strip()
    except (OSError, subprocess.CalledProcessError, AttributeError):
        info["cpu"] = platform.processor() or "unknown"
    info["cores"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        import streamlit
        info["streamlit"] = streamlit.__version__
    except ImportError:
        pass
    try:
        version = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=30)
        info["chromium"] = version.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def fmt(value, unit="ms") -> str:
    if value is None or value != value:
        return "–"
    if unit == "s":
        return f"{value / 1000:.2f} s"
    if unit == "MiB":
        return f"{value / 2**20:.0f} MiB"
    return f"{value:.0f} ms"


def verdicts(results: dict) -> list[dict]:
    out = []
    floor = results.get("floor")
    for key, r in results.items():
        if "training_" in key:
            clicks = key.endswith("_click")
            idle = results.get("click_fashion-mnist" if clicks else "slider_fashion-mnist")
            pairs = [("panel", r["panel"], idle["panel"])] if clicks and idle else (
                [("step", r, idle)] if idle else [])
            for _, busy, calm in pairs:
                limit = DURING_TRAINING_VS_IDLE * calm["p95"]
                out.append({"budget": f"{busy['name']}: p95 ≤ {DURING_TRAINING_VS_IDLE}× idle p95 ({fmt(limit)})",
                            "measured": fmt(busy["p95"]), "ratio": round(busy["p95"] / calm["p95"], 2),
                            "pass": busy["p95"] <= limit})
            continue
        if key.startswith("logpx_"):
            out += log_px_verdicts(key, r, results)
            continue
        if key.startswith("slider") and floor:
            limit = SLIDER_VS_FLOOR * floor["p95"]
            out.append({"budget": f"{r['name']}: p95 ≤ {SLIDER_VS_FLOOR}× floor p95 ({fmt(limit)})",
                        "measured": fmt(r["p95"]), "ratio": round(r["p95"] / floor["p95"], 2),
                        "pass": r["p95"] <= limit})
        elif key.startswith("click"):
            for part, limit in (("first", CLICK_FIRST_P95_MS), ("panel", CLICK_PANEL_P95_MS)):
                out.append({"budget": f"{r[part]['name']}: p95 ≤ {limit:.0f} ms", "measured": fmt(r[part]["p95"]),
                            "pass": r[part]["p95"] <= limit})
        elif key.startswith("hover"):
            out.append({"budget": f"{r['name']}: p95 ≤ two frames ({HOVER_P95_MS:.0f} ms), no message to the server",
                        "measured": f"{fmt(r['p95'])}; {r['messages_sent']} messages",
                        "pass": r["p95"] <= HOVER_P95_MS and r["messages_sent"] == 0})
        elif key.startswith("drag"):
            out.append({"budget": f"{r['name']}: ≥ {DRAG_MIN_FPS:.0f} decodes drawn per second, no script run",
                        "measured": f"{r['fps']:.0f} per second; {r['runs_started']} runs",
                        "pass": r["fps"] >= DRAG_MIN_FPS and r["runs_started"] == 0})
    cold = results.get("cold_start")
    if cold:
        out.append({"budget": f"cold start to an interactive map ≤ {COLD_START_S:.0f} s (median; p95 shown)",
                    "measured": f"{fmt(cold['median'], 's')} (p95 {fmt(cold['p95'], 's')})",
                    "pass": cold["median"] <= COLD_START_S * 1000})
    memory = results.get("memory")
    if memory:
        out.append({"budget": "server memory ≤ 1 GiB with both shipped pairs loaded",
                    "measured": fmt(memory["rss_bytes"], "MiB"), "pass": memory["rss_bytes"] <= MEMORY_BYTES})
    memory = results.get("memory_full")
    if memory:
        out.append({"budget": f"server memory ≤ 1 GiB with the {EVERY_FASHION_IMAGE:,}-image map shown",
                    "measured": fmt(memory["rss_bytes"], "MiB"), "pass": memory["rss_bytes"] <= MEMORY_BYTES})
    return out


def log_px_verdicts(key: str, r: dict, results: dict) -> list[dict]:
    """Clicks and hover while log p(x) is computed: the same budgets as idle ones (its polling messages are the
    progress's, not the hover's), and the ratio to the idle p95 of the same run where there is one."""
    out = []
    if key == "logpx_click":
        idle = results.get("click_fashion-mnist")
        for part, limit in (("first", CLICK_FIRST_P95_MS), ("panel", CLICK_PANEL_P95_MS)):
            verdict = {"budget": f"{r[part]['name']}: p95 ≤ {limit:.0f} ms", "measured": fmt(r[part]["p95"]),
                       "pass": r[part]["p95"] <= limit}
            if idle:
                verdict["ratio"] = round(r[part]["p95"] / idle[part]["p95"], 2)
            out.append(verdict)
    else:
        idle = results.get("hover_fashion-mnist")
        verdict = {"budget": f"{r['name']}: p95 ≤ two frames ({HOVER_P95_MS:.0f} ms)", "measured": fmt(r["p95"]),
                   "pass": r["p95"] <= HOVER_P95_MS}
        if idle:
            verdict["ratio"] = round(r["p95"] / idle["p95"], 2)
        out.append(verdict)
    return out


def split_text(r: dict, unit: str) -> str:
    parts = r.get("parts", {})
    split = []
    labels = (("sent_ms", "input sent"), ("run_start_ms", "run starts"), ("first_ms", "first image"),
              ("panel_ms", "whole panel"), ("run_end_ms", "run ends"), ("blocked_ms", "main thread blocked"))
    for key, label in labels:
        if key in parts:
            split.append(f"{label} {fmt(parts[key]['median'])}")
    if "largest_kb" in parts:
        split.append(f"largest frame {parts['largest_kb']['median']:.0f} KB")
    if "health_ms" in parts:
        split.append(f"server healthy {fmt(parts['health_ms']['median'], 's')}")
    return "; ".join(split) + (" (medians)" if split else "")


def table_rows(results: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for key, r in results.items():
        if key.startswith("memory"):
            rows.append((f"server RSS, {r['when']}", fmt(r["rss_bytes"], "MiB"), "",
                         f"{len(r['pids'])} process(es)"))
        elif key == "full_map":
            rows.append((f"{r['name']} (n={r['n']})", fmt(r["median"]), fmt(r["p95"]),
                         f"the server's first time {fmt(r['first_ever_ms'], 's')}; received "
                         f"{r['parts']['received_kb']['median'] / 1024:.1f} MB (median; "
                         f"{r['first_ever_received_kb'] / 1024:.1f} MB the first time)"))
        elif key.startswith("drag"):
            rows.append((r["name"], f"{r['fps']:.0f} decodes/s", "",
                         f"{r['decodes']} decodes for {r['mouse_moves']} mouse moves; gap between decodes "
                         f"median {fmt(r['gap_median_ms'])}, p95 {fmt(r['gap_p95_ms'])}; "
                         f"{r['runs_started']} script runs during the drag"))
        elif key.startswith("click") or key.endswith("_click"):
            for part in ("first", "panel"):
                m = r[part]
                rows.append((f"{m['name']} (n={m['n']})", fmt(m["median"]), fmt(m["p95"]), split_text(m, "ms")))
        else:
            unit = "s" if key.startswith("cold") else "ms"
            extra = ""
            if key.startswith("hover") or key == "logpx_hover":
                extra = (f"continuous move: {r['frames_per_s']:.0f} lens frames/s; "
                         f"{r['messages_sent']} websocket messages sent")
            rows.append((f"{r['name']} (n={r['n']})", fmt(r["median"], unit), fmt(r["p95"], unit),
                         extra or split_text(r, unit)))
    return rows


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        SECTION,
        "",
        "Measured by `benchmarks/ui_latency.py` in Debian's Chromium (Playwright), against servers the script "
        "starts itself. Each time runs from the input event (keydown, mousedown, mousemove) to the animation "
        "frame after the result was drawn: the new decode painted, every image of the inspect card painted "
        "and the map's highlight drawn, the lens repainted. The last column splits a time, all from the same "
        "input: when the input left on Streamlit's websocket, when the script run started and ended, the "
        "largest websocket frame before the result, and how long long tasks blocked the browser's main thread.",
        "",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib', '?')} GiB; "
        f"Streamlit {m.get('streamlit')}, {m.get('chromium', 'Chromium')}; Python {m.get('python')}",
        f"- Command: `{report['command']}`",
        f"- Date: {report['date']}; load average (1, 5, 15 min) {report['load_before']} before, "
        f"{report['load_after']} after",
        "",
        "| measurement | median | p95 | where the time goes |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table_rows(report["results"])]
    lines += ["", "Budgets (shared/PRODUCT.md and the issue on instant exploration):", "",
              "| budget | measured | verdict |", "| --- | --- | --- |"]
    for v in report["verdicts"]:
        measured = v["measured"] + (f" ({v['ratio']}×)" if "ratio" in v else "")
        lines.append(f"| {v['budget']} | {measured} | {'pass' if v['pass'] else '**miss**'} |")
    if report.get("notes"):
        lines += [""] + [f"- {note}" for note in report["notes"]]
    lines.append("")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="timed trials per interaction")
    parser.add_argument("--warmup", type=int, default=3, help="untimed trials first")
    parser.add_argument("--switch-rounds", type=int, default=4, help="rounds through the five pages")
    parser.add_argument("--cold-trials", type=int, default=5)
    parser.add_argument("--logpx-samples", type=int, default=LOG_PX_BENCH_SAMPLES,
                        help="K of the log p(x) computed while the logpx measurement runs (large: it must outlast it)")
    parser.add_argument("--only", nargs="+", choices=MEASUREMENTS, default=list(MEASUREMENTS),
                        help="run only these measurements")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--no-readme", action="store_true", help="write the JSON but leave the README alone")
    parser.add_argument("--print-only", action="store_true", help="write nothing")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    # A terminated run still stops the servers it started (the finally blocks run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    command = "python -m benchmarks.ui_latency " + " ".join(sys.argv[1:])
    fashion = FASHION_CHECKPOINT.exists() and FASHION_DATA.exists()
    models = ["digits"] + (["fashion-mnist"] if fashion else [])
    notes = []
    if not fashion:
        notes.append(f"Fashion-MNIST measurements skipped: needs {FASHION_CHECKPOINT.relative_to(REPO_ROOT)} "
                     f"and {FASHION_DATA} (apt-get install dataset-fashion-mnist).")
    results: dict = {}
    problems: list[str] = []

    def log(result):
        print(f"  {result['name']}: median {fmt(result['median'])}, p95 {fmt(result['p95'])} (n={result['n']})",
              flush=True)

    load_before = load_average()
    print(f"load average before: {load_before}", flush=True)
    only = set(args.only)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        if "floor" in only:
            print("floor ...", flush=True)
            results["floor"] = bench_floor(browser, args.trials, args.warmup, log)

        server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "bench-app.log",
                                 extra_args=SERVER_ARGS).start()
        try:
            server.wait_healthy()
            for model in models:
                if "slider" in only:
                    print(f"slider ({model}) ...", flush=True)
                    results[f"slider_{model}"] = bench_slider(browser, server, model, args.trials, args.warmup,
                                                              log, "")
                if "drag" in only:
                    print(f"drag ({model}) ...", flush=True)
                    results[f"drag_{model}"] = bench_drag(browser, server, model, log)
                if "click" in only:
                    print(f"click ({model}) ...", flush=True)
                    results[f"click_{model}"] = bench_click(browser, server, model, args.trials, args.warmup, log)
                if "hover" in only:
                    print(f"hover ({model}) ...", flush=True)
                    results[f"hover_{model}"] = bench_hover(browser, server, model, args.trials, log)
            if "click" in only:
                rss, pids = process_tree_rss(server.process.pid)
                results["memory"] = {"rss_bytes": rss, "pids": pids,
                                     "when": f"{' and '.join(models)} pairs loaded, their maps shown"}
                print(f"  memory: {fmt(rss, 'MiB')} over {len(pids)} process(es)", flush=True)
            if "full" in only and fashion:
                print("full map ...", flush=True)
                results["full_map"] = bench_full_map(browser, server, rounds=6, log=log)
                results["click_fashion-mnist_all"] = bench_click(browser, server, "fashion-mnist", args.trials,
                                                                 args.warmup, log, every_image=True)
                rss, pids = process_tree_rss(server.process.pid)
                results["memory_full"] = {"rss_bytes": rss, "pids": pids,
                                          "when": f"the Fashion-MNIST map of all {EVERY_FASHION_IMAGE:,} images shown"}
                print(f"  memory: {fmt(rss, 'MiB')} over {len(pids)} process(es)", flush=True)
            if "training" in only and fashion:
                for watch, what, key in ((False, "while a training runs", "training"),
                                         (True, "while a training runs and its visitor watches it here",
                                          "watched_training")):
                    print(f"{what} ...", flush=True)
                    trainer = start_long_training(browser, server, watch)
                    click = bench_click(browser, server, "fashion-mnist", args.trials, args.warmup, log)
                    slider = bench_slider(browser, server, "fashion-mnist", args.trials, args.warmup, log, "")
                    ran_throughout = stop_training(*trainer)
                    for part in ("first", "panel"):
                        click[part]["name"] += f", {what}"
                    slider["name"] += f", {what}"
                    results[f"{key}_click"], results[f"{key}_slider"] = click, slider
                    if not ran_throughout:
                        notes.append(f"The training ended before the measurements {what} were done.")
            if "switch" in only:
                print("page switch ...", flush=True)
                results["page_switch"] = bench_page_switch(browser, server, models[-1], args.switch_rounds, log)
            problems += server_tracebacks(server.log_text())
        finally:
            server.stop()

        if "slider" in only:
            # Decoders the browser cannot run fall back to the server: the same controls, a round trip per step.
            server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "bench-server-decode.log",
                                     extra_args=SERVER_ARGS, env={"LATENT_EXPLORER_BROWSER_DECODER": "off"}).start()
            try:
                server.wait_healthy()
                print("slider, decoded on the server ...", flush=True)
                results["slider_server"] = bench_slider(browser, server, models[-1], args.trials, args.warmup,
                                                        log, ", decoded on the server")
                problems += server_tracebacks(server.log_text())
            finally:
                server.stop()

        if "logpx" in only and fashion:
            print("while log p(x) is computed for the colours ...", flush=True)
            click, hover, ran_throughout = bench_during_log_px(browser, args.trials, args.warmup, args.logpx_samples,
                                                               log)
            results["logpx_click"], results["logpx_hover"] = click, hover
            problems += hover.pop("tracebacks")
            if not ran_throughout:
                notes.append("The log p(x) computation ended before the measurements while it runs were done: "
                             "raise --logpx-samples.")
        browser.close()

        if "cold" in only:
            print("cold start ...", flush=True)
            # "/" lands on the Fashion-MNIST pair where its images are installed, else on the digits.
            results["cold_start"] = bench_cold_start(playwright, "/", args.cold_trials, log)
            if fashion:
                results["cold_start_digits"] = bench_cold_start(playwright, "/?model=digits",
                                                                max(1, args.cold_trials // 2), log)
    load_after = load_average()

    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command.strip(),
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_after,
        "results": results,
        "notes": notes,
        "server_tracebacks": problems,
    }
    report["verdicts"] = verdicts(results)

    print()
    rows = table_rows(results)
    width = max(len(r[0]) for r in rows)
    for name, median, p95, split in rows:
        print(f"{name:<{width}}  {median:>14}  {p95:>9}  {split}")
    print()
    for v in report["verdicts"]:
        print(f"{'PASS' if v['pass'] else 'MISS'}  {v['budget']}: {v['measured']}")
    if problems:
        print(f"\n{len(problems)} server traceback(s) during the run; see test-artifacts/bench-*.log")
    print(f"load average after: {load_after}")

    if not args.print_only:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
        if not args.no_readme:
            write_section(SECTION, markdown(report), args.readme)
            print(f"wrote the '{SECTION[3:]}' section of {args.readme}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
