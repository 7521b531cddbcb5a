"""Latent Explorer from a checkout: `streamlit run app.py`. The app itself is latent_explorer/streamlit_app.py,
which the installed package's `latent-explorer` command runs."""

from latent_explorer.streamlit_app import main

# Streamlit runs its script as __main__; a spawned worker that re-reads its parent's main module runs nothing.
if __name__ == "__main__":
    main()
