"""Fixtures for the real-browser suite: one Streamlit server for the session, Chromium, a fresh page per test.

Every browser test fails when the page shows a Streamlit exception box or when the server log gained a
traceback while the test ran (checked by an autouse guard after each test, on top of the tests' own
assert_no_exceptions calls).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devtools.browser import (
    CHROMIUM,
    LANDING_ON_DIGITS,
    REPO_ROOT,
    RUN_COUNTER_JS,
    VIEWPORT,
    StreamlitServer,
    exception_texts,
    launch_chromium,
    screenshot,
    server_tracebacks,
)

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    sync_playwright = None

HERE = Path(__file__).resolve().parent


def _skip_reason() -> str | None:
    if sync_playwright is None:
        return "the python package playwright is not installed (pip install -r requirements-dev.txt)"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does) to run the "
                "browser tests; Playwright's own browser download is not used")
    return None


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    browser_items = [item for item in items if Path(str(item.fspath)).resolve().is_relative_to(HERE)]
    if reason and browser_items and os.environ.get("CI") == "true":
        # A green CI must mean the browser tests ran.
        raise pytest.UsageError(f"CI=true but the browser tests cannot run: {reason}")
    for item in browser_items:
        item.add_marker(pytest.mark.browser)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def app_server():
    """`streamlit run app.py` from the repo root on a free port; its log is test-artifacts/streamlit-server.log."""
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "streamlit-server.log",
                             env=LANDING_ON_DIGITS).start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def playwright_instance():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = launch_chromium(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    """A page in a fresh context, for a test with a server of its own; it fails on any exception box shown."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(120_000)
    page = context.new_page()
    yield page
    shown = exception_texts(page)
    context.close()
    assert not shown, shown


class AppSession:
    """One visitor: a fresh browser context (own cookies, own Streamlit session) on the shared server."""

    def __init__(self, browser, server: StreamlitServer, name: str):
        self.server = server
        self.name = name
        self.context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        self.context.set_default_timeout(90_000)
        self.context.add_init_script(RUN_COUNTER_JS)
        self.page = self.context.new_page()
        self.shots = 0

    def open(self, path: str = "/"):
        self.page.goto(self.server.url + path, wait_until="domcontentloaded")
        return self.page

    def screenshot(self, label: str):
        self.shots += 1
        return screenshot(self.page, f"{self.name}-{self.shots:02d}-{label}")

    def close(self) -> list[str]:
        """Close the context; returns the exception boxes its page showed at the end."""
        try:
            shown = exception_texts(self.page)
        except Exception:  # noqa: BLE001 - a crashed page has nothing to read
            shown = []
        if shown:
            self.screenshot("exception")
        self.context.close()
        return shown


def _fail_on(shown: list[str]) -> None:
    if shown:
        pytest.fail("a page showed a Streamlit exception:\n" + "\n---\n".join(shown), pytrace=False)


@pytest.fixture
def log_offset(app_server):
    return app_server.log_size()


@pytest.fixture(scope="session")
def warm_app(browser, app_server):
    """The server after one visit to the landing page.

    That first run calls st.navigation, which ends Streamlit's pages-folder mode for the process, and
    loads the shipped models into the cache, so tests do not depend on which of them runs first.
    test_editor_link_is_the_first_request_a_fresh_server_sees covers what a cold server does.
    """
    from devtools.browser import wait_for_app, wait_for_map

    session = AppSession(browser, app_server, "warm-up")
    page = session.open("/")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=180)
    wait_for_map(page, timeout_s=180)
    _fail_on(session.close())
    return app_server


@pytest.fixture
def visitor(browser, warm_app, log_offset, request):
    session = AppSession(browser, warm_app, request.node.name)
    yield session
    _fail_on(session.close())


@pytest.fixture
def new_visitor(browser, warm_app, log_offset, request):
    """A factory for further visitors in the same test (shared links opened elsewhere, concurrent sessions)."""
    made = []

    def make():
        session = AppSession(browser, warm_app, f"{request.node.name}-v{len(made) + 2}")
        made.append(session)
        return session

    yield make
    shown = []
    for session in made:
        shown += session.close()
    _fail_on(shown)


@pytest.fixture
def assert_no_exceptions(app_server, log_offset):
    """assert_no_exceptions(page): no exception box on the page and no traceback in the server log
    since this test began."""

    def check(page=None):
        if page is not None:
            shown = exception_texts(page)
            assert not shown, "the page shows a Streamlit exception:\n" + "\n---\n".join(shown)
        found = server_tracebacks(app_server.log_since(log_offset))
        assert not found, "the server logged a traceback during this test:\n" + "\n---\n".join(found)

    return check


@pytest.fixture(autouse=True)
def _no_server_tracebacks(request):
    """Backstop for every test that uses the server: no new traceback in its log while the test ran.
    (Exception boxes on pages are checked when each visitor's browser context closes.)"""
    if "app_server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("app_server")
    offset = request.getfixturevalue("log_offset")
    yield
    found = server_tracebacks(server.log_since(offset))
    if found:
        pytest.fail("the server logged a traceback during this test:\n" + "\n---\n".join(found), pytrace=False)
