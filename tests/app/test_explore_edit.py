"""AppTest of the entry script, the Explore page and the Edit page on the shipped digits models.

The map, the inspect card and the editor are browser components: AppTest cannot click them, so these
tests check what the server sends them for a given view (links, session state, buttons). Clicks,
hovers and drags are tested in real Chromium (tests/browser).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from page_runner import image_captions, sent_pack_bytes
from streamlit.testing.v1 import AppTest
from torch import nn

from latent_explorer import decode_route, events
from latent_explorer.figures import CLASS_COLOURS, COLOUR_BLIND_CLASS_COLOURS
from latent_explorer.pack import workspace_pack
from latent_explorer.session import shipped_workspace
from vae_core.images import to_uint8
from vae_core.latent import points_in_region

APP = str(Path(__file__).resolve().parents[2] / "latent_explorer" / "streamlit_app.py")
TIMEOUT = 120


def run_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def component_data(at: AppTest, key: str) -> dict:
    """The data the server sent to the browser component mounted with this key."""
    found = [e.proto for e in at.get("bidi_component") if e.proto.id.endswith("-" + key)]
    assert len(found) == 1, f"expected one component {key!r}, found {len(found)}"
    return json.loads(found[0].json)


def packs(at: AppTest) -> list:
    return [e.proto for e in at.get("bidi_component") if e.proto.component_name == "latent-explorer.pack"]


def server_tile(server: dict, tile: int, side: int) -> np.ndarray:
    """Tile `tile` of the server's raw grey bytes, (tiles, side, side)."""
    return np.frombuffer(base64.b64decode(server["pixels"]), np.uint8).reshape(-1, side, side)[tile]


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def test_landing_page_sends_the_map_and_the_pack_once():
    at = run_app()
    assert at.title[0].value == "Explore the latent space"
    assert len(packs(at)) == 1
    data = component_data(at, "latent_map")
    assert data["pack"] in packs(at)[0].id and data["view"] == "z" and data["selected"] is None
    # The pack is a file the browser fetches once and keeps, not megabytes in every visitor's websocket.
    reference = json.loads(packs(at)[0].json)
    assert reference == {"id": data["pack"], "file": f"packs/{data['pack']}.lxp.gz"}
    assert sent_pack_bytes(packs(at)[0]) == workspace_pack(shipped_workspace("digits")).data
    assert data["axis_titles"] == ["z1", "z2"] and data["equal_axes"]
    card = component_data(at, "inspect_card")
    assert card["selected"] is None and card["server"] is None and "Click a point" in card["hint"]
    assert not at.get("plotly_chart")  # the map is drawn in the browser, not sent as a figure


def test_link_selects_a_point_and_the_server_sends_what_only_it_has():
    at = run_app(model="digits", point="7")
    ws = shipped_workspace("digits")
    assert component_data(at, "latent_map")["selected"] == 7
    card = component_data(at, "inspect_card")
    server = card["server"]
    assert card["selected"] == 7 and server["index"] == 7
    # The server's tiles are the original and the eight nearest neighbours, nearest first.
    neighbours, distances = ws.neighbours(7, k=8)
    assert [n[0] for n in server["tiles"]["neighbours"]] == neighbours.tolist()
    np.testing.assert_allclose([n[1] for n in server["tiles"]["neighbours"]], distances, rtol=1e-6)
    assert np.array_equal(server_tile(server, server["tiles"]["original"], 8), to_uint8(ws.image(7)))
    j, _, tile = server["tiles"]["neighbours"][0]
    assert np.array_equal(server_tile(server, tile, 8), to_uint8(ws.image(j)))
    # The browser decodes the reconstructions and draws itself; the server does not send them.
    assert server["tiles"]["vae"] is None and server["tiles"]["draws"] is None
    assert np.array(card["eps"]).shape == (8, 2)
    labels = [m.label for m in at.metric]
    # Signed as in ELBO = E[log p(x|z)] − KL, in that order, so the numbers add up as they read.
    assert labels == ["E[log p(x|z)] (nats)", "KL (nats)", "ELBO (nats)"]
    reconstruction, kl, elbo = (float(m.value) for m in at.metric)
    assert kl > 0 and reconstruction < 0
    assert elbo == pytest.approx(reconstruction - kl, abs=0.15)  # displayed values are rounded
    assert at.query_params["point"] == "7"


def test_the_mathematics_panel_costs_nothing_until_it_is_opened(monkeypatch):
    ws = shipped_workspace("digits")
    estimated = []
    monkeypatch.setattr(ws, "log_px", lambda index: estimated.append(index) or -12.345)
    at = run_app(model="digits", point="7")
    assert not estimated and not at.latex  # closed: no importance-weighted estimate, no formulas sent
    at.session_state["math_panel_open"] = True  # the panel's key (latent_explorer/app_pages/explore.py MATH_PANEL_OPEN)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    latex = " ".join(element.value for element in at.latex)
    assert "ELBO" in latex and "KL" in latex and r"\log p(x) &\approx" in latex
    assert estimated == [7] and "-12.35" in latex


def test_the_kl_line_writes_the_tables_digits_with_negatives_in_parentheses_and_adds_up():
    ws = shipped_workspace("digits")
    index = int(np.flatnonzero((ws.encodings["vae"].mu < -0.5).all(axis=1))[0])  # both means negative
    at = run_app(model="digits", point=str(index))
    at.session_state["math_panel_open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [line] = [e.value for e in at.latex if r"\mathrm{KL}_{z_{1}}" in e.value]
    analysis = ws.analyse(index)
    terms = re.findall(r"\\big\((\S+)\^2 \+ (\S+)\^2\\\\ &\\qquad - \\ln (\S+)\^2 - 1\\big\) = (\S+?)\\\\", line)
    assert len(terms) == 2, line
    for (written_mu, written_sigma, written_sigma_again, written_kl), mu, sigma, kl in zip(
            terms, analysis.mu, analysis.sigma, analysis.kl_per_dim):
        # The table's digits (three decimals), a negative mean in parentheses: (-1.234)^2, never -1.234^2.
        assert written_mu == f"({mu:.3f})" and written_sigma == written_sigma_again == f"{sigma:.3f}"
        assert written_kl == f"{kl:.3f}"
        m, s = float(written_mu.strip("()")), float(written_sigma)
        assert 0.5 * (m ** 2 + s ** 2 - np.log(s ** 2) - 1) == pytest.approx(kl, abs=0.01)
    # The sum as written gives the total as written, and that is the KL shown above the table.
    parts, total = re.search(r"\\mathrm\{KL\} &= ([0-9. +]+)\\\\ &= ([0-9.]+)\\end", line).groups()
    assert sum(float(v) for v in parts.split(" + ")) == pytest.approx(float(total), abs=0.0015)
    assert total == f"{analysis.kl:.3f}"
    assert float([m.value for m in at.metric if m.label == "KL (nats)"][0]) == pytest.approx(float(total), abs=0.005)


def test_landing_pair_is_fashion_mnist_when_its_images_are_here(monkeypatch):
    from latent_explorer import shipped

    monkeypatch.delenv(shipped.LANDING_ENV, raising=False)
    expected = "fashion-mnist" if "fashion-mnist" in shipped.shipped_keys() else "digits"
    at = run_app()
    assert at.session_state["workspace_key"] == expected
    monkeypatch.setattr(shipped, "shipped_keys", lambda: ["digits"])  # a machine without Fashion-MNIST
    assert run_app().session_state["workspace_key"] == "digits"
    monkeypatch.setenv(shipped.LANDING_ENV, "no-such-pair")  # a host's pin that cannot be honoured
    assert run_app().session_state["workspace_key"] == "digits"


def test_bad_link_falls_back_with_a_notice():
    at = run_app(point="99999", z="abc", seed="x")
    warnings = " ".join(w.value for w in at.warning)
    assert "point '99999'" in warnings and "latent vector 'abc'" in warnings and "seed 'x'" in warnings
    assert component_data(at, "inspect_card")["selected"] is None
    # A point belongs to its model: with a model this server lacks, it is not applied to another one.
    at = run_app(point="3", model="nope")
    warnings = " ".join(w.value for w in at.warning)
    assert "model 'nope'" in warnings and "without the point" in warnings
    assert component_data(at, "inspect_card")["selected"] is None


def test_map_toggles_and_ae_codes():
    at = run_app(point="3")
    data = component_data(at, "latent_map")
    assert data["posterior"] and not data["background"]
    at.toggle(key="show_posterior").set_value(False).run()
    assert not component_data(at, "latent_map")["posterior"]
    at.toggle(key="show_manifold").set_value(True).run()
    assert not at.exception
    data = component_data(at, "latent_map")
    # The browser decodes the background itself: the server sends no picture for it.
    assert data["background"] and data["server_background"] is None
    at.session_state["map_kind"] = "ae"
    at.run()
    assert not at.exception
    data = component_data(at, "latent_map")
    assert data["kind"] == "ae" and not data["posterior"]  # an AE has no posterior to draw
    assert data["selected"] == 3


def test_a_decoded_location_and_a_region_are_kept_in_the_view():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["decoded_location"] = (0.5, -1.25)
    region = events.Region("box", np.array([[-1.0, -1.0], [1.0, 0.5]]))
    at.session_state["map_region"] = region
    at.run()
    assert not at.exception
    data = component_data(at, "latent_map")
    assert data["location"] == [0.5, -1.25] and data["region"] == asdict(region.to_data())
    assert component_data(at, "inspect_card")["location"] == [0.5, -1.25]
    assert [b.label for b in at.button if b.key == "open_location"] == ["Open this z in the editor"]
    ws = shipped_workspace("digits")
    expected = len(points_in_region(ws.map_points["vae"], "box", region.vertices))
    assert expected > 0 and f"Selection: {expected:,} images" in subheaders(at)


def test_open_in_editor_starts_the_editor_at_the_points_mu():
    at = run_app(point="7")
    at.button(key="open_in_editor").click().run()
    assert not at.exception
    assert at.title[0].value == "Edit latent features"
    editor = component_data(at, "latent_editor")
    mu = shipped_workspace("digits").encodings["vae"].mu[7]
    np.testing.assert_allclose(editor["z"], mu, atol=0.025 + 1e-9)  # on the sliders' 0.05 grid
    assert editor["z_version"] >= 1 and editor["decode_url"] is None  # the browser decodes


def test_link_latent_vector_reaches_the_editor():
    at = run_app(z="1.0,-1.0")
    at.switch_page("app_pages/edit.py").run()
    assert not at.exception
    assert component_data(at, "latent_editor")["z"] == [1.0, -1.0]


def test_reset_and_random_draw():
    at = run_app(point="7", z="3.0,3.0")
    at.switch_page("app_pages/edit.py").run()
    before = component_data(at, "latent_editor")
    assert before["z"] == [3.0, 3.0]
    at.button(key="editor_random").click().run()
    drawn = component_data(at, "latent_editor")
    assert drawn["z"] != [3.0, 3.0] and drawn["z_version"] > before["z_version"]
    at.button(key="editor_reset").click().run()
    mu = shipped_workspace("digits").encodings["vae"].mu[7]
    np.testing.assert_allclose(component_data(at, "latent_editor")["z"], mu, atol=0.025 + 1e-9)


def test_attribute_direction_moves_towards_the_target_class():
    at = run_app()
    at.switch_page("app_pages/edit.py").run()
    at.selectbox(key="attr_from").set_value(0).run()
    at.selectbox(key="attr_to").set_value(6).run()
    at.button(key="attr_apply").click().run()
    assert not at.exception
    ws = shipped_workspace("digits")
    mu = ws.encodings["vae"].mu
    expected = mu[ws.labels == 6].mean(0) - mu[ws.labels == 0].mean(0)  # from z = 0 with amount 1
    np.testing.assert_allclose(component_data(at, "latent_editor")["z"], np.clip(expected, -4, 4),
                               atol=0.025 + 1e-9)


def test_the_attribute_captions_say_where_the_strip_and_image_start():
    at = run_app(z="1.0,-1.0")
    at.switch_page("app_pages/edit.py").run()
    at.selectbox(key="attr_from").set_value(0).run()
    at.selectbox(key="attr_to").set_value(6).run()
    at.slider(key="attr_amount").set_value(-0.5).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = image_captions(at)
    # The strip and the image both start from the editor's z, and every caption writes one sign.
    assert captions[:8] == ["z − 1.0 · d", "z − 0.5 · d", "z", "z + 0.5 · d", "z + 1.0 · d", "z + 1.5 · d",
                            "z + 2.0 · d", "z + 2.5 · d"]
    assert captions[8] == "z − 0.5 · (μ̄_6 − μ̄_0)" and "+ +" not in " ".join(captions)
    assert any("start from the editor's z" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def latent4_workspace():
    from vae_core import ModelConfig, ModelPair, TrainConfig, load_dataset, new_model, train_model
    from vae_core.workspace import Workspace

    dataset = load_dataset("digits")
    pair = ModelPair(dataset="digits")
    for kind in ("ae", "vae"):
        model = new_model(ModelConfig(kind=kind, input_shape=(1, 8, 8), hidden_dim=32, latent_dim=4), seed=0)
        setattr(pair, kind, train_model(model, dataset, TrainConfig(epochs=2, seed=0)).model)
    return Workspace(pair, dataset, label="latent 4 test pair")


def test_larger_latents_are_projected_with_pca_or_tsne(latent4_workspace):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["own_workspaces"] = {"own-1": latent4_workspace}
    at.session_state["workspace_key"] = "own-1"
    at.session_state["selected_index"] = 5
    at.run()
    assert not at.exception
    data = component_data(at, "latent_map")
    assert data["view"] == "pca" and data["axis_titles"][0].startswith("PC1 (")
    assert data["posterior"] and data["points"] is None  # PCA is linear: the posterior can be drawn in it
    at.session_state["map_projection"] = "t-SNE"
    at.run()
    assert not at.exception
    data = component_data(at, "latent_map")
    assert data["view"] == "tsne" and data["axis_titles"] == ["t-SNE 1", "t-SNE 2"] and not data["equal_axes"]
    assert data["points"]["array"] == "tsne" and len(packs(at)) == 2  # the coordinates travel in a pack
    assert any("t-SNE is non-linear" in c.value for c in at.caption)
    assert "model" not in at.query_params  # a session-only pair cannot be named in a link


@pytest.fixture(scope="module")
def server_decoded_workspace():
    """The shipped pair with a decoder layer the browser's runtime does not implement (a Tanh)."""
    from vae_core import load_checkpoint, load_dataset
    from vae_core.workspace import Workspace

    pair = load_checkpoint(Path(APP).parent / "assets" / "digits-latent2.pt")
    for model in pair.models().values():
        model.decoder[1] = nn.Tanh()
    return Workspace(pair, load_dataset("digits"), label="server-decoded pair")


def test_a_decoder_the_browser_cannot_run_is_decoded_on_the_server(server_decoded_workspace):
    ws = server_decoded_workspace
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["own_workspaces"] = {"own-1": ws}
    at.session_state["workspace_key"] = "own-1"
    at.session_state["selected_index"] = 4
    at.run()
    assert not at.exception
    server = component_data(at, "inspect_card")["server"]
    tiles = server["tiles"]
    assert {"ae", "vae"} <= set(tiles) and len(tiles["draws"]) == 8
    assert np.array_equal(server_tile(server, tiles["vae"], 8), to_uint8(ws.reconstruction("vae", 4)))
    # The lens and the editor fetch their decodes from the app's route, which serves this very model.
    lens_url = component_data(at, "latent_map")["decode_url"]
    assert lens_url == decode_route.decode_url(ws, "vae")
    at.toggle(key="show_manifold").set_value(True).run()
    assert component_data(at, "latent_map")["server_background"]["uri"].startswith("data:image/png")
    at.switch_page("app_pages/edit.py").run()
    assert not at.exception
    assert component_data(at, "latent_editor")["decode_url"] == lens_url
    token, kind = lens_url.split("/")[-2:]
    pictures = np.frombuffer(decode_route.decoded_bytes(token, kind, "0.5,0.25", traversal=True), np.uint8)
    # The decode at z, then the traversal strips: nine tiles per dimension.
    assert pictures.size == (1 + 2 * 9) * 64
    assert np.array_equal(pictures[:64].reshape(8, 8), to_uint8(ws.decode(np.array([0.5, 0.25]), "vae")[0]))


def test_a_browser_decoder_needs_no_route():
    at = run_app(model="digits")
    assert component_data(at, "latent_map")["decode_url"] is None
    at.switch_page("app_pages/edit.py").run()
    assert component_data(at, "latent_editor")["decode_url"] is None


def test_the_colour_blind_palette_colours_the_map():
    at = run_app(model="digits")
    assert component_data(at, "latent_map")["colours"] == list(CLASS_COLOURS)
    at.toggle(key="colour_blind_palette").set_value(True).run()
    assert not at.exception
    assert component_data(at, "latent_map")["colours"] == list(COLOUR_BLIND_CLASS_COLOURS)


def test_a_link_with_a_region_reopens_the_selection_and_a_bad_one_is_a_notice():
    at = run_app(model="digits", region="box:-1.0000,-1.0000;0.5000,1.0000")
    assert component_data(at, "latent_map")["region"] == {"shape": "box", "vertices": [[-1.0, -1.0], [0.5, 1.0]]}
    expected = len(points_in_region(shipped_workspace("digits").map_points["vae"], "box",
                                    np.array([[-1.0, -1.0], [0.5, 1.0]])))
    assert any(h.value == f"Selection: {expected:,} images" for h in at.subheader)
    assert at.query_params["region"] == "box:-1.0000,-1.0000;0.5000,1.0000"  # the view's link keeps it
    bad = run_app(model="digits", region="circle:1,2")
    assert component_data(bad, "latent_map")["region"] is None
    assert "region" not in bad.query_params
    assert any("is not a box or a lasso" in w.value for w in bad.warning)
