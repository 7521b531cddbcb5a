"""Server memory with many visitors, each with a pair of their own: the budget is 1.5 GiB for 10 sessions that
each trained a pair (and 1 GiB with the shipped pairs loaded).

Starts `streamlit run app.py`, opens the Fashion-MNIST map in one browser (the shipped pair loaded), then has
ten more browser sessions each train an AE + VAE on Fashion-MNIST through the Train page (on the worker
processes of the training engine's LocalCluster) and open the Explore page on the pair they trained. It reads
the resident memory (VmRSS, /proc) of the server process alone (which hosts the LocalCluster's scheduler and
nannies) and of the server with everything it started (the cluster's worker processes, kept a minute after
their last training) at each stage, and the latter's proportional set size (PSS: pages shared between the
processes, such as torch's libraries, counted once), and writes the table into benchmarks/README.md.

With ``--every-page`` it measures another scenario instead (its own section): one visitor opens every page in
turn on each shipped pair of the landing choice, Fashion-MNIST then digits (Explore with a point, Edit, Sample,
Compare until its background log p(x) of the held-out images is done, Train), and the server's RSS is read after
each; the budget is 1 GiB at the end.

    python -m benchmarks.server_memory                   # ten sessions, one epoch each
    python -m benchmarks.server_memory --sessions 3 --print-only
    python -m benchmarks.server_memory --every-page
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path

from benchmarks.readme import README, write_section
from devtools.browser import (
    VIEWPORT,
    StreamlitServer,
    active_models_label,
    alert,
    launch_chromium,
    open_train,
    server_tracebacks,
    set_number,
    wait_for_app,
    wait_for_map,
)
from devtools.processes import process_tree_pss, process_tree_rss, rss_bytes
from latent_explorer.shipped import LANDING_ORDER, shipped_title
from vae_core.engine import IDLE_WORKER_S

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "server_memory.json"
SECTION = "## Server memory"
EVERY_PAGE_SECTION = "## Server memory after every page"
EVERY_PAGE_RESULTS = REPO_ROOT / "benchmarks" / "results" / "server_memory_every_page.json"
PAGES = (("/edit", "Edit"), ("/sample", "Sample"), ("/compare", "Compare"), ("/train", "Train"))
LOG_PX_WAIT_S = 300
BUDGET_SHIPPED = 2**30
BUDGET_SESSIONS = 1.5 * 2**30
TRAIN_WAIT_S = 900


class Visitor:
    def __init__(self, browser, server):
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(120_000)
        self.page = self.context.new_page()
        self.server = server

    def open(self, path: str):
        self.page.goto(self.server.url + path, wait_until="domcontentloaded")
        return self.page


def measure(server, stage: str, rows: list) -> None:
    tree, pids = process_tree_rss(server.process.pid)
    row = {"stage": stage, "server_bytes": rss_bytes(server.process.pid), "tree_bytes": tree,
           "tree_pss_bytes": process_tree_pss(server.process.pid), "processes": len(pids)}
    rows.append(row)
    print(f"  {stage}: server {row['server_bytes'] / 2**20:.0f} MiB, with its children {tree / 2**20:.0f} MiB "
          f"(PSS {row['tree_pss_bytes'] / 2**20:.0f} MiB; {len(pids)} processes)", flush=True)


def start_training(visitor: Visitor, epochs: int) -> None:
    page = open_train(visitor)
    form = page.locator(".st-key-train_settings")  # the Train settings (no longer an st.form)
    form.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name=re.compile(r"^Fashion-MNIST")).click()
    set_number(page, "Epochs", epochs)
    page.get_by_role("button", name="Train", exact=True).click()


def every_page(args) -> int:
    """One visitor opens every page; the server's RSS after each (the budget: 1 GiB at the end)."""
    from playwright.sync_api import sync_playwright

    load_before = [round(x, 2) for x in os.getloadavg()]
    rows: list[dict] = []
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "bench-memory-pages.log").start()
    try:
        server.wait_healthy()
        measure(server, "started, before any visit", rows)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            visitor = Visitor(browser, server)
            for model in LANDING_ORDER:
                page = visitor.open(f"/?model={model}&point=123")
                wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=180)
                wait_for_map(page)
                measure(server, f"{shipped_title(model)}: Explore, a point inspected", rows)
                for path, title in PAGES:
                    page = visitor.open(f"{path}?model={model}")
                    wait_for_app(page, page.locator("h1").filter(has_text=title), timeout_s=180)
                    if path == "/compare":  # until the background log p(x) of the held-out images is shown
                        wait_for_app(page, page.get_by_text("The gap in the bound").first,
                                     timeout_s=LOG_PX_WAIT_S)
                    measure(server, f"... then {title}", rows)
            time.sleep(5)
            measure(server, "... 5 s later", rows)
            browser.close()
        problems = server_tracebacks(server.log_text())
    finally:
        server.stop()
    load_after = [round(x, 2) for x in os.getloadavg()]
    report = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "command": "python -m benchmarks.server_memory " + " ".join(sys.argv[1:]),
              "load_before": load_before, "load_after": load_after, "rows": rows, "server_tracebacks": problems}
    end = rows[-1]["server_bytes"]
    lines = [EVERY_PAGE_SECTION, "",
             "Measured by `benchmarks/server_memory.py --every-page`: one visitor opens every page of the shipped "
             "Fashion-MNIST pair in turn, then of the digits pair (Compare until its log p(x) of the held-out "
             "images is shown); the server's resident memory (VmRSS) after each. Budget: at most 1 GiB.", "",
             f"- Command: `{report['command'].strip()}`",
             f"- Date: {report['date']}; load average {load_before} before, {load_after} after", "",
             "| stage | server RSS |", "| --- | --- |"]
    lines += [f"| {r['stage']} | {r['server_bytes'] / 2**20:.0f} MiB |" for r in rows]
    lines += ["", f"Verdict: {end / 2**20:.0f} MiB, {'within' if end <= BUDGET_SHIPPED else '**over**'} 1 GiB."]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if not args.print_only:
        EVERY_PAGE_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        EVERY_PAGE_RESULTS.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        write_section(EVERY_PAGE_SECTION, text)
        print(f"wrote {EVERY_PAGE_RESULTS} and the '{EVERY_PAGE_SECTION[3:]}' section of {README}")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each session's training")
    parser.add_argument("--print-only", action="store_true", help="write nothing")
    parser.add_argument("--every-page", action="store_true", help="one visitor opens every page (its own section)")
    args = parser.parse_args()
    if args.every_page:
        return every_page(args)

    from playwright.sync_api import sync_playwright

    load_before = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before: {load_before}", flush=True)
    rows: list[dict] = []
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "bench-memory.log").start()
    try:
        server.wait_healthy()
        measure(server, "started, before any visit", rows)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            first = Visitor(browser, server)
            page = first.open("/?model=fashion-mnist")
            wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=180)
            wait_for_map(page)
            measure(server, "the shipped Fashion-MNIST pair loaded, its map shown", rows)
            visitors = [Visitor(browser, server) for _ in range(args.sessions)]
            for visitor in visitors:
                start_training(visitor, args.epochs)
            for visitor in visitors:
                wait_for_app(visitor.page, alert(visitor.page, "Training finished"), timeout_s=TRAIN_WAIT_S)
            measure(server, f"{args.sessions} sessions have each trained a pair", rows)
            for visitor in visitors:
                assert active_models_label(visitor.page).endswith("(yours)")
                page = visitor.open("/")
                wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=180)
                wait_for_map(page)
            time.sleep(2)
            measure(server, "... and each has its own pair's map open", rows)
            time.sleep(IDLE_WORKER_S + 10)
            measure(server, f"... {IDLE_WORKER_S + 10} s later: the idle workers have gone", rows)
            browser.close()
        problems = server_tracebacks(server.log_text())
    finally:
        server.stop()
    load_after = [round(x, 2) for x in os.getloadavg()]
    print(f"load average after: {load_after}")
    report = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "command": "python -m benchmarks.server_memory " + " ".join(sys.argv[1:]),
              "load_before": load_before, "load_after": load_after, "rows": rows, "sessions": args.sessions,
              "epochs": args.epochs, "server_tracebacks": problems}
    shipped, trained, idle = rows[1], rows[-2], rows[-1]
    budgets = [("≤ 1 GiB with the shipped pair loaded", shipped, BUDGET_SHIPPED),
               (f"≤ 1.5 GiB with {args.sessions} sessions that each trained a pair, its workers still warm",
                trained, BUDGET_SESSIONS),
               (f"≤ 1.5 GiB with {args.sessions} sessions that each trained a pair, its workers gone", idle,
                BUDGET_SESSIONS)]
    measures = [("the server's RSS", "server_bytes"), ("RSS of the server and its children", "tree_bytes"),
                ("PSS of the server and its children", "tree_pss_bytes")]
    verdicts = [(f"server memory {budget}: {what}", row[key], limit)
                for budget, row, limit in budgets for what, key in measures]
    lines = [SECTION, "",
             "Measured by `benchmarks/server_memory.py`: resident memory (VmRSS) of the Streamlit server alone, and "
             "with every process it started (the worker processes of the training engine's LocalCluster, whose "
             "scheduler and nannies live in the server; a worker stays a minute after its last training); and the "
             "proportional set size (PSS) of the latter, in which a page the processes share (torch's libraries, "
             "mapped by the server and the workers alike) counts once: what they take together.",
             "", f"- Command: `{report['command'].strip()}` ({args.epochs} epoch(s) of AE + VAE on Fashion-MNIST "
             "per session, through the Train page)",
             f"- Date: {report['date']}; load average {load_before} before, {load_after} after", "",
             "| stage | server RSS | RSS, server and its children | PSS, server and its children | processes |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['stage']} | {r['server_bytes'] / 2**20:.0f} MiB | {r['tree_bytes'] / 2**20:.0f} MiB | "
              f"{r['tree_pss_bytes'] / 2**20:.0f} MiB | {r['processes']} |" for r in rows]
    lines += ["", "| budget | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value / 2**20:.0f} MiB | {'pass' if value <= limit else '**miss**'} |"
              for name, value, limit in verdicts]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if not args.print_only:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        write_section(SECTION, text)
        print(f"wrote {RESULTS} and the '{SECTION[3:]}' section of {README}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
