"""A crowd on one shared link: N visitors open it at once, then each clicks the map a few times.

Every visitor is a client of Streamlit's own websocket protocol (devtools/streamlit_protocol.py), not a browser:
it sends what Chromium sends (the opening ``rerun_script``; a click is the map component's ``point`` event,
``[{"event":"point","value":{"index":I,"seq":S}}]`` on the trigger of the element keyed ``latent_map``, as a rerun
of the explorer's fragment) and keeps Streamlit's message cache as the browser does. ``--check-chromium`` checks
that against one real Chromium load of the same link (bytes received, and the exact messages sent).

Per N (``--sessions``, default 1 5 10 25 50 100), with every visitor opening the link at the same moment:

  open run     from the websocket's connect to the first ``script_finished`` (not one ended early for a rerun)
  open card    from the connect to the card's complete delta for the link's point (below)
  open http    from the connect until every fetch below is done (first visit only; absent when there is none)
  click run    from sending the click to the next ``script_finished`` (the explorer fragment's run)
  click card   from sending the click to the card's complete delta for the clicked point
  websocket    message payload bytes received per session, while opening (to the open's card and run both)
               and over the clicks (what Chromium's frame events count; compression is off by default)
  http         bytes of the component files fetched per session: in "first visit" mode (default) each string under
               a "url" key of any component's JSON data that starts with /_stcore/bidi-components/, and a top-level
               "file" of a component's data (the pack's, resolved as web/pack_carrier.js does), is fetched once per
               session over HTTP, as the page's script would; ``--returning`` skips them (a returning visitor's
               browser keeps them in Cache Storage). The runtime's scripts and Plotly.js, the components' own
               scripts and Streamlit's static files are not fetched: the client models the websocket session.
  health       ``GET /_stcore/health`` every 0.25 s from a thread of its own while the N visitors run: latency,
               and polls unanswered within 5 s
  opens / s    visitors whose open run finished, divided by the slowest of those opens: the crowd's throughput
  server       CPU seconds of the server's process tree (psutil, user + system, before and after the round; per
               visitor, opens and clicks together) and its peak RSS (sampled every 0.25 s); with ``--url``, only
               for the ``--server-pid``s given
  errors       exception elements among the deltas, sessions the server dropped (or that could not connect),
               opens and clicks that did not finish within ``--timeout``, component files that could not be
               fetched

The card is complete when a delta of the ``latent-explorer.card`` component (latent_explorer/components.py
CardData) arrives whose data has ``selected`` equal to the point and a ``server`` object with ``index`` equal to the
point, non-empty ``pixels``, and ``tiles`` holding the ``original`` and as many ``neighbours`` as the data's
``neighbours`` count: the images only the server has (original and neighbours; the decodes the browser computes
itself are not waited for).

Visitors click held-out points chosen at random (seeded by ``--seed`` and the visitor's number) among
``--points`` (the link's model's held-out images; the link's own point excluded), after pauses drawn uniformly
from ``--pause``; a click is sent only after the visitor's open (or previous click) has finished. All visitors stay
connected until the round ends; a round has a time limit (opens and clicks, each ``--timeout``). Only the server's
address is contacted (127.0.0.1 for a server this script starts).

By default the script starts its own server with the README's command, ``streamlit run app.py`` (plus
``--server.headless true --server.port P``, and ``--browser.gatherUsageStats false``, which .streamlit/config.toml
says too; the file watcher is left to that file), from ``--checkout DIR`` with that directory first on PYTHONPATH,
pairs in a temporary store; one warm-up visit (not counted) loads the model before the first round. ``--url``
measures a running server instead (a proxy in front of several, say).

    python -m benchmarks.crowd --sessions 1 5 10 --label now
    python -m benchmarks.crowd --checkout /tmp/crowd-before --sessions 1 5 10 --label before
    python -m benchmarks.crowd --check-chromium --label now
    python -m benchmarks.crowd --url http://127.0.0.1:8501 --server-pid 1234 --sessions 25
    python -m benchmarks.crowd --label after --publish --beside before chromium-now

Results go to benchmarks/results/crowd-<label>.json (crowd-chromium-<label>.json for a check); ``--publish`` also
writes the "Crowd" section of benchmarks/README.md from that run and the results named by ``--beside``. Check
``uptime`` first: the load average is recorded before every round, and a client on the same machine takes CPU from
the server (its own CPU seconds are recorded too).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import psutil
from google.protobuf.json_format import MessageToDict
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.readme import publish
from devtools.browser import StreamlitServer, server_tracebacks
from devtools.processes import process_tree, process_tree_rss
from devtools.streamlit_protocol import Mounted, ProtocolSession, RunFinished, urls_under

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
HEADING = "## Crowd"
DEFAULT_LINK = "/?model=fashion-mnist&point=123"
CARD = "latent-explorer.card"  # latent_explorer/components.py: PROJECT + "." + the component's name
MAP = "latent-explorer.map"
COMPONENT_URL_PREFIX = "/_stcore/bidi-components/"
# What Chromium asks for when it fetches a script or a binary file.
BROWSER_ACCEPT_ENCODING = "gzip, deflate, br, zstd"
HEALTH_EVERY_S = 0.25
HEALTH_TIMEOUT_S = 5.0
SAMPLE_EVERY_S = 0.25
CHROMIUM_BYTES_TOLERANCE = 0.03


# --- figures --------------------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> dict | None:
    """n, p50, p95 and max of some durations or sizes (None for none)."""
    if not values:
        return None
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values)}


def card_complete(data, index: int) -> bool:
    """Whether a card component's data is the complete card of ``index`` (see the module's docstring)."""
    if not isinstance(data, dict) or data.get("selected") != index:
        return False
    server = data.get("server")
    if not isinstance(server, dict) or server.get("index") != index or not server.get("pixels"):
        return False
    tiles = server.get("tiles") or {}
    return "original" in tiles and len(tiles.get("neighbours") or []) == data.get("neighbours")


def component_files(name: str, mounted: Mounted) -> list[str]:
    """The URLs a component's script fetches from its data: each "url" under /_stcore/bidi-components/, and a
    top-level "file", which the pack's script resolves against its own module's URL (web/pack_carrier.js)."""
    urls = urls_under(mounted.data, COMPONENT_URL_PREFIX)
    if isinstance(mounted.data, dict) and isinstance(mounted.data.get("file"), str):
        urls.append(urljoin(f"{COMPONENT_URL_PREFIX}{name}/{mounted.js_source_path}", mounted.data["file"]))
    return urls


def finished_after(session: ProtocolSession, already: int) -> RunFinished | None:
    """The first run that finished after the first ``already`` runs (one ended early for a rerun aside)."""
    return next((run for run in session.finished[already:] if run.status != ForwardMsg.FINISHED_EARLY_FOR_RERUN),
                None)


# --- one visitor ------------------------------------------------------------------------------------------------

@dataclass
class Visitor:
    number: int
    open_run_s: float | None = None
    open_card_s: float | None = None
    open_http_s: float | None = None
    open_websocket_bytes: int | None = None
    click_websocket_bytes: int = 0
    http_bytes: int = 0
    http_fetches: int = 0
    clicks: list[dict] = field(default_factory=list)  # {index, run_s, card_s}
    exceptions: list[str] = field(default_factory=list)
    failed_fetches: list[str] = field(default_factory=list)
    dropped: str | None = None
    timeouts: list[str] = field(default_factory=list)


class Crowd:
    """N visitors of one link on one server."""

    def __init__(self, base_url: str, link: str, clicks: int, pause_s: tuple[float, float], points: int,
                 timeout_s: float, seed: int, first_visit: bool, fixed_clicks: list[int] | None = None):
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(link)
        self.query_string = parts.query
        self.link_point = next((int(value) for name, _, value in (p.partition("=") for p in parts.query.split("&"))
                                if name == "point" and value.isdigit()), None)
        self.clicks, self.pause_s, self.points = clicks, pause_s, points
        self.timeout_s, self.seed, self.first_visit = timeout_s, seed, first_visit
        self.fixed_clicks = fixed_clicks
        self.sessions: list[ProtocolSession] = []
        # urllib in threads of their own: the default executor's few threads would queue a crowd's fetches.
        self.fetcher = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="crowd-http")

    def _fetch(self, url: str) -> int:
        request = urllib.request.Request(self.base_url + url, headers={"Accept-Encoding": BROWSER_ACCEPT_ENCODING})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return len(response.read())

    async def visit(self, visitor: Visitor, start: asyncio.Event) -> None:
        cards: dict[int, float] = {}
        fetched: set[str] = set()
        fetches: list[asyncio.Future] = []
        loop = asyncio.get_running_loop()

        def on_component(name: str, mounted: Mounted, received_at: float) -> None:
            if name == CARD and isinstance(mounted.data, dict):
                index = mounted.data.get("selected")
                if isinstance(index, int) and card_complete(mounted.data, index):
                    cards.setdefault(index, received_at)
            if self.first_visit and isinstance(mounted.data, (dict, list)):
                for url in component_files(name, mounted):
                    if url not in fetched:
                        fetched.add(url)
                        fetches.append(loop.run_in_executor(self.fetcher, self._fetch, url))

        session = ProtocolSession(self.base_url, on_component)
        self.sessions.append(session)
        await start.wait()
        began = time.perf_counter()
        try:
            await session.open(self.query_string, self.timeout_s)
        except Exception as error:
            visitor.dropped = f"could not connect: {type(error).__name__}: {error}"[:500]
            return
        point = self.link_point
        opened = await session.wait_for(
            lambda: finished_after(session, 0) is not None and (point is None or point in cards), self.timeout_s)
        run = finished_after(session, 0)
        visitor.open_run_s = None if run is None else run.received_at - began
        visitor.open_card_s = cards[point] - began if point in cards else None
        visitor.open_websocket_bytes = None if run is None else run.websocket_bytes
        if not opened:
            visitor.timeouts.append("open")
        if fetches:
            sizes = await asyncio.gather(*fetches, return_exceptions=True)
            visitor.open_http_s = time.perf_counter() - began
            visitor.http_fetches = len(sizes)
            visitor.http_bytes = sum(size for size in sizes if isinstance(size, int))
            visitor.failed_fetches += [f"{type(size).__name__}: {size}"[:500] for size in sizes
                                       if not isinstance(size, int)]
        rng = random.Random(self.seed * 1_000_003 + visitor.number)
        shown, sequence = point, 0
        for click in range(self.clicks if opened else 0):
            await asyncio.sleep(rng.uniform(*self.pause_s))
            if session.closed_by_server is not None:
                break
            index = self.fixed_clicks[click] if self.fixed_clicks else rng.randrange(self.points)
            while not self.fixed_clicks and index in (shown, self.link_point):
                index = rng.randrange(self.points)
            runs_before, bytes_before = len(session.finished), session.counts.websocket_bytes
            # A component's sequence number (web/runtime.js, LxComponent.send): Date.now(), or one more when sooner.
            sequence = max(sequence + 1, int(time.time() * 1000))
            sent = time.perf_counter()
            await session.send_event(MAP, "point", {"index": index, "seq": sequence})
            answered = await session.wait_for(
                lambda before=runs_before, wanted=index: finished_after(session, before) is not None
                and wanted in cards, self.timeout_s)
            run = finished_after(session, runs_before)
            visitor.clicks.append({"index": index, "run_s": None if run is None else run.received_at - sent,
                                   "card_s": cards[index] - sent if index in cards else None})
            visitor.click_websocket_bytes += session.counts.websocket_bytes - bytes_before
            if not answered:
                visitor.timeouts.append(f"click {click + 1}")
                break
            shown = index
        visitor.exceptions += session.counts.exceptions
        visitor.dropped = visitor.dropped or session.closed_by_server

    async def run(self, count: int) -> list[Visitor]:
        visitors = [Visitor(number) for number in range(count)]
        start = asyncio.Event()
        tasks = [asyncio.create_task(self.visit(visitor, start)) for visitor in visitors]
        await asyncio.sleep(0)  # every visitor waits at the start line
        start.set()
        limit = self.timeout_s * (1 + self.clicks) + self.clicks * self.pause_s[1] + 30
        done, pending = await asyncio.wait(tasks, timeout=limit)
        for task in pending:
            task.cancel()
        for visitor, task in zip(visitors, tasks):
            if task in pending:
                visitor.timeouts.append("round time limit")
            elif task.exception() is not None:
                visitor.dropped = f"{type(task.exception()).__name__}: {task.exception()}"[:500]
        await asyncio.gather(*(session.close() for session in self.sessions), return_exceptions=True)
        self.sessions.clear()
        self.fetcher.shutdown(wait=False, cancel_futures=True)
        return visitors


# --- watching the server ----------------------------------------------------------------------------------------

class Watch:
    """Health polls and the server's RSS, each from a thread of its own, while a round runs."""

    def __init__(self, base_url: str, server_pids: list[int]):
        self.base_url, self.server_pids = base_url.rstrip("/"), server_pids
        self.health_s: list[float] = []
        self.unanswered = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll_health, daemon=True),
                         threading.Thread(target=self._sample_rss, daemon=True)]

    def __enter__(self) -> Watch:
        self.cpu_before = self.server_cpu_s()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(HEALTH_TIMEOUT_S + 1)
        self.cpu_s = self.server_cpu_s() - self.cpu_before if self.server_pids else None

    def _poll_health(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(self.base_url + "/_stcore/health", timeout=HEALTH_TIMEOUT_S) as answer:
                    answer.read()
                self.health_s.append(time.perf_counter() - began)
            except OSError:
                self.unanswered += 1
            self._stop.wait(max(0.0, HEALTH_EVERY_S - (time.perf_counter() - began)))

    def _sample_rss(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.server_rss())
            self._stop.wait(SAMPLE_EVERY_S)

    def server_rss(self) -> int:
        return sum(process_tree_rss(pid)[0] for pid in self.server_pids)

    def server_cpu_s(self) -> float:
        return tree_cpu_s(self.server_pids)


def tree_cpu_s(roots: list[int]) -> float:
    """CPU seconds (user + system) so far of processes and all their descendants."""
    total = 0.0
    for pid in (p for root in roots for p in process_tree(root)):
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def round_figures(count: int, visitors: list[Visitor], watch: Watch, client_cpu_s: float, load_before: list[float],
                  rss_before: int | None, wall_s: float) -> dict:
    def values(name: str) -> list[float]:
        return [getattr(v, name) for v in visitors if getattr(v, name) is not None]

    clicks = [c for v in visitors for c in v.clicks]
    opened = len(values("open_run_s"))
    return {
        "sessions": count,
        "load_before": load_before,
        "wall_s": wall_s,
        "open_run_s": summary(values("open_run_s")),
        "open_card_s": summary(values("open_card_s")),
        "open_http_s": summary(values("open_http_s")),
        "click_run_s": summary([c["run_s"] for c in clicks if c["run_s"] is not None]),
        "click_card_s": summary([c["card_s"] for c in clicks if c["card_s"] is not None]),
        "opens_per_s": opened / max(values("open_run_s")) if opened else None,
        "websocket_bytes_open": summary(values("open_websocket_bytes")),
        "websocket_bytes_clicks": summary([v.click_websocket_bytes for v in visitors]),
        "http_bytes": summary([v.http_bytes for v in visitors]),
        "http_fetches_per_session": summary([v.http_fetches for v in visitors]),
        "health_s": summary(watch.health_s),
        "health_unanswered": watch.unanswered,
        "server_cpu_s": watch.cpu_s,
        "server_cpu_s_per_session": watch.cpu_s / count if watch.cpu_s is not None else None,
        "client_cpu_s": client_cpu_s,
        "server_rss_before": rss_before,
        "server_peak_rss": watch.peak_rss if watch.server_pids else None,
        "exceptions": [e for v in visitors for e in v.exceptions],
        "failed_fetches": [f for v in visitors for f in v.failed_fetches],
        "dropped": [v.dropped for v in visitors if v.dropped],
        "timeouts": [f"visitor {v.number}: {t}" for v in visitors for t in v.timeouts],
        "clicks_done": len(clicks),
        "visitors": [asdict(v) for v in visitors],
    }


# --- the benchmark ----------------------------------------------------------------------------------------------

def start_server(checkout: Path) -> StreamlitServer:
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))}
    server = StreamlitServer(cwd=checkout, env=env, file_watcher=None).start()
    server.wait_healthy()
    return server


def crowd_for(args, base_url: str, first_visit: bool) -> Crowd:
    return Crowd(base_url, args.link, args.clicks, tuple(args.pause), args.points, args.timeout, args.seed,
                 first_visit)


def warm_up(args, base_url: str) -> None:
    """One visit, not counted: the server's first loads the model (and shows more while it does)."""
    warm = asyncio.run(Crowd(base_url, args.link, 0, (0, 0), args.points, args.timeout, args.seed,
                             not args.returning).run(1))[0]
    print(f"warm-up visit: run {warm.open_run_s} s, card {warm.open_card_s} s", flush=True)


def measure(args, base_url: str, server_pids: list[int]) -> dict:
    rounds = []
    if args.warmup:
        warm_up(args, base_url)
    for count in args.sessions:
        load_before = load_average()
        watch = Watch(base_url, server_pids)
        rss_before = watch.server_rss() if server_pids else None
        client_before, began = time.process_time(), time.perf_counter()
        with watch:
            visitors = asyncio.run(crowd_for(args, base_url, not args.returning).run(count))
        figures = round_figures(count, visitors, watch, time.process_time() - client_before, load_before,
                                rss_before, time.perf_counter() - began)
        rounds.append(figures)
        print(table([figures]), flush=True)
        time.sleep(args.rest)
    return {"rounds": rounds, "load_after": load_average()}


def git_commit(directory: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(directory), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


# --- Chromium, for comparison -----------------------------------------------------------------------------------

def opening_bytes(received: list[bytes]) -> int:
    """Payload bytes received up to and including the first run's ``script_finished``."""
    total = 0
    for payload in received:
        total += len(payload)
        message = ForwardMsg.FromString(payload)
        if message.WhichOneof("type") == "script_finished" \
                and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            return total
    raise AssertionError("no run finished among the frames received")


def comparable(message: BackMsg) -> dict:
    """A sent message as a dict, the map event's sequence number (a clock reading) left out, the widget states in
    order of id (the browser lists them in the order its widgets mounted; the server reads them by id)."""
    as_dict = MessageToDict(message.rerun_script)
    widgets = as_dict.get("widgetStates", {}).get("widgets", [])
    widgets.sort(key=lambda widget: widget["id"])
    for widget in widgets:
        if "jsonTriggerValue" in widget:
            events = json.loads(widget["jsonTriggerValue"])
            for event in events:
                event["value"].pop("seq", None)
            widget["jsonTriggerValue"] = events
    return as_dict


def chromium_visit(base_url: str, link: str, point: int | None) -> dict:
    """One Chromium load of the link, then a click on an isolated point: frames received, messages sent."""
    from playwright.sync_api import sync_playwright

    from devtools.browser import VIEWPORT, click_at, isolated_data_points, launch_chromium, wait_for_card

    received: list[bytes] = []
    sent: list[bytes] = []
    host = urlsplit(base_url).hostname

    def on_websocket(socket) -> None:
        socket.on("framereceived", lambda payload: received.append(payload if isinstance(payload, bytes)
                                                                     else payload.encode()))
        socket.on("framesent", lambda payload: sent.append(payload if isinstance(payload, bytes)
                                                             else payload.encode()))

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            # Only the server under test: the page's fonts and icons from elsewhere are refused.
            page.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname == host
                       else route.abort())
            page.on("websocket", on_websocket)
            page.goto(base_url + link)
            if point is not None:
                wait_for_card(page, point)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    opened = opening_bytes(list(received))
                    break
                except AssertionError:
                    page.wait_for_timeout(100)
            else:
                raise AssertionError("Chromium's first run did not finish within 60 s")
            target = isolated_data_points(page, 1, exclude={point} if point is not None else set())[0]
            sent_before = len(sent)
            click_at(page, target["px"], target["py"])
            wait_for_card(page, target["custom"])
            page.wait_for_timeout(500)
        finally:
            browser.close()
    return {"opening_bytes": opened, "opening_message": BackMsg.FromString(sent[0]),
            "click_message": BackMsg.FromString(sent[sent_before]), "clicked": target["custom"]}


def check_chromium(args, base_url: str) -> dict:
    if args.warmup:
        warm_up(args, base_url)
    link_point = crowd_for(args, base_url, not args.returning).link_point
    chromium = chromium_visit(base_url, args.link, link_point)
    # The same visit by the client: the same link, then a click on the point Chromium clicked.
    crowd = Crowd(base_url, args.link, 1, (0.5, 0.5), args.points, args.timeout, args.seed, not args.returning,
                  fixed_clicks=[chromium["clicked"]])

    async def one_visitor() -> tuple[Visitor, list[BackMsg]]:
        visitor, start = Visitor(0), asyncio.Event()
        start.set()
        await crowd.visit(visitor, start)
        session = crowd.sessions.pop()
        await session.close()
        crowd.fetcher.shutdown(wait=False)
        return visitor, session.sent

    visitor, client_sent = asyncio.run(one_visitor())
    client_bytes = visitor.open_websocket_bytes
    difference = abs(client_bytes - chromium["opening_bytes"]) / chromium["opening_bytes"]
    same_opening = comparable(client_sent[0]) == comparable(chromium["opening_message"])
    same_click = len(client_sent) > 1 and comparable(client_sent[1]) == comparable(chromium["click_message"])
    print(f"websocket bytes until the first run finished: Chromium {chromium['opening_bytes']:,}, "
          f"client {client_bytes:,} ({difference:.2%} apart)")
    print(f"opening message: {'identical' if same_opening else 'DIFFERENT'}; click on #{chromium['clicked']}: "
          f"{'identical' if same_click else 'DIFFERENT'} (the event's seq aside)")
    if not (same_opening and same_click):
        print("Chromium sent:", json.dumps([comparable(chromium["opening_message"]),
                                            comparable(chromium["click_message"])], indent=1))
        print("the client sent:", json.dumps([comparable(m) for m in client_sent[:2]], indent=1))
    return {"chromium_opening_bytes": chromium["opening_bytes"], "client_opening_bytes": client_bytes,
            "difference": difference, "same_opening_message": same_opening, "same_click_message": same_click,
            "clicked": chromium["clicked"],
            "matches": difference <= CHROMIUM_BYTES_TOLERANCE and same_opening and same_click}


# --- output -----------------------------------------------------------------------------------------------------

def _seconds(figure: dict | None, key: str) -> str:
    return "–" if figure is None else f"{figure[key]:.2f}"


def _three(figure: dict | None) -> str:
    return " / ".join(_seconds(figure, k) for k in ("p50", "p95", "max"))


def table(rounds: list[dict]) -> str:
    lines = ["| N | load before | open run p50 / p95 / max s | open card p50 / p95 / max s | click card p50 / p95 / "
             "max s | click run p95 s | websocket KB / session (open) | http KB / session | health p95 / max s, "
             "unanswered | opens / s | server CPU s / visitor (open + clicks) | peak RSS MiB | exceptions / dropped / "
             "timeouts / failed fetches |",
             "|" + "---:|" * 13]
    for r in rounds:
        open_kb = "–" if r["websocket_bytes_open"] is None else f"{r['websocket_bytes_open']['p50'] / 1000:,.0f}"
        http_kb = "–" if r["http_bytes"] is None else f"{r['http_bytes']['p50'] / 1000:,.0f}"
        opens = "–" if r["opens_per_s"] is None else f"{r['opens_per_s']:.1f}"
        cpu = "–" if r["server_cpu_s_per_session"] is None else f"{r['server_cpu_s_per_session']:.2f}"
        rss = "–" if r["server_peak_rss"] is None else f"{r['server_peak_rss'] / 2**20:,.0f}"
        health = f"{_seconds(r['health_s'], 'p95')} / {_seconds(r['health_s'], 'max')}, {r['health_unanswered']}"
        lines.append(f"| {r['sessions']} | {r['load_before'][0]:.2f} | {_three(r['open_run_s'])} | "
                     f"{_three(r['open_card_s'])} | {_three(r['click_card_s'])} | "
                     f"{_seconds(r['click_run_s'], 'p95')} | {open_kb} | {http_kb} | "
                     f"{health} | {opens} | {cpu} | {rss} | {len(r['exceptions'])} / {len(r['dropped'])} / "
                     f"{len(r['timeouts'])} / {len(r['failed_fetches'])} |")
    return "\n".join(lines)


def run_text(result: dict) -> str:
    """Which command measured what, when, where."""
    return (f"`python -m benchmarks.crowd {' '.join(result['argv'])}` ({result['when']}, {result['machine']['cpu']}, "
            f"{result['machine']['cores']} cores). Server: {result['server']['description']}.")


def readme_section(results: list[dict]) -> str:
    """Some crowd results, oldest first: a table per run, a line per Chromium check."""
    lines = [HEADING, "",
             "`benchmarks/crowd.py`: N visitors open one link at once over Streamlit's own protocol, then each clicks "
             "the map; what each figure means is the script's docstring. The load average before each round is in "
             "the table; the client runs on the same 2 cores and takes CPU from the server.", ""]
    for result in sorted(results, key=lambda r: r["when"]):
        if "rounds" in result:
            settings = result["settings"]
            visits = "returning visitors (component files not fetched)" if settings["returning"] else "first visits"
            lines += [f"### `{result['label']}`", "", run_text(result) + f" Link `{settings['link']}`, "
                      f"{settings['clicks']} clicks per visitor after pauses of {settings['pause_s'][0]}-"
                      f"{settings['pause_s'][1]} s, {visits}.",
                      "", table(result["rounds"]), ""]
        else:
            lines += [f"Checked against Chromium (`{result['label']}`): " + run_text(result) + " Websocket bytes "
                      f"until the first run finished: Chromium {result['chromium_opening_bytes']:,}, the client "
                      f"{result['client_opening_bytes']:,}; the opening message "
                      f"{'identical' if result['same_opening_message'] else 'different'}, the click's "
                      f"{'identical' if result['same_click_message'] else 'different'} (its clock reading aside).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10, 25, 50, 100],
                        help="visitors opening the link at once, one round each")
    parser.add_argument("--clicks", type=int, default=3, help="clicks on the map per visitor")
    parser.add_argument("--pause", type=float, nargs=2, default=[1.0, 2.0], metavar=("MIN", "MAX"),
                        help="seconds before each click, drawn uniformly")
    parser.add_argument("--link", default=DEFAULT_LINK)
    parser.add_argument("--points", type=int, default=10_000, help="held-out images of the link's model to click")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds an open or a click may take")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rest", type=float, default=5.0, help="seconds between rounds")
    parser.add_argument("--returning", action="store_true", help="skip fetching component URLs (cached)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="do not load the model with one uncounted visit first")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--checkout", type=Path, default=REPO_ROOT, help="run `streamlit run app.py` from here")
    where.add_argument("--url", help="measure a server that is already running")
    parser.add_argument("--server-pid", type=int, action="append", default=[],
                        help="with --url: a server process whose CPU and RSS (with its children) are measured")
    parser.add_argument("--check-chromium", action="store_true",
                        help="compare one Chromium load with the client's (bytes and messages), then stop")
    parser.add_argument("--label", default="now", help="results go to benchmarks/results/crowd-LABEL.json "
                                                       "(crowd-chromium-LABEL.json for --check-chromium)")
    parser.add_argument("--publish", action="store_true",
                        help="write the Crowd section of benchmarks/README.md: this run and those named by --beside")
    parser.add_argument("--beside", nargs="*", default=[], metavar="LABEL",
                        help="with --publish: earlier results shown too, by the LABEL of crowd-LABEL.json "
                             "(chromium-LABEL for a check)")
    args = parser.parse_args(argv)
    if args.points < 3:
        parser.error("--points: a click needs a point other than the link's and the one shown")
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost"):
        parser.error("this benchmark only ever contacts this machine (127.0.0.1)")

    server = None if args.url else start_server(args.checkout.resolve())
    result = {
        "label": args.label, "argv": sys.argv[1:] if argv is None else argv,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "server": {"description": f"`{args.url}`" if args.url else
                   f"`streamlit run app.py` from {args.checkout} (commit {git_commit(args.checkout)})",
                   "url": args.url, "checkout": None if args.url else str(args.checkout)},
        "settings": {"link": args.link, "clicks": args.clicks, "pause_s": args.pause, "points": args.points,
                     "timeout_s": args.timeout, "seed": args.seed, "returning": args.returning},
    }
    try:
        base_url = args.url or server.url
        if args.check_chromium:
            result.update(check_chromium(args, base_url))
            results = RESULTS_DIR / f"crowd-chromium-{args.label}.json"
        else:
            result.update(measure(args, base_url, args.server_pid if args.url else [server.process.pid]))
            results = RESULTS_DIR / f"crowd-{args.label}.json"
        if server is not None and (tracebacks := server_tracebacks(server.log_text())):
            result["server_tracebacks"] = [excerpt[:1500] for excerpt in tracebacks]
    finally:
        if server is not None:
            server.stop()
    if "rounds" in result:
        print(table(result["rounds"]))
    beside = [json.loads((RESULTS_DIR / f"crowd-{label}.json").read_text(encoding="utf-8")) for label in args.beside]
    publish(result, results, HEADING, readme_section(beside + [result]), readme=args.publish)
    if result.get("matches") is False:
        raise SystemExit("the protocol client does not match Chromium (above)")

if __name__ == "__main__":
    main()
