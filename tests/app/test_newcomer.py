"""What a newcomer meets in the whole app (app.py through AppTest): settings that survive a page switch,
curve colours that keep their meaning, full model names, and no operator details on the pages."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.app.page_runner import REPO_ROOT, own_pair_state
from vae_core import DATASETS, is_available


def app(**state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
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


def test_the_sidebar_writes_out_the_active_model_name_in_full():
    state = own_pair_state(without="ae")
    workspace = state["own_workspaces"]["own-1"]
    workspace.label = "Your images: shapes · VAE latent 2 · β=1 · 30 epochs · uploaded a-rather-long-name.pt"
    at = app(**state)
    captions = [c.value for c in at.sidebar.caption]
    assert any(c.replace("\\", "") == workspace.label for c in captions), captions


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
