"""A selection of the latent map (a box or a lasso), taken away: its images' codes as a CSV, and the images
themselves as a zip of PNGs. Both are built when the download button is pressed, not on every run."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pandas as pd
import torch

from vae_core.images import png_bytes
from vae_core.losses import kl_divergence
from vae_core.workspace import Workspace


def _every_image(ws: Workspace, indices: np.ndarray) -> bool:
    return bool(len(indices)) and int(np.max(indices)) >= len(ws)


def selection_table(ws: Workspace, indices: np.ndarray, kind: str,
                    held_out_columns: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per image: its index, class and split, the encoder's μ (and σ and KL(q(z|x) ‖ p(z)) for a VAE), then
    ``held_out_columns``: name -> a value per held-out image (blank for a training image)."""
    indices = np.asarray(indices, dtype=np.int64)
    every = _every_image(ws, indices)
    labels = (ws.all_labels() if every else ws.labels)[indices]
    codes = ws.codes(kind, every_image=every)
    mu = codes.mu[indices]
    columns = {"index": indices, "class": [ws.class_names[int(c)] for c in labels],
               "split": np.where(indices < len(ws), "held-out", "training")}
    columns.update({f"mu_{k + 1}": mu[:, k] for k in range(mu.shape[1])})
    if codes.logvar is not None:
        logvar = codes.logvar[indices]
        columns.update({f"sigma_{k + 1}": np.exp(0.5 * logvar[:, k]) for k in range(mu.shape[1])})
        columns["kl_nats"] = kl_divergence(torch.from_numpy(mu), torch.from_numpy(logvar)).numpy()
    held_out = indices < len(ws)
    for name, values in (held_out_columns or {}).items():
        columns[name] = np.where(held_out, np.asarray(values, dtype=np.float64)[np.where(held_out, indices, 0)],
                                 np.nan)
    return pd.DataFrame(columns)


def selection_csv(ws: Workspace, indices: np.ndarray, kind: str,
                  held_out_columns: dict[str, np.ndarray] | None = None) -> bytes:
    return selection_table(ws, indices, kind, held_out_columns).to_csv(index=False, float_format="%.6g").encode("utf-8")


def selection_zip(ws: Workspace, indices: np.ndarray) -> bytes:
    """The selected images as PNGs named by index and class (e.g. ``00012_6.png``), in one zip."""
    indices = np.asarray(indices, dtype=np.int64)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for start in range(0, len(indices), 1024):
            batch = indices[start:start + 1024]
            pictures = ws.image_tensors(batch).mean(1).numpy()
            for index, picture in zip(batch, pictures):
                name = re.sub(r"[^A-Za-z0-9_-]+", "-", ws.class_names[ws.class_of(int(index))])
                archive.writestr(f"{int(index):05d}_{name}.png", png_bytes(picture))
    return buffer.getvalue()
