"""An upload's message belongs to the file it is about: a second file replaces the first one's error."""

from __future__ import annotations

import os

import pytest

from devtools.browser import REPO_ROOT, active_models_label, alert, open_train, wait_for_app

pytestmark = pytest.mark.browser


def checkpoint_uploader(page):
    return page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload checkpoint")


def upload(page, name: str, data: bytes) -> None:
    checkpoint_uploader(page).locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])


# Whether the page ever showed the new file's model as active while the old file's error was still on the page.
ERROR_UNDER_NEW_FILE_JS = """
(() => {
  window.__errorUnderNewFile = false;
  new MutationObserver(() => {
    const sidebar = document.querySelector('[data-testid="stSidebar"]');
    const active = sidebar && sidebar.innerText.includes('uploaded shipped-copy.pt');
    const oldError = [...document.querySelectorAll('[data-testid="stAlert"]')]
      .some(e => e.innerText.includes('garbage.pt was not loaded'));
    if (active && oldError) window.__errorUnderNewFile = true;
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


def test_a_good_checkpoint_after_a_bad_one_replaces_its_error(visitor, assert_no_exceptions):
    page = open_train(visitor)
    upload(page, "garbage.pt", os.urandom(4096))
    wait_for_app(page, alert(page, "garbage.pt was not loaded"))
    page.evaluate(ERROR_UNDER_NEW_FILE_JS)
    upload(page, "shipped-copy.pt", (REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt").read_bytes())
    wait_for_app(page, alert(page, "Loaded shipped-copy.pt"))
    assert alert(page, "garbage.pt").count() == 0, "the first file's error stayed"
    # Not even for a moment: the old error went as soon as the new file was being loaded, before the rerun
    # that shows the new model.
    assert not page.evaluate("window.__errorUnderNewFile"), "the old error stayed under the new file"
    assert checkpoint_uploader(page).get_by_text("shipped-copy.pt").is_visible()
    assert active_models_label(page).endswith("(yours)")
    assert_no_exceptions(page)


def images_uploader(page):
    return page.locator('[data-testid="stFileUploader"]').filter(has_text="Images to train on")


def test_good_images_after_a_bad_archive_replace_its_error(visitor, assert_no_exceptions):
    from devtools.sample_images import shapes_zip

    page = open_train(visitor)
    images_uploader(page).locator('input[type="file"]').set_input_files(
        files=[{"name": "junk.zip", "mimeType": "application/zip", "buffer": b"plain text"}])
    wait_for_app(page, alert(page, "junk.zip cannot be used"))
    images_uploader(page).locator('input[type="file"]').set_input_files(
        files=[{"name": "shapes.zip", "mimeType": "application/zip", "buffer": shapes_zip()}])
    wait_for_app(page, page.get_by_text("12 images in 2 classes"))
    page.screenshot(path=str(REPO_ROOT / "test-artifacts" / "screenshots" / "images-after-junk.png"), full_page=True)
    assert alert(page, "junk.zip").count() == 0, "the first file's error stayed"
    assert_no_exceptions(page)
