"""The Train settings a visitor chose are still there after a visit to another page."""

from __future__ import annotations

import re

import pytest

from devtools.browser import open_train, set_number, wait_for_app, wait_for_map

pytestmark = pytest.mark.browser


def nav_link(page, title: str):
    return page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(rf"\b{title}$"))


def test_train_settings_survive_a_visit_to_explore(visitor, assert_no_exceptions):
    page = open_train(visitor)
    model = page.get_by_role("radiogroup", name="Model")
    model.get_by_text("VAE", exact=True).click()
    set_number(page, "Epochs", 12)
    wait_for_app(page, lambda: model.get_by_role("radio", name="VAE", exact=True).is_checked())
    nav_link(page, "Explore").click()
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    nav_link(page, "Train").click()
    wait_for_app(page, page.get_by_role("button", name="Train", exact=True))
    assert page.get_by_role("radiogroup", name="Model").get_by_role("radio", name="VAE", exact=True).is_checked()
    assert page.get_by_label("Epochs", exact=True).input_value() == "12"
    assert_no_exceptions(page)
