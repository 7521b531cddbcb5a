"""A VAE imported from ONNX files, kept in the model store and opened by its link, through the whole app: every
page runs on it, and what the browser cannot decode (this decoder holds a tanh) comes from the server."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from page_runner import SHIPPED, map_data, run_app
from streamlit.testing.v1 import AppTest
from torch import nn

from latent_explorer import session
from latent_explorer.pages import _DEFINITIONS
from vae_core import load_checkpoint, load_dataset
from vae_core.images import to_uint8
from vae_core.models import KIND_TITLES
from vae_core.onnx_import import onnx_vae
from vae_core.store import ModelStore
from vae_core.workspace import Workspace

OWNER = "b" * 43


class _Call(nn.Module):
    """One method of a model as a module's forward, exported as a graph of its own."""

    def __init__(self, method):
        super().__init__()
        self.method = method

    def forward(self, values):
        return self.method(values)


def onnx_file(method, example: torch.Tensor, input_name: str, outputs: list[str]) -> bytes:
    program = torch.onnx.export(_Call(method).eval(), (example,), input_names=[input_name], output_names=outputs,
                                dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    return program.model_proto.SerializeToString()


def squashed_logits(vae):
    """A decoder the browser cannot run (tanh is no portable operation): the shipped VAE's logits, squashed."""
    return lambda z: 4 * torch.tanh(vae.decode_logits(z) / 4)


@pytest.fixture(scope="module")
def imported():
    """The shipped digits VAE's encoder and a squashed-logit decoder, exported to ONNX and imported as a pair of
    its own; the torch decoder."""
    original = load_checkpoint(SHIPPED)
    vae = original.vae
    encoder = onnx_file(vae.encode, torch.rand(2, 1, 8, 8), "images", ["mu", "logvar"])
    decoder = onnx_file(squashed_logits(vae), torch.randn(2, 2), "z", ["logits"])
    pair = original.__class__(dataset=original.dataset)
    pair.vae = onnx_vae(encoder, decoder, (1, 8, 8), original.dataset, "bernoulli", ("mu", "logvar"), "logvar")
    model_id = ModelStore.from_environment().put(pair, "digits VAE via ONNX", OWNER)
    return model_id, vae


@pytest.mark.parametrize("page", list(_DEFINITIONS))
def test_every_page_runs_on_an_imported_vae_opened_by_its_link(imported, page):
    model_id, _ = imported
    at = run_app(model=model_id)
    if page != "explore":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("title")[0].value.startswith(_DEFINITIONS[page]["title"])
    assert at.session_state[session.WORKSPACE] != "digits", "the link's model is the active one"


def card_data(at: AppTest) -> dict:
    (card,) = [e.proto for e in at.get("bidi_component") if e.proto.id.endswith("-inspect_card")]
    return json.loads(card.json)


def test_the_card_of_an_imported_vae_brings_the_servers_decodes(imported):
    model_id, torch_vae = imported
    at = run_app(model=model_id, point="7")
    assert map_data(at, "latent_map")["selected"] == 7
    card = card_data(at)
    assert card["kinds"] == ["vae"] and card["titles"]["vae"] == KIND_TITLES["vae"]
    server = card["server"]
    assert server["index"] == 7 and server["tiles"]["vae"] is not None and server["tiles"]["draws"] is not None
    pixels = np.frombuffer(base64.b64decode(server["pixels"]), np.uint8).reshape(-1, 8, 8)
    original = load_checkpoint(SHIPPED)
    ws = Workspace(original, load_dataset(original.dataset, download=False), label="digits")
    with torch.no_grad():
        mu, _ = torch_vae.encode(torch.as_tensor(ws.image(7)).reshape(1, 1, 8, 8).float())
        expected = to_uint8(torch.sigmoid(squashed_logits(torch_vae)(mu)).reshape(8, 8).numpy())
    # The server's tile of the reconstruction is the torch model's, to the byte give or take rounding.
    assert np.abs(pixels[server["tiles"]["vae"]].astype(int) - expected.astype(int)).max() <= 1


# --- the Train page's "Your own model (ONNX)" ----------------------------------------------------------------

TRAIN_PAGE = str(SHIPPED.parents[1] / "app_pages" / "train.py")


def train_page_with(encoder: bytes, decoder: bytes) -> AppTest:
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="onnx_encoder_upload").set_value(("encoder.onnx", encoder, "application/octet-stream"))
    at.file_uploader(key="onnx_decoder_upload").set_value(("decoder.onnx", decoder, "application/octet-stream"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def own_workspaces(at: AppTest) -> dict:
    return at.session_state["own_workspaces"] if "own_workspaces" in at.session_state else {}


@pytest.fixture(scope="module")
def digits_files():
    vae = load_checkpoint(SHIPPED).vae
    return (onnx_file(vae.encode, torch.rand(2, 1, 8, 8), "images", ["mu", "logvar"]),
            onnx_file(vae.decode_logits, torch.randn(2, 2), "z", ["logits"]))


def test_two_files_are_checked_previewed_then_kept_as_the_active_model(digits_files):
    at = train_page_with(*digits_files)
    assert at.selectbox(key="onnx_images").value == "digits"
    assert not [b for b in at.button if b.key == "onnx_keep"], "nothing is kept before the check"
    at.button(key="onnx_check").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("a VAE of latent size 2" in m.value for m in at.markdown)
    captions = [caption for element in at.image for caption in element.captions]
    assert [f"#{i} decoded" for i in range(8)] == [c for c in captions if c.endswith("decoded")]
    assert not own_workspaces(at), "the preview keeps nothing"
    at.button(key="onnx_keep").click().run()
    assert not at.exception
    (workspace,) = at.session_state["own_workspaces"].values()
    assert at.session_state["workspace_key"] in at.session_state["own_workspaces"]
    assert workspace.pair.vae.config.foreign and workspace.pair.ae is None and "imported" in workspace.label


def test_a_file_that_fails_a_check_is_refused_with_its_reason_and_nothing_is_kept(digits_files):
    encoder, _ = digits_files
    wider = onnx_file(nn.Linear(3, 64), torch.randn(2, 3), "z", ["logits"])  # takes 3-d codes, not 2-d
    at = train_page_with(encoder, wider)
    at.button(key="onnx_check").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("Not imported: the latent sizes differ") and error.endswith("Nothing was kept.")
    assert not own_workspaces(at) and not [b for b in at.button if b.key == "onnx_keep"]
    # The same for bytes that are no ONNX file at all.
    at = train_page_with(b"not an onnx file", wider)
    at.button(key="onnx_check").click().run()
    assert [e.value for e in at.error][0].startswith("Not imported: the encoder file is not an ONNX model")
