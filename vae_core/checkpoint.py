"""One-file checkpoints: config, weights, dataset, metrics history, training replay, format version.

The replay (each model's held-out codes per epoch, float16) is optional: a
checkpoint written before training kept one loads as before, without it.

A VAE imported from ONNX (vae_core.onnx_import) is carried as its two ONNX
files' bytes (uint8 tensors: data, not code) with its description; loading
runs every check of the import again on those bytes, as for a file from a
stranger. Such a checkpoint is format version 2; every other is version 1.

Loading is safe for files from strangers: ``torch.load(weights_only=True)``
refuses any pickled object other than tensors and plain containers, the size
is capped before reading, and every shape is checked against the declared
architecture (on the meta device, so a hostile config cannot make us allocate
a huge model) before real weights are built.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import torch

from .data import CUSTOM_PREFIX, DATASETS
from .image_sources import manifest_image_shape
from .models import ONNX_ARCHITECTURE, ModelConfig, ModelPair, build_model
from .replay import Replay

if TYPE_CHECKING:
    from .onnx_import import OnnxModelConfig

FORMAT_NAME = "latent-explorer-checkpoint"
FORMAT_VERSION = 1
# Version 2 adds models imported as ONNX graphs. A pair without one is still written as version 1, which servers
# of earlier releases (sharing a model store with this one) read.
IMPORTED_MODEL_FORMAT_VERSION = 2
READABLE_VERSIONS = (FORMAT_VERSION, IMPORTED_MODEL_FORMAT_VERSION)
MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024


class CheckpointError(ValueError):
    """The checkpoint cannot be used; the message says why, in words for the person who gave it."""


def _byte_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def checkpoint_dict(pair: ModelPair) -> dict:
    models = {}
    for name, model in pair.models().items():
        models[name] = {
            "config": model.config.to_dict(),
            "history": list(pair.histories.get(name, [])),
            "train_settings": dict(pair.train_settings.get(name, {})),
        }
        if model.config.foreign:
            models[name]["onnx"] = {"encoder": _byte_tensor(model.encoder_onnx),
                                    "decoder": _byte_tensor(model.decoder_onnx)}
        else:
            models[name]["state_dict"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if name in pair.replays:
            models[name]["replay"] = pair.replays[name].to_dict()
    imported = any(model.config.foreign for model in pair.models().values())
    content = {
        "format": FORMAT_NAME,
        "format_version": IMPORTED_MODEL_FORMAT_VERSION if imported else FORMAT_VERSION,
        "dataset": pair.dataset,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "models": models,
    }
    if pair.data_manifest is not None:
        content["data_manifest"] = pair.data_manifest
    return content


def checkpoint_bytes(pair: ModelPair) -> bytes:
    buffer = io.BytesIO()
    torch.save(checkpoint_dict(pair), buffer)
    return buffer.getvalue()


def save_checkpoint(pair: ModelPair, path: str | os.PathLike) -> Path:
    """Write atomically: a temporary file in the same folder, fsynced, then renamed over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = checkpoint_bytes(pair)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a checkpoint is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if n_bytes >= 2**20 else f"{n_bytes:,} bytes"


def _read_source(source: str | os.PathLike | bytes | BinaryIO, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint file at {path}")
        if path.stat().st_size > max_bytes:
            raise CheckpointError(f"{path.name} is {_size(path.stat().st_size)}; "
                                  f"checkpoints may be at most {_size(max_bytes)}")
        data = path.read_bytes()
    else:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CheckpointError(f"the file is larger than {_size(max_bytes)}, the most a checkpoint may be")
    if not data:
        raise CheckpointError("the file is empty")
    return data


def _unpickle_safely(data: bytes) -> object:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError("this is not a PyTorch checkpoint (a zip archive written by torch.save); "
                              "it may be truncated or another kind of file")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError("the checkpoint contains Python objects that could run code, so it was "
                              f"refused without running anything ({str(err).splitlines()[0]})") from err
    except Exception as err:  # torch raises RuntimeError, EOFError, zipfile errors... on damaged files
        raise CheckpointError(f"the checkpoint is damaged or truncated ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else 'no detail'})") from err


def _check_model_entry(name: str, entry: object, image_shape: tuple[int, int, int]) -> tuple[ModelConfig, dict]:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict) \
            or not isinstance(entry.get("state_dict"), dict):
        raise CheckpointError(f"model '{name}' lacks its config or weights")
    try:
        config = ModelConfig.from_dict(entry["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"model '{name}' has an invalid config: {err}") from err
    if config.kind != name:
        raise CheckpointError(f"model '{name}' is declared as kind '{config.kind}'")
    if config.input_shape != image_shape:
        raise CheckpointError(f"model '{name}' takes images of shape {config.input_shape}, "
                              f"but its dataset has {image_shape}")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}
    state = entry["state_dict"]
    problems = []
    for key, shape in expected.items():
        tensor = state.get(key)
        if not isinstance(tensor, torch.Tensor):
            problems.append(f"{key} is missing")
        elif tuple(tensor.shape) != shape:
            problems.append(f"{key} has shape {tuple(tensor.shape)}, expected {shape}")
        elif not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            problems.append(f"{key} holds non-finite or non-float values")
    problems += [f"unexpected weight {key}" for key in state if key not in expected]
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise CheckpointError(f"model '{name}' does not match its architecture: {shown}")
    return config, state


def _dataset_image_shape(dataset: object, manifest: object) -> tuple[tuple[int, int, int], dict | None]:
    """The image shape of a registered dataset, or of a custom one ("custom:<name>") from its manifest."""
    if dataset in DATASETS:
        return DATASETS[dataset].image_shape, None
    if not (isinstance(dataset, str) and re.fullmatch(re.escape(CUSTOM_PREFIX) + r"[a-z0-9._-]{1,40}", dataset)):
        raise CheckpointError(f"the checkpoint names an unknown dataset {dataset!r}")
    try:
        json.dumps(manifest)  # plain data only: what a page shows and a download writes out as JSON
        return manifest_image_shape(manifest), manifest
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"the checkpoint's data manifest for {dataset} is unusable: {err}") from err


def load_checkpoint(source: str | os.PathLike | bytes | BinaryIO,
                    max_bytes: int = MAX_CHECKPOINT_BYTES) -> ModelPair:
    """Read a checkpoint written by save_checkpoint; raises CheckpointError, never runs pickled code."""
    content = _unpickle_safely(_read_source(source, max_bytes))
    if not isinstance(content, dict) or content.get("format") != FORMAT_NAME:
        raise CheckpointError("this file is not a Latent Explorer checkpoint")
    version = content.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(f"checkpoint format version {version!r} is not supported "
                              f"(this version reads {' and '.join(map(str, READABLE_VERSIONS))})")
    dataset = content.get("dataset")
    image_shape, manifest = _dataset_image_shape(dataset, content.get("data_manifest"))
    models = content.get("models")
    if not isinstance(models, dict) or not models or set(models) - {"ae", "vae"}:
        raise CheckpointError("the checkpoint must hold an 'ae' and/or a 'vae' model and nothing else")
    pair = ModelPair(dataset=dataset, data_manifest=manifest)
    for name, entry in models.items():
        if version == IMPORTED_MODEL_FORMAT_VERSION and _is_imported(entry):
            model = _imported_model(name, entry, image_shape, dataset)
        else:
            config, state = _check_model_entry(name, entry, image_shape)
            # Safe now: the config passed validation and matched every weight. Built empty and filled from the
            # file, so no initialisation is computed only to be overwritten, and no random number is drawn.
            with torch.device("meta"):
                model = build_model(config)
            model.to_empty(device="cpu")
            model.load_state_dict(state)
        model.eval()
        setattr(pair, name, model)
        history = entry.get("history", [])
        pair.histories[name] = [dict(h) for h in history if isinstance(h, dict)] if isinstance(history, list) else []
        settings = entry.get("train_settings", {})
        pair.train_settings[name] = dict(settings) if isinstance(settings, dict) else {}
        if model.config.foreign:  # its likelihood decides the loss, whatever else the file says
            pair.train_settings[name]["loss"] = model.config.loss
        if "replay" in entry:  # absent from checkpoints written before training kept its replay
            pair.replays[name] = _checked_replay(name, entry["replay"], model.config)
    return pair


def _is_imported(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("config"), dict) \
        and entry["config"].get("architecture") == ONNX_ARCHITECTURE


def _imported_model(name: str, entry: dict, image_shape: tuple[int, int, int], dataset: str):
    """The VAE of an entry holding ONNX files, after every check of an import, run again on the file's bytes."""
    # Imported here, not at the top: onnx takes most of a second to import, and the app's cold start is budgeted.
    from .onnx_import import OnnxModelConfig, OnnxModelError, onnx_vae

    if name != "vae":
        raise CheckpointError(f"model '{name}' is declared as imported from ONNX, and only a VAE can be")
    try:
        config = OnnxModelConfig.from_dict(entry["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"model '{name}' has an invalid config: {err}") from err
    if config.input_shape != image_shape:
        raise CheckpointError(f"model '{name}' takes images of shape {config.input_shape}, "
                              f"but its dataset has {image_shape}")
    files = entry.get("onnx")
    if not isinstance(files, dict) or not all(
            isinstance(files.get(role), torch.Tensor) and files[role].dtype == torch.uint8 and files[role].dim() == 1
            for role in ("encoder", "decoder")):
        raise CheckpointError(f"model '{name}' is declared as imported from ONNX but lacks its encoder and decoder "
                              "files")
    try:
        model = onnx_vae(files["encoder"].numpy().tobytes(), files["decoder"].numpy().tobytes(), image_shape,
                         dataset, config.likelihood, config.encoder_outputs, config.encoder_scale)
    except OnnxModelError as err:
        raise CheckpointError(f"model '{name}', imported from ONNX, was refused: {err}") from err
    if model.config != config:
        raise CheckpointError(f"model '{name}' is described as {config.latent_dim}-d, but its ONNX files give "
                              f"{model.config.latent_dim}-d codes")
    return model


def _checked_replay(name: str, content: object, config: ModelConfig | OnnxModelConfig) -> Replay:
    try:
        replay = Replay.from_dict(content)
    except ValueError as err:
        raise CheckpointError(f"model '{name}' has an unusable training replay: {err}") from err
    if replay.latent_dim != config.latent_dim:
        raise CheckpointError(f"model '{name}' has a training replay of {replay.latent_dim}-d codes, "
                              f"but its latent size is {config.latent_dim}")
    return replay
