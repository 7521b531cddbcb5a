"""Latent Explorer installed as a package: the wheel, installed into a fresh virtual environment outside the
checkout, starts with its `latent-explorer` command and serves every browser component from the installed package.

The environment is fresh for the project (it holds nothing of the checkout, and no editable install runs in it)
but borrows this interpreter's third-party packages through a path file, so the test does not download torch.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest

from devtools.browser import (
    REPO_ROOT,
    VIEWPORT,
    InstalledApp,
    click_at,
    exception_texts,
    isolated_data_points,
    screenshot,
    server_tracebacks,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)

pytestmark = pytest.mark.browser

# What the app cannot run without, each as a path inside the wheel.
NEEDED = ["latent_explorer/pyproject.toml", "latent_explorer/streamlit_config.toml", "latent_explorer/streamlit_app.py",
          "latent_explorer/server_app.py",
          "latent_explorer/app_pages/explore.py", "latent_explorer/app_pages/train.py",
          "latent_explorer/assets/digits-latent2.pt", "latent_explorer/web/runtime.js",
          "latent_explorer/web/latent_map.js", "latent_explorer/web/latent_map.css", "vae_core/cli.py"]
# Stamped into the installed copy of the map's script: the served file carries it only if it is that copy.
STAMP = b"\n// served from the installed package\n"


def run(command: list, cwd: Path, timeout_s: float = 300) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout_s)
    assert done.returncode == 0, f"{command} exited with {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def build_wheel(folder: Path) -> Path:
    """The wheel of the checkout as git has it, built in a copy (a build leaves its folders in the source tree)."""
    source = folder / "source"
    tracked = run(["git", "ls-files", "-z"], cwd=REPO_ROOT).split("\0")
    for name in filter(None, tracked):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    # Without build isolation: setuptools is installed (requirements-dev.txt), and nothing is downloaded.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", folder, source],
        cwd=folder)
    [wheel] = folder.glob("latent_explorer-*.whl")
    return wheel


def fresh_environment(folder: Path) -> Path:
    """A virtual environment that sees this interpreter's packages (a path file names their folders: path
    files found there are not run, so the checkout's editable install stays out)."""
    run([sys.executable, "-m", "venv", folder], cwd=folder.parent)
    python = folder / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=folder).strip())
    borrowed = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "borrowed-packages.pth").write_text("\n".join(borrowed) + "\n", encoding="utf-8")
    return python


def test_the_wheel_installed_elsewhere_starts_with_its_command_and_serves_the_map(tmp_path, browser):
    wheel = build_wheel(tmp_path / "wheel")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in NEEDED if name not in names]
    # Not what the server writes as it runs: the published packs and its copy of Plotly.js.
    assert not [name for name in names if "/packs/" in name or "plotly" in name]

    python = fresh_environment(tmp_path / "venv")
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    package = Path(run([python, "-c", "import latent_explorer; print(latent_explorer.__file__)"], cwd=elsewhere)
                   .strip()).parent
    assert package.is_relative_to(tmp_path / "venv"), package
    commands = tmp_path / "venv" / "bin"
    assert "--store" in run([commands / "latent-explorer", "--help"], cwd=elsewhere)
    assert "train" in run([commands / "latent-explorer-train", "--help"], cwd=elsewhere)

    map_script = package / "web" / "latent_map.js"
    map_script.write_bytes(map_script.read_bytes() + STAMP)
    server = InstalledApp(commands / "latent-explorer", cwd=elsewhere,
                          log_path=REPO_ROOT / "test-artifacts" / "installed-package.log",
                          env={"LATENT_EXPLORER_LANDING": "digits"}).start()
    try:
        server.wait_healthy()
        with urllib.request.urlopen(server.url + "/_stcore/bidi-components/latent-explorer.map/latent_map.js",
                                    timeout=30) as response:
            assert response.read().endswith(STAMP)
        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(server.url + "/?model=digits", wait_until="domcontentloaded")
            wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=180)
            wait_for_map(page, timeout_s=180)
            [point] = isolated_data_points(page, 1)
            click_at(page, point["px"], point["py"])
            wait_for_card(page, point["custom"])
            screenshot(page, "installed-package-card")
            assert not exception_texts(page)
        finally:
            context.close()
        assert not server_tracebacks(server.log_text())
    finally:
        server.stop()
