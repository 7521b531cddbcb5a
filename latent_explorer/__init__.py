"""Latent Explorer: the Streamlit app over vae_core, and ``explore()``, which opens a VAE trained in a notebook or
a script in it (latent_explorer/notebook.py)."""

__all__ = ["explore"]


def __getattr__(name: str):
    # explore() is imported on first use (PEP 562): `import latent_explorer` stays cheap, and the call itself never
    # imports Streamlit, which the app's modules do; notebook.py needs torch and the ONNX exporter only.
    if name == "explore":
        from latent_explorer.notebook import explore

        return explore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
