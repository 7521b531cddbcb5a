"""Latent Explorer: the entry script. Shared sidebar and navigation; each page lives in app_pages/.

The folder is not called pages/: next to the entry script that name switches Streamlit into its
older pages-folder mode, in which a shared deep link (say /edit?z=…) opened on a freshly started
server runs the page alone, without this script's navigation, sidebar and link restore.
"""

import streamlit as st

from explorer import components, pages, session, widgets

st.set_page_config(page_title="Latent Explorer", page_icon=":material/explore:", layout="wide")

# Decoded images are tiny (8x8, 28x28): keep their pixels square when the browser scales them.
st.html(f"<style>img {{ image-rendering: pixelated; }} {components.HIDDEN_CSS}</style>")
components.load_runtime()
if session.owner_cookie_missing():
    components.remember_owner(session.OWNER_COOKIE, session.owner_token())
page = pages.navigation()
session.restore_view_from_url()
widgets.sidebar()
widgets.url_notices()
page.run()
session.sync_url()
