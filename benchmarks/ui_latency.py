"""UI latency of Latent Explorer in a real browser (Debian's Chromium through Playwright).

Measures, against Streamlit servers this script starts itself:

  floor        the framework's own floor: a minimal page whose @st.fragment holds a slider and a text;
               keyboard ArrowRight on the slider -> the text changes
  slider       the app's Edit page: ArrowRight on z1 -> the decoded image's src changes
               (digits and, where present, the shipped Fashion-MNIST pair)
  click        Explore, Fashion-MNIST's 10,000-point map: click on a point -> the inspect panel's
               heading "Image #<index> · <class>" appears
  page switch  a sidebar link -> the new page's title (h1) is in the DOM
  cold start   from launching `streamlit run app.py` to the landing page's map drawn, fresh browser
  memory       RSS of the server process and its children with both shipped pairs loaded and the
               10k-point map shown

Timings are taken inside the page with performance.now(): a capture-phase listener stamps the input
event (keydown, mousedown) and a MutationObserver stamps the first DOM change that shows the result.
Each timed interaction also records when Streamlit's run state went to "running" and back to
"notRunning" (the root element's data-test-script-state), which splits a latency into the trip to
the server, the server's run, and the browser's part.

    python -m benchmarks.ui_latency                 # full run (about 10 minutes on 2 cores)
    python -m benchmarks.ui_latency --trials 10 --cold-trials 2 --print-only   # quick look
    python -m benchmarks.ui_latency --only floor slider --option runner.postScriptGC=false \
        --no-readme --json benchmarks/results/ui_latency_postScriptGC_false.json   # an experiment

Writes benchmarks/results/ui_latency.json and the "UI latency" section of benchmarks/README.md.
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

from devtools.browser import (
    VIEWPORT,
    StreamlitServer,
    exception_texts,
    isolated_data_points,
    launch_chromium,
    server_tracebacks,
    wait_for_app,
    wait_for_map,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

RESULTS = REPO_ROOT / "benchmarks" / "results" / "ui_latency.json"
README = REPO_ROOT / "benchmarks" / "README.md"
SECTION = "## UI latency"
FASHION_CHECKPOINT = REPO_ROOT / "assets" / "fashion-mnist-latent2.pt"
FASHION_DATA = Path("/usr/share/datasets/fashion-mnist")
SERVER_ARGS = ("--server.fileWatcherType", "none")

MEASUREMENTS = ("floor", "slider", "click", "switch", "cold")

# Budgets from shared/PRODUCT.md, "Budgets".
SLIDER_VS_FLOOR = 1.25
CLICK_P95_MS = 400.0
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

STOPWATCH_JS = r"""
() => {
  if (window.__stopwatch) return;
  const state = () => { const a = document.querySelector('[data-testid="stApp"]');
                        return a ? a.getAttribute('data-test-script-state') : null; };
  window.__stopwatch = {
    arm(probeSource, trigger) {
      const probe = eval('(' + probeSource + ')');
      const r = {t0: null, t1: null, frame: null, loaded: null, runStart: null, runEnd: null,
                 before: null, after: null};
      try { r.before = probe(); } catch (e) { r.before = null; }
      this.result = r;
      if (this.obs) this.obs.disconnect();
      window.addEventListener(trigger, (e) => { if (r.t0 === null) r.t0 = performance.now(); },
                              {capture: true, once: true});
      const check = (records) => {
        if (r.t0 === null) return;
        const now = performance.now();
        // Every value the run state took in this batch, in order: a fast run can go to "running" and back
        // to "notRunning" between two observer callbacks.
        const states = [];
        for (const rec of records || []) {
          if (rec.type === 'attributes' && rec.attributeName === 'data-test-script-state') states.push(rec.oldValue);
        }
        states.push(state());
        for (const s of states.slice(1)) {
          if (r.runStart === null && s === 'running') r.runStart = now;
          if (r.runStart !== null && r.runEnd === null && s === 'notRunning') r.runEnd = now;
        }
        if (r.t1 === null) {
          let v = null;
          try { v = probe(); } catch (e) { v = null; }
          if (v !== null && v !== undefined && v !== r.before) {
            r.t1 = now; r.after = v;
            requestAnimationFrame(() => { r.frame = performance.now(); });
            const img = typeof v === 'string' ? [...document.images].find(i => i.getAttribute('src') === v) : null;
            if (img) {
              if (img.complete && img.naturalWidth > 0) r.loaded = now;
              else img.addEventListener('load', () => { r.loaded = performance.now(); }, {once: true});
            }
          }
        }
        if (r.t1 !== null && r.runEnd !== null) this.obs.disconnect();
      };
      this.obs = new MutationObserver(check);
      this.obs.observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                                   attributeOldValue: true, characterData: true});
      return r.before;
    },
  };
}
"""

# Installed before any page script runs: stamps every websocket frame (Streamlit's protocol) and every
# long task (main thread busy > 50 ms) with performance.now(), so a latency can be split into parts.
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

# From the armed result: when the input left the browser, the largest frame that came back before the
# result showed, and how long the main thread was blocked in between.
BREAKDOWN_JS = r"""
() => {
  const r = window.__stopwatch.result, t0 = r.t0, t1 = r.t1;
  const net = (window.__net || []).filter(e => e[1] >= t0);
  const sent = net.find(e => e[0] === 'send');
  const before = net.filter(e => e[0] === 'recv' && e[1] <= t1);
  let largest = null;
  for (const e of before) if (!largest || e[2] > largest[2]) largest = e;
  let blocked = 0;
  for (const [start, duration] of (window.__longtasks || [])) {
    const a = Math.max(start, t0), b = Math.min(start + duration, t1);
    if (b > a) blocked += b - a;
  }
  return {sent_ms: sent ? sent[1] - t0 : null,
          largest_kb: largest ? largest[2] / 1024 : null, largest_ms: largest ? largest[1] - t0 : null,
          received_kb: before.reduce((n, e) => n + e[2], 0) / 1024, blocked_ms: blocked};
}
"""

TEXT_PROBE = """() => { const p = [...document.querySelectorAll('[data-testid="stMarkdownContainer"] p')]
                          .find(e => e.textContent.startsWith('value is '));
                        return p ? p.textContent : null; }"""
DECODED_SRC_PROBE = """() => { const f = [...document.querySelectorAll('[data-testid="stImage"]')]
                                .find(e => /decoder at z =/.test(e.textContent));
                               const img = f && f.querySelector('img');
                               return img ? img.getAttribute('src') : null; }"""
INSPECT_PROBE = """() => { const h = [...document.querySelectorAll('[data-testid="stHeading"]')]
                            .map(e => e.textContent.trim()).find(t => /^Image #\\d+ · /.test(t));
                           return h || null; }"""


def title_probe(title: str) -> str:
    return ("() => { const h = [...document.querySelectorAll('h1')].map(e => e.textContent.trim())"
            f".find(t => t.startsWith({json.dumps(title)})); return h || null; }}")


def arm(page, probe: str, trigger: str):
    page.evaluate(STOPWATCH_JS)
    return page.evaluate("([p, t]) => window.__stopwatch.arm(p, t)", [probe, trigger])


def collect(page, timeout_s: float = 60.0) -> dict:
    """Wait for the armed change (and the end of the run it started), then return the stamps in ms."""
    try:
        page.wait_for_function("() => window.__stopwatch.result.t1 !== null", timeout=timeout_s * 1000)
    except Exception as err:  # noqa: BLE001 - say what the page showed instead
        state = page.evaluate("() => window.__stopwatch.result")
        headings = [h.inner_text()[:80] for h in page.locator("h1, h2, h3").all()]
        raise RuntimeError(f"the expected change never showed: stamps {state}, headings {headings}, "
                           f"exceptions {exception_texts(page)}") from err
    try:
        page.wait_for_function("() => window.__stopwatch.result.runEnd !== null", timeout=20_000)
    except Exception:  # noqa: BLE001 - a run that ended before the observer saw it start: no split
        pass
    page.wait_for_timeout(50)  # the rAF and image-load stamps
    r = page.evaluate("() => window.__stopwatch.result")
    out = {"ms": r["t1"] - r["t0"], "after": r["after"], **page.evaluate(BREAKDOWN_JS)}
    for name, key in (("frame_ms", "frame"), ("loaded_ms", "loaded"), ("run_start_ms", "runStart"),
                      ("run_end_ms", "runEnd")):
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


def measurement(name: str, samples: list[dict], unit: str = "ms", **extra) -> dict:
    parts = {k: summary(samples, k) for k in ("sent_ms", "run_start_ms", "run_end_ms", "loaded_ms", "frame_ms",
                                               "largest_kb", "largest_ms", "received_kb", "blocked_ms")
             if any(s.get(k) is not None for s in samples)}
    return {"name": name, "unit": unit, **summary(samples), "parts": parts, "samples": samples, **extra}


# --- the measurements ----------------------------------------------------------------------------------------

def new_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(NETWORK_JS)
    context.set_default_timeout(120_000)
    return context, context.new_page()


def slider_input(page, label: str):
    return page.locator(f'[data-testid="stSlider"] input[type="range"][aria-label="{label}"]')


def time_slider_steps(page, label: str, probe: str, trials: int, warmup: int) -> list[dict]:
    samples = []
    for trial in range(warmup + trials):
        idle(page)
        arm(page, probe, "keydown")
        slider_input(page, label).focus()
        page.keyboard.press("ArrowRight")
        sample = collect(page)
        if trial >= warmup:
            samples.append(sample)
    idle(page)
    return samples


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
            samples = time_slider_steps(page, "value", TEXT_PROBE, trials, warmup)
            context.close()
            problems = server_tracebacks(server.log_text())
        finally:
            server.stop()
    result = measurement("floor: fragment slider -> text", samples)
    log(result, problems)
    return result


def bench_slider(browser, server, model: str, trials: int, warmup: int, log) -> dict:
    context, page = new_page(browser)
    page.goto(f"{server.url}/edit?model={model}&z=0,0")
    wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
    wait_for_app(page, page.locator('[data-testid="stImage"]').filter(has_text="decoder at z = (+0.00, +0.00)"))
    samples = time_slider_steps(page, "z1", DECODED_SRC_PROBE, trials, warmup)
    unchanged = sum(1 for s in samples if s["after"] is None)
    context.close()
    result = measurement(f"slider: Edit ({model}) ArrowRight -> decoded image src", samples, unchanged=unchanged)
    log(result)
    return result


def bench_click(browser, server, model: str, trials: int, warmup: int, log) -> tuple[dict, object, object]:
    """Clicks on isolated points of the map; returns the result and the still-open page (for memory)."""
    context, page = new_page(browser)
    page.goto(f"{server.url}/?model={model}")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    idle(page, settle_s=1.0)
    total_points = page.evaluate("""() => { const gd = document.querySelectorAll('.js-plotly-plot')[0];
        return gd._fullData.filter(t => t.customdata && t.name !== 'decode here')
                           .reduce((n, t) => n + t.x.length, 0); }""")
    samples, clicked, hit = [], set(), 0
    for trial in range(warmup + trials):
        idle(page)
        point = isolated_data_points(page, 1, exclude=clicked, min_gap_px=3.0)[0]
        clicked.add(point["custom"])
        arm(page, INSPECT_PROBE, "mousedown")
        page.mouse.move(point["px"] - 2, point["py"] - 2)
        page.mouse.move(point["px"], point["py"], steps=2)
        page.wait_for_timeout(120)
        page.mouse.click(point["px"], point["py"])
        sample = collect(page)
        sample["index"] = point["custom"]
        hit += bool(sample["after"] and sample["after"].startswith(f"Image #{point['custom']} ·"))
        if trial >= warmup:
            samples.append(sample)
    idle(page)
    result = measurement(f"click: Explore ({model}, {total_points:,} points) -> inspect heading", samples,
                         points=total_points, right_index=hit)
    log(result)
    return result, context, page


def bench_page_switch(browser, server, model: str, rounds: int, log) -> dict:
    context, page = new_page(browser)
    page.goto(f"{server.url}/?model={model}")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    titles = {"Edit": "Edit latent features", "Sample": "Sample", "Compare": "Compare", "Train": "Train",
              "Explore": "Explore the latent space"}
    nav = page.get_by_test_id("stSidebarNav")
    samples = []
    for round_ in range(rounds + 1):  # the first round warms each page's caches and is not counted
        for link, title in titles.items():
            idle(page)
            arm(page, title_probe(title), "mousedown")
            nav.get_by_role("link", name=re.compile(rf"{link}$")).click()
            sample = collect(page)
            sample["page"] = link
            if round_ > 0:
                samples.append(sample)
    idle(page)
    context.close()
    per_page = {link: summary([s for s in samples if s["page"] == link]) for link in titles}
    result = measurement(f"page switch ({model}): sidebar link -> page title", samples, per_page=per_page)
    log(result)
    return result


MAP_DRAWN_JS = """() => { const gd = document.querySelectorAll('.js-plotly-plot')[0];
    if (!gd || !gd._fullData || !gd._fullLayout || !gd._fullLayout._plots) return false;
    const sp = gd._fullLayout._plots.xy;
    const points = gd._fullData.filter(t => t.customdata && t.name !== 'decode here')
                               .reduce((n, t) => n + t.x.length, 0);
    return points > 0 && !!(sp && sp._scene && gd.querySelector('canvas')); }"""


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


def process_tree_rss(pid: int) -> tuple[int, list[int]]:
    """Sum of VmRSS over a process and all its descendants (from /proc), and their pids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children.get(p, [])
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total, pids


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
    for key in ("slider_digits", "slider_fashion"):
        r = results.get(key)
        if r and floor:
            limit = SLIDER_VS_FLOOR * floor["p95"]
            out.append({"budget": f"{r['name']}: p95 ≤ {SLIDER_VS_FLOOR}× floor p95 ({fmt(limit)})",
                        "measured": fmt(r["p95"]), "ratio": round(r["p95"] / floor["p95"], 2),
                        "pass": r["p95"] <= limit})
    click = results.get("click")
    if click:
        out.append({"budget": f"click on the {click['points']:,}-point map: p95 ≤ {CLICK_P95_MS:.0f} ms",
                    "measured": fmt(click["p95"]), "pass": click["p95"] <= CLICK_P95_MS})
    cold = results.get("cold_start")
    if cold:
        out.append({"budget": f"cold start to an interactive map ≤ {COLD_START_S:.0f} s (median; p95 shown)",
                    "measured": f"{fmt(cold['median'], 's')} (p95 {fmt(cold['p95'], 's')})",
                    "pass": cold["median"] <= COLD_START_S * 1000})
    memory = results.get("memory")
    if memory:
        out.append({"budget": "server memory ≤ 1 GiB with both shipped pairs loaded",
                    "measured": fmt(memory["rss_bytes"], "MiB"), "pass": memory["rss_bytes"] <= MEMORY_BYTES})
    return out


def table_rows(results: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for key in ("floor", "slider_digits", "slider_fashion", "click", "page_switch", "cold_start",
                "cold_start_fashion"):
        r = results.get(key)
        if not r:
            continue
        unit = "s" if key.startswith("cold") else "ms"
        parts = r.get("parts", {})
        split = []
        if "sent_ms" in parts:
            split.append(f"input sent {fmt(parts['sent_ms']['median'])}")
        if "run_start_ms" in parts:
            split.append(f"run starts {fmt(parts['run_start_ms']['median'])}")
        if "largest_kb" in parts:
            split.append(f"largest frame {parts['largest_kb']['median']:.0f} KB in at "
                         f"{fmt(parts['largest_ms']['median'])}")
        if "blocked_ms" in parts:
            split.append(f"main thread blocked {fmt(parts['blocked_ms']['median'])}")
        if "loaded_ms" in parts and key.startswith("slider"):
            split.append(f"image loaded {fmt(parts['loaded_ms']['median'])}")
        if "run_end_ms" in parts:
            split.append(f"run ends {fmt(parts['run_end_ms']['median'])}")
        if "health_ms" in parts:
            split.append(f"server healthy {fmt(parts['health_ms']['median'], 's')}")
        rows.append((f"{r['name']} (n={r['n']})", fmt(r["median"], unit), fmt(r["p95"], unit),
                     "; ".join(split) + (" (medians)" if split else "")))
    memory = results.get("memory")
    if memory:
        rows.append(("server RSS, both shipped pairs loaded, 10k map shown", fmt(memory["rss_bytes"], "MiB"), "",
                     f"{len(memory['pids'])} process(es)"))
    return rows


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        SECTION,
        "",
        "Measured by `benchmarks/ui_latency.py` in Debian's Chromium (Playwright), against servers the script "
        "starts itself (`streamlit run ... --server.headless true --server.fileWatcherType none`). Each time runs "
        "from the input event (keydown, mousedown) to the first DOM change showing the result, stamped "
        "inside the page with `performance.now()` and a MutationObserver. The last column splits it, all "
        "from the same input event: when the input left the browser on Streamlit's websocket, when "
        "Streamlit's run state went to running, the largest websocket frame that arrived before the result "
        "(size, arrival), how long the browser's main thread was blocked by long tasks before the result "
        "showed, and when the run ended.",
        "",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib', '?')} GiB; "
        f"Streamlit {m.get('streamlit')}, {m.get('chromium', 'Chromium')}; Python {m.get('python')}",
        f"- Command: `{report['command']}`",
        f"- Date: {report['date']}; load average (1, 5, 15 min) {report['load_before']} before, "
        f"{report['load_after']} after (the machine is shared)",
        "",
        "| measurement | median | p95 | where the time goes |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table_rows(report["results"])]
    lines += ["", "Budgets (shared/PRODUCT.md):", "", "| budget | measured | verdict |", "| --- | --- | --- |"]
    for v in report["verdicts"]:
        measured = v["measured"] + (f" ({v['ratio']}× the floor)" if "ratio" in v else "")
        lines.append(f"| {v['budget']} | {measured} | {'pass' if v['pass'] else '**miss**'} |")
    if report.get("notes"):
        lines += [""] + [f"- {note}" for note in report["notes"]]
    lines.append("")
    return "\n".join(lines)


def write_readme_section(path: Path, section: str) -> None:
    """Replace this script's section of the README (up to the next '## ' heading), or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find(SECTION + "\n")
    if start < 0:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + section
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[nxt + 1:] if nxt >= 0 else "")
    path.write_text(text, encoding="utf-8")


# --- main ------------------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="timed trials per interaction")
    parser.add_argument("--warmup", type=int, default=3, help="untimed trials first")
    parser.add_argument("--switch-rounds", type=int, default=4, help="rounds through the five pages")
    parser.add_argument("--cold-trials", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=MEASUREMENTS, default=list(MEASUREMENTS),
                        help="run only these measurements")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a Streamlit config option for every server started (experiments), "
                             "e.g. --option runner.postScriptGC=false")
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
    notes = []
    if not fashion:
        notes.append(f"Fashion-MNIST measurements skipped: needs {FASHION_CHECKPOINT.relative_to(REPO_ROOT)} "
                     f"and {FASHION_DATA} (apt-get install dataset-fashion-mnist).")
    results: dict = {}
    problems: list[str] = []

    def log(result, found=()):
        problems.extend(found)
        print(f"  {result['name']}: median {fmt(result['median'])}, p95 {fmt(result['p95'])} (n={result['n']})",
              flush=True)

    load_before = load_average()
    print(f"load average before: {load_before}", flush=True)
    only = set(args.only)
    global SERVER_ARGS
    for option in args.option:
        key, _, value = option.partition("=")
        SERVER_ARGS = (*SERVER_ARGS, f"--{key}", value)
    if args.option:
        notes.append("Servers ran with " + ", ".join(f"`{o}`" for o in args.option) + " (an experiment, not the "
                     "app's own configuration).")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        if "floor" in only:
            print("floor ...", flush=True)
            results["floor"] = bench_floor(browser, args.trials, args.warmup, log)

        server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "bench-app.log",
                                 extra_args=SERVER_ARGS).start()
        try:
            server.wait_healthy()
            if "slider" in only:
                print("slider (digits) ...", flush=True)
                results["slider_digits"] = bench_slider(browser, server, "digits", args.trials, args.warmup, log)
                if fashion:
                    print("slider (fashion-mnist) ...", flush=True)
                    results["slider_fashion"] = bench_slider(browser, server, "fashion-mnist", args.trials,
                                                             args.warmup, log)
            if "click" in only and fashion:
                print("click (fashion-mnist) ...", flush=True)
                results["click"], context, page = bench_click(browser, server, "fashion-mnist", args.trials,
                                                              args.warmup, log)
                rss, pids = process_tree_rss(server.process.pid)
                results["memory"] = {"rss_bytes": rss, "pids": pids,
                                     "when": "digits and fashion-mnist pairs loaded, 10k-point map shown"
                                             if "slider" in only else "fashion-mnist pair loaded, map shown"}
                print(f"  memory: {fmt(rss, 'MiB')} over {len(pids)} process(es)", flush=True)
                context.close()
            if "switch" in only:
                print("page switch ...", flush=True)
                results["page_switch"] = bench_page_switch(browser, server,
                                                           "fashion-mnist" if fashion else "digits",
                                                           args.switch_rounds, log)
            problems += server_tracebacks(server.log_text())
        finally:
            server.stop()
        browser.close()

        if "cold" in only:
            print("cold start ...", flush=True)
            results["cold_start"] = bench_cold_start(playwright, "/", args.cold_trials, log)
            if fashion:
                results["cold_start_fashion"] = bench_cold_start(playwright, "/?model=fashion-mnist",
                                                                 max(1, args.cold_trials // 2), log)
    load_after = load_average()

    report = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
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
        print(f"{name:<{width}}  {median:>9}  {p95:>9}  {split}")
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
            write_readme_section(args.readme, markdown(report))
            print(f"wrote the '{SECTION[3:]}' section of {args.readme}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
