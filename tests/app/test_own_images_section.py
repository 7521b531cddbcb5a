"""The Train page's "Your own images" section through AppTest: preview, refusals, training, checkpoints."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from devtools.sample_images import shapes_zip
from latent_explorer.own_images import plain
from vae_core.checkpoint import checkpoint_bytes

PAGE = str(Path(__file__).resolve().parents[2] / "latent_explorer" / "app_pages" / "train.py")
JOB_WAIT_S = 120


def fresh_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def upload_images(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="own_images_upload").set_value((name, data, "application/octet-stream"))
    return run(at)


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def captions(at: AppTest) -> list[str]:
    return [caption for element in at.image for caption in element.captions]


def run_until_job_ends(at: AppTest) -> None:
    deadline = time.monotonic() + JOB_WAIT_S
    while "training_job" in at.session_state:
        assert time.monotonic() < deadline, "the training job did not end in time"
        time.sleep(0.2)
        run(at)


def test_an_upload_is_previewed_and_chosen_as_the_dataset():
    at = upload_images(fresh_page(), "shapes.zip", shapes_zip())
    assert "**shapes\\.zip** — 12 images in 2 classes, 28x28 grey: 10 to train on, 2 held out for the map." \
        == texts(at.markdown)
    assert plain("The images are 20x20 pixels: resized to 28x28.", 400) == texts(at.warning)
    assert captions(at) == ["bright · 6 images", "dark · 6 images"]
    dataset = at.selectbox(key="train_dataset")
    assert dataset.value == "custom:shapes" and dataset.options[-1] == "Your images: shapes"
    assert not at.error

    # Another size converts again; removing the file takes the dataset out of the form.
    at.number_input(key="own_images_size").set_value(16)
    run(at)
    assert "16x16 grey" in texts(at.markdown)
    at.file_uploader(key="own_images_upload").set_value(None)
    run(at)
    assert "Your images: shapes" not in at.selectbox(key="train_dataset").options
    assert at.selectbox(key="train_dataset").value == "digits"


def test_hostile_uploads_get_a_message_and_change_nothing():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/cron.d/evil.png", b"x")
    at = upload_images(fresh_page(), "evil.zip", buffer.getvalue())
    assert "evil\\.zip cannot be used: the archive has a path that climbs out of its folder" in texts(at.error)
    assert "Nothing was kept" in texts(at.error)
    assert at.selectbox(key="train_dataset").value == "digits"
    assert "own_images_dataset" not in at.session_state

    upload_images(at, "pickled.npy", b"\x80\x04\x95 not a numpy file")
    assert "pickled\\.npy cannot be used: pickled\\.npy is not a NumPy \\.npy file" in texts(at.error)


def test_training_on_own_images_makes_them_the_active_pair():
    at = upload_images(fresh_page(), "shapes.zip", shapes_zip())
    for key, value in {"train_epochs": 2, "train_hidden": 16}.items():
        at.number_input(key=key).set_value(value)
    at.button(key="train_start").click()
    run(at)
    assert "training_job" in at.session_state
    run_until_job_ends(at)
    assert "Training finished" in texts(at.success)
    key = at.session_state["workspace_key"]
    workspace = at.session_state["own_workspaces"][key]
    assert workspace.dataset.name == "custom:shapes" and workspace.pair.data_manifest["images"] == 12
    assert workspace.dataset_title == "Your images: shapes" and len(workspace) == 2
    assert workspace.label.startswith("Your images: shapes · AE + VAE latent 2")

    # The data manifest can be downloaded on its own, and the checkpoint carries it too.
    manifest_button = at.get("download_button")
    labels = [b.proto.label for b in manifest_button]
    assert "Download the data manifest" in labels
    saved = torch.load(io.BytesIO(checkpoint_bytes(workspace.pair)), weights_only=True)
    assert saved["dataset"] == "custom:shapes"
    assert json.loads(json.dumps(saved["data_manifest"])) == workspace.dataset.manifest


def test_an_uploaded_checkpoint_of_own_images_needs_those_images():
    at = upload_images(fresh_page(), "shapes.zip", shapes_zip())
    for key, value in {"train_epochs": 1, "train_hidden": 16}.items():
        at.number_input(key=key).set_value(value)
    at.button(key="train_start").click()
    run(at)
    run_until_job_ends(at)
    pair = at.session_state["own_workspaces"][at.session_state["workspace_key"]].pair
    data = checkpoint_bytes(pair)

    other = fresh_page()
    other.file_uploader(key="checkpoint_upload").set_value(("shapes.pt", data, "application/octet-stream"))
    run(other)
    assert "shapes\\.pt was not loaded: it was trained on your own images (shapes\\.zip, 28x28, grey): load the " \
           "same images under *Your own images* with that size and channels" in texts(other.error)
    assert "own_workspaces" not in other.session_state or not other.session_state["own_workspaces"]

    upload_images(other, "shapes-again.zip", shapes_zip())
    other.file_uploader(key="checkpoint_upload").set_value(("shapes2.pt", data, "application/octet-stream"))
    run(other)
    assert "Loaded shapes2\\.pt" in texts(other.success), texts(other.error)
    adopted = other.session_state["own_workspaces"][other.session_state["workspace_key"]]
    assert adopted.dataset.name == "custom:shapes-again" and adopted.pair.dataset == "custom:shapes"
