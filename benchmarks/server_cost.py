"""What one visitor costs the server: its CPU seconds per open of a link and per click on the map, one at a time.

The crowd benchmark (benchmarks/crowd.py) measures how long a crowd waits; on two cores that is mostly how much CPU
each visitor costs the one process, which this measures without the crowd's noise: one visitor after another,
nothing else running. Each variant is a fresh `streamlit run app.py` from this checkout (the README's command,
pairs in a temporary store). One visit, not counted, loads the model, and its session stays connected throughout
(as in a crowd, so Streamlit keeps its compiled scripts); three more opens are not counted either. Then ``--opens``
visitors open the link one after the other (each closes before the next), then the first visitor clicks
``--clicks`` held-out points one after the other. The server's CPU (psutil, user + system, its process tree) is
read before and after each part.

The baseline, in the same run: the same server with ``--without`` modules made unimportable (a folder of stand-ins
that raise ModuleNotFoundError, first on its PYTHONPATH), alternating with the server as installed ``--repeat``
times. Each variant's row says which of those modules the server process had loaded (its /proc/PID/maps), so a
baseline that did not take is seen.

    python -m benchmarks.server_cost --without uvloop httptools --publish

Results go to benchmarks/results/server_cost.json; ``--publish`` also writes the "Server cost per visitor" section
of benchmarks/README.md. Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.crowd import CARD, DEFAULT_LINK, MAP, cpu_model, git_commit, load_average, tree_cpu_s
from benchmarks.readme import publish
from devtools.browser import StreamlitServer
from devtools.streamlit_protocol import ProtocolSession

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "server_cost.json"
HEADING = "## Server cost per visitor"
TIMEOUT_S = 60.0
WARM_OPENS = 3  # not counted: the first opens after the model has loaded still fill the server's caches


def stand_ins(modules: list[str], folder: Path) -> None:
    """Packages named like ``modules`` whose import fails as if they were not installed."""
    for name in modules:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({name!r} + ' is hidden for a baseline (benchmarks/server_cost.py)')\n")


def loaded_modules(pid: int, modules: list[str]) -> dict[str, bool]:
    """Which of ``modules`` have a compiled library mapped into the process (a package of pure Python would not
    show: every module this benchmark hides is compiled)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name: f"/{name}/" in maps for name in modules}


async def opened(base_url: str, query: str) -> ProtocolSession:
    session = ProtocolSession(base_url)
    await session.open(query, TIMEOUT_S)
    if not await session.wait_for(lambda: session.finished and CARD in session.components, TIMEOUT_S):
        raise RuntimeError(f"the link did not open within {TIMEOUT_S:.0f} s: {session.closed_by_server}")
    return session


async def visits(base_url: str, query: str, server_pid: int, opens: int, clicks: int, points: list[int]) -> dict:
    kept = await opened(base_url, query)  # loads the model; stays, so the server keeps its compiled scripts
    for _ in range(WARM_OPENS):
        await (await opened(base_url, query)).close()
    before = tree_cpu_s([server_pid])
    for _ in range(opens):
        await (await opened(base_url, query)).close()
    open_cpu_s = (tree_cpu_s([server_pid]) - before) / opens
    before = tree_cpu_s([server_pid])
    for seq, index in enumerate(points[:clicks], start=1):
        runs = len(kept.finished)
        await kept.send_event(MAP, "point", {"index": index, "seq": seq})
        if not await kept.wait_for(lambda runs=runs: len(kept.finished) > runs, TIMEOUT_S):
            raise RuntimeError(f"a click did not finish within {TIMEOUT_S:.0f} s: {kept.closed_by_server}")
    click_cpu_s = (tree_cpu_s([server_pid]) - before) / clicks
    await kept.close()
    return {"open_cpu_ms": 1000 * open_cpu_s, "click_cpu_ms": 1000 * click_cpu_s}


def measure_variant(without: list[str], hidden: list[str], args) -> dict:
    env = {}
    with tempfile.TemporaryDirectory(prefix="server-cost-") as folder:
        if hidden:
            stand_ins(hidden, Path(folder))
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")]))
        server = StreamlitServer(cwd=REPO_ROOT, env=env, file_watcher=None).start()
        try:
            server.wait_healthy()
            load_before = load_average()
            rng = random.Random(args.seed)
            points = rng.sample(range(1, args.points), args.clicks)
            figures = asyncio.run(visits(server.url, urlsplit(args.link).query, server.process.pid,
                                         args.opens, args.clicks, points))
            figures["loaded"] = loaded_modules(server.process.pid, without)
        finally:
            server.stop()
    return {"hidden": hidden, "load_before": load_before, **figures}


def median_of(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def readme_section(result: dict) -> str:
    without = ", ".join(result["without"])
    lines = [HEADING, "",
             f"`python -m benchmarks.server_cost {' '.join(result['argv'])}` ({result['when']}, "
             f"{result['machine']['cpu']}, {result['machine']['cores']} cores; commit {result['commit']}). "
             f"Server CPU per visitor, one at a time: {result['opens']} opens of `{result['link']}`, then "
             f"{result['clicks']} clicks; as installed against the same server without {without}, alternating.",
             "", f"| variant | load before | {without} loaded | open: CPU ms | click: CPU ms |",
             "|---|---:|---|---:|---:|"]
    for row in result["rows"]:
        name = "without " + without if row["hidden"] else "as installed"
        loaded = ", ".join("yes" if seen else "no" for seen in row["loaded"].values())
        lines.append(f"| {name} | {row['load_before'][0]:.2f} | {loaded} | {row['open_cpu_ms']:.1f} | "
                     f"{row['click_cpu_ms']:.1f} |")
    ratio = result["median"]
    lines += ["", f"Medians: open {ratio['installed']['open_cpu_ms']:.1f} ms against "
                  f"{ratio['baseline']['open_cpu_ms']:.1f} ms ({ratio['open_ratio']:.2f}x), click "
                  f"{ratio['installed']['click_cpu_ms']:.1f} ms against {ratio['baseline']['click_cpu_ms']:.1f} ms "
                  f"({ratio['click_ratio']:.2f}x)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--without", nargs="+", required=True, metavar="MODULE",
                        help="the baseline: the same server with these (compiled) modules unimportable")
    parser.add_argument("--opens", type=int, default=40)
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2, help="rounds of (as installed, baseline)")
    parser.add_argument("--link", default=DEFAULT_LINK)
    parser.add_argument("--points", type=int, default=10_000, help="held-out images of the link's model to click")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--publish", action="store_true", help="write this section of benchmarks/README.md")
    args = parser.parse_args(argv)
    if not 1 <= args.clicks < args.points:
        parser.error("--clicks: 1 to fewer than --points")

    rows = []
    for _ in range(args.repeat):
        for hidden in ([], args.without):
            rows.append(measure_variant(args.without, hidden, args))
            print(rows[-1], flush=True)
    installed = [row for row in rows if not row["hidden"]]
    baseline = [row for row in rows if row["hidden"]]
    median = {"installed": {key: median_of(installed, key) for key in ("open_cpu_ms", "click_cpu_ms")},
              "baseline": {key: median_of(baseline, key) for key in ("open_cpu_ms", "click_cpu_ms")}}
    median["open_ratio"] = median["installed"]["open_cpu_ms"] / median["baseline"]["open_cpu_ms"]
    median["click_ratio"] = median["installed"]["click_cpu_ms"] / median["baseline"]["click_cpu_ms"]
    result = {"argv": sys.argv[1:] if argv is None else argv,
              "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
              "commit": git_commit(REPO_ROOT), "link": args.link, "opens": args.opens, "clicks": args.clicks,
              "without": args.without, "rows": rows, "median": median, "load_after": load_average()}
    publish(result, RESULTS, HEADING, readme_section(result), readme=args.publish)


if __name__ == "__main__":
    main()
