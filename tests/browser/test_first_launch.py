"""A first launch on a machine without Fashion-MNIST: one click downloads it (from a mirror on 127.0.0.1) with a
progress bar, and the app lands on the shipped Fashion-MNIST pair."""

from __future__ import annotations

import re

import pytest

from devtools.browser import (
    REPO_ROOT,
    VIEWPORT,
    StreamlitServer,
    active_models_label,
    exception_texts,
    screenshot,
    server_tracebacks,
    wait_for_app,
    wait_for_map,
)
from devtools.idx_mirror import LocalMirror, debian_fashion_mnist_files

pytestmark = pytest.mark.browser

# Every text shown next to a progress bar, as the page showed it (the download takes about a second here).
PROGRESS_TEXTS_JS = """
(() => {
  window.__progressTexts = new Set();
  new MutationObserver(() => {
    for (const bar of document.querySelectorAll('[data-testid="stProgress"]')) {
      window.__progressTexts.add(bar.innerText.trim());
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


@pytest.fixture
def fresh_machine(tmp_path):
    """A home without a data cache, no system datasets, and a mirror with Debian's Fashion-MNIST files."""
    files = debian_fashion_mnist_files()
    if files is None:
        pytest.skip("needs Debian's dataset-fashion-mnist to serve from the local mirror")
    home = tmp_path / "home"
    home.mkdir()
    with LocalMirror(files) as mirror:
        yield {"HOME": str(home), "LATENT_EXPLORER_SYSTEM_DATA": str(tmp_path / "no-system-datasets"),
               "LATENT_EXPLORER_MIRRORS": mirror.url}, home, mirror


def test_first_launch_downloads_fashion_mnist_with_a_progress_bar_and_lands_on_its_pair(browser, fresh_machine):
    env, home, mirror = fresh_machine
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "streamlit-first-launch.log",
                             env=env).start()
    try:
        server.wait_healthy()
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(90_000)
        context.add_init_script(PROGRESS_TEXTS_JS)
        page = context.new_page()
        try:
            page.goto(server.url + "/")
            wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=180)
            # Without Fashion-MNIST the app opens on the embedded digits and offers the download.
            assert active_models_label(page).startswith("Digits")
            button = page.get_by_role("button", name="Download Fashion-MNIST")
            wait_for_app(page, button)
            screenshot(page, "first-launch-offer")
            button.click()
            # It lands on the Fashion-MNIST pair, on its own.
            wait_for_app(page, lambda: active_models_label(page).startswith("Fashion-MNIST"), timeout_s=240)
            wait_for_map(page)
            assert "10,000 held-out images" in page.get_by_test_id("stSidebar").inner_text()
            shown = page.evaluate("() => [...window.__progressTexts]")
            # From 127.0.0.1 the bytes come too fast to catch "Downloading"; the bar says which file, which stage
            # and how far, whatever the stage.
            assert any(re.match(r"(Downloading|Extracting) train-images-idx3-ubyte\.gz \(file 1 of 4\): "
                                r"[\d.]+ of [\d.]+ MB", s) for s in shown), shown
            assert page.get_by_role("button", name="Download Fashion-MNIST").count() == 0
            screenshot(page, "first-launch-landed")
            assert not exception_texts(page)
        finally:
            context.close()
        assert not server_tracebacks(server.log_text())
    finally:
        server.stop()
    cache = home / ".cache" / "latent-explorer"
    folder = cache / "FashionMNIST" / "raw"  # torchvision's layout
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        name.removesuffix(".gz") for name in debian_fashion_mnist_files())
    assert not [p for p in cache.rglob(".*")], "a staging folder was left behind"
    assert any(request.startswith("GET /train-images") for request in mirror.requests)
