"""Latent Explorer: the entry script. Shared sidebar and navigation; each page lives in pages/."""

import streamlit as st

from explorer import session, widgets

st.set_page_config(page_title="Latent Explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/explore.py", title="Explore", icon="🗺️", url_path="explore", default=True),
    st.Page("pages/edit.py", title="Edit", icon="🎚️", url_path="edit"),
    st.Page("pages/sample.py", title="Sample", icon="🎲", url_path="sample"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
]

page = st.navigation(PAGES)
session.restore_view_from_url()
widgets.sidebar()
widgets.url_notices()
page.run()
session.sync_url()
