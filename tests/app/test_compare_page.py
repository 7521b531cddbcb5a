"""The Compare page, run alone through Streamlit's AppTest on the shipped digits models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from page_runner import image_captions, map_data, overlay_points, own_pair_state, page_path
from page_runner import run_page as run_any_page
from streamlit.testing.v1 import AppTest

from latent_explorer import session
from vae_core import ModelConfig, ModelPair, load_dataset, new_model
from vae_core.comparison import compare_reconstructions, comparison_indices, prior_coverage
from vae_core.workspace import Workspace

PAGE = page_path("compare")
COLUMNS = ["reconstruction -log p(x|z) (nats/image)", "per-pixel MSE", "KL (nats/image)", "ELBO (nats/image)",
           "active units / latent size"]


def run_page(**state) -> AppTest:
    return run_any_page(PAGE, **state)


def text(at: AppTest) -> str:
    return "\n".join([c.value for c in at.caption] + [m.value for m in at.markdown])


@pytest.fixture(scope="module")
def page() -> AppTest:
    return run_page()


def test_metrics_table_has_one_row_per_model_and_the_promised_columns(page):
    table = page.dataframe[0].value
    assert list(table.index) == ["AE", "VAE"]
    assert list(table.columns) == COLUMNS


def test_only_the_vae_has_kl_and_elbo(page):
    table = page.dataframe[0].value
    vae, ae = table.loc["VAE"], table.loc["AE"]
    assert vae["KL (nats/image)"] > 0
    # One sampled z gives both terms, so the bound is exactly their negated sum.
    assert vae["ELBO (nats/image)"] == pytest.approx(
        -vae["reconstruction -log p(x|z) (nats/image)"] - vae["KL (nats/image)"])
    assert math.isnan(ae["KL (nats/image)"]) and math.isnan(ae["ELBO (nats/image)"])
    assert ae["reconstruction -log p(x|z) (nats/image)"] > 0
    assert list(table["active units / latent size"]) == ["2 / 2", "2 / 2"]


def test_rows_show_originals_and_both_reconstructions_with_their_errors(page):
    ws = session.shipped_workspace("digits")
    indices = comparison_indices(len(ws), 8, 0)
    expected = compare_reconstructions(ws, indices)
    captions = image_captions(page)
    assert captions[:8] == [f"#{i} · {ws.class_names[ws.labels[i]]}" for i in indices]
    assert captions[8:16] == [f"MSE {e:.4f}" for e in expected.pixel_mse["ae"]]
    assert captions[16:24] == [f"MSE {e:.4f}" for e in expected.pixel_mse["vae"]]
    shown = text(page)
    assert f"AE reconstruction** · mean per-pixel MSE {expected.pixel_mse['ae'].mean():.4f}" in shown
    assert f"VAE reconstruction** · mean per-pixel MSE {expected.pixel_mse['vae'].mean():.4f}" in shown


def test_the_selected_point_leads_the_rows_and_the_count_follows_the_slider():
    at = run_page(**{session.SELECTED: 123})
    assert image_captions(at)[0].startswith("#123 · ")
    at.slider(key="compare_count").set_value(4).run()
    captions = image_captions(at)
    assert captions[0].startswith("#123 · ") and captions[4].startswith("MSE ") and not captions[3].startswith("MSE")


def test_pick_seed_changes_the_images():
    at = run_page()
    before = image_captions(at)[:8]
    at.number_input(key="compare_pick_seed").set_value(9).run()
    assert image_captions(at)[:8] != before


def test_both_maps_are_the_map_component_with_the_prior_circles_on_shared_axes(page):
    maps = [map_data(page, f"compare_map_{kind}") for kind in ("ae", "vae")]
    assert not [chart for chart in page.get("plotly_chart") if chart.key.startswith("compare_map_")]
    for data, kind in zip(maps, ("ae", "vae")):
        names = [overlay["name"] for overlay in data["overlays"]]
        assert "prior 1σ" in names and "prior 2σ" in names
        assert data["kind"] == kind and not data["interactive"] and data["axis_titles"] == ["z1", "z2"]
        circle = np.array(overlay_points(data, "prior 2σ"))
        np.testing.assert_allclose(np.linalg.norm(circle, axis=1), 2.0, atol=1e-4)
    assert maps[0]["extent"] == maps[1]["extent"]
    assert [data["title"] for data in maps] == ["AE codes μ(x)", "VAE codes μ(x)"]
    assert maps[0]["pack"] == maps[1]["pack"]  # the codes of both models travel once


def test_each_map_can_take_its_own_axes():
    at = run_page()
    at.toggle(key="compare_same_axes").set_value(False).run()
    assert map_data(at, "compare_map_ae")["extent"] != map_data(at, "compare_map_vae")["extent"]


def test_caption_backs_the_prior_claim_with_measured_fractions(page):
    ws = session.shipped_workspace("digits")
    vae = prior_coverage(ws.encodings["vae"].mu, 2.0).fraction
    ae = prior_coverage(ws.encodings["ae"].mu, 2.0).fraction
    assert vae > 0.7 > 0.3 > ae  # the shipped pair shows the effect plainly
    assert f"inside the 2σ circle: VAE {vae:.0%}, AE {ae:.0%}" in text(page)


def test_prior_draws_go_through_both_decoders_with_the_session_seed():
    at = run_page(**{session.SEED: 4})
    shown = text(at)
    assert "**AE decoder**" in shown and "**VAE decoder**" in shown
    assert "the same z, drawn from N(0, I) with seed 4" in shown
    before = [element.value for element in at.image]
    at.slider(key="compare_draws").set_value(5).run()
    assert [element.value for element in at.image] != before


@pytest.mark.parametrize("without, present", [("ae", "VAE"), ("vae", "AE")])
def test_a_pair_missing_a_model_gets_a_clear_message(without, present):
    at = run_page(**own_pair_state(without=without))
    message = at.info[0].value
    assert f"holds only the {present}" in message and "Train page" in message and "both" in message
    assert not at.dataframe and not at.image
    # A VAE alone still gets its own section (Understand the VAE); nothing compares the two models.
    charts = [chart.key for chart in at.get("plotly_chart")]
    assert charts == (["compare_kl_bars"] if present == "VAE" else [])


def test_a_larger_latent_is_projected_and_measured_in_full():
    dataset = load_dataset("digits", download=False)
    pair = ModelPair(dataset="digits", **{
        kind: new_model(ModelConfig(kind=kind, input_shape=(1, 8, 8), hidden_dim=16, latent_dim=5), seed=0)
        for kind in ("ae", "vae")})
    ws = Workspace(pair, dataset, label="untrained, latent 5")
    at = run_page(**{session.OWN_WORKSPACES: {"own-1": ws}, session.WORKSPACE: "own-1"})
    data = map_data(at, "compare_map_ae")
    assert "prior 2σ (approx. in PCA axes)" in [overlay["name"] for overlay in data["overlays"]]
    assert data["view"] == "pca" and data["axis_titles"] == list(ws.projections["ae"].axis_titles)
    coverage = prior_coverage(ws.encodings["vae"].mu, 2.0)
    assert coverage.radius > 2.0
    assert f"(radius AE {prior_coverage(ws.encodings['ae'].mu, 2.0).radius:.2f}, VAE {coverage.radius:.2f})" in text(at)
    assert list(at.dataframe[0].value["active units / latent size"].str.endswith("/ 5")) == [True, True]
