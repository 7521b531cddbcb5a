"""Where a page's server run spends its time: one page script under cProfile, as AppTest runs it.

Runs the script once to warm every cache, then profiles the next runs and prints the functions with the
most cumulative time: the page's own blocks, Streamlit's element marshalling, the model's work.
Measure this before optimizing: a framework's per-run costs can dwarf a model's decode.

    python -m benchmarks.rerun_profile                       # Explore, digits, point 7
    python -m benchmarks.rerun_profile --query model=fashion-mnist point=123 --runs 5
    python -m benchmarks.rerun_profile --page latent_explorer/app_pages/edit.py --query z=1,-1

It times what runs in the script thread. The browser's side (transfer, layout, paint) is measured in
real Chromium by benchmarks/ui_latency.py.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

REPO_ROOT = Path(__file__).resolve().parents[1]

PROFILED_APP = '''
import cProfile, time
import streamlit as st
from latent_explorer import session

session.restore_view_from_url()
profile = st.session_state.setdefault("__profile", cProfile.Profile())
source = open(PAGE, encoding="utf-8").read()
started = time.perf_counter()
profile.enable()
exec(compile(source, PAGE, "exec"), {"__name__": "__main__"})
profile.disable()
st.session_state.setdefault("__times", []).append(time.perf_counter() - started)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", default="latent_explorer/app_pages/explore.py",
                        help="page script, relative to the repo root")
    parser.add_argument("--query", nargs="*", default=["model=digits", "point=7"], metavar="KEY=VALUE")
    parser.add_argument("--runs", type=int, default=3, help="profiled runs after the warm-up run")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    script = REPO_ROOT / "benchmarks" / "_profiled_page.py"
    script.write_text(f"PAGE = {str(REPO_ROOT / args.page)!r}\n" + PROFILED_APP, encoding="utf-8")
    try:
        at = AppTest.from_file(str(script), default_timeout=300)
        for pair in args.query:
            key, _, value = pair.partition("=")
            at.query_params[key] = value
        at.run()  # warm-up: models loaded, caches filled
        at.session_state["__profile"] = cProfile.Profile()
        at.session_state["__times"] = []
        wall = []
        for _ in range(args.runs):
            started = time.perf_counter()
            at.run()
            wall.append(time.perf_counter() - started)
        if at.exception:
            raise SystemExit(f"the page raised: {[e.value for e in at.exception]}")
        times = at.session_state["__times"]
        print(f"{args.page} {' '.join(args.query)}: page run {statistics.median(times) * 1000:.1f} ms median "
              f"over {len(times)} runs (AppTest round trip {statistics.median(wall) * 1000:.1f} ms, profiler on)")
        out = io.StringIO()
        stats = pstats.Stats(at.session_state["__profile"], stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())
    finally:
        script.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
