"""The settings a served app runs with, as `streamlit run app.py` from the checkout reads them, and as the installed
package's `latent-explorer` passes them from any folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import tomllib

import torch
from page_runner import REPO_ROOT, run_app

from latent_explorer import cli, serving


def served_options(cwd=REPO_ROOT, flags: tuple[str, ...] = ()) -> dict[str, str]:
    """Streamlit's own reading of its configuration (`streamlit config show`) in a folder, with flags."""
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show", *flags], cwd=cwd,
                           capture_output=True, text=True, timeout=120, check=True).stdout
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


def test_the_installed_command_runs_with_the_checkouts_settings_from_any_folder(tmp_path):
    checkout = served_options()
    installed = served_options(tmp_path, tuple(cli.streamlit_flags()))
    assert served_options(tmp_path).get("server.fileWatcherType") != '"none"'  # the flags make the difference
    settings = tomllib.loads(cli.STREAMLIT_SETTINGS.read_text(encoding="utf-8"))
    names = [f"{section}.{name}" for section, options in settings.items() for name in options]
    shown = [name for name in names if name in checkout]  # `config show` leaves out hidden options (runner.*)
    assert "server.fileWatcherType" in shown and len(shown) >= len(names) - 1
    assert {name: installed.get(name) for name in shown} == {name: checkout[name] for name in shown}


def test_the_installed_command_passes_its_options_and_then_what_follows_the_double_dash(monkeypatch):
    started = []
    monkeypatch.setattr("streamlit.web.cli.main", lambda args, prog_name: started.append(args))
    monkeypatch.delenv(cli.STORE_VARIABLE, raising=False)
    cli.main(["--port", "9000", "--store", "memory://kept", "--headless", "--", "--server.port=9001"])
    [args] = started
    assert args[:2] == ["run", str(cli.ENTRY_SCRIPT)] and "--server.headless=true" in args
    assert args.index("--server.port=9000") < args.index("--server.port=9001") == len(args) - 1  # the last one wins
    assert os.environ[cli.STORE_VARIABLE] == "memory://kept"


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
