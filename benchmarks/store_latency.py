"""What keeping models costs, for a stored Fashion-MNIST pair (the shipped fashion-mnist-latent2.pt).

  stored    "training finished" -> "stored": ModelStore.put of the pair (checkpoint serialised, written to a
            temporary key and moved, metadata after it, retention checked), in a local folder and in
            fsspec's memory://; baseline in the same run: save_checkpoint of the same pair to a local file
            (what a visitor's "Download checkpoint" costs the server, plus the disk write)
  link      opening a link -> the Explore map drawn, in a fresh browser context each time: ?model=<id> of
            the stored pair against ?model=fashion-mnist (the same pair, shipped: loaded once per server)

The map's "drawn" moment is the one benchmarks/ui_latency.py and the browser tests use: the map
component's host says ready and has drawn its points (devtools.browser.wait_for_map).

    python -m benchmarks.store_latency [--trials 7] [--no-readme]

Check `uptime` first; the script prints the load average before and after and writes
benchmarks/results/store_latency.json and the "Model store" section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.readme import publish
from devtools.browser import VIEWPORT, StreamlitServer, exception_texts, launch_chromium, wait_for_map
from latent_explorer.shipped import ASSETS, SHIPPED_FILES
from vae_core import is_available, load_checkpoint
from vae_core.checkpoint import save_checkpoint
from vae_core.store import STORE_ENV, ModelStore

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "store_latency.json"
OWNER = "b" * 43
HEADING = "## `store_latency.py`: keeping a model and opening its link"


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def time_stored(trials: int, folder: Path) -> dict:
    pair = load_checkpoint(ASSETS / SHIPPED_FILES["fashion-mnist"])
    local = ModelStore(folder / "store")
    memory = ModelStore(f"memory://bench-{os.getpid()}")
    samples: dict[str, list[float]] = {"save_checkpoint": [], "put_folder": [], "put_memory": []}
    for trial in range(trials):  # interleaved, so background load falls on every side alike
        start = time.perf_counter()
        save_checkpoint(pair, folder / f"download-{trial}.pt")
        samples["save_checkpoint"].append(time.perf_counter() - start)
        start = time.perf_counter()
        local.put(pair, "bench", OWNER)
        samples["put_folder"].append(time.perf_counter() - start)
        start = time.perf_counter()
        memory.put(pair, "bench", OWNER)
        samples["put_memory"].append(time.perf_counter() - start)
    size = local.entries()[0].size_bytes
    return {"size_bytes": size, **{name: median_ms(s) for name, s in samples.items()},
            "put_folder_over_save": round(statistics.median(samples["put_folder"])
                                          / statistics.median(samples["save_checkpoint"]), 2)}


def time_links(trials: int, folder: Path) -> dict:
    from playwright.sync_api import sync_playwright

    store_dir = folder / "link-store"
    model_id = ModelStore(store_dir).put(load_checkpoint(ASSETS / SHIPPED_FILES["fashion-mnist"]), "bench", OWNER)
    server = StreamlitServer("app.py", log_path=folder / "server.log", env={STORE_ENV: str(store_dir)}).start()
    samples: dict[str, list[float]] = {"shipped": [], "stored": []}
    try:
        server.wait_healthy()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)

            def open_map(query: str) -> float:
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                start = time.perf_counter()
                page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
                wait_for_map(page, timeout_s=300)
                elapsed = time.perf_counter() - start
                assert not exception_texts(page)
                context.close()
                return elapsed

            open_map("model=fashion-mnist")  # the server's first visit loads the shipped pairs: not timed
            for _ in range(trials):
                samples["shipped"].append(open_map("model=fashion-mnist"))
                samples["stored"].append(open_map(f"model={model_id}"))
            browser.close()
    finally:
        server.stop()
    return {**{name: median_ms(s) for name, s in samples.items()},
            "stored_first": round(samples["stored"][0] * 1000, 1),
            "stored_over_shipped": round(statistics.median(samples["stored"]) / statistics.median(samples["shipped"]),
                                         2)}


def readme_section(result: dict) -> str:
    stored, link = result["stored"], result["link"]
    rows = [
        ("", "median", "baseline in the same run", "ratio"),
        ("---",) * 4,
        ('"training finished" -> "stored" (`ModelStore.put`, local folder)', f"{stored['put_folder']} ms",
         f"`save_checkpoint` to a file: {stored['save_checkpoint']} ms", f"{stored['put_folder_over_save']}x"),
        ("the same into fsspec `memory://`", f"{stored['put_memory']} ms", "", ""),
        ("opening `?model=<id>` -> the Explore map drawn (fresh browser)", f"{link['stored']} ms",
         f"`?model=fashion-mnist`, shipped: {link['shipped']} ms", f"{link['stored_over_shipped']}x"),
        ("the same, the first session on this server to open it", f"{link['stored_first']} ms", "", ""),
    ]
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    return f"""{HEADING}

For the shipped Fashion-MNIST pair written to a model store ({stored['size_bytes'] / 2**20:.1f} MiB), median of
{result['trials']} interleaved trials, load average {result['load_before']} before and {result['load_after']} after
(2 shared cores).

{table}

Storing writes the checkpoint and four small files (and, at most once a minute per server, checks
retention); `save_checkpoint` fsyncs its file where the store leaves durability to its backend, so the two
cost about the same, and far less than the training before them. The first session on a server to open a
stored pair reads it and encodes its 10,000 held-out images; later sessions share it while it is in demand
(up to 8 per server), as every session shares the shipped pairs.

    python -m benchmarks.store_latency [--trials 7]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if not is_available("fashion-mnist"):
        raise SystemExit("Fashion-MNIST's images are not installed (apt-get install dataset-fashion-mnist)")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="store-bench-") as folder:
        result = {"trials": args.trials, "stored": time_stored(args.trials, Path(folder)),
                  "link": time_links(args.trials, Path(folder))}
    result.update(load_before=round(load_before, 2), load_after=round(os.getloadavg()[0], 2))
    publish(result, RESULTS, HEADING, readme_section(result), readme=not args.no_readme)


if __name__ == "__main__":
    main()
