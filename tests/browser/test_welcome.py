"""A newcomer's first screen on a freshly started server: never a blank main pane while the app loads, then one
line on what the page is and what to do."""

from __future__ import annotations

import pytest

from devtools.browser import REPO_ROOT, VIEWPORT, StreamlitServer, exception_texts, wait_for_app, wait_for_map

pytestmark = pytest.mark.browser

# Every change of the main pane, as (ms since the page started, whether it shows any text, whether the title is in).
MAIN_PANE_TIMELINE_JS = """
(() => {
  window.__mainPane = [];
  const record = () => {
    const main = document.querySelector('[data-testid="stMain"]');
    const text = main ? main.innerText.trim() : '';
    const titled = text.includes('Explore the latent space');
    const last = window.__mainPane[window.__mainPane.length - 1];
    if (!last || last[1] !== (text.length > 0) || last[2] !== titled) {
      window.__mainPane.push([performance.now(), text.length > 0, titled]);
    }
  };
  new MutationObserver(record).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


def test_a_cold_start_shows_a_loading_message_then_the_welcome_line(browser):
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "streamlit-welcome.log").start()
    try:
        server.wait_healthy()
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(180_000)
        context.add_init_script(MAIN_PANE_TIMELINE_JS)
        page = context.new_page()
        page.goto(server.url + "/", wait_until="domcontentloaded")
        title = page.get_by_role("heading", name="Explore the latent space")
        wait_for_app(page, title, timeout_s=180)
        wait_for_map(page, timeout_s=180)
        timeline = page.evaluate("window.__mainPane")
        shown = [i for i, (_, has_text, _) in enumerate(timeline) if has_text]
        assert shown, timeline
        titled = next(i for i, (_, _, has_title) in enumerate(timeline) if has_title)
        # From the first words on, the main pane is never blank again before the page itself is drawn.
        blank = [entry for entry in timeline[shown[0]:titled] if not entry[1]]
        assert not blank, f"the main pane went blank while loading: {timeline}"
        welcome = page.get_by_test_id("stMarkdown").filter(has_text="hover the map to decode")
        assert welcome.is_visible() and "click a dot to inspect" in welcome.inner_text()
        assert not exception_texts(page)
        context.close()
    finally:
        server.stop()
