"""Sidebar navigation to every page, and links that reopen a view (good, bad, and on a freshly started server)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from devtools.browser import (
    LANDING_ON_DIGITS,
    REPO_ROOT,
    StreamlitServer,
    active_models_label,
    editor_slider,
    editor_z,
    exception_texts,
    images_loaded,
    map_state,
    screenshot,
    server_tracebacks,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from latent_explorer.session import shipped_workspace

pytestmark = pytest.mark.browser


def nav_link(page, title: str):
    return page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(rf"\b{title}$"))


def page_title(page, title: str):
    """The page's h1, which starts with the page's name in the navigation ("Sample — the prior")."""
    return page.locator("h1").filter(has_text=re.compile(rf"^{title}\b"))


def test_sidebar_navigation_reaches_sample_compare_and_train(visitor, assert_no_exceptions):
    page = visitor.open("/")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    titles = [link.inner_text().split("\n")[-1].strip()
              for link in page.locator('[data-testid="stSidebarNav"]').get_by_role("link").all()]
    assert titles == ["Explore", "Edit", "Sample", "Compare", "Train"]
    checks = {
        "Sample": lambda: images_loaded(page, page.locator('[data-testid="stImage"]').first)
        and page.get_by_role("button", name=re.compile("Download PNG")).is_visible(),
        "Compare": lambda: page.locator(".js-plotly-plot").count() >= 2
        and images_loaded(page, page.locator('[data-testid="stImage"]').first),
        "Train": lambda: page.get_by_role("button", name="Train", exact=True).is_visible(),
    }
    for title, rendered in checks.items():
        nav_link(page, title).click()
        wait_for_app(page, page_title(page, title))
        wait_for_app(page, rendered)
        assert urlsplit(page.url).path == f"/{title.lower()}"
        # The shared sidebar is drawn on every page.
        assert active_models_label(page).startswith("Digits")
        visitor.screenshot(title.lower())
        assert_no_exceptions(page)
    nav_link(page, "Explore").click()
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    assert_no_exceptions(page)


def test_shared_link_to_a_point_reopens_it(visitor, assert_no_exceptions):
    page = visitor.open("/?model=digits&point=12")
    label = shipped_workspace("digits").class_names[shipped_workspace("digits").labels[12]]
    wait_for_app(page, page.get_by_role("heading", name=f"Image #12 · {label}", exact=True))
    wait_for_map(page)
    wait_for_card(page, 12)
    assert map_state(page)["selected"] == 12
    assert "point=12" in page.url
    visitor.screenshot("point-12")
    assert_no_exceptions(page)


def test_shared_link_to_the_editor_restores_z(visitor, assert_no_exceptions):
    page = visitor.open("/edit?model=digits&z=1.0,-1.0")
    wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
    wait_for_app(page, lambda: editor_z(page) == "1.00,-1.00")
    assert [editor_slider(page, f"z{i}").input_value() for i in (1, 2)] == ["1", "-1"]
    assert page.get_by_text("VAE decoder at z = (+1.00, -1.00)").is_visible()
    visitor.screenshot("edit-z")
    assert_no_exceptions(page)


def test_bad_link_shows_a_notice_and_no_exception(visitor, assert_no_exceptions):
    page = visitor.open("/?point=99999&z=abc")
    notice = page.get_by_text("The link could not be followed in full", exact=False)
    wait_for_app(page, notice)
    wait_for_map(page)
    notices = " ".join(n.inner_text() for n in notice.all())
    assert "99999" in notices and "abc" in notices
    assert page.get_by_role("heading", name=re.compile(r"^Image #")).count() == 0
    assert page.locator(".st-key-inspect_card .ic-hint").inner_text().startswith("Click a point to inspect it")
    visitor.screenshot("bad-link")
    assert_no_exceptions(page)


def test_editor_link_is_the_first_request_a_fresh_server_sees(browser):
    """A shared /edit link opened right after the server starts (a hosted demo after a restart).

    Regression guard: Streamlit treats an entry script with a sibling `pages/` folder as a
    pages-folder app until some run calls st.navigation; a first request for /edit then ran
    pages/edit.py alone, without app.py: no shared sidebar, no link restore (hence app_pages/).
    """
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "streamlit-fresh-server.log",
                             env=LANDING_ON_DIGITS).start()
    try:
        server.wait_healthy()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(90_000)
        page = context.new_page()
        try:
            page.goto(server.url + "/edit?model=digits&z=1.0,-1.0", wait_until="domcontentloaded")
            wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
            wait_for_app(page, lambda: editor_z(page) == "1.00,-1.00")
            screenshot(page, "fresh-server-edit-link")
            nav = [link.inner_text().split("\n")[-1].strip()
                   for link in page.locator('[data-testid="stSidebarNav"]').get_by_role("link").all()]
            assert nav == ["Explore", "Edit", "Sample", "Compare", "Train"], f"sidebar navigation shows {nav}"
            assert [editor_slider(page, f"z{i}").input_value() for i in (1, 2)] == ["1", "-1"]
            assert not exception_texts(page)
        finally:
            context.close()
        assert not server_tracebacks(server.log_text())
    finally:
        server.stop()
