"""Driving the real app in Chromium: server start, waiting for reruns, the Plotly map, sliders.

Shared by the browser tests (tests/browser) and the UI benchmark (benchmarks/ui_latency.py). Everything here finds
elements by what a visitor sees (headings, labels, captions) or by Streamlit's own data-testids.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORT = {"width": 1400, "height": 1000}

# Generous: the machine has 2 cores shared with other people. These are waits, never pass/fail thresholds.
SERVER_START_S = 180
RERUN_S = 90

# Servers for the browser suite land on the small embedded digits; where Fashion-MNIST's images are
# installed the app's own default is the Fashion-MNIST pair (tests/browser/test_datasets.py covers that).
LANDING_ON_DIGITS = {"LATENT_EXPLORER_LANDING": "digits"}

TRACEBACK_MARKERS = ("Traceback (most recent call last)", "Uncaught app execution")


# --- the server --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`streamlit run <script>` in a subprocess, its output in a log file."""

    def __init__(self, script: str | Path = "app.py", log_path: Path | None = None, cwd: Path = REPO_ROOT,
                 extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 file_watcher: str | None = "none"):
        self.script = str(script)
        self.cwd = cwd
        self.port = free_port()
        self.log_path = log_path or ARTIFACTS / f"streamlit-{self.port}.log"
        self.extra_args = extra_args
        # None leaves the watcher to the app's .streamlit/config.toml, as the README's `streamlit run app.py` does.
        self.file_watcher = file_watcher
        self.env = dict(env or {})
        # Pairs made in a test server are kept in a store of its own (removed by stop()), never in the default
        # under ~/.cache; a caller that names a store keeps it.
        self.own_store = None
        if "LATENT_EXPLORER_STORE" not in self.env:
            self.own_store = self.env["LATENT_EXPLORER_STORE"] = tempfile.mkdtemp(prefix="latent-explorer-store-")
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StreamlitServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(self.command(), cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=env)
        return self

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streamlit", "run", self.script, "--server.headless", "true",
                "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
                *(("--server.fileWatcherType", self.file_watcher) if self.file_watcher else ()), *self.extra_args]

    def wait_healthy(self, timeout_s: float = SERVER_START_S) -> float:
        """Seconds from start() until /_stcore/health answers ok."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200 and response.read().strip() == b"ok":
                        return time.perf_counter() - self.started_at
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"streamlit did not become healthy in {timeout_s} s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_size(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        self._log.flush()
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self.own_store is not None:
            shutil.rmtree(self.own_store, ignore_errors=True)


class InstalledApp(StreamlitServer):
    """The app as an installed package starts it: its `latent-explorer` command, in a folder of the caller's
    choosing (outside the checkout, so that nothing of the checkout is found by accident)."""

    def __init__(self, executable: Path, cwd: Path, log_path: Path | None = None, env: dict[str, str] | None = None):
        super().__init__(script=executable, log_path=log_path, cwd=cwd, env=env)

    def command(self) -> list[str]:
        return [self.script, "--port", str(self.port), "--headless"]


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# --- waiting for Streamlit ---------------------------------------------------------------------------------

def script_state(page) -> str | None:
    """Streamlit's own run state on the app root ("initial", "running", "notRunning", "rerunRequested", ...).

    Streamlit's header status widget only appears after half a second of running (and not for every
    run), so the root's data-test-script-state attribute, which Streamlit's own e2e tests use, is the
    reliable signal.
    """
    return page.evaluate(
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " return a ? a.getAttribute('data-test-script-state') : null; }")


def app_is_running(page) -> bool:
    return script_state(page) != "notRunning" or page.locator('[data-testid="stStatusWidgetRunningIcon"]').count() > 0


def app_is_drawing(page) -> bool:
    """Whether an element is still Streamlit's grey placeholder, its script not loaded yet: on a busy machine the
    app can be idle with half a page of them."""
    return page.locator('[data-testid="stSkeleton"]:visible').count() > 0


def wait_for_app(page, expect=None, timeout_s: float = RERUN_S, settle_s: float = 0.5) -> None:
    """Wait until the app shows `expect` (a locator, or a callable returning bool), no run is under way and every
    element is drawn.

    Right after an action the app may not have started its rerun yet, so "not running" alone proves
    nothing: callers pass what they expect to see, and the app must then stay idle for `settle_s`.
    """
    deadline = time.monotonic() + timeout_s
    page.locator('[data-testid="stApp"]').wait_for(state="attached", timeout=timeout_s * 1000)
    if expect is not None:
        if callable(expect):
            while not expect():
                if time.monotonic() > deadline:
                    raise AssertionError(f"the app did not show what was expected within {timeout_s} s")
                page.wait_for_timeout(100)
        else:
            expect.first.wait_for(state="visible", timeout=max(deadline - time.monotonic(), 1) * 1000)
    quiet_since = None
    while True:
        if app_is_running(page) or app_is_drawing(page):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle_s:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the app was still running or drawing after {timeout_s} s "
                                 f"(state {script_state(page)})")
        page.wait_for_timeout(50)


def exception_texts(page) -> list[str]:
    return [e.inner_text()[:2000] for e in page.locator('[data-testid="stException"]').all()]


def server_tracebacks(log: str) -> list[str]:
    """Traceback excerpts found in a piece of server log."""
    found = []
    for marker in TRACEBACK_MARKERS:
        for match in re.finditer(re.escape(marker), log):
            found.append(log[max(0, match.start() - 200): match.start() + 2500])
    return found


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


# --- the explorer's browser components ----------------------------------------------------------------------

# The host element of a component mounted with `key` (an isolated component's content lives in an open shadow
# root, which Playwright's CSS selectors pierce; the map is not isolated, for Plotly.js's styles).
def component_host_js(key: str) -> str:
    return f"document.querySelector('.st-key-{key} [data-testid^=\"stBidiComponent\"]')"


MAP_JS = component_host_js("latent_map") + ".__latentMap"

# Every drawn point of the Explore map in page pixels (clientX/clientY), with its index and class, read
# from the map's own arrays; and the plot area.
_MAP_POINTS_JS = "() => { const m = " + MAP_JS + """;
  const box = m.overlay.getBoundingClientRect(), out = [];
  const names = m.pack.meta.class_names;
  for (let i = 0; i < m.x.length; i++) {
    if (!m.shown(i) || !m.insidePlot(m.screenX[i], m.screenY[i])) continue;
    out.push({custom: i, name: names[m.labels[i]], x: m.x[i], y: m.y[i],
              px: box.left + m.screenX[i], py: box.top + m.screenY[i]});
  }
  const a = m.plotArea(), left = box.left + a.left, top = box.top + a.top;
  return {points: out, area: {left, top, right: left + a.width, bottom: top + a.height}};
}
"""


def wait_for_map(page, timeout_s: float = RERUN_S) -> None:
    """Until the Explore map has its pack and has drawn its points."""
    page.wait_for_function(
        f"() => {{ const h = {component_host_js('latent_map')}; "
        "return !!(h && h.dataset.ready === '1' && Number(h.dataset.drawn || 0) > 0); }",
        timeout=timeout_s * 1000)


def open_explore(visitor, path: str = "/"):
    """A visitor (tests/browser/conftest.py's AppSession) opens the Explore page; its map is drawn."""
    page = visitor.open(path)
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    return page


def open_train(visitor):
    """A visitor opens the Train page, ready to train."""
    page = visitor.open("/train")
    wait_for_app(page, page.locator("h1").filter(has_text=re.compile(r"^Train\b")))
    wait_for_app(page, page.get_by_role("heading", name="Your own images"))
    wait_for_app(page, page.get_by_role("button", name="Train", exact=True))
    return page


def alert(page, text: str):
    """The st.success / st.error / st.info box that says `text`."""
    return page.get_by_test_id("stAlert").filter(has_text=text)


def set_number(page, label: str, value) -> None:
    """Type into the number input labelled `label` and leave it (Streamlit takes the value on blur)."""
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Tab")


def map_points(page) -> dict:
    wait_for_map(page)
    return page.evaluate(_MAP_POINTS_JS)


def map_count(page) -> int:
    """How many images the map holds (0 while it is being drawn again)."""
    return page.evaluate(f"() => {{ try {{ return {MAP_JS}.x.length; }} catch (e) {{ return 0; }} }}")


MAP_TOOLS = {"Pan": '[data-attr="dragmode"][data-val="pan"]', "Zoom": '[data-attr="dragmode"][data-val="zoom"]',
             "Box": '[data-attr="dragmode"][data-val="select"]', "Lasso": '[data-attr="dragmode"][data-val="lasso"]',
             "Zoom in": '[data-attr="zoom"][data-val="in"]', "Zoom out": '[data-attr="zoom"][data-val="out"]',
             "Reset view": '[data-attr="zoom"][data-val="reset"]'}


def map_tool(page, name: str):
    """A button of the map's toolbar (Plotly's modebar): Pan, Zoom, Box, Lasso or Reset view."""
    return page.locator(f".st-key-latent_map .modebar-btn{MAP_TOOLS[name]}")


def wait_for_region(page, shape: str) -> dict:
    """Until the map holds a region of this shape (Plotly reports a box or lasso just after the mouse is let go)."""
    page.wait_for_function(f"() => {{ const r = {MAP_JS}.region; return !!r && r.shape === '{shape}'; }}",
                           timeout=RERUN_S * 1000)
    return map_state(page)


def map_legend(page, legend: str = "legend") -> list[str]:
    """The items of the map's class legend ("legend") or split legend ("legend2"), in order."""
    return page.locator(f".st-key-latent_map g.{legend} .traces text.{legend}text").all_text_contents()


def map_state(page) -> dict:
    """What the map holds now: selection, decoded location, region, the lens caption, draws so far."""
    return page.evaluate(f"""() => {{ const m = {MAP_JS};
        return {{selected: m.selected, location: m.location, region: m.region, lens: m.lensCaption.textContent,
                 drawn: Number(m.host.dataset.drawn), members: m.members ? m.members.reduce((a, b) => a + b, 0) : null,
                 mode: m.overlay._fullLayout.dragmode}}; }}""")


def map_to_page(page, x: float, y: float) -> tuple[float, float]:
    """Map (data) coordinates to page pixels."""
    return tuple(page.evaluate(f"""([x, y]) => {{ const m = {MAP_JS}, box = m.overlay.getBoundingClientRect();
        const [px, py] = m.toPx(x, y); return [box.left + px, box.top + py]; }}""", [x, y]))


def page_to_map(page, px: float, py: float) -> tuple[float, float]:
    return tuple(page.evaluate(f"""([px, py]) => {{ const m = {MAP_JS}, box = m.overlay.getBoundingClientRect();
        return m.toData(px - box.left, py - box.top); }}""", [px, py]))


def _inside(point: dict, area: dict, inset: float) -> bool:
    return (area["left"] + inset <= point["px"] <= area["right"] - inset
            and area["top"] + inset <= point["py"] <= area["bottom"] - inset)


def _nearest_distances(points: list[dict], others: list[dict], exclude_self: bool) -> list[float]:
    """For each point, the pixel distance to the nearest of `others` (itself excluded when it is among them)."""
    if not points:
        return []
    if not others:
        return [float("inf")] * len(points)
    import numpy as np
    from scipy.spatial import cKDTree

    tree = cKDTree(np.array([(o["px"], o["py"]) for o in others]))
    k = min(2 if exclude_self else 1, len(others))
    distances, _ = tree.query(np.array([(p["px"], p["py"]) for p in points]), k=k)
    distances = np.asarray(distances).reshape(len(points), k)
    if exclude_self:  # the nearest is the point itself (distance 0) unless it is alone
        return [float(row[1]) if k > 1 else float("inf") for row in distances]
    return [float(row[0]) for row in distances]


def isolated_data_points(page, count: int, exclude: set[int] = frozenset(), min_gap_px: float = 10.0,
                         inset_px: float = 30.0, spread_px: float = 60.0) -> list[dict]:
    """Drawn points with no other point within min_gap_px, at least spread_px from each other.

    Clicking exactly on such a point cannot pick a neighbour instead. The inset keeps clear of the axes.
    """
    snapshot = map_points(page)
    points, area = snapshot["points"], snapshot["area"]
    candidates = [p for p in points if p["custom"] not in exclude and _inside(p, area, inset_px)]
    gaps = _nearest_distances(candidates, points, exclude_self=True)
    ranked = sorted(((gap, p) for gap, p in zip(gaps, candidates) if gap >= min_gap_px), key=lambda c: -c[0])
    chosen: list[dict] = []
    for _, p in ranked:  # the most isolated first, but keep chosen points apart from each other
        if all(((p["px"] - c["px"]) ** 2 + (p["py"] - c["py"]) ** 2) ** 0.5 > spread_px for c in chosen):
            chosen.append(p)
        if len(chosen) == count:
            return chosen
    raise AssertionError(f"found only {len(chosen)} isolated data points on the map; wanted {count}")


def empty_spot(page, min_gap_px: float = 25.0, inset_px: float = 40.0) -> dict:
    """A place on the map far from every point: {px, py} in page pixels and {x, y} in map coordinates."""
    snapshot = map_points(page)
    area = snapshot["area"]
    grid = [{"px": area["left"] + inset_px + i * (area["right"] - area["left"] - 2 * inset_px) / 24,
             "py": area["top"] + inset_px + j * (area["bottom"] - area["top"] - 2 * inset_px) / 24}
            for i in range(25) for j in range(25)]
    gaps = _nearest_distances(grid, snapshot["points"], exclude_self=False)
    gap, spot = max(zip(gaps, grid), key=lambda pair: pair[0])
    assert gap >= min_gap_px, "no empty space on the map far enough from every point"
    spot["x"], spot["y"] = page_to_map(page, spot["px"], spot["py"])
    return spot


def click_at(page, px: float, py: float) -> None:
    page.mouse.move(px - 3, py - 3)
    page.mouse.move(px, py, steps=3)
    page.mouse.click(px, py)


def card_state(page) -> dict:
    """The inspect card's host attributes: index shown, first image painted, all images painted."""
    return page.evaluate(f"() => ({{...{component_host_js('inspect_card')}.dataset}})")


def wait_for_card(page, index: int | str, timeout_s: float = RERUN_S) -> None:
    """Until the inspect card shows `index` (or 'location') with every image painted."""
    page.wait_for_function(f"(i) => {{ const h = {component_host_js('inspect_card')}; "
                           "return !!h && h.dataset.complete === String(i); }", arg=index, timeout=timeout_s * 1000)


def editor_slider(page, label: str):
    """The range input of the latent editor labelled `label` (z1, z2, ...)."""
    return page.locator(f'.st-key-latent_editor input[type="range"][aria-label="{label}"]')


def editor_z(page) -> str:
    """The z the editor last decoded and drew, as "z1,z2,..." with two decimals."""
    return page.evaluate(f"() => {component_host_js('latent_editor')}.dataset.z || ''")


def script_runs_started(page) -> int:
    """How many runs of the script this page has seen start (stamped by RUN_COUNTER_JS)."""
    return page.evaluate("() => window.__runStarts ? window.__runStarts.length : 0")


# Installed before any page script: stamps every start of a script run (the app root's run state becoming
# "running"; performance.now()), so a test can prove an interaction needed none, or came before one.
RUN_COUNTER_JS = """
(() => {
  window.__runStarts = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.attributeName === 'data-test-script-state' && r.target.getAttribute('data-test-script-state') === 'running'
          && r.oldValue !== 'running') window.__runStarts.push(performance.now());
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
})();
"""


def image_src(page, caption_pattern: str) -> str:
    """The src of the st.image whose caption matches (regex)."""
    figure = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(caption_pattern))
    return figure.first.locator("img").get_attribute("src")


def images_loaded(page, locator) -> bool:
    return all(img.evaluate("(e) => e.complete && e.naturalWidth > 0") for img in locator.locator("img").all())


def active_models_label(page) -> str:
    """What the sidebar's "Models" select shows (a react-aria combobox input)."""
    return page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Models").input_value()


# --- the map first: its axes, the switches in popovers, touch --------------------------------------------------

def map_axes(page, key: str = "latent_map") -> dict:
    """How many of a map's points lie outside its drawn axes, and its pixels per unit across and up."""
    page.wait_for_function(f"() => {{ const h = {component_host_js(key)}; "
                           "return !!(h && h.dataset.ready === '1' && Number(h.dataset.drawn || 0) > 0); }",
                           timeout=RERUN_S * 1000)
    return page.evaluate(f"""() => {{ const m = {component_host_js(key)}.__latentMap, f = m.overlay._fullLayout;
        const [x0, x1] = f.xaxis.range, [y0, y1] = f.yaxis.range;
        let outside = 0;
        for (let i = 0; i < m.x.length; i++) {{
          if (m.x[i] < x0 || m.x[i] > x1 || m.y[i] < y0 || m.y[i] > y1) outside++;
        }}
        return {{points: m.x.length, outside, across: f.xaxis._length / (x1 - x0),
                 up: f.yaxis._length / (y1 - y0)}}; }}""")


def open_popover(page, menu: str):
    """Open the popover whose button says `menu` (on Explore: "Layers", "View" or "Share"); returns its body."""
    page.get_by_role("button", name=menu, exact=True).click()
    body = page.get_by_test_id("stPopoverBody")
    body.wait_for()
    return body


def close_popover(page) -> None:
    """Close the open popover (Escape), so that nothing covers the page under it."""
    page.keyboard.press("Escape")
    page.get_by_test_id("stPopoverBody").wait_for(state="detached")


def flip_switch(page, menu: str, label) -> None:
    """Click the switch labelled `label` (text or regex) in the Explore map's popover `menu` ("Layers" or "View"),
    wait until it has flipped, then close the popover."""
    body = open_popover(page, menu)
    switch = body.get_by_role("switch", name=label)
    was_on = switch.is_checked()
    body.get_by_text(label).first.click()  # the label: the switch's input lies under it
    deadline = time.monotonic() + RERUN_S
    while switch.is_checked() == was_on:
        if time.monotonic() > deadline:
            screenshot(page, "switch-did-not-flip")
            raise AssertionError(f"the switch {label!r} did not flip within {RERUN_S} s")
        page.wait_for_timeout(50)
    close_popover(page)


# The element that scrolls the page (Streamlit scrolls a pane of its own): its scrollTop.
PAGE_SCROLL_JS = """() => {
  for (let e = document.querySelector('.st-key-latent_map'); e; e = e.parentElement) {
    const overflow = getComputedStyle(e).overflowY;
    if ((overflow === 'auto' || overflow === 'scroll') && e.scrollHeight > e.clientHeight) return e.scrollTop;
  }
  return document.scrollingElement.scrollTop;
}"""


def page_scroll(page) -> float:
    """How far the page is scrolled down, in CSS pixels."""
    return page.evaluate(PAGE_SCROLL_JS)


def touch_drag(page, x: float, y: float, dx: float, dy: float, hold_ms: int = 0, steps: int = 10) -> None:
    """One finger put down at (x, y) page pixels, held `hold_ms`, moved by (dx, dy) in `steps` and lifted, as a
    touch screen reports it (Chromium's own touch input, so the browser may scroll the page from it)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        if hold_ms:
            page.wait_for_timeout(hold_ms)
        for k in range(1, steps + 1):
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                                  "touchPoints": [{"x": x + dx * k / steps, "y": y + dy * k / steps}]})
            page.wait_for_timeout(16)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()
