"""Two ONNX files, checked (vae_core/onnx_import.py), as a pair the engine keeps: a checkpoint, the model store, the
CLI's ``import-onnx``, the Train page and ``latent_explorer.explore`` all start here."""

from __future__ import annotations

import os

from .checkpoint import MAX_CHECKPOINT_BYTES, checkpoint_bytes
from .data import DATASETS
from .models import ModelPair
from .onnx_import import DEFAULT_ENCODER_OUTPUTS, OnnxLimits, OnnxModelError, onnx_vae, read_onnx_file
from .registry import ImageDataset


def import_onnx_pair(encoder: str | os.PathLike | bytes, decoder: str | os.PathLike | bytes, dataset: str,
                     likelihood: str, encoder_outputs: tuple[str, str] = DEFAULT_ENCODER_OUTPUTS,
                     encoder_scale: str = "logvar", limits: OnnxLimits | None = None,
                     own_images: ImageDataset | None = None) -> ModelPair:
    """A pair holding the checked VAE of two ONNX files (paths or bytes) trained on a registered dataset, or on a
    person's own images (``own_images``, named ``dataset``: the pair carries their manifest).

    Refused with OnnxModelError when a check fails, or when the checkpoint that carries the two files would be
    larger than a checkpoint may be (it could not be uploaded or kept).
    """
    if own_images is None and dataset not in DATASETS:
        raise OnnxModelError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if own_images is not None and own_images.name != dataset:
        raise ValueError(f"the own images are named {own_images.name!r}, not {dataset!r}")
    image_shape = DATASETS[dataset].image_shape if own_images is None else own_images.image_shape
    limits = limits or OnnxLimits.from_environment()
    encoder_onnx = read_onnx_file(encoder, "encoder", limits)
    decoder_onnx = read_onnx_file(decoder, "decoder", limits)
    named = dataset if own_images is None else own_images.title  # as the messages name the images
    model = onnx_vae(encoder_onnx, decoder_onnx, image_shape, named, likelihood, encoder_outputs, encoder_scale,
                     limits)
    pair = ModelPair(dataset=dataset, vae=model, train_settings={"vae": {"loss": model.config.loss,
                                                                          "dataset": dataset}},
                     data_manifest=None if own_images is None else own_images.manifest)
    size = len(checkpoint_bytes(pair))
    if size > MAX_CHECKPOINT_BYTES:
        raise OnnxModelError(f"the two files make a checkpoint of {_megabytes(size)}, and a checkpoint may be at most "
                             f"{_megabytes(MAX_CHECKPOINT_BYTES)}")
    return pair


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"
