"""Driving the real app in Chromium: server start, waiting for reruns, the Plotly map, sliders.

Shared by the browser tests (tests/browser) and the UI benchmark (benchmarks/ui_latency.py). Everything here finds
elements by what a visitor sees (headings, labels, captions) or by Streamlit's own data-testids.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
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

TRACEBACK_MARKERS = ("Traceback (most recent call last)", "Uncaught app execution")


# --- the server --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`streamlit run <script>` in a subprocess, its output in a log file."""

    def __init__(self, script: str | Path = "app.py", log_path: Path | None = None, cwd: Path = REPO_ROOT,
                 extra_args: tuple[str, ...] = ()):
        self.script = str(script)
        self.cwd = cwd
        self.port = free_port()
        self.log_path = log_path or ARTIFACTS / f"streamlit-{self.port}.log"
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StreamlitServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "streamlit", "run", self.script, "--server.headless", "true",
                   "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
                   "--server.fileWatcherType", "none", *self.extra_args]
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        return self

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


def wait_for_app(page, expect=None, timeout_s: float = RERUN_S, settle_s: float = 0.5) -> None:
    """Wait until the app shows `expect` (a locator, or a callable returning bool) and no run is under way.

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
        if app_is_running(page):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle_s:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the app was still running after {timeout_s} s (state {script_state(page)})")
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


# --- the Plotly map ----------------------------------------------------------------------------------------

# Every point of every trace of the first Plotly chart, in page pixels (clientX/clientY), read from
# Plotly's own full data (typed arrays decoded) and axis transforms. Only traces drawn as markers count.
_MAP_POINTS_JS = """
(plotIndex) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[plotIndex];
  if (!gd || !gd._fullLayout || !gd._fullData) return null;
  const L = gd._fullLayout, box = gd.getBoundingClientRect();
  const drag = gd.querySelector('.nsewdrag').getBoundingClientRect();
  const out = [];
  gd._fullData.forEach((t, k) => {
    if (t.visible !== true || !t.x || !String(t.mode || '').includes('markers')) return;
    const n = Math.min(t.x.length, t.y.length);
    for (let i = 0; i < n; i++) {
      const x = Number(t.x[i]), y = Number(t.y[i]);
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const cd = t.customdata ? t.customdata[i] : null;
      out.push({trace: k, name: t.name, i: i, x: x, y: y,
                custom: cd === null || cd === undefined ? null : Number(Array.isArray(cd) ? cd[0] : cd),
                px: box.left + L.xaxis.l2p(x) + L._size.l, py: box.top + L.yaxis.l2p(y) + L._size.t});
    }
  });
  return {points: out, area: {left: drag.left, top: drag.top, right: drag.right, bottom: drag.bottom}};
}
"""


def wait_for_map(page, plot_index: int = 0, timeout_s: float = RERUN_S) -> None:
    """Until the map's WebGL points are drawn (Plotly has computed its full data and the gl canvas exists)."""
    page.wait_for_function(
        """(k) => { const gd = document.querySelectorAll('.js-plotly-plot')[k];
                    return !!(gd && gd._fullData && gd._fullData.length && gd.querySelector('.nsewdrag')
                              && gd.querySelector('canvas')); }""",
        arg=plot_index, timeout=timeout_s * 1000)


def map_points(page, plot_index: int = 0) -> dict:
    wait_for_map(page, plot_index)
    return page.evaluate(_MAP_POINTS_JS, plot_index)


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
                         inset_px: float = 45.0) -> list[dict]:
    """Data points (customdata >= 0) with no other marker within min_gap_px, spread over the map.

    Clicking exactly on such a point cannot pick a neighbour instead. The inset keeps clear of the
    modebar and the axes.
    """
    snapshot = map_points(page)
    points, area = snapshot["points"], snapshot["area"]
    data = [p for p in points if p["custom"] is not None and p["custom"] >= 0]
    grid = [p for p in points if p["custom"] is not None and p["custom"] < 0]
    marks = [p for p in points if p["custom"] is None]  # overlays: posterior draws, decoded location...
    candidates = [p for p in data if p["custom"] not in exclude and _inside(p, area, inset_px)]
    gaps = _nearest_distances(candidates, data + marks, exclude_self=True)
    grid_gaps = _nearest_distances(candidates, grid, exclude_self=False)
    ranked = sorted(((gap, p) for gap, grid_gap, p in zip(gaps, grid_gaps, candidates)
                     if gap >= min_gap_px and grid_gap >= 3.0), key=lambda c: -c[0])
    chosen: list[dict] = []
    for _, p in ranked:  # the most isolated first, but keep chosen points apart from each other
        if all(((p["px"] - c["px"]) ** 2 + (p["py"] - c["py"]) ** 2) ** 0.5 > 60 for c in chosen):
            chosen.append(p)
        if len(chosen) == count:
            return chosen
    raise AssertionError(f"found only {len(chosen)} isolated data points on the map; wanted {count}")


def empty_grid_point(page, min_gap_px: float = 25.0, inset_px: float = 50.0) -> dict:
    """A point of the invisible clickable grid far from any data point or overlay marker."""
    snapshot = map_points(page)
    points, area = snapshot["points"], snapshot["area"]
    grid = [p for p in points if p["custom"] is not None and p["custom"] < 0]
    others = [p for p in points if p["custom"] is None or p["custom"] >= 0]
    assert grid, "the map has no clickable grid (expected for latent size 2)"
    inside = [p for p in grid if _inside(p, area, inset_px)]
    gaps = _nearest_distances(inside, others, exclude_self=False)
    best = max(zip(gaps, range(len(inside))), default=None)
    assert best is not None and best[0] >= min_gap_px, "no empty space on the map far enough from every point"
    return inside[best[1]]


def click_at(page, px: float, py: float) -> None:
    page.mouse.move(px - 3, py - 3)
    page.mouse.move(px, py, steps=3)
    page.wait_for_timeout(150)  # let Plotly register the hover before the click
    page.mouse.click(px, py)


# --- sliders and images ------------------------------------------------------------------------------------

def slider(page, label: str):
    """The keyboard-focusable range input (implicit role slider) of the Streamlit slider labelled `label`."""
    return page.locator(f'[data-testid="stSlider"] input[type="range"][aria-label="{label}"]')


def slider_value_text(page, label: str) -> str:
    return slider(page, label).get_attribute("aria-valuetext")


def slider_thumb_text(page, label: str) -> str:
    """The value printed above the thumb, as a visitor reads it."""
    thumb = slider(page, label).locator("xpath=../..")
    return thumb.locator('[data-testid="stSliderThumbValue"]').inner_text().strip()


def slider_thumb_box(page, label: str) -> dict:
    """Bounding box of the visible thumb (the hidden range input's grandparent)."""
    return slider(page, label).locator("xpath=../..").bounding_box()


def image_src(page, caption_pattern: str) -> str:
    """The src of the st.image whose caption matches (regex)."""
    figure = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(caption_pattern))
    return figure.first.locator("img").get_attribute("src")


def images_loaded(page, locator) -> bool:
    return all(img.evaluate("(e) => e.complete && e.naturalWidth > 0") for img in locator.locator("img").all())


def active_models_label(page) -> str:
    """What the sidebar's "Models" select shows (a react-aria combobox input)."""
    return page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Models").input_value()
