"""Words for model pairs and trainings: what the sidebar, the Train page and notices call them.

vae_core returns data (a pair's models, histories and settings; a job's status
and queue position); the wording lives here, beside the pages that show it.
"""

from __future__ import annotations

import math

from vae_core.data import dataset_title
from vae_core.jobs import KIND_ORDER, JobStatus, TrainingJob
from vae_core.losses import RECONSTRUCTION_LOSSES
from vae_core.models import KIND_TITLES, ModelPair

ARCHITECTURE_TITLES = {"mlp": "MLP", "conv": "conv", "onnx": "ONNX"}


def pair_label(pair: ModelPair) -> str:
    """E.g. 'Digits · AE + VAE latent 2 · β=1 · 10 epochs', from what the pair itself records.

    Convolutional models are named as such ('AE + VAE conv latent 2'); the seeds' MLPs need no word.
    """
    kinds = [k for k in reversed(KIND_ORDER) if k in pair.models()]  # the VAE first: it is the one explored
    models = pair.models()
    latents = {models[k].config.latent_dim for k in kinds}
    architectures = {models[k].config.architecture for k in kinds}
    if len(latents) == 1 and len(architectures) == 1:
        parts = [f"{' + '.join(KIND_TITLES[k] for k in reversed(kinds))}{_architecture(architectures.pop())} "
                 f"latent {latents.pop()}"]
    else:
        parts = [", ".join(f"{KIND_TITLES[k]}{_architecture(models[k].config.architecture)} "
                           f"latent {models[k].config.latent_dim}" for k in kinds)]
    # Settings of an uploaded checkpoint are whatever its author wrote: only known values are described.
    settings = {k: pair.train_settings.get(k, {}) for k in kinds}
    beta = settings.get("vae", {}).get("beta")
    if isinstance(beta, (int, float)) and math.isfinite(beta):
        parts.append(f"β={beta:g}")
    losses = {s.get("loss") for s in settings.values() if s.get("loss") in RECONSTRUCTION_LOSSES} - {"bce"}
    parts += [loss.upper() for loss in sorted(losses)]
    epochs = {k: len(pair.histories.get(k, [])) for k in kinds}
    if any(epochs.values()):
        if len(set(epochs.values())) == 1:
            parts.append(_epochs_text(epochs[kinds[0]]))
        else:
            parts.append(", ".join(f"{KIND_TITLES[k]} {_epochs_text(n)}" for k, n in epochs.items()))
    return " · ".join([short_dataset_title(pair.dataset), *parts])


def short_dataset_title(name: str) -> str:
    """'Fashion-MNIST' of 'Fashion-MNIST (28x28)'; a person's images stay 'Your images: <name>'."""
    return dataset_title(name).split(" (")[0]


def _architecture(name: str) -> str:
    return "" if name == "mlp" else f" {ARCHITECTURE_TITLES.get(name, name)}"


def _epochs_text(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def job_result_label(job: TrainingJob) -> str | None:
    """A short description of job.result_pair(), with how the job ended when it did not finish."""
    pair = job.result_pair()
    if pair is None:
        return None
    label = pair_label(pair)
    status = job.status
    if status == JobStatus.CANCELLED:
        return f"{label} · stopped"
    if status == JobStatus.FAILED:
        return f"{label} · training failed, last good weights"
    return label


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def queue_text(position: int | None) -> str:
    """What a waiting training is told, e.g. 'Waiting for a free training worker: 2nd in the queue.'"""
    if position is None:  # taken from the queue; its worker process is starting
        return "Starting a training worker…"
    if position == 1:
        return "Waiting for a free training worker: next in the queue."
    return f"Waiting for a free training worker: {ordinal(position)} in the queue."
