"""Latent Explorer from a checkout: `streamlit run app.py`. The app itself is latent_explorer/streamlit_app.py,
which the installed package's `latent-explorer` command serves the same way (latent_explorer/server_app.py).

`streamlit run` finds this st.App and serves the script with the app's own route beside Streamlit's
(latent_explorer/decode_route.py)."""

import streamlit as st

from latent_explorer import decode_route

app = st.App("latent_explorer/streamlit_app.py", routes=decode_route.routes())
