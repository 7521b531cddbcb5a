"""AppTest of the entry script, the Explore page and the Edit page on the shipped digits models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.figures import GRID_POINT, parse_map_selection

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 120


def run_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def image_urls(at: AppTest) -> list[str]:
    return [img.url for element in at.get("image") for img in element.proto.imgs]


def map_spec(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def trace_names(spec: dict) -> list[str]:
    return [trace.get("name") for trace in spec["data"]]


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def test_landing_page_is_the_map_without_selection():
    at = run_app()
    assert at.title[0].value == "Explore the latent space"
    assert len(at.get("plotly_chart")) == 1
    assert any("Click a point" in i.value for i in at.info)
    assert not any(s.startswith("Image #") for s in subheaders(at))


def test_link_selects_a_point_and_shows_its_inspect_panel():
    at = run_app(model="digits", point="7")
    assert "Image #7 · 8" in subheaders(at)
    labels = [m.label for m in at.metric]
    assert labels == ["KL (nats)", "Recon. (nats)", "ELBO (nats)"]
    kl, reconstruction, elbo = (float(m.value) for m in at.metric)
    assert kl > 0
    assert elbo == pytest.approx(-reconstruction - kl, abs=0.15)  # displayed values are rounded
    # original + AE + VAE, 8 reparameterised draws, 8 neighbours
    assert len(image_urls(at)) >= 3 + 8 + 8
    latex = " ".join(element.value for element in at.latex)
    assert "ELBO" in latex and "KL" in latex
    assert at.query_params["point"] == "7"


def test_bad_link_falls_back_with_a_notice():
    at = run_app(point="99999", z="abc", seed="x", model="nope")
    warnings = " ".join(w.value for w in at.warning)
    assert "point '99999'" in warnings and "model 'nope'" in warnings and "seed 'x'" in warnings
    assert not any(s.startswith("Image #") for s in subheaders(at))


def test_map_toggles_and_ae_codes_render():
    at = run_app(point="3")
    spec = map_spec(at)
    assert "q(z|x) 1σ" in trace_names(spec) and not spec["layout"].get("images")
    at.toggle(key="show_manifold").set_value(True).run()
    assert not at.exception
    # the decoder's tiles behind the map
    assert map_spec(at)["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    at.session_state["map_kind"] = "ae"
    at.run()
    assert not at.exception
    names = trace_names(map_spec(at))
    assert "selected #3" in names and "q(z|x) 1σ" not in names  # an AE has no posterior to draw


def test_open_in_editor_starts_the_sliders_at_the_points_mu():
    at = run_app(point="7")
    at.button(key="open_in_editor").click().run()
    assert not at.exception
    assert at.title[0].value == "Edit latent features"
    sliders = [at.slider(key="latent_slider_0").value, at.slider(key="latent_slider_1").value]
    from explorer.session import shipped_workspace

    mu = shipped_workspace("digits").encodings["vae"].mu[7]
    np.testing.assert_allclose(sliders, mu, atol=0.05)


def test_slider_changes_the_decoded_image_and_the_link():
    at = run_app(point="7")
    at.switch_page("app_pages/edit.py").run()
    before = image_urls(at)
    at.slider(key="latent_slider_0").set_value(2.5).run()
    assert not at.exception
    after = image_urls(at)
    assert before[0] != after[0]
    assert at.query_params["z"].startswith("2.500,")


def test_link_latent_vector_reaches_the_editor():
    at = run_app(z="1.0,-1.0")
    at.switch_page("app_pages/edit.py").run()
    assert not at.exception
    assert at.slider(key="latent_slider_0").value == pytest.approx(1.0)
    assert at.slider(key="latent_slider_1").value == pytest.approx(-1.0)


def test_reset_and_random_draw():
    at = run_app(point="7")
    at.switch_page("app_pages/edit.py").run()
    at.slider(key="latent_slider_0").set_value(3.0).run()
    at.button(key="editor_random").click().run()
    drawn = at.slider(key="latent_slider_0").value
    assert drawn != 3.0
    at.button(key="editor_reset").click().run()
    from explorer.session import shipped_workspace

    assert at.slider(key="latent_slider_0").value == pytest.approx(
        shipped_workspace("digits").encodings["vae"].mu[7][0], abs=0.05)


def test_attribute_direction_moves_towards_the_target_class():
    at = run_app()
    at.switch_page("app_pages/edit.py").run()
    at.selectbox(key="attr_from").set_value(0).run()
    at.selectbox(key="attr_to").set_value(6).run()
    at.button(key="attr_apply").click().run()
    assert not at.exception
    from explorer.session import shipped_workspace

    ws = shipped_workspace("digits")
    mu = ws.encodings["vae"].mu
    expected = mu[ws.labels == 6].mean(0) - mu[ws.labels == 0].mean(0)  # from z = 0 with amount 1
    values = [at.slider(key=f"latent_slider_{i}").value for i in range(2)]
    np.testing.assert_allclose(values, np.clip(expected, -4, 4), atol=0.05)


class TestMapSelectionParsing:
    def test_click_on_a_data_point(self):
        event = parse_map_selection({"points": [{"customdata": [12], "x": 0.1, "y": 0.2}], "box": [], "lasso": []})
        assert (event.kind, event.index) == ("point", 12)

    def test_click_on_empty_space_hits_the_grid(self):
        event = parse_map_selection({"points": [{"customdata": GRID_POINT, "x": 1.5, "y": -0.5}],
                                     "box": [], "lasso": []})
        assert (event.kind, event.location) == ("location", (1.5, -0.5))

    def test_box_collects_data_points_only(self):
        points = [{"customdata": [3]}, {"customdata": [1]}, {"customdata": [GRID_POINT]}, {"x": 0}]
        event = parse_map_selection({"points": points, "box": [{"x": [0, 1], "y": [0, 1]}], "lasso": []})
        assert (event.kind, event.indices) == ("region", (1, 3))

    def test_click_on_an_overlay_is_ignored(self):
        assert parse_map_selection({"points": [{"x": 0, "y": 0}], "box": [], "lasso": []}).kind == "none"
        assert parse_map_selection(None).kind == "none"


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
    spec = map_spec(at)
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("PC1 (")
    assert "q(z|x) 1σ" in trace_names(spec)  # PCA is linear: the posterior can be drawn in it
    at.session_state["map_projection"] = "t-SNE"
    at.run()
    assert not at.exception
    spec = map_spec(at)
    assert spec["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"
    assert "q(z|x) 1σ" not in trace_names(spec)
    assert any("t-SNE is non-linear" in c.value for c in at.caption)
    assert "model" not in at.query_params  # a session-only pair cannot be named in a link
