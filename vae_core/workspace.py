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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from cachetools import LRUCache, cachedmethod

from .data import DATASETS, ImageDataset, is_available, load_dataset
from .diagnostics import (
    PAGE_LOG_PX_SAMPLES,
    DensityGrid,
    LikelihoodJob,
    density_grid,
    images_like,
    in_prior_hole,
    kl_per_dimension_mean,
    map_axis_dimensions,
    point_quantities,
    prior_hole_fraction,
)
from .images import tile
from .latent import (
    Encoding,
    LinearProjection,
    PointAnalysis,
    active_units,
    analyse_point,
    axis_projection,
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

HELD_OUT = "held-out"  # the likelihood set of the workspace's own held-out split


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
        # Images stay the dataset's own bytes, shared by every workspace of the dataset; float copies are made
        # only of what a computation needs.
        self.labels = dataset.labels("test").numpy()
        self.class_names = dataset.class_names
        self.encodings: dict[str, Encoding] = {
            kind: encode_images(model, dataset.test_images) for kind, model in pair.models().items()}
        self.projections: dict[str, LinearProjection] = {
            kind: fit_projection(encoding.mu) for kind, encoding in self.encodings.items()}
        self.map_points: dict[str, np.ndarray] = {
            kind: self.projections[kind](encoding.mu) for kind, encoding in self.encodings.items()}
        self._cache_condition = threading.Condition()
        self._caches = {"analysis": LRUCache(512), "log_px": LRUCache(512), "tsne": LRUCache(4),
                        "summary": LRUCache(4), "all": LRUCache(1), "holes": LRUCache(1),
                        "likelihoods": LRUCache(8), "density": LRUCache(4), "axes": LRUCache(1),
                        "replay": LRUCache(2), "quantities": LRUCache(2)}

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
        """The held-out images: indices 0 to len - 1, the map's points (the training images follow them)."""
        return len(self.labels)

    @property
    def total(self) -> int:
        """Held-out and training images: indices 0 to total - 1."""
        return len(self) + len(self.dataset.train_labels)

    def is_held_out(self, index: int) -> bool:
        return index < len(self)

    # --- every image: the held-out split first, the training split after it ----------------------
    def image_tensors(self, indices) -> torch.Tensor:
        """Float images in [0, 1], (N, C, H, W), of held-out or training indices."""
        indices = torch.as_tensor(np.atleast_1d(indices), dtype=torch.long)
        held_out = indices < len(self)
        out = torch.empty((len(indices), *self.dataset.image_shape), dtype=torch.float32)
        out[held_out] = self.dataset.test_images[indices[held_out]].float()
        out[~held_out] = self.dataset.train_images[indices[~held_out] - len(self)].float()
        return out.div_(255.0)

    def class_of(self, index: int) -> int:
        """The class of a held-out or a training image."""
        held_out = self.is_held_out(index)
        return int(self.labels[index] if held_out else self.dataset.train_labels[index - len(self)])

    def all_labels(self) -> np.ndarray:
        return np.concatenate([self.labels, self.dataset.train_labels.numpy()])

    @cachedmethod(lambda self: self._caches["all"], condition=lambda self: self._cache_condition)
    def all_encodings(self) -> dict[str, Encoding]:
        """Codes of every image, held-out first (the training split encoded on first use, in batches)."""
        out = {}
        for kind, model in self.pair.models().items():
            train = encode_images(model, self.dataset.train_images)
            held_out = self.encodings[kind]
            out[kind] = Encoding(mu=np.concatenate([held_out.mu, train.mu]),
                                 logvar=None if train.logvar is None else np.concatenate([held_out.logvar,
                                                                                          train.logvar]))
        return out

    def codes(self, kind: str | None = None, every_image: bool = False) -> Encoding:
        """The held-out codes, or every image's."""
        kind = kind or self.main_kind
        return self.all_encodings()[kind] if every_image else self.encodings[kind]

    # --- per point -------------------------------------------------------------------
    def image(self, index: int) -> np.ndarray:
        return self.image_tensors(index)[0].mean(0).numpy()

    def code(self, index: int, kind: str | None = None) -> np.ndarray:
        """The encoder mean mu(x) of one image."""
        return self.codes(kind, every_image=not self.is_held_out(index)).mu[index]

    def sigma(self, index: int) -> np.ndarray:
        """The VAE's posterior standard deviations of one image."""
        return self.codes("vae", every_image=not self.is_held_out(index)).sigma[index]

    def reconstruction(self, kind: str, index: int) -> np.ndarray:
        return decode_latents(self.model(kind), self.code(index, kind))[0]

    def decode(self, z: np.ndarray, kind: str | None = None) -> np.ndarray:
        return decode_latents(self.model(kind), z)

    @cachedmethod(lambda self: self._caches["analysis"], condition=lambda self: self._cache_condition)
    def analyse(self, index: int, samples: int = 256) -> PointAnalysis:
        """Posterior, KL and ELBO terms of one image under the VAE (cached per point)."""
        return analyse_point(self.pair.vae, self.image_tensors(index)[0], self.loss("vae"), samples=samples,
                             seed=index)

    @cachedmethod(lambda self: self._caches["log_px"], condition=lambda self: self._cache_condition)
    def log_px(self, index: int, samples: int = 256) -> float:
        """Importance-weighted log p(x) of one image (cached per point; the costliest per-point figure)."""
        return point_log_px(self.pair.vae, self.image_tensors(index)[0], self.loss("vae"), samples=samples,
                            seed=index)

    def neighbours(self, index: int, k: int = 8, kind: str | None = None,
                   every_image: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The k images whose codes lie closest to this one's (Euclidean, in latent space): among the held-out
        images, or among every image."""
        codes = self.codes(kind, every_image=every_image).mu
        return nearest_neighbours(codes, self.code(index, kind), k, exclude=index if index < len(codes) else None)

    def neighbours_of_code(self, code: np.ndarray, k: int = 8, kind: str | None = None,
                           every_image: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The k images whose codes lie closest to a code from elsewhere (a picture someone brought)."""
        return nearest_neighbours(self.codes(kind, every_image=every_image).mu, code, k)

    def encode(self, image: np.ndarray) -> dict[str, Encoding]:
        """Each model's code of one image from elsewhere, (C, H, W) in [0, 1]."""
        x = torch.as_tensor(image, dtype=torch.float32)[None]
        return {kind: encode_images(model, x) for kind, model in self.pair.models().items()}

    def selection_summary(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(count per class, mean image) of a set of images."""
        indices = np.asarray(indices, dtype=int)
        counts = np.bincount(self.all_labels()[indices], minlength=len(self.class_names))
        total = torch.zeros(self.dataset.image_shape[1:])
        for start in range(0, len(indices), 4096):  # a float copy of a batch at a time, not of the selection
            total += self.image_tensors(indices[start:start + 4096]).mean(1).sum(0)
        return counts, (total / max(len(indices), 1)).numpy()

    def manifold(self, x_range: tuple[float, float], y_range: tuple[float, float], n: int = 20,
                 kind: str | None = None) -> np.ndarray:
        """The decoder's output over an n x n grid of a 2-d latent region, tiled edge to edge (top row = high z2)."""
        decoded = self.decode(latent_grid(x_range, y_range, n), kind)
        return tile(decoded, columns=n, padding=0)

    # --- the training replay ------------------------------------------------------------
    def replay_epochs(self, kind: str | None = None) -> np.ndarray | None:
        """The epochs the model's replay holds (its held-out codes after each), or None if it has none.

        A replay of another number of images than this held-out split (a dataset that changed since) is none.
        """
        replay = self.pair.replays.get(kind or self.main_kind)
        if replay is None or replay.images != len(self):
            return None
        return replay.epochs

    @cachedmethod(lambda self: self._caches["replay"], condition=lambda self: self._cache_condition)
    def replay_points(self, kind: str) -> np.ndarray:
        """The replay's frames on the map, (frames, images, 2) float32: each epoch's codes through the projection
        fitted on the final codes (t-SNE cannot place other codes, so a replay is drawn in the linear view)."""
        if self.replay_epochs(kind) is None:
            raise ValueError(f"the {kind.upper()} of this pair has no training replay")
        codes = self.pair.replays[kind].codes
        frames, images, latent_dim = codes.shape
        flat = self.projections[kind](codes.reshape(-1, latent_dim).astype(np.float32))
        return flat.astype(np.float32).reshape(frames, images, 2)

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
        images = self.dataset.images("test")
        figures = evaluate(model, images, self.loss(kind))
        # The codes were encoded once at construction; decoding them is all a reconstruction needs.
        reconstructions = decode_latents(model, self.encodings[kind].mu)
        pixel_mse = float(np.mean((reconstructions - images.mean(1).numpy()) ** 2))
        is_vae = kind == "vae"
        return ModelSummary(kind=kind, reconstruction_nll=figures["reconstruction"], pixel_mse=pixel_mse,
                            kl=figures["kl"] if is_vae else None, elbo=-figures["loss"] if is_vae else None,
                            active_units=active_units(self.encodings[kind].mu), latent_dim=model.config.latent_dim)

    # --- the VAE's likelihood and its prior's holes ---------------------------------------
    def comparison_sets(self) -> dict[str, str]:
        """Registered datasets on this machine other than the pair's own, by name: their titles."""
        return {name: info.title for name, info in DATASETS.items()
                if name != self.dataset.name and is_available(name)}

    def likelihood_job(self, key: str = HELD_OUT, images: Callable[[], torch.Tensor] | None = None,
                       samples: int = PAGE_LOG_PX_SAMPLES) -> LikelihoodJob:
        """The VAE's log p(x) and ELBO of a set of images, one job per (set, K) however many callers ask.

        ``key``: HELD_OUT, a name from ``comparison_sets`` (its held-out split, resized to the model's
        images), or any name with ``images`` (a function giving float images of any size in [0, 1]).
        The job is not run here: whoever claims it does.
        """
        if self.vae is None:
            raise ValueError("log p(x) needs a VAE, and this pair holds none")
        if images is None:
            own = self.dataset if key == HELD_OUT else None

            def registered_split() -> torch.Tensor:
                return (own or load_dataset(key, download=False)).images("test")
            images = registered_split
        shape = self.vae.config.input_shape
        with self._cache_condition:
            jobs = self._caches["likelihoods"]
            if (key, samples) not in jobs:
                jobs[(key, samples)] = LikelihoodJob(self.vae, lambda: images_like(images(), shape), self.loss("vae"),
                                                     samples, seed=0 if key == HELD_OUT else 1)
            return jobs[(key, samples)]

    @cachedmethod(lambda self: self._caches["quantities"], condition=lambda self: self._cache_condition)
    def point_quantities(self, log_px_samples: int | None = None) -> dict[str, np.ndarray]:
        """The VAE's per-point quantities of the held-out images (diagnostics.point_quantities; cached). With
        ``log_px_samples`` (K), log p(x) and the gap too, from that held-out likelihood job, which must have
        finished."""
        if self.vae is None:
            raise ValueError("per-point quantities need a VAE, and this pair holds none")
        log_px = None
        if log_px_samples is not None:
            job = self.likelihood_job(HELD_OUT, samples=log_px_samples)
            if job.result is None:
                raise ValueError("log p(x) of the held-out images is not computed yet")
            log_px = job.result.log_px
        return point_quantities(self.vae, self.dataset.images("test"), self.loss("vae"), log_px=log_px)

    def in_prior_hole(self, z: np.ndarray) -> np.ndarray:
        """Whether each code z lies where the prior has ten times the density of the VAE's held-out codes."""
        codes = self.encodings["vae"]
        return in_prior_hole(z, codes.mu, codes.sigma)

    @cachedmethod(lambda self: self._caches["holes"], condition=lambda self: self._cache_condition)
    def prior_hole_fraction(self) -> float:
        """The share of prior draws that land in a hole of the VAE's held-out codes (Monte Carlo; cached)."""
        codes = self.encodings["vae"]
        return prior_hole_fraction(codes.mu, codes.sigma)

    @cachedmethod(lambda self: self._caches["density"], condition=lambda self: self._cache_condition)
    def density(self, x_range: tuple[float, float], y_range: tuple[float, float], n: int = 150) -> DensityGrid:
        """The VAE's aggregate posterior of the held-out codes against the prior on an n x n grid (latent size 2;
        cached per region: a grid of 10,000 codes takes seconds)."""
        codes = self.encodings["vae"]
        return density_grid(codes.mu, codes.sigma, x_range, y_range, n)

    # --- the VAE's own dimensions as map axes ----------------------------------------------
    @cachedmethod(lambda self: self._caches["axes"], condition=lambda self: self._cache_condition)
    def axis_dimensions(self) -> tuple[list[int], bool]:
        """The VAE's dimensions a map may take as axes, largest mean KL first, and whether all are active units."""
        codes = self.encodings["vae"]
        return map_axis_dimensions(codes.mu, codes.logvar)

    def axis_projection(self, dims: tuple[int, int]) -> LinearProjection:
        """The VAE's codes seen along two of its dimensions, the others at their held-out mean."""
        codes = self.encodings["vae"]
        return axis_projection(codes.mu, dims, kl_per_dimension_mean(codes.mu, codes.logvar))
