"""Kept models in a real browser: an uploaded pair is named in the URL, survives a reload, opens in another
browser and on a second server sharing the store; a trained pair is listed under Your models after a reload,
and once deleted its link says so."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.browser import (
    LANDING_ON_DIGITS,
    REPO_ROOT,
    VIEWPORT,
    StreamlitServer,
    active_models_label,
    alert,
    click_at,
    exception_texts,
    isolated_data_points,
    screenshot,
    server_tracebacks,
    set_number,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from devtools.sample_images import shapes_zip
from vae_core.store import ID_PATTERN, STORE_ENV

pytestmark = pytest.mark.browser

TRAIN_WAIT_S = 240
UPLOADED = "my-digits.pt"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("browser-model-store")


def start_server(store_dir, name: str) -> StreamlitServer:
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / f"streamlit-store-{name}.log",
                             env={**LANDING_ON_DIGITS, STORE_ENV: str(store_dir)}).start()
    server.wait_healthy()
    return server


@pytest.fixture(scope="module")
def store_server(store_dir):
    server = start_server(store_dir, "first")
    yield server
    server.stop()
    assert not server_tracebacks(server.log_path.read_text(encoding="utf-8"))


def new_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(90_000)
    return context, context.new_page()


def query(page) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(page.url).query).items()}


def wait_for_query(page, name: str, pattern: str) -> str:
    wait_for_app(page, lambda: re.fullmatch(pattern, query(page).get(name, "")) is not None)
    return query(page)[name]


def open_link(page, url: str, index: int) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    wait_for_card(page, index)


def your_models(page):
    return page.get_by_test_id("stSidebar").get_by_text(re.compile(r"^Your models \(\d+\)$"))


def test_an_uploaded_pair_is_named_in_the_url_and_reopens_anywhere(browser, store_dir, store_server):
    context, page = new_page(browser)
    others = []
    try:
        page.goto(store_server.url + "/train", wait_until="domcontentloaded")
        wait_for_app(page, page.get_by_role("button", name="Train", exact=True))
        page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload checkpoint") \
            .locator('input[type="file"]').set_input_files(
                files=[{"name": UPLOADED, "mimeType": "application/octet-stream",
                        "buffer": (REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt").read_bytes()}])
        wait_for_app(page, alert(page, f"Loaded {UPLOADED}"))
        model_id = wait_for_query(page, "model", ID_PATTERN.pattern)
        label = active_models_label(page)
        assert "uploaded my-digits.pt" in label and label.endswith(" (yours)"), label
        # What another browser's menu calls it: the same name, and whose it is.
        shared_label = label.removesuffix(" (yours)") + " (shared with you)"

        # Pick a point on the map: the link names the model and the point.
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(r"Explore$")).click()
        wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
        wait_for_map(page)
        point = isolated_data_points(page, 1)[0]
        click_at(page, point["px"], point["py"])
        index = point["custom"]
        wait_for_card(page, index)
        wait_for_query(page, "point", str(index))
        link = page.url
        assert query(page)["model"] == model_id

        # A reload brings back the same model and point, and the maker's list (the owner cookie was set).
        page.reload(wait_until="domcontentloaded")
        wait_for_map(page)
        wait_for_card(page, index)
        assert active_models_label(page) == label
        wait_for_app(page, your_models(page))

        # Another browser: the same view, and no list of someone else's models.
        other_context, other = new_page(browser)
        others.append(other_context)
        open_link(other, link, index)
        assert active_models_label(other) == shared_label
        assert your_models(other).count() == 0
        assert not exception_texts(other)

        # The first server stops; a second process on the same store opens the link, for anyone.
        store_server.stop()
        assert not server_tracebacks(store_server.log_path.read_text(encoding="utf-8"))
        second = start_server(store_dir, "second")
        try:
            second_link = link.replace(urlsplit(link).netloc, urlsplit(second.url).netloc)
            open_link(page, second_link, index)
            assert active_models_label(page) == label
            wait_for_app(page, your_models(page))  # still this browser's, on another server
            open_link(other, second_link, index)
            assert active_models_label(other) == shared_label
            assert not exception_texts(page) and not exception_texts(other)
        finally:
            second.stop()
        assert not server_tracebacks(second.log_path.read_text(encoding="utf-8"))
    finally:
        for other_context in others:
            other_context.close()
        context.close()
    store_server.start()  # for the next test of this module
    store_server.wait_healthy()


def test_a_trained_pair_is_listed_after_a_reload_and_deleting_it_ends_its_link(browser, store_server):
    context, page = new_page(browser)
    try:
        page.goto(store_server.url + "/train", wait_until="domcontentloaded")
        wait_for_app(page, page.get_by_role("button", name="Train", exact=True))
        set_number(page, "Hidden size", 32)
        set_number(page, "Epochs", 1)
        page.get_by_role("button", name="Train", exact=True).click()
        wait_for_app(page, alert(page, "Training finished"), timeout_s=TRAIN_WAIT_S)
        model_id = wait_for_query(page, "model", ID_PATTERN.pattern)
        label = active_models_label(page).removesuffix(" (yours)")

        page.reload(wait_until="domcontentloaded")
        listed = your_models(page)
        wait_for_app(page, listed)
        assert listed.inner_text() == "Your models (1)"
        listed.click()
        sidebar = page.get_by_test_id("stSidebar")
        assert sidebar.get_by_role("combobox", name="Kept model").input_value() == label
        wait_for_app(page, sidebar.get_by_role("button", name="Rename"))
        screenshot(page, "store-your-models")
        sidebar.get_by_role("button", name=re.compile("Delete")).click()
        page.get_by_role("button", name="Delete it", exact=True).click()
        wait_for_app(page, lambda: your_models(page).count() == 0)

        page.goto(f"{store_server.url}/?model={model_id}&point=3", wait_until="domcontentloaded")
        notice = page.get_by_text("The link could not be followed in full", exact=False)
        wait_for_app(page, notice)
        assert "its owner deleted it from this server" in notice.inner_text()
        wait_for_map(page)
        assert active_models_label(page).startswith("Digits")
        assert not exception_texts(page)
    finally:
        context.close()


def test_share_says_what_a_link_to_own_images_shows_and_deletes_it(browser, store_server):
    context, page = new_page(browser)
    try:
        page.goto(store_server.url + "/train", wait_until="domcontentloaded")
        wait_for_app(page, page.get_by_role("button", name="Train", exact=True))
        page.get_by_test_id("stFileUploader").filter(has_text="Images to train on").locator('input[type="file"]') \
            .set_input_files(files=[{"name": "shapes.zip", "mimeType": "application/zip", "buffer": shapes_zip()}])
        wait_for_app(page, page.get_by_text("12 images in 2 classes", exact=False))
        set_number(page, "Hidden size", 16)
        set_number(page, "Epochs", 1)
        page.get_by_role("button", name="Train", exact=True).click()
        wait_for_app(page, alert(page, "Training finished"), timeout_s=TRAIN_WAIT_S)
        model_id = wait_for_query(page, "model", ID_PATTERN.pattern)

        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(r"Explore$")).click()
        wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
        wait_for_map(page)
        page.get_by_role("button", name=re.compile("Share")).click()
        body = page.get_by_test_id("stPopoverBody")
        warning = body.get_by_text("Anyone with this link will see this model and the 12 images stored with it")
        wait_for_app(page, warning)
        assert model_id in body.locator("code").first.inner_text()
        screenshot(page, "store-share-own-images")
        body.get_by_role("button", name="Delete from this server").click()
        wait_for_app(page, lambda: active_models_label(page).startswith("Digits"))
        assert query(page).get("model") == "digits"

        page.goto(f"{store_server.url}/?model={model_id}", wait_until="domcontentloaded")
        notice = page.get_by_text("The link could not be followed in full", exact=False)
        wait_for_app(page, notice)
        assert "its owner deleted it from this server" in notice.inner_text()
        assert not exception_texts(page)
    finally:
        context.close()
