"""The process `streamlit run app.py` starts, as a host runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process's memory map from /proc")
def test_the_server_runs_on_uvloop_and_parses_http_with_httptools(app_server):
    # Uvicorn takes both when they are installed (requirements-base.txt): a visitor's open cost the server about a
    # quarter less CPU (benchmarks/README.md, "Server cost per visitor"). Their compiled libraries are mapped into
    # the process only once it has imported them.
    mapped = Path(f"/proc/{app_server.process.pid}/maps").read_text()
    assert "/uvloop/" in mapped, "the server's event loop is asyncio's: is uvloop installed?"
    assert "/httptools/" in mapped, "the server parses HTTP in Python (h11): is httptools installed?"
