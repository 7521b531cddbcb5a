"""The browser's Back button: one page switch is one history entry, so one press of Back undoes it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from devtools.browser import wait_for_app, wait_for_map

pytestmark = pytest.mark.browser


def nav_link(page, title: str):
    return page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(rf"\b{title}$"))


def heading(page, title: str):
    return page.locator("h1").filter(has_text=re.compile(rf"^{title}\b"))


def history_length(page) -> int:
    return page.evaluate("window.history.length")


def test_one_back_press_undoes_one_page_switch(visitor):
    page = visitor.open("/")
    wait_for_app(page, heading(page, "Explore"))
    wait_for_map(page)
    start = history_length(page)
    for step, title in enumerate(("Edit", "Sample"), start=1):
        nav_link(page, title).click()
        wait_for_app(page, heading(page, title))
        assert urlsplit(page.url).path == f"/{title.lower()}"
        assert history_length(page) == start + step, f"switching to {title} added more than one history entry"
    page.go_back()
    wait_for_app(page, heading(page, "Edit"))
    assert urlsplit(page.url).path == "/edit"
    page.go_back()
    wait_for_app(page, heading(page, "Explore"))
    assert urlsplit(page.url).path in ("/", "/explore")
