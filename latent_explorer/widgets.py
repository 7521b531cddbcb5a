"""Streamlit pieces shared by the pages: crisp images, the sidebar, page headers."""

from __future__ import annotations

import numpy as np
import streamlit as st

from vae_core import DATASETS, DatasetUnavailable, available_devices, is_available
from vae_core.data import DOWNLOAD_DIR, missing_dataset_message
from vae_core.download import download_dataset, mirrors_reachable
from vae_core.engine import cluster_address
from vae_core.images import display_scale, png_bytes
from vae_core.models import KIND_TITLES
from vae_core.store import StoreError

from . import session, shipped
from .text import plain

DOWNLOADABLE = ("fashion-mnist", "mnist")
HELP = """
**Latent Explorer** trains or loads an autoencoder (AE) and a variational autoencoder (VAE)
and lets you look inside the VAE's latent space.

- **Explore**: every held-out image placed at its code μ(x); click one to inspect it.
- **Edit**: move one slider per latent dimension and watch the decoder respond.
- **Sample**: decode draws from the prior N(0, I); interpolate between codes.
- **Compare**: AE against VAE on the same images, codes and prior samples.
- **Train**: new models with your settings, or upload a checkpoint.

Links carry the view: copy the address bar, or use a page's **Share** button, to share exactly this.
Models you train or upload are kept on this server: **Your models** lists them in this browser, and
a link opens one for anyone who has it.
"""


# The models menu as wide as its longest name (the page's width at most): the menu's rows are one line high, so a
# name must fit one, and the sidebar's width cut long ones short.
MODEL_MENU_CSS = """<style>
body:has(.st-key-model_picker input[aria-expanded="true"]) [data-testid="stSelectboxVirtualDropdown"] {
  width: max-content !important; max-width: calc(100vw - 2rem);
}
</style>"""


def image(picture: np.ndarray, caption: str | None = None, size_px: int = 168, alt: str | None = None) -> None:
    """A [0, 1] grey image, upscaled with nearest neighbour so pixels stay crisp.

    ``alt`` names it for screen readers (what it shows: class, index or z); the caption serves when it says that.
    """
    st.image(png_bytes(picture, display_scale(picture.shape[-1], size_px)), caption=caption, output_format="PNG",
             alt=_alt_text(alt or caption))


def image_row(pictures: np.ndarray | list[np.ndarray], captions: list[str] | None = None,
              size_px: int = 96, per_row: int | None = None, alts: list[str] | None = None) -> None:
    """Images side by side in equal columns, each captioned; ``per_row`` wraps them onto several lines.

    ``alts`` name the images for screen readers; without them the captions do.
    """
    if not len(pictures):
        return
    scale = display_scale(pictures[0].shape[-1], size_px)
    captions = list(captions) if captions is not None else [None] * len(pictures)
    alts = list(alts) if alts is not None else captions
    per_row = per_row or len(pictures)
    for start in range(0, len(pictures), per_row):
        columns = st.columns(per_row, gap="small")
        for column, picture, caption, alt in zip(columns, pictures[start:start + per_row],
                                                 captions[start:start + per_row], alts[start:start + per_row]):
            column.image(png_bytes(picture, scale), caption=caption, width="stretch", output_format="PNG",
                         alt=_alt_text(alt))


def _alt_text(text: str | None) -> str:
    """Every picture gets a name: an image without one is announced as a bare file by screen readers."""
    if not text:
        raise ValueError("an image needs alt text or a caption that says what it shows")
    return text if len(text) <= 200 else text[:199] + "…"


def sidebar() -> None:
    labels = session.workspace_labels()
    keys = list(labels)
    # Another page (Train) may have activated a new pair since the widget last ran.
    st.session_state["model_picker"] = session.active_key()
    st.sidebar.selectbox("Models", keys, format_func=labels.get,
                         key="model_picker", on_change=lambda: session.activate(st.session_state["model_picker"]),
                         help="The AE and VAE pair every page shows. Pairs you train, upload or open by link "
                              "appear here; Your models lists every pair you made.")
    st.html(MODEL_MENU_CSS)
    ws = session.active_workspace()
    parts = [f"{KIND_TITLES[k]} latent {ws.latent_dim(k)}" for k in ws.kinds]
    st.sidebar.caption(f"{ws.dataset_title} · {len(ws):,} held-out images · " + " · ".join(parts))
    for notice in session.pop_pair_notices():
        st.sidebar.info(plain(notice, limit=400), icon=":material/inventory_2:")
    your_models()
    missing_datasets()
    job = st.session_state.get(session.TRAINING_JOB)
    if job is not None:
        job.keep_alive()  # the visitor is still here, on whichever page
        st.sidebar.info("A training is under way; the Train page shows it and collects the result.",
                        icon=":material/model_training:")
    if cluster_address():
        st.sidebar.caption("Compute: trainings run on the workers of a training cluster")
    else:
        devices = available_devices()
        st.sidebar.caption(f"Compute: {', '.join(d.upper() for d in devices)}"
                           + ("" if devices[0] != "cpu" else " (no GPU found)"))
    with st.sidebar.expander("Help"):
        st.markdown(HELP)
        server_notes()


def server_notes() -> None:
    """For whoever runs the server: where datasets that are not here would come from. Kept out of the pages."""
    missing = [name for name in DOWNLOADABLE if not is_available(name)]
    if not missing:
        return
    st.markdown("**Running this app yourself?**")
    for name in missing:
        st.caption(missing_dataset_message(name) + f" Downloads are kept in `{DOWNLOAD_DIR}`.")


def your_models() -> None:
    """The stored models this browser made: open, rename, delete. (Others reach them only by link.)"""
    if not session.store_reachable():
        st.sidebar.caption("⚠️ Models you train or upload are not being kept on this server right now: each "
                           "lasts as long as this session (download a checkpoint on the Train page to keep one).")
        return
    mine = session.my_models()
    if not mine:
        return
    labels = {entry.model_id: entry.label for entry in mine}
    with st.sidebar.expander(f"Your models ({len(mine)})", icon=":material/inventory_2:"):
        st.caption("Kept on this server for you, in this browser; a link shows one to anyone who has it.")
        chosen = st.selectbox("Kept model", list(labels), format_func=labels.get, key="your_models_pick",
                              label_visibility="collapsed")
        if st.button("Open", key="your_models_open", icon=":material/open_in_browser:", width="stretch"):
            _store_action(lambda: session.open_stored(chosen))
        # Asked twice: a deleted model cannot come back, and its links stop working.
        with st.popover("Delete", icon=":material/delete:", width="stretch"):
            st.caption(f"{plain(labels[chosen])} will be deleted from this server, and its links will say so.")
            if st.button("Delete it", key="your_models_delete", type="primary"):
                _store_action(lambda: session.delete_stored(chosen))
        with st.form("your_models_rename", border=False):
            name = st.text_input("New name", max_chars=80, key="your_models_name", placeholder=labels[chosen])
            if st.form_submit_button("Rename", icon=":material/edit:") and name.strip():
                _store_action(lambda: session.rename_stored(chosen, name))


def _store_action(action) -> None:
    """Run one of Your models' actions; a fault becomes a notice and changes nothing."""
    try:
        action()
    except (StoreError, DatasetUnavailable) as err:
        notices = st.session_state.setdefault(session.PAIR_NOTICES, [])
        notices.append(f"That did not work: {session.visitor_reason(err)}")
    st.rerun()


@st.cache_data(ttl=300, show_spinner=False)
def network_reaches(name: str) -> bool:
    """Whether a mirror of the dataset answers (asked at most every five minutes, a few seconds at worst)."""
    return mirrors_reachable(name)


def missing_datasets() -> None:
    """Fashion-MNIST and MNIST one click away when the network allows."""
    missing = [name for name in DOWNLOADABLE if not is_available(name)]
    if not missing:
        return
    if not network_reaches(missing[0]):
        return  # nothing a visitor can do: Help tells whoever runs the server how to add them
    with st.sidebar.container(border=True):
        st.caption("Real 28x28 datasets, one click away:")
        for name in missing:
            if st.button(f"Download {short_title(name)}", key=f"download_{name}",
                         icon=":material/download:", width="stretch"):
                download_dataset_here(name)


def short_title(name: str) -> str:
    """"Fashion-MNIST" of "Fashion-MNIST (28x28)"."""
    return DATASETS[name].title.split(" (")[0]


def download_dataset_here(name: str) -> None:
    """Download with a progress bar; a shipped pair for the dataset becomes this session's models."""
    bar = st.progress(0.0, text=f"Starting the download of {DATASETS[name].title}…")

    def report(progress) -> None:
        bar.progress(progress.fraction or 0.0, text=progress.describe())

    try:
        download_dataset(name, on_progress=report)
    except DatasetUnavailable as err:
        bar.empty()
        st.error(str(err))
        return
    bar.empty()
    shipped.forget_availability()
    if name in shipped.shipped_keys():
        session.activate(name)
    st.rerun()


def share_link() -> None:
    """A "Share" popover with the link to this exact view.

    Drawn inside the fragments that change the view, so the link is never older than what is on screen
    (the sidebar is not redrawn when only a fragment reruns).
    """
    with st.popover("Share", icon=":material/link:", help="A link that reopens this view"):
        model_id = session.stored_id()
        if session.linkable_model() is None:
            st.caption("This model is not kept on this server, so no link can open it: the link below opens "
                       "the app without it. Download a checkpoint (Train page) to keep it.")
        elif model_id is not None and session.active_workspace().pair.data_manifest is not None:
            _own_images_notice(model_id)
        st.code(session.shareable_link(), language=None, wrap_lines=True)
        st.caption("Opens this page with the same model, point or decoded location, latent vector and seed.")


def _own_images_notice(model_id: str) -> None:
    """Above the link to a model of a person's own images: what the link gives away, and a way out."""
    count = session.active_workspace().total  # both splits are stored with it
    mine = session.is_mine(model_id)
    whose = "your own images" if mine else "its maker's own images"
    if not session.sharing_own_images():
        st.caption(f"This model was trained on {whose}. This server keeps such models for their maker only: "
                   f"the link opens it in the maker's browser, and nowhere else. ({count:,} images are stored "
                   "with it.)")
    else:
        st.warning(f"Anyone with this link will see this model and the {count:,} images stored with it "
                   f"({whose}).", icon=":material/visibility:")
    if mine and st.button("Delete from this server", key="share_delete", icon=":material/delete:",
                          help="The model and its images are deleted from this server; the link then says "
                               "it is gone."):
        _store_action(lambda: session.delete_stored(model_id))


def url_notices() -> None:
    """What a link asked for and did not get (every value it quotes is escaped and shortened)."""
    for notice in session.pop_url_notices():
        st.warning(f"The link could not be followed in full: {notice}.", icon=":material/link_off:")
