"""Computations on the latent space that the explorer shows.

Everything here takes and returns NumPy arrays so that pages only render.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .losses import importance_weighted_log_px, kl_per_dimension, reconstruction_nll
from .models import VAE, reparameterize


@dataclass(frozen=True)
class Encoding:
    """Codes of a set of images: mu for both models, log-variance for a VAE only."""

    mu: np.ndarray
    logvar: np.ndarray | None

    @property
    def sigma(self) -> np.ndarray | None:
        return None if self.logvar is None else np.exp(0.5 * self.logvar)


@torch.no_grad()
def encode_images(model, images: torch.Tensor, batch_size: int = 4096) -> Encoding:
    """Encoder means (and log-variances) of images, in batches: float in [0, 1], or uint8 bytes (made float one
    batch at a time, so 60,000 images never need a float copy)."""
    model.eval()
    mus, logvars = [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(model.device)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if model.config.kind == "vae":  # our VAE, or one imported from ONNX
            mu, logvar = model.encode(x)
            logvars.append(logvar.cpu())
        else:
            mu = model.encode(x)
        mus.append(mu.cpu())
    mu = torch.cat(mus).numpy()
    return Encoding(mu=mu, logvar=torch.cat(logvars).numpy() if logvars else None)


@torch.no_grad()
def decode_latents(model, z: np.ndarray) -> np.ndarray:
    """Latent vectors (N, d) to images (N, H, W) in [0, 1] (channels averaged away for display)."""
    model.eval()
    z_tensor = torch.as_tensor(np.atleast_2d(z), dtype=torch.float32, device=model.device)
    return model.decode(z_tensor).mean(1).cpu().numpy()


@dataclass(frozen=True)
class PointAnalysis:
    """One image under the VAE: posterior, its KL to the prior and the ELBO's terms, in nats."""

    mu: np.ndarray
    sigma: np.ndarray
    kl_per_dim: np.ndarray
    kl: float
    reconstruction_nll: float  # -E_q[log p(x|z)], Monte Carlo over posterior samples
    elbo: float
    samples: int


@torch.no_grad()
def analyse_point(vae: VAE, image: torch.Tensor, loss: str = "bce", samples: int = 256,
                  seed: int = 0) -> PointAnalysis:
    """ELBO = E_q[log p(x|z)] - KL for one image: KL in closed form, the reconstruction term by Monte Carlo."""
    vae.eval()
    x = image.reshape(1, *vae.config.input_shape).to(vae.device)
    mu, logvar = vae.encode(x)
    generator = torch.Generator(device=vae.device).manual_seed(seed)
    eps = torch.randn((samples, mu.shape[1]), generator=generator, device=vae.device)
    z = reparameterize(mu, logvar, eps)
    nll = reconstruction_nll(vae.decode_logits(z), x.expand(samples, *x.shape[1:]), loss).mean().item()
    kl_dims = kl_per_dimension(mu, logvar)[0]
    kl = kl_dims.sum().item()
    return PointAnalysis(mu=mu[0].cpu().numpy(), sigma=torch.exp(0.5 * logvar)[0].cpu().numpy(),
                         kl_per_dim=kl_dims.cpu().numpy(), kl=kl, reconstruction_nll=nll,
                         elbo=-nll - kl, samples=samples)


@torch.no_grad()
def point_log_px(vae: VAE, image: torch.Tensor, loss: str = "bce", samples: int = 256, seed: int = 0) -> float:
    """The importance-weighted estimate of log p(x) for one image (>= the ELBO in expectation)."""
    vae.eval()
    x = image.reshape(1, *vae.config.input_shape).to(vae.device)
    generator = torch.Generator(device=vae.device).manual_seed(seed)
    return importance_weighted_log_px(vae, x, num_samples=samples, loss=loss, generator=generator).item()


# --- 2-D views of the latent space -------------------------------------------------

@dataclass(frozen=True)
class LinearProjection:
    """x -> (x - mean) @ components.T; the identity for 2-d latents, PCA above."""

    name: str
    mean: np.ndarray
    components: np.ndarray  # (2, d)
    axis_titles: tuple[str, str]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(points) - self.mean) @ self.components.T

    def unproject(self, xy: np.ndarray) -> np.ndarray:
        """The code at map coordinates xy ((2,) or (M, 2)): mean + xy @ components, so the directions the map does
        not show stay at ``mean`` (for PCA, the codes' mean; for two latent axes, what ``axis_projection`` set)."""
        return self.mean + np.asarray(xy, dtype=float) @ self.components


def fit_projection(mu: np.ndarray) -> LinearProjection:
    """Identity axes z1, z2 for a 2-d latent; otherwise the first two principal components."""
    d = mu.shape[1]
    if d == 1:
        return LinearProjection("z1", np.zeros(1), np.array([[1.0], [0.0]]), ("z1", "(constant)"))
    if d == 2:
        return LinearProjection("identity", np.zeros(2), np.eye(2), ("z1", "z2"))
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(mu)
    ratios = pca.explained_variance_ratio_
    return LinearProjection("pca", pca.mean_, pca.components_,
                            (f"PC1 ({ratios[0]:.0%} of variance)", f"PC2 ({ratios[1]:.0%} of variance)"))


SUBSCRIPT_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def dimension_name(dim: int) -> str:
    """The name of latent dimension ``dim`` (0-based) as the app writes it: z₁, z₂, ..."""
    return "z" + str(dim + 1).translate(SUBSCRIPT_DIGITS)


def axis_projection(mu: np.ndarray, dims: tuple[int, int], kl_per_dim: np.ndarray) -> LinearProjection:
    """Two latent dimensions (0-based) as the map's axes, each named with its mean KL.

    The map shows z[dims] as they are; ``unproject`` puts every other dimension at its mean of mu over
    ``mu``'s images, so a location on the map is a whole code.
    """
    first, second = dims
    if first == second:
        raise ValueError("the map's two axes need two different dimensions")
    mean = mu.mean(0).astype(float)
    mean[[first, second]] = 0.0
    components = np.zeros((2, mu.shape[1]))
    components[0, first] = components[1, second] = 1.0
    titles = tuple(f"{dimension_name(d)} (KL {kl_per_dim[d]:.1f} nats)" for d in (first, second))
    return LinearProjection("axes", mean, components, titles)


def tsne_embedding(mu: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 2-d t-SNE of the codes (non-linear: new points cannot be placed in it)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(5, (len(mu) - 1) // 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu)


def prior_circle(n_sigma: float, num_points: int = 72) -> np.ndarray:
    """The prior's n-sigma circle in two standard-normal coordinates."""
    angles = np.linspace(0.0, 2.0 * np.pi, num_points)
    return n_sigma * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def reparameterized_draws(mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """z = mu + sigma * eps for each row of eps: draws from N(mu, diag(sigma^2))."""
    return mu + sigma * eps


def nearest_neighbours(codes: np.ndarray, query: np.ndarray, k: int,
                       exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the k codes closest to query, nearest first."""
    distances = np.linalg.norm(codes - query, axis=1)
    if exclude is not None:
        distances[exclude] = np.inf
    k = min(k, int(np.isfinite(distances).sum()))
    nearest = np.argpartition(distances, k - 1)[:k] if k else np.array([], dtype=int)
    nearest = nearest[np.argsort(distances[nearest])]
    return nearest, distances[nearest]


# --- paths and directions ------------------------------------------------------------

def lerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation: along the great circle between a and b, norms interpolated linearly.

    Under N(0, I) most mass lies near a sphere, so this path stays where the prior
    puts its mass while a straight line cuts through the low-norm middle.
    """
    t = np.linspace(0.0, 1.0, steps)[:, None]
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a < 1e-12 or norm_b < 1e-12:
        return lerp(a, b, steps)
    unit_a, unit_b = a / norm_a, b / norm_b
    omega = np.arccos(np.clip(unit_a @ unit_b, -1.0, 1.0))
    if omega < 1e-6:
        return lerp(a, b, steps)
    directions = (np.sin((1 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / np.sin(omega)
    return directions * ((1 - t) * norm_a + t * norm_b)


def class_means(codes: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean code of each class, (num_classes, d); NaN rows for absent classes."""
    means = np.full((num_classes, codes.shape[1]), np.nan)
    for c in range(num_classes):
        members = codes[labels == c]
        if len(members):
            means[c] = members.mean(0)
    return means


def attribute_direction(codes: np.ndarray, labels: np.ndarray, class_a: int, class_b: int) -> np.ndarray:
    """mean(mu | class b) - mean(mu | class a): adding it moves a code from a towards b."""
    means = class_means(codes, labels, int(max(class_a, class_b, labels.max())) + 1)
    if np.isnan(means[class_a]).any() or np.isnan(means[class_b]).any():
        raise ValueError("both classes need at least one encoded image")
    return means[class_b] - means[class_a]


def points_in_region(points: np.ndarray, shape: str, vertices: np.ndarray) -> np.ndarray:
    """Indices of the 2-d points inside a box (two opposite corners) or a lasso polygon (even-odd rule).

    The app's one rule for a region: the map in the browser dims the points this returns (sent as bits).
    """
    x, y = points[:, 0], points[:, 1]
    vertices = np.asarray(vertices, dtype=float)
    if shape == "box":
        (x0, y0), (x1, y1) = vertices.min(0), vertices.max(0)
        return np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    if shape != "lasso" or len(vertices) < 3:
        raise ValueError("a region is a box of two corners or a lasso of at least three vertices")
    inside = np.zeros(len(points), dtype=bool)
    for (ax, ay), (bx, by) in zip(vertices, np.roll(vertices, 1, axis=0)):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            edge_x = (bx - ax) * (y - ay) / (by - ay) + ax
        inside ^= crosses & (x < edge_x)
    return np.flatnonzero(inside)


# --- generation ----------------------------------------------------------------------

MAX_SEED = 2**31 - 1  # the largest seed a form or a link accepts (what every generator here takes)


def prior_samples(count: int, latent_dim: int, seed: int, temperature: float = 1.0) -> np.ndarray:
    """z ~ N(0, temperature^2 I), reproducible from the seed."""
    return temperature * np.random.default_rng(seed).standard_normal((count, latent_dim))


def traversal_grid(z: np.ndarray, sweep: np.ndarray, dims: int) -> np.ndarray:
    """Codes that sweep each of the first `dims` dimensions through `sweep` while the others stay at z:
    (dims * len(sweep), d), one row of the picture per dimension."""
    grid = np.repeat(np.asarray(z, dtype=float)[None, :], dims * len(sweep), axis=0)
    for i in range(dims):
        grid[i * len(sweep):(i + 1) * len(sweep), i] = sweep
    return grid


def latent_grid(x_range: tuple[float, float], y_range: tuple[float, float], n: int) -> np.ndarray:
    """An n x n grid of 2-d points over the region, row by row from the top (highest y) down."""
    xs = np.linspace(x_range[0], x_range[1], n)
    ys = np.linspace(y_range[1], y_range[0], n)
    return np.array([[x, y] for y in ys for x in xs])


# --- whole-set measures ----------------------------------------------------------------

def active_dimensions(mu: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Which dimensions' encoder mean varies across the data: Cov_x(E_q[z_u]) > threshold (Burda et al.); bool (d,)."""
    return mu.var(axis=0) > threshold


def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """How many dimensions are active (``active_dimensions``)."""
    return int(active_dimensions(mu, threshold).sum())
