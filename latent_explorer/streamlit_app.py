"""Latent Explorer: the entry script Streamlit runs. Shared sidebar and navigation; each page lives in app_pages/.

`latent-explorer` (latent_explorer/cli.py) runs this file from the installed package; `streamlit run app.py` in a
checkout runs app.py, which calls the same main().

The folder is not called pages/: next to the entry script that name switches Streamlit into its
older pages-folder mode, in which a shared deep link (say /edit?z=…) opened on a freshly started
server runs the page alone, without this script's navigation, sidebar and link restore.
"""

import streamlit as st

from latent_explorer import serving  # light (no torch): every run, the first too, takes one of its run slots

STARTED = "app_started"  # session_state: this session has had its first run
# Streamlit's browser side pushes a history entry for every change of the query string. A page switch pushes
# the new page's path, then session.sync_url writes the view into its query string: two entries per switch,
# and Back needed two presses. Here a change of the query string alone (same path) replaces the entry instead.
ONE_HISTORY_ENTRY_PER_PAGE = """<script>
if (!window.__lxOneEntryPerPage) {
  window.__lxOneEntryPerPage = true;
  const push = window.history.pushState.bind(window.history);
  window.history.pushState = (state, title, url) => {
    const samePage = url !== undefined && new URL(url, window.location.href).pathname === window.location.pathname;
    return samePage ? window.history.replaceState(state, title, url) : push(state, title, url);
  };
}
</script>"""


def run() -> None:
    # Imported here, under the first run's spinner: the first import of the engine pulls in torch.
    from latent_explorer import components, pages, session, widgets

    serving.configure_process()
    # Decoded images are tiny (8x8, 28x28): keep their pixels square when the browser scales them.
    st.html(f"<style>img {{ image-rendering: pixelated; }} {components.PAGE_CSS}</style>")
    with st.container(key=components.HIDDEN_KEY_PREFIX + "history"):
        st.html(ONE_HISTORY_ENTRY_PER_PAGE, unsafe_allow_javascript=True)
    components.load_runtime()
    if session.owner_cookie_missing():
        components.remember_owner(session.OWNER_COOKIE, session.owner_token())
    page = pages.navigation()
    session.restore_view_from_url()
    widgets.sidebar()
    widgets.url_notices()
    page.run()
    session.sync_url()


def main() -> None:
    st.set_page_config(page_title="Latent Explorer", page_icon=":material/explore:", layout="wide")
    if st.session_state.get(STARTED):
        with serving.run_slot():
            run()
        return
    # A session's first run may import torch, load the shipped models and send the map (seconds on a cold
    # server): a spinner says so instead of a blank page. Later runs skip it, so it never flickers over a click.
    # A crowd opening one link at once is told at once that the server is busy, by a toast (no place on the page,
    # no thread), while its run waits for a slot (latent_explorer/serving.py).
    st.session_state[STARTED] = True
    with serving.opening() as others_opening:
        if (busy := serving.busy_message(others_opening)) is not None:
            st.toast(busy, icon=":material/hourglass_top:", duration="long")
        with st.spinner("Opening Latent Explorer: loading the models and the map…"), serving.run_slot():
            run()


# Streamlit runs its script as __main__; a process that only imports this module (a spawned worker re-reading
# its parent's main module, a test) runs nothing.
if __name__ == "__main__":
    main()
