"""The Sample page, run alone through Streamlit's AppTest on the shipped digits models."""

from __future__ import annotations

import numpy as np
from page_runner import image_captions, map_data, overlay_points, own_pair_state, page_path
from page_runner import run_page as run_any_page
from streamlit.testing.v1 import AppTest

from latent_explorer import components, session
from vae_core.images import display_scale, png_bytes, tile
from vae_core.latent import MAX_SEED, lerp, prior_samples, slerp

PAGE = page_path("sample")


def run_page(**state) -> AppTest:
    return run_any_page(PAGE, **state)


def grid(at: AppTest):
    """The mosaic: the first image element on the page."""
    return at.image[0]


def path_captions(path: np.ndarray) -> list[str]:
    return [f"‖z‖ {n:.2f}" for n in np.linalg.norm(path, axis=1)]


def z_table(at: AppTest) -> np.ndarray:
    return at.expander[0].dataframe[0].value.to_numpy()


def test_page_shows_a_png_mosaic_with_its_download_and_z_values():
    at = run_page()
    assert len(grid(at).value) == 1 and grid(at).value[0].endswith(".png")
    assert "by the VAE, seed 0" in grid(at).captions[0]
    assert at.get("download_button")[0].label == "Download PNG"
    np.testing.assert_allclose(z_table(at), prior_samples(36, 2, 0, 1.0), atol=1e-6)
    assert not at.warning


def test_count_sets_the_number_of_samples():
    at = run_page()
    at.slider(key="sample_count").set_value(10).run()
    assert z_table(at).shape == (10, 2)


def test_seed_changes_the_grid_and_goes_into_the_session_for_the_url():
    at = run_page()
    before = grid(at).value
    at.number_input(key="sample_seed_input").set_value(5).run()
    assert at.session_state[session.SEED] == 5
    assert grid(at).value != before
    np.testing.assert_allclose(z_table(at), prior_samples(36, 2, 5, 1.0), atol=1e-6)
    at.number_input(key="sample_seed_input").set_value(0).run()
    assert grid(at).value == before  # the same seed gives the same grid


def test_seed_from_the_session_sets_the_input():
    at = run_page(**{session.SEED: 7})
    assert at.number_input(key="sample_seed_input").value == 7
    assert "seed 7" in grid(at).captions[0]


def test_temperature_changes_the_grid():
    at = run_page()
    before = grid(at).value
    at.slider(key="sample_temperature").set_value(0.5).run()
    assert grid(at).value != before
    np.testing.assert_allclose(z_table(at), prior_samples(36, 2, 0, 0.5), atol=1e-6)


def test_reroll_picks_a_new_seed():
    at = run_page()
    before = grid(at).value
    at.button(key="sample_reroll").click().run()
    seed = at.session_state[session.SEED]
    assert seed != 0 and 0 < seed <= MAX_SEED
    assert at.number_input(key="sample_seed_input").value == seed
    assert grid(at).value != before


def test_interpolation_starts_at_the_selected_point_and_shows_both_strips():
    at = run_page(**{session.SELECTED: 17})
    assert at.number_input(key="sample_from").value == 17
    partner = at.number_input(key="sample_to").value
    ws = session.shipped_workspace("digits")
    assert ws.labels[partner] != ws.labels[17]
    a, b = ws.encodings["vae"].mu[17], ws.encodings["vae"].mu[partner]
    assert image_captions(at)[-16:] == path_captions(lerp(a, b, 8)) + path_captions(slerp(a, b, 8))
    at.slider(key="sample_steps").set_value(5).run()
    assert image_captions(at)[-10:] == path_captions(lerp(a, b, 5)) + path_captions(slerp(a, b, 5))


def test_the_interpolation_map_is_the_map_component_with_both_paths_and_the_prior():
    at = run_page(**{session.SELECTED: 17})
    data = map_data(at, "interpolation_map")
    assert not at.get("plotly_chart") and not data["interactive"] and data["kind"] == "vae"
    assert [overlay["name"] for overlay in data["overlays"]] == ["lerp", "slerp", "prior 1σ", "prior 2σ"]
    ws = session.shipped_workspace("digits")
    a, b = ws.encodings["vae"].mu[17], ws.encodings["vae"].mu[at.number_input(key="sample_to").value]
    np.testing.assert_allclose(overlay_points(data, "lerp"), lerp(a, b, 8), atol=1e-4)
    np.testing.assert_allclose(overlay_points(data, "slerp"), slerp(a, b, 8), atol=1e-4)
    (x0, x1), (y0, y1) = data["extent"]  # both paths inside the view
    for point in overlay_points(data, "lerp") + overlay_points(data, "slerp"):
        assert x0 <= point[0] <= x1 and y0 <= point[1] <= y1
    assert data["pack"] in [e.proto.id for e in at.get("bidi_component")
                            if e.proto.component_name == f"{components.PROJECT}.pack"][0]


def test_interpolation_endpoints_can_be_changed():
    at = run_page()
    at.number_input(key="sample_from").set_value(3).run()
    at.number_input(key="sample_to").set_value(4).run()
    mu = session.shipped_workspace("digits").encodings["vae"].mu
    assert image_captions(at)[-8:] == path_captions(slerp(mu[3], mu[4], 8))


def test_interpolation_between_prior_draws_uses_the_first_two_samples():
    at = run_page(**{session.SEED: 11})
    at.radio(key="sample_endpoints").set_value("Random prior draws").run()
    assert not at.exception
    a, b = prior_samples(36, 2, 11, 1.0)[:2]
    assert image_captions(at)[-16:] == path_captions(lerp(a, b, 8)) + path_captions(slerp(a, b, 8))
    assert "sample_from" not in [number.key for number in at.number_input]


def test_a_pair_without_vae_says_so_and_still_decodes_with_the_ae():
    at = run_page(**own_pair_state(without="vae"))
    assert "Sampling needs a VAE" in at.warning[0].value
    assert "by the AE" in grid(at).captions[0]


def test_download_holds_exactly_the_grid_shown(monkeypatch):
    import streamlit as st

    shown, downloaded = [], []
    show, download = st.image, st.download_button
    monkeypatch.setattr(st, "image", lambda picture, *a, **k: shown.append(picture) or show(picture, *a, **k))
    monkeypatch.setattr(st, "download_button",
                        lambda label, data, *a, **k: downloaded.append(data) or download(label, data, *a, **k))
    # Seed 2 draws no sample in a hole, so the grid shown has no red frames (test_understand_vae.py checks those).
    at = run_page(**{session.SEED: 2})
    at.slider(key="sample_count").set_value(9).run()
    ws = session.shipped_workspace("digits")
    mosaic = tile(ws.decode(prior_samples(9, 2, 2, 1.0), "vae"), columns=3)
    assert downloaded[-1] == png_bytes(mosaic, display_scale(ws.image_side, 72))
    assert downloaded[-1] in shown
    assert at.get("download_button")[0].proto.url.endswith(".png")
