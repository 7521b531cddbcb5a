"""A training image selected on the every-image map (index past the held-out ones) on the other pages."""

from __future__ import annotations

import pytest
from page_runner import page_path, run_page

from latent_explorer import session
from latent_explorer.session import shipped_workspace

TRAINING_IMAGE = 500  # the digits hold out 360 images: 500 is the training split's 141st


@pytest.fixture(scope="module")
def ws():
    workspace = shipped_workspace("digits")
    assert not workspace.is_held_out(TRAINING_IMAGE)
    return workspace


def selected(**extra) -> dict:
    return {session.WORKSPACE: "digits", session.SELECTED: TRAINING_IMAGE, **extra}


def test_edit_starts_from_the_training_image_and_names_its_class(ws):
    at = run_page(page_path("edit"), **selected())
    name = ws.class_names[int(ws.dataset.train_labels[TRAINING_IMAGE - len(ws)])]
    assert f"training image #{TRAINING_IMAGE} ({name})" in at.caption[0].value


@pytest.mark.parametrize("page", ["sample", "compare"])
def test_pages_that_list_held_out_images_start_from_their_own_first(page):
    at = run_page(page_path(page), **selected())
    assert all(f"#{TRAINING_IMAGE} ·" not in caption for element in at.image for caption in element.captions)
