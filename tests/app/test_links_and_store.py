"""Links a stranger may write (strict parsing, escaped notices), links to stored models, and the store's
faults, through the whole app (app.py and each of its pages)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from page_runner import map_data
from streamlit.testing.v1 import AppTest

from latent_explorer import session
from latent_explorer.pages import _DEFINITIONS
from vae_core import load_checkpoint
from vae_core.store import STORE_ENV, ModelStore, new_model_id

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = str(REPO_ROOT / "latent_explorer" / "streamlit_app.py")
DIGITS_PAIR = REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt"
TIMEOUT = 120
OWNER = "a" * 43  # an owner token of the shape the cookie carries

# Values a link may carry that are not what the app writes: other scripts' digits, huge and odd numbers,
# markup, control characters. Each must be refused with a notice, on every page, without a crash.
BAD_VALUES = ["²", "٣", "𝟙", "9" * 5000, "-1", "1e999", "nan", "inf", " 1", "1_0", "0x10", "1,2,3,4,5",
              "\x00", "%", "ab" * 10_000, "[x](https://example.com)", "**bold**", "$x^2$", ",", "1" + "0" * 30]


def run_app(page: str | None = None, state: dict | None = None, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    for key, value in query.items():
        at.query_params[key] = value
    if page is not None:
        at.switch_page(f"app_pages/{page}.py")  # each page's file is named as its url path
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def decoded_location(at: AppTest) -> tuple[float, ...] | None:
    return at.session_state[session.DECODED_AT] if session.DECODED_AT in at.session_state else None


def link_notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link could not be followed")]


def unescaped_markup(text: str) -> list[str]:
    """Markdown and LaTeX markers in text that are not escaped with a backslash."""
    return re.findall(r"(?<!\\)[\[\]*$`_]", text)


def kept(label: str = "kept digits", owner: str = OWNER) -> str:
    """A digits pair written to the tests' store (tests/app/conftest.py) as a server would; its id."""
    return ModelStore.from_environment().put(load_checkpoint(DIGITS_PAIR), label, owner)


@pytest.mark.parametrize("page", list(_DEFINITIONS))
def test_every_page_refuses_a_family_of_bad_link_values_with_a_notice(page):
    for value in BAD_VALUES:
        at = run_app(page, point=value, at=value, z=value, seed=value, region=value)
        notices = link_notices(at)
        assert len(notices) == 5, (value[:20], notices)
        assert at.get("title")[0].value.startswith(_DEFINITIONS[page]["title"]), "another page ran"
        for notice in notices:
            assert len(notice) < 600 and not unescaped_markup(notice), notice
        assert at.session_state[session.SELECTED] is None if session.SELECTED in at.session_state else True
        assert decoded_location(at) is None
        at = run_app(page, model=value)
        (notice,) = link_notices(at)
        assert "showing the default" in notice and len(notice) < 600 and not unescaped_markup(notice), notice
        assert at.session_state[session.WORKSPACE] == "digits"


@pytest.mark.parametrize("region", ["box:nan,0;1,1", "box:1,2", "lasso:٣,1;2,2;3,3", "box:1e999,0;1,1",
                                    "circle:0,0;1,1", "lasso:" + ";".join(["1,1"] * 5000), "box:0,0;1,1;" + "2" * 9000])
def test_a_links_region_that_is_not_a_box_or_lasso_gets_a_notice(region):
    at = run_app(model="digits", region=region)
    (notice,) = link_notices(at)
    assert "not a box or a lasso" in notice and len(notice) < 600 and not unescaped_markup(notice), notice
    assert at.session_state[session.REGION] is None


@pytest.mark.parametrize("location", ["0.5", "0.5,-1.25,2", "1001,0", "0,-1e4", "nan,0", "0x1,0", "0.5;1", "٣,1"])
def test_a_links_location_that_is_not_a_spot_of_the_map_gets_a_notice(location):
    at = run_app(model="digits", at=location)
    (notice,) = link_notices(at)
    assert "nothing decoded" in notice and not unescaped_markup(notice), notice
    assert decoded_location(at) is None
    assert "at" not in at.query_params


@pytest.mark.parametrize("page", list(_DEFINITIONS))
def test_a_link_reopens_a_decoded_location_on_every_page(page):
    at = run_app(page, model="digits", at="0.5,-1.25")
    assert not link_notices(at)
    assert decoded_location(at) == (0.5, -1.25)
    assert at.query_params["at"] == ["0.500,-1.250"] or at.query_params["at"] == "0.500,-1.250"
    if page == "explore":  # the map marks it and the card decodes it
        assert map_data(at, "latent_map")["location"] == [0.5, -1.25]


def test_a_link_with_a_point_inspects_it_rather_than_decode_its_location():
    at = run_app(model="digits", point="4", at="0.5,-1.25")
    (notice,) = link_notices(at)
    assert "the point it names is inspected instead" in notice
    assert at.session_state[session.SELECTED] == 4 and decoded_location(at) is None
    assert "at" not in at.query_params


def test_notices_show_a_strangers_markup_as_text_and_cut_it_short():
    at = run_app(model="[Click here to download the fixed model](https://example.com/x) **now** $e^x$")
    (notice,) = link_notices(at)
    assert "\\[Click here" in notice and "\\*\\*" not in notice[:10] and "](https" not in notice
    assert not unescaped_markup(notice)
    at = run_app(z="7" * 20_000)
    (notice,) = link_notices(at)
    assert len(notice) < 300


def test_a_pair_kept_nowhere_never_lends_its_point_to_a_link(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("the store cannot be a folder inside a file")
    monkeypatch.setenv(STORE_ENV, str(blocker / "store"))

    def script():
        import streamlit as st

        from latent_explorer import session, shipped, widgets
        from vae_core import load_checkpoint

        if "made" not in st.session_state:
            st.session_state["made"] = session.add_own_pair(
                load_checkpoint(shipped.ASSETS / shipped.SHIPPED_FILES["digits"]), "unkept")
            session.select(5)
            session.set_latent_vector([0.5, 0.5])
        widgets.sidebar()
        st.session_state["params"] = session.view_params()

    at = AppTest.from_function(script, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["params"] == {}
    assert "unkept (this session only)" in at.sidebar.selectbox(key="model_picker").options
    assert any("not being kept" in c.value for c in at.sidebar.caption)
    notices = " ".join(i.value for i in at.sidebar.info).replace("\\", "")
    assert "unkept is not kept on this server" in notices
    # Where the store is, and why it failed, are the operator's business: the server's log says them.
    shown = notices + " ".join(c.value for c in at.sidebar.caption).replace("\\", "")
    assert str(tmp_path) not in shown and "NotADirectoryError" not in shown


def test_a_link_to_a_stored_model_opens_it_with_its_point_in_a_new_session():
    model_id = kept("kept digits")
    at = run_app(model=model_id, point="7", seed="12")
    assert not link_notices(at)
    key = at.session_state[session.WORKSPACE]
    assert at.session_state[session.STORED_IDS] == {key: model_id}
    # A stranger's session opened it by its link: the label says whose it is, not "(this session)".
    assert at.session_state[session.OWN_WORKSPACES][key].label == "kept digits (shared with you)"
    assert at.session_state[session.SELECTED] == 7
    # The address bar names it, with the point and seed.
    assert dict(at.query_params) == {"model": [model_id], "point": ["7"], "seed": ["12"]} \
        or dict(at.query_params) == {"model": model_id, "point": "7", "seed": "12"}


def test_a_new_pair_is_stored_named_in_the_url_and_listed_for_its_maker_only():
    def script():
        import streamlit as st

        from latent_explorer import session, shipped, widgets
        from vae_core import load_checkpoint

        if "made" not in st.session_state:
            st.session_state["made"] = session.add_own_pair(
                load_checkpoint(shipped.ASSETS / shipped.SHIPPED_FILES["digits"]), "made here")
        widgets.sidebar()
        st.session_state["params"] = session.view_params()

    at = AppTest.from_function(script, default_timeout=TIMEOUT)
    at.session_state[session.OWNER_TOKEN] = "m" * 43
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    model_id = at.session_state[session.STORED_IDS][at.session_state["made"]]
    assert at.session_state["params"] == {"model": model_id}
    assert at.session_state[session.OWN_WORKSPACES][at.session_state["made"]].label == "made here (yours)"
    entry = ModelStore.from_environment().entry(model_id)
    assert entry.label == "made here"
    assert [e.model_id for e in ModelStore.from_environment().entries("m" * 43)][0] == model_id
    # The maker, in a later session of the same browser (same token), sees it under Your models, and its link
    # opens it as theirs.
    later = run_app(state={session.OWNER_TOKEN: "m" * 43})
    assert any(e.label.startswith("Your models") for e in later.sidebar.expander)
    assert "made here" in later.sidebar.selectbox(key="your_models_pick").options
    linked = run_app(model=model_id, state={session.OWNER_TOKEN: "m" * 43})
    assert "made here (yours)" in linked.sidebar.selectbox(key="model_picker").options
    # Someone else does not.
    stranger = run_app(state={session.OWNER_TOKEN: "s" * 43})
    assert not any(e.label.startswith("Your models") for e in stranger.sidebar.expander)


def test_the_maker_renames_and_deletes_and_the_link_then_says_it_is_gone():
    model_id = kept("to be renamed", owner="r" * 43)
    at = run_app(state={session.OWNER_TOKEN: "r" * 43})
    at.sidebar.selectbox(key="your_models_pick").set_value(model_id)
    at.sidebar.text_input(key="your_models_name").set_value("a better name")
    next(b for b in at.sidebar.button if b.label == "Rename").click().run()
    assert ModelStore.from_environment().entry(model_id).label == "a better name"
    at.sidebar.selectbox(key="your_models_pick").set_value(model_id)
    at.sidebar.button(key="your_models_delete").click().run()
    assert not at.exception
    gone = run_app(model=model_id, point="3")
    (notice,) = link_notices(gone)
    assert "deleted" in notice and "showing the default" in notice
    assert gone.session_state[session.WORKSPACE] == "digits"


def test_unknown_tampered_and_private_models_get_a_notice_and_the_default_view(monkeypatch):
    store = ModelStore.from_environment()
    at = run_app(model=new_model_id())
    assert "no model with this id" in link_notices(at)[0]
    tampered = kept("tampered")
    store._write(store._entry_key(tampered, "checkpoint.pt"), b"PK\x03\x04 not really a zip")
    at = run_app(model=tampered, point="1")
    (notice, *_) = link_notices(at)
    assert "checkpoint was refused" in notice and at.session_state[session.WORKSPACE] == "digits"


def test_a_pair_let_go_from_memory_comes_back_from_the_store():
    ids = [kept(f"pair {n}") for n in range(4)]
    at = run_app(model=ids[0], state={session.OWNER_TOKEN: OWNER})
    for model_id in ids[1:]:
        at.sidebar.selectbox(key="your_models_pick").set_value(model_id)
        at.sidebar.button(key="your_models_open").click().run()
    assert len(at.session_state[session.OWN_WORKSPACES]) == session.MAX_OWN_PAIRS
    assert ids[0] not in at.session_state[session.STORED_IDS].values()
    at.sidebar.selectbox(key="your_models_pick").set_value(ids[0])
    at.sidebar.button(key="your_models_open").click().run()
    assert session.STORED_IDS in at.session_state
    key = at.session_state[session.WORKSPACE]
    assert at.session_state[session.STORED_IDS][key] == ids[0]


@pytest.fixture(scope="module")
def own_images_pair_id():
    """A pair trained on a person's own images (12 of them), kept with those images by owner 'p…'."""
    from devtools.sample_images import shapes_zip
    from vae_core.image_sources import ConversionOptions, load_image_source
    from vae_core.models import ModelConfig, ModelPair, build_model

    dataset = load_image_source(shapes_zip(), "shapes.zip", ConversionOptions(image_size=12))
    config = ModelConfig(kind="vae", input_shape=(1, 12, 12), hidden_dim=16, latent_dim=2)
    pair = ModelPair(dataset=dataset.name, vae=build_model(config).eval(), data_manifest=dataset.manifest)
    count = len(dataset.train_labels) + len(dataset.test_labels)
    return ModelStore.from_environment().put(pair, "my shapes", "p" * 43, dataset=dataset), count


def test_share_says_who_sees_a_model_of_own_images_and_offers_to_delete_it(own_images_pair_id):
    model_id, count = own_images_pair_id
    owner = run_app(model=model_id, state={session.OWNER_TOKEN: "p" * 43})
    assert not link_notices(owner)
    warnings = " ".join(w.value for w in owner.warning)
    assert f"Anyone with this link will see this model and the {count} images stored with it" in warnings
    assert any(b.label == "Delete from this server" for b in owner.button)
    stranger = run_app(model=model_id)
    assert not link_notices(stranger)
    assert not any(b.label == "Delete from this server" for b in stranger.button)


def test_a_host_can_keep_models_of_own_images_for_their_maker_only(own_images_pair_id, monkeypatch):
    model_id, _ = own_images_pair_id
    monkeypatch.setenv(session.SHARE_OWN_IMAGES_ENV, "off")
    stranger = run_app(model=model_id, point="1")
    (notice,) = link_notices(stranger)
    assert "for its maker only" in notice and stranger.session_state[session.WORKSPACE] == "digits"
    owner = run_app(model=model_id, state={session.OWNER_TOKEN: "p" * 43})
    assert not link_notices(owner)
    assert any("for their maker only" in c.value for c in owner.caption)
