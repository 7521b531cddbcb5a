"""A model pair with its dataset's held-out split encoded once, ready to explore.

The explorer's pages read everything they draw from here: codes, 2-d map
coordinates, reconstructions and per-point analyses. Nothing in it changes
after construction except its caches (per-point analyses, t-SNE maps, whole-set
summaries: bounded, behind one lock per workspace, a computation shared by
concurrent callers), so one instance can be shared by every browser session
that looks at the same models.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache, cachedmethod

from .data import ImageDataset
from .images import tile
from .latent import (
    Encoding,
    LinearProjection,
    PointAnalysis,
    active_units,
    analyse_point,
    decode_latents,
    encode_images,
    fit_projection,
    latent_grid,
    nearest_neighbours,
    point_log_px,
    tsne_embedding,
)
from .models import ModelPair
from .training import evaluate


@dataclass(frozen=True)
class ModelSummary:
    """Held-out figures per image, in nats; KL and ELBO only for a VAE."""

    kind: str
    reconstruction_nll: float
    pixel_mse: float
    kl: float | None
    elbo: float | None
    active_units: int
    latent_dim: int


class Workspace:
    def __init__(self, pair: ModelPair, dataset: ImageDataset, label: str):
        if not pair.models():
            raise ValueError("the model pair holds no model")
        self.pair = pair
        self.dataset = dataset
        self.label = label
        self.images = dataset.images("test")
        self.labels = dataset.labels("test").numpy()
        self.class_names = dataset.class_names
        self.encodings: dict[str, Encoding] = {
            kind: encode_images(model, self.images) for kind, model in pair.models().items()}
        self.projections: dict[str, LinearProjection] = {
            kind: fit_projection(encoding.mu) for kind, encoding in self.encodings.items()}
        self.map_points: dict[str, np.ndarray] = {
            kind: self.projections[kind](encoding.mu) for kind, encoding in self.encodings.items()}
        self._cache_condition = threading.Condition()
        self._caches = {"analysis": LRUCache(512), "log_px": LRUCache(512), "tsne": LRUCache(4),
                        "summary": LRUCache(4)}

    # --- what the pair holds ---------------------------------------------------------
    @property
    def dataset_title(self) -> str:
        return self.dataset.title

    @property
    def kinds(self) -> list[str]:
        return list(self.pair.models())

    @property
    def vae(self):
        return self.pair.vae

    @property
    def main_kind(self) -> str:
        """The model the map and editor show: the VAE when there is one."""
        return "vae" if self.pair.vae is not None else "ae"

    def model(self, kind: str | None = None):
        return self.pair.models()[kind or self.main_kind]

    def latent_dim(self, kind: str | None = None) -> int:
        return self.model(kind).config.latent_dim

    def loss(self, kind: str | None = None) -> str:
        return self.pair.train_settings.get(kind or self.main_kind, {}).get("loss", "bce")

    @property
    def image_side(self) -> int:
        return self.dataset.image_shape[-1]

    def __len__(self) -> int:
        return len(self.labels)

    # --- per point -------------------------------------------------------------------
    def image(self, index: int) -> np.ndarray:
        return self.images[index].mean(0).numpy()

    def code(self, index: int, kind: str | None = None) -> np.ndarray:
        """The encoder mean mu(x) of one held-out image."""
        return self.encodings[kind or self.main_kind].mu[index]

    def reconstruction(self, kind: str, index: int) -> np.ndarray:
        return decode_latents(self.model(kind), self.code(index, kind))[0]

    def decode(self, z: np.ndarray, kind: str | None = None) -> np.ndarray:
        return decode_latents(self.model(kind), z)

    @cachedmethod(lambda self: self._caches["analysis"], condition=lambda self: self._cache_condition)
    def analyse(self, index: int, samples: int = 256) -> PointAnalysis:
        """Posterior, KL and ELBO terms of one held-out image under the VAE (cached per point)."""
        return analyse_point(self.pair.vae, self.images[index], self.loss("vae"), samples=samples, seed=index)

    @cachedmethod(lambda self: self._caches["log_px"], condition=lambda self: self._cache_condition)
    def log_px(self, index: int, samples: int = 256) -> float:
        """Importance-weighted log p(x) of one held-out image (cached per point; the costliest per-point figure)."""
        return point_log_px(self.pair.vae, self.images[index], self.loss("vae"), samples=samples, seed=index)

    def neighbours(self, index: int, k: int = 8, kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k held-out images whose codes lie closest to this one's (Euclidean, in latent space)."""
        codes = self.encodings[kind or self.main_kind].mu
        return nearest_neighbours(codes, codes[index], k, exclude=index)

    def selection_summary(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(count per class, mean image) of a set of held-out images."""
        indices = np.asarray(indices, dtype=int)
        counts = np.bincount(self.labels[indices], minlength=len(self.class_names))
        return counts, self.images[indices].mean(dim=(0, 1)).numpy()

    def manifold(self, x_range: tuple[float, float], y_range: tuple[float, float], n: int = 20,
                 kind: str | None = None) -> np.ndarray:
        """The decoder's output over an n x n grid of a 2-d latent region, tiled edge to edge (top row = high z2)."""
        decoded = self.decode(latent_grid(x_range, y_range, n), kind)
        return tile(decoded, columns=n, padding=0)

    # --- 2-d views -------------------------------------------------------------------
    @cachedmethod(lambda self: self._caches["tsne"], condition=lambda self: self._cache_condition)
    def tsne(self, kind: str) -> np.ndarray:
        """t-SNE of the codes, computed once per workspace and model (it takes seconds)."""
        return tsne_embedding(self.encodings[kind].mu)

    # --- whole-set figures -----------------------------------------------------------
    @cachedmethod(lambda self: self._caches["summary"], condition=lambda self: self._cache_condition)
    def summary(self, kind: str) -> ModelSummary:
        """Held-out figures of one model of the pair (a pass over the whole split; cached)."""
        model = self.model(kind)
        figures = evaluate(model, self.images, self.loss(kind))
        # The codes were encoded once at construction; decoding them is all a reconstruction needs.
        reconstructions = decode_latents(model, self.encodings[kind].mu)
        pixel_mse = float(np.mean((reconstructions - self.images.mean(1).numpy()) ** 2))
        is_vae = kind == "vae"
        return ModelSummary(kind=kind, reconstruction_nll=figures["reconstruction"], pixel_mse=pixel_mse,
                            kl=figures["kl"] if is_vae else None, elbo=-figures["loss"] if is_vae else None,
                            active_units=active_units(self.encodings[kind].mu), latent_dim=model.config.latent_dim)
