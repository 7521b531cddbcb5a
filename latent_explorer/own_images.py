"""The Train page's "Your own images" section: upload, convert, preview; the settings form then trains on them.

The converted dataset lives in this browser session's state (vae_core.image_sources reads archives in
memory); a pair trained on it is written to the model store together with these images.
"""

from __future__ import annotations

import io
import json

import numpy as np
import streamlit as st
from PIL import Image

from vae_core import DatasetUnavailable, ImageDataset
from vae_core.image_sources import (
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    ConversionOptions,
    ImageLimits,
    ImageSourceError,
    load_image_source,
    preview,
    same_images,
)

from . import session
from .text import plain

# session_state keys
DATASET = "own_images_dataset"  # the converted ImageDataset
SOURCE = "own_images_source"  # (upload id, size, channels) it was made from, or of the error below
ERROR = "own_images_error"
FORM_DATASET = "train_dataset"  # the settings form's Dataset selectbox

LIMITS = ImageLimits()
CHANNEL_TITLES = {1: "grey", 3: "colour"}
PREVIEW_PX = 56  # each sample's side on screen


def session_dataset() -> ImageDataset | None:
    return st.session_state.get(DATASET)


def dataset_named(name: str) -> ImageDataset | None:
    """This session's own dataset when ``name`` is its name (the settings form names datasets)."""
    dataset = session_dataset()
    return dataset if dataset is not None and dataset.name == name else None


def dataset_for(manifest: dict | None) -> ImageDataset | None:
    """This session's own dataset when it is the one ``manifest`` describes (same source, conversion, split)."""
    dataset = session_dataset()
    return dataset if dataset is not None and same_images(dataset.manifest, manifest) else None


def _png(mosaic: np.ndarray, scale: int) -> bytes:
    """(H, W, C) uint8 as PNG bytes, upscaled by nearest neighbour so pixels stay crisp."""
    pixels = mosaic[..., 0] if mosaic.shape[-1] == 1 else mosaic
    image = Image.fromarray(np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _load(upload, size: int, channels: int) -> None:
    """Convert the upload once per (file, size, channels); keep the dataset or the reason it was refused."""
    key = (upload.file_id, size, channels)
    if st.session_state.get(SOURCE) == key:
        return
    st.session_state[SOURCE] = key
    st.session_state.pop(ERROR, None)
    previous = st.session_state.pop(DATASET, None)
    try:
        with st.spinner("Reading and converting the images…"):
            dataset = load_image_source(upload.getvalue(), upload.name,
                                        ConversionOptions(image_size=size, channels=channels), LIMITS)
    except ImageSourceError as err:
        st.session_state[ERROR] = str(err)
        if previous is not None and st.session_state.get(FORM_DATASET) == previous.name:
            del st.session_state[FORM_DATASET]
        return
    st.session_state[DATASET] = dataset
    st.session_state[FORM_DATASET] = dataset.name  # chosen in the settings form, which is drawn below


def _forget() -> None:
    dataset = st.session_state.pop(DATASET, None)
    st.session_state.pop(SOURCE, None)
    st.session_state.pop(ERROR, None)
    if dataset is not None and st.session_state.get(FORM_DATASET) == dataset.name:
        del st.session_state[FORM_DATASET]


def _preview(dataset: ImageDataset) -> None:
    shown = preview(dataset)
    st.markdown(f"**{plain(dataset.manifest['source'])}** — {shown.summary}")
    for note in shown.notes:
        st.warning(plain(note, limit=400), icon=":material/info:")
    scale = max(1, round(PREVIEW_PX / dataset.image_shape[-1]))
    for row in shown.rows:
        st.image(_png(preview_row(row.samples), scale),
                 caption=f"{plain(row.class_name)} · {row.count:,} images",
                 alt=f"Samples of your class {row.class_name[:80]} ({row.count:,} images)")
    if shown.hidden_classes:
        st.caption(f"… and {shown.hidden_classes} more classes: "
                   + ", ".join(f"{plain(name)} {count:,}"
                               for name, count in list(dataset.manifest["class_counts"].items())[len(shown.rows):]))
    st.caption("The Dataset in the settings below is now these images: choose the models and press **Train**.")


def preview_row(samples: np.ndarray, padding: int = 1) -> np.ndarray:
    """(k, C, S, S) uint8 samples side by side as one (S, k*(S+padding)-padding, C) strip on white."""
    strips = []
    for sample in samples:
        strips += [sample.transpose(1, 2, 0), np.full((sample.shape[1], padding, sample.shape[0]), 255, np.uint8)]
    return np.concatenate(strips[:-1], axis=1)


def manifest_download() -> None:
    """The active pair's data manifest as JSON, when it was trained on a person's own images."""
    manifest = session.active_workspace().pair.data_manifest
    if manifest is None:
        return
    st.download_button("Download the data manifest", data=json.dumps(manifest, indent=2),
                       file_name=f"{session.active_workspace().pair.dataset.replace(':', '-')}-manifest.json",
                       mime="application/json", on_click="ignore", key="own_images_manifest",
                       help="Where the active pair's images came from: file, sha256, classes, size, split. "
                            "The checkpoint carries it too.")


def section() -> None:
    st.subheader("Your own images")
    st.caption(f"A .zip of PNG or JPEG images, in one folder per class (the folder names the class) or all together "
               f"(unlabelled), or a NumPy .npy/.npz array of images (an .npz may add `labels`). Up to "
               f"{LIMITS.max_images:,} images, {LIMITS.max_source_bytes // 2**20} MB per file and "
               f"{LIMITS.max_unpacked_bytes // 2**20} MB unpacked. A model trained on them is kept on this server "
               f"with them, for you; its link shows both to whoever has it.")
    upload_col, size_col, channels_col = st.columns([3, 1, 1])
    upload = upload_col.file_uploader(
        "Images to train on", type=["zip", "npz", "npy"], key="own_images_upload",
        max_upload_size=max(LIMITS.max_source_bytes // 2**20, 1),
        help="Read in memory, checked before anything is decoded: archives that could write outside their folder, "
             "links, zip bombs and pickled arrays are refused.")
    size = size_col.number_input("Image size (pixels)", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, 28, step=1,
                                 key="own_images_size", help="Every image is cropped to a square and resized to this.")
    channels = channels_col.radio("Channels", list(CHANNEL_TITLES), format_func=CHANNEL_TITLES.get,
                                  key="own_images_channels", horizontal=True)
    if upload is None:
        _forget()
    else:
        _load(upload, int(size), int(channels))
        if ERROR in st.session_state:
            st.error(f"{plain(upload.name)} cannot be used: {plain(st.session_state[ERROR], 600)}. "
                     "Nothing was kept.")
        elif session_dataset() is not None:
            _preview(session_dataset())
    manifest_download()


def adopt_checkpoint_dataset(manifest: dict) -> ImageDataset:
    """The dataset an uploaded checkpoint of own images needs: this session's, when it is the same images."""
    dataset = dataset_for(manifest)
    if dataset is None:
        raise DatasetUnavailable(
            f"it was trained on your own images ({plain(str(manifest.get('source')))}, "
            f"{manifest.get('image_size')}x{manifest.get('image_size')}, "
            f"{CHANNEL_TITLES.get(manifest.get('channels'), '?')}): load the same images under *Your own images* "
            "with that size and channels, then upload the checkpoint again")
    return dataset
