"""What the installed package's `latent-explorer` command serves (latent_explorer/cli.py), as app.py does in a
checkout: the app's script with the app's own route beside Streamlit's (latent_explorer/decode_route.py)."""

import streamlit as st

from latent_explorer import decode_route

app = st.App("streamlit_app.py", routes=decode_route.routes())
