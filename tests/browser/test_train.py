"""The Train page in a real browser: train a tiny model, download it, upload it back, refuse bad files."""

from __future__ import annotations

import os
import pickle
import re

import pytest

from devtools.browser import (
    REPO_ROOT,
    active_models_label,
    alert,
    open_train,
    set_number,
    wait_for_app,
)

pytestmark = pytest.mark.browser


TRAIN_WAIT_S = 240  # a couple of epochs of digits; generous for a shared 2-core machine






def uploader_input(page):
    return page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload checkpoint") \
        .locator('input[type="file"]')


def upload(page, name: str, data: bytes) -> None:
    uploader_input(page).set_input_files(files=[{"name": name, "mimeType": "application/octet-stream",
                                                 "buffer": data}])


def test_train_download_and_upload_a_tiny_model(visitor, assert_no_exceptions, tmp_path):
    page = open_train(visitor)
    shipped = active_models_label(page)
    assert re.search(r"^Digits.*shipped$", shipped)
    form = page.locator(".st-key-train_settings")
    dataset = form.get_by_role("combobox", name="Dataset").input_value()
    assert dataset.startswith("Digits")
    set_number(page, "Latent size", 3)
    set_number(page, "Hidden size", 64)
    set_number(page, "Epochs", 2)
    page.get_by_role("button", name="Train", exact=True).click()

    finished = alert(page, "Training finished")
    wait_for_app(page, finished, timeout_s=TRAIN_WAIT_S)
    trained = active_models_label(page)
    assert trained != shipped and trained.endswith("(yours)"), trained
    assert "latent 3" in trained and "2 epochs" in trained, trained
    assert "VAE latent 3" in page.get_by_test_id("stSidebar").inner_text()
    # The curves of the finished training are drawn for the active pair.
    assert page.get_by_role("heading", name="Training history of the active pair").is_visible()
    assert page.locator(".js-plotly-plot").count() >= 3
    visitor.screenshot("trained")

    # Download the active pair and check the file is a loadable checkpoint of what was trained.
    with page.expect_download(timeout=90_000) as download_info:
        page.get_by_role("button", name=re.compile("Download checkpoint")).click()
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    assert path.suffix == ".pt" and path.stat().st_size > 1000
    from vae_core import load_checkpoint
    pair = load_checkpoint(path)
    assert pair.dataset == "digits"
    assert {kind: model.config.latent_dim for kind, model in pair.models().items()} == {"ae": 3, "vae": 3}

    # Upload it again: it becomes the active pair, marked as uploaded.
    upload(page, "my-tiny-model.pt", path.read_bytes())
    loaded = alert(page, "Loaded my-tiny-model.pt")
    wait_for_app(page, loaded)
    wait_for_app(page, lambda: "uploaded" in active_models_label(page))
    uploaded = active_models_label(page)
    assert "latent 3" in uploaded and uploaded.endswith("(yours)"), uploaded
    visitor.screenshot("uploaded")
    assert_no_exceptions(page)


def test_uploading_random_bytes_is_refused_and_keeps_the_active_model(visitor, assert_no_exceptions):
    page = open_train(visitor)
    before = active_models_label(page)
    upload(page, "garbage.pt", os.urandom(4096))
    refused = alert(page, "garbage.pt was not loaded")
    wait_for_app(page, refused)
    assert "active model is unchanged" in refused.inner_text()
    assert active_models_label(page) == before
    visitor.screenshot("garbage-refused")
    assert_no_exceptions(page)


class _Payload:
    """A pickle that would create a file if anything unpickled it with pickle.load."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_uploading_a_pickle_with_code_never_runs_it(visitor, assert_no_exceptions, tmp_path):
    import torch

    marker = tmp_path / "pwned"
    malicious = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "payload": _Payload(str(marker))}, malicious)
    page = open_train(visitor)
    before = active_models_label(page)
    upload(page, "evil.pt", malicious.read_bytes())
    refused = alert(page, "evil.pt was not loaded")
    wait_for_app(page, refused)
    assert not marker.exists(), "the uploaded pickle ran code on the server"
    assert active_models_label(page) == before
    visitor.screenshot("pickle-refused")
    assert_no_exceptions(page)


def test_pickle_payload_is_live():
    """The payload above really does run code when unpickled the unsafe way (so the test above can fail)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        marker = os.path.join(folder, "pwned")
        handle = pickle.loads(pickle.dumps(_Payload(marker)))  # noqa: S301 - the point of this check
        handle.close()
        assert os.path.exists(marker)


def test_an_upload_stays_in_its_own_browser_session(visitor, new_visitor, assert_no_exceptions):
    """Two visitors at once: what one uploads becomes their active model, never the other's."""
    page = open_train(visitor)
    upload(page, "shipped-copy.pt", (REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt").read_bytes())
    wait_for_app(page, alert(page, "Loaded shipped-copy.pt"))
    wait_for_app(page, lambda: "shipped-copy.pt" in active_models_label(page))

    other = new_visitor()
    other_page = open_train(other)
    assert re.search(r"^Digits.*shipped$", active_models_label(other_page))
    other_page.get_by_test_id("stSidebar").get_by_role("combobox", name="Models").click()
    options = other_page.get_by_role("option")
    options.first.wait_for()
    names = [o.inner_text() for o in options.all()]
    assert names and not any("shipped-copy" in n or "this session" in n for n in names), names
    other_page.keyboard.press("Escape")
    other.screenshot("other-visitor")
    # And the first visitor still has their upload active after the other one came along.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(r"Explore$")).click()
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    assert "shipped-copy.pt" in active_models_label(page)
    assert "shipped-copy.pt" in page.get_by_test_id("stCaptionContainer").filter(
        has_text="each dot is a held-out image").inner_text()
    assert_no_exceptions(page)
    assert_no_exceptions(other_page)
