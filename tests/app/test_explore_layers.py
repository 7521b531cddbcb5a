"""AppTest of the Explore map's layers: the aggregate posterior's density with the prior's circles and the holes
(latent size 2), and two of the VAE's own dimensions as the axes (larger latents), with their links."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from page_runner import run_app
from PIL import Image
from streamlit.testing.v1 import AppTest

from latent_explorer import session
from latent_explorer.map_layers import DENSITY_CELLS
from latent_explorer.session import shipped_workspace
from vae_core import is_available
from vae_core.diagnostics import hole_outline, kl_per_dimension_mean


def map_data(at: AppTest) -> dict:
    (found,) = [e.proto for e in at.get("bidi_component") if e.proto.id.endswith("-latent_map")]
    return json.loads(found.json)


def card_data(at: AppTest) -> dict:
    (found,) = [e.proto for e in at.get("bidi_component") if e.proto.id.endswith("-inspect_card")]
    return json.loads(found.json)


def link_notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link could not be followed")]


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_the_density_toggle_draws_q_the_prior_circles_and_the_holes_with_the_hole_fraction():
    at = run_app(model="digits")
    assert map_data(at)["layers"] is None and not any("prior_hole_fraction" in c for c in captions(at))
    at.toggle(key="show_density").set_value(True).run()
    assert not at.exception
    layers = map_data(at)["layers"]
    ws = shipped_workspace("digits")
    # The picture: one pixel per grid cell, covering more than the map.
    header, encoded = layers["density"]["uri"].split(",", 1)
    assert header == "data:image/png;base64"
    picture = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert picture.size == (DENSITY_CELLS, DENSITY_CELLS) and picture.mode == "RGBA"
    (gx0, gx1), (gy0, gy1) = layers["density"]["extent"]
    (mx0, mx1), (my0, my1) = map_data(at)["extent"]
    assert gx0 < mx0 and gx1 > mx1 and gy0 < my0 and gy1 > my1
    # Shaded where the codes are, clear far from them: the densest cell holds a code's neighbourhood.
    alpha = np.asarray(picture)[..., 3]
    row, column = np.unravel_index(alpha.argmax(), alpha.shape)
    cell = np.array([(gx1 - gx0), (gy1 - gy0)]) / DENSITY_CELLS
    spot = np.array([gx0 + (column + 0.5) * cell[0], gy1 - (row + 0.5) * cell[1]])
    assert np.linalg.norm(ws.encodings["vae"].mu - spot, axis=1).min() < 0.5
    assert alpha.min() == 0
    assert layers["prior_circles"] == [1, 2]
    # The holes' outline: the workspace's grid, outlined by vae_core.
    grid_extent = ((gx0 + (gx1 - gx0) / (2 * DENSITY_CELLS), gx1 - (gx1 - gx0) / (2 * DENSITY_CELLS)),
                   (gy0 + (gy1 - gy0) / (2 * DENSITY_CELLS), gy1 - (gy1 - gy0) / (2 * DENSITY_CELLS)))
    segments = hole_outline(ws.density(*grid_extent, DENSITY_CELLS))
    assert layers["holes"].count("M") == len(segments)  # the digits' codes leave next to no holes: maybe none
    assert layers["hole_fraction"] == ws.prior_hole_fraction()
    (caption,) = [c for c in captions(at) if "prior_hole_fraction" in c]
    assert f"prior_hole_fraction = {ws.prior_hole_fraction():.3f}" in caption and "1σ and 2σ" in caption


@pytest.mark.skipif(not is_available("fashion-mnist"), reason="needs the Fashion-MNIST images")
def test_the_fashion_mnist_vae_leaves_holes_and_the_map_outlines_them():
    at = run_app(model="fashion-mnist")
    at.toggle(key="show_density").set_value(True).run()
    assert not at.exception
    layers = map_data(at)["layers"]
    ws = shipped_workspace("fashion-mnist")
    assert ws.prior_hole_fraction() > 0.1
    # Every vertex of the outline lies inside the prior's 2σ disc, give or take a cell.
    vertices = np.array([[float(v) for v in pair.split(",")]
                         for pair in re.findall(r"[-+0-9.e]+,[-+0-9.e]+", layers["holes"])])
    assert len(vertices) > 8
    (gx0, gx1), _ = layers["density"]["extent"]
    assert np.linalg.norm(vertices, axis=1).max() <= 2 + 2 * (gx1 - gx0) / DENSITY_CELLS
    assert any(f"prior_hole_fraction = {ws.prior_hole_fraction():.3f}" in c for c in captions(at))


def test_the_density_is_offered_for_the_vaes_codes_only():
    at = run_app(model="digits")
    at.segmented_control(key="map_kind").set_value("ae")
    at.toggle(key="show_density").set_value(True).run()
    assert not at.exception
    assert at.toggle(key="show_density").disabled and map_data(at)["layers"] is None


@pytest.fixture(scope="module")
def latent5_workspace():
    from vae_core import ModelConfig, ModelPair, TrainConfig, load_dataset, new_model, train_model
    from vae_core.workspace import Workspace

    dataset = load_dataset("digits")
    pair = ModelPair(dataset="digits")
    # Twenty epochs: a VAE of five dimensions uses them all by then (after three, one).
    for kind, epochs in (("ae", 3), ("vae", 20)):
        model = new_model(ModelConfig(kind=kind, input_shape=(1, 8, 8), hidden_dim=64, latent_dim=5), seed=0)
        setattr(pair, kind, train_model(model, dataset, TrainConfig(epochs=epochs, seed=0)).model)
    return Workspace(pair, dataset, label="latent 5 test pair")


def own(ws) -> dict:
    return {"own_workspaces": {"own-1": ws}, "workspace_key": "own-1"}


def test_active_dimensions_put_the_largest_kl_dimensions_on_the_axes(latent5_workspace):
    ws = latent5_workspace
    at = run_app(own(ws))
    at.segmented_control(key="map_projection").set_value("Active dimensions").run()
    assert not at.exception
    offered, _ = ws.axis_dimensions()
    codes = ws.encodings["vae"]
    kl = kl_per_dimension_mean(codes.mu, codes.logvar)
    active = np.flatnonzero(codes.mu.var(0) > 0.01)
    assert len(offered) >= 3 and set(offered) == set(active.tolist())
    assert offered[:2] == sorted(active.tolist(), key=lambda d: -kl[d])[:2]
    data = map_data(at)
    first, second = offered[:2]
    assert data["view"] == "active" and data["points"] is None
    assert data["axis_titles"] == [f"z{'₀₁₂₃₄₅'[first + 1]} (KL {kl[first]:.1f} nats)",
                                   f"z{'₀₁₂₃₄₅'[second + 1]} (KL {kl[second]:.1f} nats)"]
    # The browser projects the codes with this, so the map's x and y are those two dimensions themselves,
    # and a spot of the map is a whole code with the others at their held-out mean.
    components = np.array(data["projection"]["components"])
    mean = np.array(data["projection"]["mean"])
    np.testing.assert_allclose((codes.mu - mean) @ components.T, codes.mu[:, [first, second]], atol=1e-6)
    others = [d for d in range(5) if d not in (first, second)]
    np.testing.assert_allclose(mean[others], codes.mu.mean(0)[others], rtol=1e-6)
    assert any("other 3 dimensions at their held-out mean" in c for c in captions(at))
    assert data["layers"] is None and at.toggle(key="show_density").disabled

    # Another pair of axes; then a click on empty space decodes the whole code there.
    third = offered[2]
    at.selectbox(key="map_axis_up").set_value(third).run()
    assert map_data(at)["axis_titles"][1].startswith(f"z{'₀₁₂₃₄₅'[third + 1]} ")
    # A decoded spot is a whole code: the map marks it at its two coordinates, the card decodes all of it.
    z = ws.axis_projection((first, third)).unproject(np.array([0.5, -1.25]))
    at.session_state["decoded_location"] = tuple(z)
    at.run()
    assert map_data(at)["location"] == pytest.approx([0.5, -1.25])
    card = card_data(at)
    assert card["location"] == pytest.approx(z.tolist()) and card["location_kind"] == "vae"
    assert card["location_label"].startswith(f"z{'₀₁₂₃₄₅'[first + 1]} = +0.50, ")
    assert "the rest at their held-out mean" in card["location_label"]
    assert [b.label for b in at.button if b.key == "open_location"] == ["Open this z in the editor"]
    # The AE's codes have no KL to rank: its map is the PCA.
    at.segmented_control(key="map_kind").set_value("ae").run()
    assert not at.exception and map_data(at)["view"] == "pca" and map_data(at)["projection"] is None


def test_a_link_reopens_active_dimensions_and_a_bad_view_is_a_notice(latent5_workspace):
    ws = latent5_workspace
    offered, _ = ws.axis_dimensions()
    first, second = offered[1], offered[0]
    at = run_app(own(ws), view=f"active:{first + 1},{second + 1}")
    assert not link_notices(at)
    data = map_data(at)
    assert data["view"] == "active"
    assert np.flatnonzero(np.array(data["projection"]["components"]).any(0)).tolist() == sorted([first, second])
    assert data["axis_titles"][0].startswith(f"z{'₀₁₂₃₄₅'[first + 1]} ")
    assert at.session_state[session.MAP_VIEW].text() == f"active:{first + 1},{second + 1}"
    at = run_app(own(ws), view="tsne")
    assert map_data(at)["view"] == "tsne" and not link_notices(at)
    for bad in ["active:1,1", "active:9,2", "pca:1,2", "umap", "active:0,1", "active:٣,1", "ACTIVE", "active:1",
                "<b>x</b>", "t" * 5000]:
        at = run_app(own(ws), view=bad)
        (notice,) = link_notices(at)
        assert re.search(r"view '.*' (is not|does not name)", notice) and len(notice) < 600, notice
        assert map_data(at)["view"] == "pca"


def test_a_larger_latent_view_in_a_link_to_a_latent_size_2_model_is_a_notice():
    at = run_app(model="digits", view="active:1,2")
    (notice,) = link_notices(at)
    assert "latent sizes above 2" in notice
    assert map_data(at)["view"] == "z" and "view" not in at.query_params


def test_with_fewer_than_two_active_units_the_axes_are_the_two_of_largest_kl():
    from vae_core import ModelConfig, ModelPair, TrainConfig, load_dataset, new_model, train_model
    from vae_core.workspace import Workspace

    dataset = load_dataset("digits")
    pair = ModelPair(dataset="digits")
    # Three epochs: this VAE of five dimensions uses one of them so far.
    model = new_model(ModelConfig(kind="vae", input_shape=(1, 8, 8), hidden_dim=32, latent_dim=5), seed=0)
    pair.vae = train_model(model, dataset, TrainConfig(epochs=3, seed=0)).model
    ws = Workspace(pair, dataset, label="collapsed")
    codes = ws.encodings["vae"]
    assert int((codes.mu.var(0) > 0.01).sum()) == 1
    at = run_app(own(ws))
    at.segmented_control(key="map_projection").set_value("Active dimensions").run()
    assert not at.exception
    kl = kl_per_dimension_mean(codes.mu, codes.logvar)
    first, second = np.argsort(-kl)[:2]
    assert map_data(at)["axis_titles"][0].startswith(f"z{'₀₁₂₃₄₅'[first + 1]} ")
    assert map_data(at)["axis_titles"][1].startswith(f"z{'₀₁₂₃₄₅'[second + 1]} ")
    assert any("Only 1 of the 5 dimensions are active units" in c for c in captions(at))
