"""What a trained VAE did with its latent space: the numbers behind "understand your VAE".

- Which dimensions it uses: the KL of each dimension to the prior, and the active units of
  Burda et al. (2016), dimensions whose encoder mean varies across the data.
- Where the aggregate posterior q(z) = mean over images of N(z; mu(x), sigma(x)^2) leaves
  holes in the prior: places the prior N(0, I) samples from, and that no image encodes to.
- How far the ELBO is from log p(x), image by image (log p(x) by importance weighting).
- How well log p(x) tells the held-out images from another set (the AUROC); a VAE can find
  images it never saw more likely than its own data (Nalisnick et al., 2019).

Everything takes tensors or arrays and returns NumPy arrays or plain numbers, so the CLI's
``diagnose`` and the pages compute each quantity in the same place.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .latent import active_dimensions, active_units, encode_images
from .losses import importance_weighted_log_px, kl_per_dimension
from .training import _batch_losses, evaluate

# A prior sample lands in a hole where q(z) < p(z) / HOLE_RATIO.
HOLE_RATIO = 10.0
# log p(x) per image: K importance samples (the evaluate command's default too).
LOG_PX_SAMPLES = 100
# The pages' K, the same as the CLI's: 10,000 Fashion-MNIST images take about 5 s on two quiet CPU cores, minutes
# on busy ones (benchmarks/README.md); tests lower it, a host may set it (benchmarks/ui_latency.py raises it, so
# that the computation outlasts the clicks it times).
PAGE_LOG_PX_SAMPLES_ENV = "LATENT_EXPLORER_LOG_PX_SAMPLES"


def _page_log_px_samples() -> int:
    text = os.environ.get(PAGE_LOG_PX_SAMPLES_ENV, "")
    if not text:
        return LOG_PX_SAMPLES
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 100_000:
        raise ValueError(f"{PAGE_LOG_PX_SAMPLES_ENV} must be a whole number from 1 to 100000, not {text[:20]!r}")
    return int(text)


PAGE_LOG_PX_SAMPLES = _page_log_px_samples()


def kl_per_dimension_mean(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(q(z_d|x) || N(0, 1)) of each latent dimension d, in closed form, averaged over the images; (d,)."""
    return kl_per_dimension(torch.as_tensor(mu, dtype=torch.float64),
                            torch.as_tensor(logvar, dtype=torch.float64)).mean(0).numpy()


def log_aggregate_posterior(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """log q(z) for each row of z, with q the mixture (1/N) sum_i N(z; mu_i, diag(sigma_i^2)); (M,).

    Evaluated in chunks of z, so M x N never needs to be held at once.
    """
    mu_t = torch.as_tensor(mu, dtype=torch.float64)
    log_sigma = torch.log(torch.as_tensor(sigma, dtype=torch.float64))
    inverse_sigma = torch.exp(-log_sigma)
    constant = -0.5 * mu_t.shape[1] * math.log(2 * math.pi) - log_sigma.sum(1) - math.log(len(mu_t))  # (N,)
    out = []
    for start in range(0, len(z), chunk):
        z_t = torch.as_tensor(z[start:start + chunk], dtype=torch.float64)
        standardised = (z_t[:, None, :] - mu_t[None]) * inverse_sigma[None]  # (m, N, d)
        out.append(torch.logsumexp(constant[None] - 0.5 * standardised.pow(2).sum(-1), dim=1))
    return torch.cat(out).numpy() if out else np.zeros(0)


def log_prior(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) for each row of z; (M,)."""
    z = np.asarray(z, dtype=np.float64)
    return -0.5 * (z.shape[1] * math.log(2 * math.pi) + (z ** 2).sum(1))


def in_prior_hole(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Whether each row of z lies in a hole: q(z) < p(z) / HOLE_RATIO, q the aggregate posterior of (mu, sigma)."""
    return log_aggregate_posterior(z, mu, sigma) < log_prior(z) - math.log(HOLE_RATIO)


def prior_hole_fraction(mu: np.ndarray, sigma: np.ndarray, samples: int = 4096, seed: int = 0) -> float:
    """The share of prior samples z ~ N(0, I) at which q(z) < p(z) / HOLE_RATIO, by Monte Carlo.

    Such z are where the prior sends a sample and hardly any image encodes: their decodes are
    what the decoder never learned to draw.
    """
    z = np.random.default_rng(seed).standard_normal((samples, mu.shape[1]))
    return float(in_prior_hole(z, mu, sigma).mean())


@dataclass(frozen=True)
class DensityGrid:
    """q(z) and p(z) on a regular grid over a 2-d latent space, and where the prior's mass falls in holes."""

    x: np.ndarray  # (n,) grid coordinates along z1
    y: np.ndarray  # (n,) along z2
    log_q: np.ndarray  # (n, n), rows along y
    log_p: np.ndarray
    hole: np.ndarray  # bool (n, n): inside the prior's 2-sigma disc, and q < p / HOLE_RATIO


def density_grid(mu: np.ndarray, sigma: np.ndarray, x_range: tuple[float, float], y_range: tuple[float, float],
                 n: int = 80) -> DensityGrid:
    """The aggregate posterior against the prior on an n x n grid (latent size 2).

    Each image's Gaussian is diagonal, so it factorises into one density along z1 and one along z2, and q on
    the whole grid is one matrix product of the two (n x N by N x n): milliseconds where evaluating every
    grid point against every code (``log_aggregate_posterior``) takes seconds. In float64 a term underflows
    only where q is far below anything drawn or compared (log q is then -inf).
    """
    if mu.shape[1] != 2:
        raise ValueError(f"a density grid needs latent size 2, not {mu.shape[1]}")
    x, y = np.linspace(*x_range, n), np.linspace(*y_range, n)
    grid = np.stack(np.meshgrid(x, y), -1).reshape(-1, 2)
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)

    def along(axis: int, points: np.ndarray) -> np.ndarray:  # (N, n): N(points; mu_i, sigma_i^2) in one dimension
        m, s = mu[:, axis:axis + 1], sigma[:, axis:axis + 1]
        return np.exp(-0.5 * ((points[None] - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    with np.errstate(divide="ignore"):
        log_q = np.log(along(1, y).T @ along(0, x) / len(mu))  # rows along y
    log_p = log_prior(grid).reshape(n, n)
    where_prior_samples = (grid ** 2).sum(1).reshape(n, n) <= 4.0
    return DensityGrid(x, y, log_q, log_p, where_prior_samples & (log_q < log_p - math.log(HOLE_RATIO)))


def map_axis_dimensions(mu: np.ndarray, logvar: np.ndarray) -> tuple[list[int], bool]:
    """The dimensions (0-based) offered as map axes, largest mean KL first: the active units (Burda et al.,
    Cov_x(E_q[z_d]) > 0.01), or, where fewer than two are active, the two of largest KL; and whether they are
    all active."""
    kl = kl_per_dimension_mean(mu, logvar)
    by_kl = [int(d) for d in np.argsort(-kl, kind="stable")]
    active = active_dimensions(mu)
    ranked = [d for d in by_kl if active[d]]
    return (ranked, True) if len(ranked) >= 2 else (by_kl[:2], False)


def hole_outline(grid: DensityGrid) -> np.ndarray:
    """The holes of a density grid outlined: (S, 2, 2) segments [[x0, y0], [x1, y1]] along the edges between the
    grid's cells (each centred on its grid point) that are in a hole and those that are not."""
    def edges(centres: np.ndarray) -> np.ndarray:
        half = np.diff(centres) / 2
        return np.concatenate([[centres[0] - half[0]], centres[:-1] + half, [centres[-1] + half[-1]]])

    xb, yb = edges(grid.x), edges(grid.y)
    padded = np.pad(grid.hole, 1)
    rows, columns = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])  # a change between columns: a vertical edge
    vertical = np.stack([np.stack([xb[columns], yb[rows]], -1), np.stack([xb[columns], yb[rows + 1]], -1)], 1)
    rows, columns = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])
    horizontal = np.stack([np.stack([xb[columns], yb[rows]], -1), np.stack([xb[columns + 1], yb[rows]], -1)], 1)
    return np.concatenate([vertical, horizontal]).reshape(-1, 2, 2)


@torch.no_grad()
def log_px_per_image(model, images: torch.Tensor, loss: str = "bce", samples: int = LOG_PX_SAMPLES,
                     batch_size: int = 500, seed: int = 0,
                     on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Importance-weighted log p(x) of each image (nats, (N,)), in batches; ``on_progress(done, total)`` after each."""
    model.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(model.device)
        out.append(importance_weighted_log_px(model, x, samples, loss, generator).cpu())
        if on_progress is not None:
            on_progress(min(start + batch_size, len(images)), len(images))
    return torch.cat(out).double().numpy() if out else np.zeros(0)


@torch.no_grad()
def elbo_per_image(model, images: torch.Tensor, loss: str = "bce", batch_size: int = 2048, seed: int = 0) -> np.ndarray:
    """The one-sample ELBO of each image (nats, (N,)).

    The same draws as ``evaluate``, so its mean is ``-evaluate(...)["loss"]``: the Compare table's ELBO.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    for start in range(0, len(images), batch_size):
        reconstruction, kl = _batch_losses(model, images[start:start + batch_size].to(model.device), loss, generator)
        out.append(-(reconstruction + kl).cpu())
    model.train(was_training)
    return torch.cat(out).double().numpy() if out else np.zeros(0)


# The per-point quantities a map can be coloured by (besides the class), with their titles and units.
POINT_QUANTITIES = {
    "kl": "KL(q(z|x) ‖ p(z)), nats",
    "reconstruction": "E[log p(x|z)], nats",
    "elbo": "ELBO, nats",
    "log_px": "log p(x), nats",
    "gap": "log p(x) − ELBO, nats",
    "sigma": "mean σ of q(z|x)",
    "neighbour": "distance to the nearest neighbour in z",
}
# The ones that need log p(x), the importance-weighted estimate computed in the background.
NEEDS_LOG_PX = ("log_px", "gap")


def nearest_neighbour_distance(codes: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distance from each code to the closest other code; (N,). Chunked, so N x N is never held."""
    codes_t = torch.as_tensor(codes, dtype=torch.float64)
    out = []
    for start in range(0, len(codes_t), chunk):
        distances = torch.cdist(codes_t[start:start + chunk], codes_t)
        rows = torch.arange(len(distances))
        distances[rows, rows + start] = math.inf  # not itself
        out.append(distances.min(1).values)
    return torch.cat(out).numpy() if out else np.zeros(0)


@torch.no_grad()
def point_quantities(model, images: torch.Tensor, loss: str = "bce", log_px: np.ndarray | None = None,
                     batch_size: int = 2048, seed: int = 0) -> dict[str, np.ndarray]:
    """Every quantity of ``POINT_QUANTITIES`` for each image, (N,) arrays keyed as there, from one VAE.

    The reconstruction term and the ELBO use one sampled z per image, drawn exactly as ``elbo_per_image`` draws
    them, so the ELBO here is the one the gap of ``Likelihoods`` subtracts. ``log_px`` (the importance-weighted
    estimate, ``LikelihoodJob``'s) adds "log_px" and "gap"; without it they are absent.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    parts: dict[str, list[torch.Tensor]] = {"kl": [], "reconstruction": [], "sigma": [], "mu": []}
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(model.device)
        reconstruction, kl = _batch_losses(model, x, loss, generator)
        mu, logvar = model.encode(x)
        parts["reconstruction"].append(-reconstruction.cpu())
        parts["kl"].append(kl.cpu())
        parts["sigma"].append(torch.exp(0.5 * logvar.float()).mean(1).cpu())
        parts["mu"].append(mu.float().cpu())
    model.train(was_training)
    if not parts["mu"]:
        empty = np.zeros(0)
        return {name: empty for name in POINT_QUANTITIES if name not in NEEDS_LOG_PX or log_px is not None}
    values = {name: torch.cat(chunks).double().numpy() for name, chunks in parts.items()}
    quantities = {"kl": values["kl"], "reconstruction": values["reconstruction"],
                  "elbo": values["reconstruction"] - values["kl"], "sigma": values["sigma"],
                  "neighbour": nearest_neighbour_distance(values["mu"])}
    if log_px is not None:
        log_px = np.asarray(log_px, dtype=np.float64)
        if log_px.shape != quantities["elbo"].shape:
            raise ValueError(f"log p(x) has {log_px.shape[0]} values for {len(quantities['elbo'])} images")
        quantities["log_px"] = log_px
        quantities["gap"] = log_px - quantities["elbo"]
    return quantities


@dataclass(frozen=True)
class Likelihoods:
    """log p(x) and the ELBO of each image of a set, in nats."""

    log_px: np.ndarray
    elbo: np.ndarray
    samples: int  # K, the importance samples behind each log p(x)

    @property
    def gap(self) -> np.ndarray:
        """log p(x) - ELBO per image: what the bound leaves out, KL(q(z|x) || p(z|x)) up to the estimates' noise."""
        return self.log_px - self.elbo


class LikelihoodJob:
    """log p(x) and the ELBO of a set of images under one VAE, computed once by whoever claims it.

    Whoever gets True from ``claim()`` calls ``run()`` (in a thread of its own, say); everyone else reads
    ``progress``, ``result`` and ``error``. ``images`` is a function, so that loading or resizing a set
    happens in the worker too.
    """

    def __init__(self, model, images: Callable[[], torch.Tensor], loss: str = "bce",
                 samples: int = PAGE_LOG_PX_SAMPLES, seed: int = 0):
        self.model, self.images, self.loss, self.samples, self.seed = model, images, loss, samples, seed
        self._claimed = False
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._cancelled = threading.Event()
        self.done_images, self.total_images = 0, 0
        self.result: Likelihoods | None = None
        self.error: str | None = None

    def claim(self) -> bool:
        with self._lock:
            claimed, self._claimed = self._claimed, True
            return not claimed

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def cancel(self) -> None:
        """Stop after the batch under way (the job then ends with an error saying so)."""
        self._cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (or the timeout passed); whether it has."""
        return self._finished.wait(timeout)

    @property
    def progress(self) -> float:
        return self.done_images / self.total_images if self.total_images else 0.0

    def run(self) -> None:
        try:
            images = self.images()
            self.total_images = len(images)

            def count(done: int, _total: int) -> None:
                self.done_images = done
                if self._cancelled.is_set():
                    raise InterruptedError("cancelled")

            log_px = log_px_per_image(self.model, images, self.loss, self.samples, seed=self.seed, on_progress=count)
            self.result = Likelihoods(log_px, elbo_per_image(self.model, images, self.loss, seed=self.seed),
                                      self.samples)
        except Exception as err:  # a failed set is reported on the page: nothing raises in a worker thread
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self._finished.set()


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting half: the area under the ROC curve.

    From the Mann-Whitney U statistic with average ranks, so it needs no threshold sweep.
    """
    positive, negative = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    if not len(positive) or not len(negative):
        raise ValueError("the AUROC needs at least one score on each side")
    scores = np.concatenate([positive, negative])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average rank (1-based) over each run of equal scores.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def images_like(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Float images resized (area when shrinking, bilinear when growing) and given the channels of ``shape``."""
    channels, height, width = shape
    if images.shape[-2:] != (height, width):
        shrinking = images.shape[-1] > width
        images = F.interpolate(images, size=(height, width), mode="area" if shrinking else "bilinear",
                               **({} if shrinking else {"align_corners": False})).clamp(0, 1)
    if images.shape[1] != channels:
        images = images.mean(1, keepdim=True).expand(-1, channels, -1, -1).contiguous()
    return images


@dataclass(frozen=True)
class Diagnosis:
    """A VAE over a set of held-out images: all figures in nats per image, log-likelihood signs."""

    images: int
    kl_per_dimension: list[float]
    active_units: int
    elbo: float
    log_px: float
    prior_hole_fraction: float
    log_px_samples: int
    ood_dataset: str | None = None
    ood_auroc: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def diagnose(model, images: torch.Tensor, loss: str = "bce", samples: int = LOG_PX_SAMPLES,
             ood_images: torch.Tensor | None = None, ood_name: str | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> Diagnosis:
    """Every figure of ``Diagnosis`` for a VAE over ``images`` (float, [0, 1]); with ``ood_images``, also the AUROC
    of log p(x) telling ``images`` (positives) from them. ``on_progress(done, total)`` counts the images of both."""
    encoding = encode_images(model, images)
    total = len(images) + (0 if ood_images is None else len(ood_images))

    def progress_from(offset: int):
        return None if on_progress is None else lambda done, _: on_progress(offset + done, total)

    log_px = log_px_per_image(model, images, loss, samples, on_progress=progress_from(0))
    ood_auroc = None
    if ood_images is not None:
        ood_log_px = log_px_per_image(model, images_like(ood_images, model.config.input_shape), loss, samples,
                                      seed=1, on_progress=progress_from(len(images)))
        ood_auroc = auroc(log_px, ood_log_px)
    return Diagnosis(
        images=len(images),
        kl_per_dimension=kl_per_dimension_mean(encoding.mu, encoding.logvar).tolist(),
        active_units=active_units(encoding.mu),
        elbo=-evaluate(model, images, loss)["loss"],
        log_px=float(log_px.mean()),
        prior_hole_fraction=prior_hole_fraction(encoding.mu, encoding.sigma),
        log_px_samples=samples,
        ood_dataset=ood_name,
        ood_auroc=ood_auroc,
    )
