"""AppTest of the training replay's switch on Explore: offered for the shipped pair and for a pair trained now,
absent (with a sentence) for a checkpoint from before replays; its frames sent only once it is opened.

The scrubber and the play button are drawn by the browser (latent_explorer/web/map_replay.js): tested in
tests/browser/test_replay_in_chromium.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_runner import REPO_ROOT, run_app, sent_pack_bytes
from streamlit.testing.v1 import AppTest

from latent_explorer import components
from latent_explorer.pack import decode_pack
from latent_explorer.session import shipped_workspace
from vae_core import load_checkpoint, load_dataset
from vae_core.pairs import JobSpec, train_pair
from vae_core.training import TrainConfig
from vae_core.workspace import Workspace

SHIPPED = REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt"


def own(ws: Workspace) -> dict:
    return {"own_workspaces": {"own-1": ws}, "workspace_key": "own-1"}


def map_data(at: AppTest) -> dict:
    found = [e.proto for e in at.get("bidi_component") if e.proto.id.endswith("-latent_map")]
    assert len(found) == 1
    return json.loads(found[0].json)


def sent_pack(at: AppTest, pack_id: str) -> tuple[dict, dict]:
    found = [e.proto for e in at.get("bidi_component")
             if e.proto.component_name == f"{components.PROJECT}.pack" and e.proto.id.endswith(pack_id)]
    assert len(found) == 1, f"the pack {pack_id} was not sent"
    return decode_pack(sent_pack_bytes(found[0]))


def replay_toggles(at: AppTest) -> list:
    return [t for t in at.toggle if t.key == "map_replay"]


def test_the_shipped_pair_offers_its_replay_and_sends_the_frames_only_when_opened():
    at = run_app()
    data = map_data(at)
    assert data["replay"] is None and len(replay_toggles(at)) == 1
    packs_before = len([e for e in at.get("bidi_component") if e.proto.component_name == f"{components.PROJECT}.pack"])
    at.toggle(key="map_replay").set_value(True).run()
    assert not at.exception
    data = map_data(at)
    ws = shipped_workspace("digits")
    assert data["replay"]["epochs"] == ws.replay_epochs("vae").tolist()
    header, arrays = sent_pack(at, data["replay"]["pack"])
    frames = arrays["frames"].astype(np.float64) * header["meta"]["step"] + header["meta"]["low"]
    np.testing.assert_allclose(frames[-1], ws.map_points["vae"], atol=max(header["meta"]["step"]) + 4e-3)
    assert len([e for e in at.get("bidi_component") if e.proto.component_name == f"{components.PROJECT}.pack"]) \
        == packs_before + 1
    # The axes hold every frame, so they stay still while the points move.
    (x0, x1), (y0, y1) = data["extent"]
    inside = [(x0 <= f[:, 0]) & (f[:, 0] <= x1) & (y0 <= f[:, 1]) & (f[:, 1] <= y1) for f in frames]
    assert min(np.mean(share) for share in inside) > 0.98
    assert data["view_key"].endswith("/replay")


def test_the_aes_map_replays_the_aes_codes():
    at = run_app({"map_kind": "ae", "map_replay": True})
    data = map_data(at)
    header, _ = sent_pack(at, data["replay"]["pack"])
    assert header["meta"]["kind"] == "ae" and data["kind"] == "ae"


def test_a_checkpoint_from_before_replays_has_no_switch_and_says_so():
    pair = load_checkpoint(SHIPPED)
    pair.replays.clear()
    at = run_app(own(Workspace(pair, load_dataset("digits"), label="an old checkpoint")))
    assert not replay_toggles(at) and map_data(at)["replay"] is None
    assert any("has no training replay" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def latent4_trained_now():
    """A pair trained now by the function every training runs (the CLI's, and each engine worker's)."""
    dataset = load_dataset("digits")
    spec = JobSpec("digits", latent_dim=4, hidden_dim=32, train=TrainConfig(epochs=3, seed=0, device="cpu"))
    return Workspace(train_pair(spec, dataset).pair, dataset, label="trained now")


def test_a_pair_trained_now_replays_through_its_final_pca(latent4_trained_now):
    ws = latent4_trained_now
    at = run_app({**own(ws), "map_replay": True})
    data = map_data(at)
    assert data["view"] == "pca" and data["replay"]["epochs"] == [1, 2, 3]
    header, arrays = sent_pack(at, data["replay"]["pack"])
    frames = arrays["frames"].astype(np.float64) * header["meta"]["step"] + header["meta"]["low"]
    first = ws.projections["vae"](ws.pair.replays["vae"].codes[0].astype(np.float32))
    np.testing.assert_allclose(frames[0], first, atol=max(header["meta"]["step"]) + 4e-3)


def test_the_replay_waits_in_t_sne_and_with_the_training_split(latent4_trained_now):
    at = run_app({**own(latent4_trained_now), "map_projection": "t-SNE", "map_replay": True})
    assert replay_toggles(at)[0].disabled and map_data(at)["replay"] is None
    assert any("drawn in the PCA view" in c.value for c in at.caption)
    at = run_app({"map_every_image": True, "map_replay": True})
    assert replay_toggles(at)[0].disabled and map_data(at)["replay"] is None
