"""One owner token per browser: two tabs opened at once on a first visit each start a session without a cookie,
and each session makes a token; the browser keeps one (web/owner_cookie.js writes the cookie only where there is
none and reports the token it holds), and the other tab's session adopts it with the models it kept."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from latent_explorer import session
from vae_core import load_checkpoint
from vae_core.store import ModelStore

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = str(REPO_ROOT / "latent_explorer" / "streamlit_app.py")
DIGITS_PAIR = REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt"
TIMEOUT = 120


def first_visit() -> AppTest:
    """A tab of a browser that has no cookie of this app yet (AppTest sends no cookies)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def your_models(at: AppTest) -> list[str]:
    """The labels the sidebar's "Your models" lists."""
    if not any(e.label.startswith("Your models") for e in at.sidebar.expander):
        return []
    return sorted(at.sidebar.selectbox(key="your_models_pick").options)


def test_two_tabs_of_a_first_visit_end_with_one_token_and_both_models_listed():
    tab_a, tab_b = first_visit(), first_visit()
    token_a, token_b = tab_a.session_state[session.OWNER_TOKEN], tab_b.session_state[session.OWNER_TOKEN]
    assert token_a != token_b, "neither tab had a cookie, so each session made a token"
    assert session.OWNER_REPORT in tab_a.session_state, "the owner component is not mounted where session reads"
    store = ModelStore.from_environment()
    pair = load_checkpoint(DIGITS_PAIR)
    model_a = store.put(pair, "trained in tab A", token_a)  # as each tab's training kept its pair
    model_b = store.put(pair, "trained in tab B", token_b)

    # Tab B's page wrote the cookie first; tab A's page found it there, wrote none, and reports it.
    tab_a.session_state[session.OWNER_REPORT] = {"token": token_b}
    tab_a.run()
    assert not tab_a.exception, [e.value for e in tab_a.exception]
    assert tab_a.session_state[session.OWNER_TOKEN] == token_b
    assert sorted(e.model_id for e in store.entries(token_b)) == sorted([model_a, model_b])
    assert store.entries(token_a) == [], "a model is left under the token nobody holds"
    tab_b.run()
    assert your_models(tab_a) == your_models(tab_b) == ["trained in tab A", "trained in tab B"]


def test_a_report_that_is_not_a_token_changes_nothing():
    tab = first_visit()
    token = tab.session_state[session.OWNER_TOKEN]
    for report in ({"token": "short"}, {"token": None}, {"token": "x" * 42 + "/"}, {}):
        tab.session_state[session.OWNER_REPORT] = report
        tab.run()
        assert not tab.exception and tab.session_state[session.OWNER_TOKEN] == token
