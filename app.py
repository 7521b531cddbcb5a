"""Latent Explorer: the entry script. Shared sidebar and navigation; each page lives in app_pages/.

The folder is not called pages/: next to the entry script that name switches Streamlit into its
older pages-folder mode, in which a shared deep link (say /edit?z=…) opened on a freshly started
server runs the page alone, without this script's navigation, sidebar and link restore.
"""

import streamlit as st

from explorer import session, widgets

st.set_page_config(page_title="Latent Explorer", page_icon=":material/explore:", layout="wide")

PAGES = [
    st.Page("app_pages/explore.py", title="Explore", icon=":material/scatter_plot:", url_path="explore", default=True),
    st.Page("app_pages/edit.py", title="Edit", icon=":material/tune:", url_path="edit"),
    st.Page("app_pages/sample.py", title="Sample", icon=":material/casino:", url_path="sample"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
]

# Decoded images are tiny (8x8, 28x28): keep their pixels square when the browser scales them.
st.html("<style>img { image-rendering: pixelated; }</style>")
page = st.navigation(PAGES)
session.restore_view_from_url()
widgets.sidebar()
widgets.url_notices()
page.run()
session.sync_url(always=True)
