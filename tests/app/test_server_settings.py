"""The settings a served app runs with, as `streamlit run app.py` from the checkout reads them."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import torch
from page_runner import REPO_ROOT, run_app

from latent_explorer import serving


def served_options() -> dict[str, str]:
    """Streamlit's own reading of its configuration from the repository root (`streamlit config show`)."""
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=120, check=True).stdout
    options, section = {}, ""
    for line in shown.splitlines():
        if header := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = header.group(1)
        elif assignment := re.fullmatch(r"(\w+) = (.+)", line.strip()):
            options[f"{section}.{assignment.group(1)}"] = assignment.group(2)
    return options


def test_the_served_app_watches_no_files():
    # The watcher resolves every loaded module's path on the event loop that also answers health checks and
    # websockets: a crowd opening a link waited behind it (benchmarks/README.md, "Crowd").
    assert served_options()["server.fileWatcherType"] == '"none"'


def test_the_server_computes_on_one_torch_thread_unless_the_host_says_otherwise():
    # Many visitors' runs are threads of one process: torch's own threads on top made a card's analysis 15-30x
    # slower on two busy cores (latent_explorer/serving.py).
    serving.configure_process.cache_clear()
    torch.set_num_threads(2)
    run_app(model="digits")
    # Torch keeps the count per thread once a thread has computed; each visitor's run is a new thread, which takes
    # the process's count.
    seen = []
    visitor = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    visitor.start()
    visitor.join()
    assert seen == [1]
