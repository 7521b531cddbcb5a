"""What a newcomer meets in the whole app (app.py through AppTest): settings that survive a page switch,
curve colours that keep their meaning, full model names, and no operator details on the pages."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from latent_explorer import session, shipped
from tests.app.page_runner import REPO_ROOT, map_data, own_pair_state
from tests.app.page_runner import overlay_points as page_overlay_points
from vae_core import DATASETS, is_available


def app(**state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "latent_explorer" / "streamlit_app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def go_to(at: AppTest, page: str) -> None:
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]


def test_train_settings_survive_a_visit_to_another_page():
    at = app()
    go_to(at, "train")
    last_dataset = [name for name in DATASETS if is_available(name)][-1]  # not the landing digits' one
    at.selectbox(key="train_dataset").set_value(last_dataset)
    at.radio(key="train_model").set_value("vae")
    at.number_input(key="train_epochs").set_value(12)
    at.run()
    go_to(at, "explore")
    go_to(at, "train")
    assert at.selectbox(key="train_dataset").value == last_dataset
    assert at.radio(key="train_model").value == "vae"
    assert at.number_input(key="train_epochs").value == 12


def test_each_model_keeps_one_colour_on_every_curve_chart():
    at = app()
    go_to(at, "train")  # the shipped pair's history: AE and VAE curves on three charts
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(charts) == 3
    colours: dict[str, set] = {"AE": set(), "VAE": set()}
    for chart in charts:
        for trace in chart["data"]:
            colours[trace["name"].split(" ")[0]].add(trace.get("line", {}).get("color"))
    assert len(colours["VAE"]) == 1 and None not in colours["VAE"], colours
    assert len(colours["AE"]) == 1 and None not in colours["AE"], colours
    assert colours["AE"] != colours["VAE"]


def test_the_models_menu_holds_the_full_name_once():
    state = own_pair_state(without="ae")
    workspace = state["own_workspaces"]["own-1"]
    workspace.label = "Your images: shapes · VAE latent 2 · β=1 · 30 epochs · uploaded a-rather-long-name.pt"
    at = app(**state)
    assert workspace.label in at.sidebar.selectbox(key="model_picker").options
    # The menu is as wide as its longest name (tests/browser/test_axes_and_keys.py), so no caption repeats it.
    assert not [c.value for c in at.sidebar.caption if "a-rather-long-name" in c.value.replace("\\", "")]


def test_no_operator_details_on_the_pages():
    at = app()
    for page in ("explore", "edit", "sample", "compare", "train"):
        go_to(at, page)
        shown = "\n".join(e.value for kind in ("caption", "markdown", "info", "warning", "error")
                          for e in getattr(at.main, kind))
        for detail in ("LATENT_EXPLORER_DATA", ".cache", "apt-get", "Offline, so", "custom:"):
            assert detail not in shown, (page, detail)
        in_help = {e.value for e in at.sidebar.expander[0].caption}  # the Help expander may say them
        sidebar = "\n".join(e.value for e in at.sidebar.caption if e.value not in in_help)
        assert "Offline, so" not in sidebar and ".cache" not in sidebar


def attribute_map(at: AppTest) -> dict:
    return map_data(at, "attr_map")


def overlay_points(data: dict, name: str) -> np.ndarray:
    return np.asarray(page_overlay_points(data, name), dtype=float)


def test_using_the_moved_z_applies_the_direction_once():
    at = app()
    go_to(at, "edit")
    at.selectbox(key="attr_from").set_value(0).run()
    at.selectbox(key="attr_to").set_value(6).run()
    moved = overlay_points(attribute_map(at), "moved z")
    at.button(key="attr_apply").click().run()
    assert not at.exception
    z = np.asarray(at.session_state[session.LATENT])
    # the editor's z is where the star was (the map's marks carry 5 decimals)
    np.testing.assert_allclose(z, moved[0], atol=1e-5)
    # and the star, the preview and the strip now start from that z: nothing is added on top of it
    np.testing.assert_allclose(overlay_points(attribute_map(at), "moved z")[0], z, atol=1e-5)
    assert at.slider(key="attr_amount").value == 0.0


def test_the_moved_star_and_the_direction_line_stay_inside_the_map():
    at = app(**{session.LATENT: [3.5, -3.5]})  # far out, where few codes are
    go_to(at, "edit")
    at.selectbox(key="attr_from").set_value(0).run()
    at.selectbox(key="attr_to").set_value(6).run()
    at.slider(key="attr_amount").set_value(2.5).run()
    data = attribute_map(at)
    assert not data["interactive"] and data["posterior"] is False  # Edit's map is to look at
    x_range, y_range = data["extent"]
    for name in ("direction", "moved z"):
        points = overlay_points(data, name)
        assert np.all((points[:, 0] >= x_range[0]) & (points[:, 0] <= x_range[1])), (name, points, x_range)
        assert np.all((points[:, 1] >= y_range[0]) & (points[:, 1] <= y_range[1])), (name, points, y_range)


def test_the_temperature_help_says_what_the_shipped_model_does_near_the_origin():
    at = app()
    go_to(at, "sample")
    help_text = at.slider(key="sample_temperature").help
    assert "more typical" not in help_text and "thin out at the centre" in help_text
    if "fashion-mnist" not in shipped.shipped_keys():
        return
    # What the help claims about the shipped Fashion-MNIST pair: its held-out codes are sparser near the origin.
    radius = np.linalg.norm(session.shipped_workspace("fashion-mnist").encodings["vae"].mu, axis=1)
    density = {r: (radius < r).sum() / (np.pi * r**2) for r in (0.3, 1.0)}
    assert 0.25 < density[0.3] / density[1.0] < 0.42, density  # "about a third"
