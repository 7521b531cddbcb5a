"""The Train page's "Your own model (ONNX)" section: a VAE trained anywhere, as two ONNX files, checked, previewed
on a few images, then kept and explored like a pair trained here (vae_core/onnx_import.py checks and runs it)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

from vae_core import DATASETS, is_available, load_dataset
from vae_core.latent import decode_latents, encode_images
from vae_core.models import ModelPair
from vae_core.onnx_import import DEFAULT_ENCODER_OUTPUTS, OnnxLimits, OnnxModelError
from vae_core.onnx_pairs import import_onnx_pair

from . import own_images, session, widgets
from .job_labels import pair_label
from .text import plain

ENCODER_UPLOAD = "onnx_encoder_upload"
DECODER_UPLOAD = "onnx_decoder_upload"
CANDIDATE = "onnx_candidate"  # the checked pair awaiting "Keep and explore", with what it was checked from
ERROR = "onnx_error"
PREVIEW_IMAGES = 8
LIKELIHOOD_TITLES = {"bernoulli": "logits of Bernoulli pixels", "gaussian": "means of Gaussian pixels"}
SCALE_TITLES = {"logvar": "log σ²", "sigma": "σ"}


class Candidate(NamedTuple):
    pair: ModelPair
    source: tuple  # the files and settings it was checked from: a change of any asks for a new check
    label: str


def _images_choices() -> dict[str, str]:
    """The images an imported VAE may be explored on: the registered datasets this server has, and this session's
    own images."""
    choices = {name: info.title for name, info in DATASETS.items() if is_available(name)}
    dataset = own_images.session_dataset()
    if dataset is not None:
        choices[dataset.name] = dataset.title
    return choices


def _output_names(text: str) -> tuple[str, str] | None:
    names = tuple(name.strip() for name in text.split(","))
    return names if len(names) == 2 and all(names) else None


def _check(encoder, decoder, dataset: str, likelihood: str, outputs: tuple[str, str], scale: str,
           source: tuple) -> None:
    st.session_state.pop(CANDIDATE, None)
    st.session_state.pop(ERROR, None)
    try:
        pair = import_onnx_pair(encoder.getvalue(), decoder.getvalue(), dataset, likelihood, outputs, scale,
                                own_images=own_images.dataset_named(dataset))
    except OnnxModelError as err:
        st.session_state[ERROR] = str(err)
        return
    files = f"{encoder.name} + {decoder.name}"
    label = f"{pair_label(pair)} · imported {''.join(c if c.isalnum() or c in '. +-' else '_' for c in files)[:60]}"
    st.session_state[CANDIDATE] = Candidate(pair, source, label)


def _preview(candidate: Candidate, dataset_name: str) -> None:
    """The first held-out images and the imported VAE's reconstructions of them (decoded at μ)."""
    dataset = own_images.dataset_named(dataset_name) or load_dataset(dataset_name, download=False)
    images = dataset.test_images[:PREVIEW_IMAGES]
    vae = candidate.pair.vae
    reconstructions = decode_latents(vae, encode_images(vae, images).mu)
    config = vae.config
    st.markdown(f"**Checked**: a VAE of latent size {config.latent_dim} over {plain(dataset.title)}, its decoder "
                f"giving {LIKELIHOOD_TITLES[config.likelihood]}. The first held-out images, then its reconstructions:")
    originals = images.float().div(255.0).mean(1).numpy()  # grey, as every page shows images
    widgets.image_row(np.concatenate([originals, reconstructions]),
                      [f"#{i}" for i in range(PREVIEW_IMAGES)] + [f"#{i} decoded" for i in range(PREVIEW_IMAGES)],
                      size_px=56, per_row=PREVIEW_IMAGES,
                      alts=[f"Held-out image #{i}" for i in range(PREVIEW_IMAGES)]
                      + [f"The imported VAE's reconstruction of held-out image #{i}" for i in range(PREVIEW_IMAGES)])


def _keep(candidate: Candidate, dataset_name: str) -> None:
    session.add_own_pair(candidate.pair, candidate.label, dataset=own_images.dataset_named(dataset_name))
    st.session_state.pop(CANDIDATE, None)


def section() -> None:
    limits = OnnxLimits.from_environment()
    st.subheader("Your own model (ONNX)")
    st.caption(
        "A VAE trained anywhere, exported as two ONNX files (`torch.onnx.export`, `tf2onnx`, `jax2onnx`): an encoder "
        "from images N×C×H×W in [0, 1] to the mean and the log-variance (or σ) of q(z|x), and a decoder from codes "
        "N×D to each pixel's logit or mean. Each file is checked before any of it runs: standard ONNX operators only, "
        f"the named outputs, shapes that fit the images, at most {limits.max_file_bytes // 2**20} MB and "
        f"{limits.max_ms_per_image:g} ms of CPU per image. Kept, it is stored on this server for you with its files; "
        "its link shows it to whoever has it.")
    choices = _images_choices()
    encoder_col, decoder_col = st.columns(2)
    upload_mb = max(limits.max_file_bytes // 2**20, 1)
    encoder = encoder_col.file_uploader("Encoder (.onnx)", type=["onnx"], key=ENCODER_UPLOAD,
                                        max_upload_size=upload_mb,
                                        help="Read as data and checked; nothing in it runs before the checks pass.")
    decoder = decoder_col.file_uploader("Decoder (.onnx)", type=["onnx"], key=DECODER_UPLOAD,
                                        max_upload_size=upload_mb,
                                        help="Read as data and checked; nothing in it runs before the checks pass.")
    images_col, likelihood_col, outputs_col, scale_col = st.columns([2, 2, 2, 1])
    dataset = images_col.selectbox("Its images", list(choices), format_func=choices.get, key="onnx_images",
                                   help="What it was trained on: a dataset of this server, or your own images "
                                        "loaded above.")
    likelihood = likelihood_col.selectbox(
        "The decoder gives", list(LIKELIHOOD_TITLES), format_func=LIKELIHOOD_TITLES.get, key="onnx_likelihood",
        help="Which decides the ELBO: Bernoulli pixels (binary cross-entropy on logits) or Gaussian pixels "
             "(squared error, variance ½, as the models trained here), means within [0, 1].")
    outputs_text = outputs_col.text_input("The encoder's outputs", ", ".join(DEFAULT_ENCODER_OUTPUTS),
                                          key="onnx_outputs", max_chars=200,
                                          help="The names of its two outputs, the mean first, comma-separated.")
    scale = scale_col.radio("Second output", list(SCALE_TITLES), format_func=SCALE_TITLES.get, key="onnx_scale")
    outputs = _output_names(outputs_text)
    if encoder is None or decoder is None:
        st.session_state.pop(CANDIDATE, None)
        st.session_state.pop(ERROR, None)
        return
    if outputs is None:
        st.error("The encoder's outputs are two names separated by a comma, the mean's first.")
        return
    source = (encoder.file_id, decoder.file_id, dataset, likelihood, outputs, scale)
    candidate = st.session_state.get(CANDIDATE)
    if candidate is not None and candidate.source != source:
        st.session_state.pop(CANDIDATE, None)
        candidate = None
    if candidate is None:
        if st.button("Check the files", icon=":material/fact_check:", key="onnx_check"):
            with st.spinner("Checking the two files and running a trial batch…"):
                _check(encoder, decoder, dataset, likelihood, outputs, scale, source)
            candidate = st.session_state.get(CANDIDATE)
    if ERROR in st.session_state:
        st.error(f"Not imported: {plain(st.session_state[ERROR], 600)}. Nothing was kept.")
    if candidate is not None:
        _preview(candidate, dataset)
        st.button("Keep and explore", icon=":material/travel_explore:", type="primary", key="onnx_keep",
                  on_click=_keep, args=(candidate, dataset),
                  help="Keep it on this server for you (Your models, in the sidebar) and make it the active model.")
