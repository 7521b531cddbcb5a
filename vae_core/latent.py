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
    """Encoder means (and log-variances) of float images, in batches."""
    model.eval()
    mus, logvars = [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(model.device)
        if isinstance(model, VAE):
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


@torch.no_grad()
def reconstruct(model, images: torch.Tensor) -> np.ndarray:
    """Deterministic reconstructions (a VAE decodes its mean) as (N, H, W)."""
    encoding = encode_images(model, images)
    return decode_latents(model, encoding.mu)


@dataclass(frozen=True)
class PointAnalysis:
    """One image under the VAE: posterior, its KL to the prior and the ELBO's terms, in nats."""

    mu: np.ndarray
    sigma: np.ndarray
    kl_per_dim: np.ndarray
    kl: float
    reconstruction_nll: float  # -E_q[log p(x|z)], Monte Carlo over posterior samples
    elbo: float
    log_px: float  # importance-weighted estimate, >= ELBO in expectation
    samples: int


@torch.no_grad()
def analyse_point(vae: VAE, image: torch.Tensor, loss: str = "bce", samples: int = 256,
                  seed: int = 0) -> PointAnalysis:
    """ELBO = E_q[log p(x|z)] - KL for one image, next to an importance-weighted log p(x)."""
    vae.eval()
    x = image.reshape(1, *vae.config.input_shape).to(vae.device)
    mu, logvar = vae.encode(x)
    generator = torch.Generator(device=vae.device).manual_seed(seed)
    eps = torch.randn((samples, mu.shape[1]), generator=generator, device=vae.device)
    z = reparameterize(mu, logvar, eps)
    nll = reconstruction_nll(vae.decode_logits(z), x.expand(samples, *x.shape[1:]), loss).mean().item()
    kl_dims = kl_per_dimension(mu, logvar)[0]
    kl = kl_dims.sum().item()
    log_px = importance_weighted_log_px(vae, x, num_samples=samples, loss=loss, generator=generator).item()
    return PointAnalysis(mu=mu[0].cpu().numpy(), sigma=torch.exp(0.5 * logvar)[0].cpu().numpy(),
                         kl_per_dim=kl_dims.cpu().numpy(), kl=kl, reconstruction_nll=nll,
                         elbo=-nll - kl, log_px=log_px, samples=samples)


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


def tsne_embedding(mu: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 2-d t-SNE of the codes (non-linear: new points cannot be placed in it)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(5, (len(mu) - 1) // 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu)


def posterior_ellipse(mu: np.ndarray, sigma: np.ndarray, projection: LinearProjection,
                      n_sigma: float, num_points: int = 72) -> np.ndarray:
    """Outline of the n-sigma region of N(mu, diag(sigma^2)) seen through the projection, (num_points, 2).

    The projected covariance is P diag(sigma^2) P^T; its eigenvectors give the
    ellipse's axes and the square roots of its eigenvalues their half-lengths.
    """
    p = projection.components
    covariance = p @ np.diag(np.square(sigma)) @ p.T
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    angles = np.linspace(0.0, 2.0 * np.pi, num_points)
    circle = np.stack([np.cos(angles), np.sin(angles)])
    outline = eigenvectors @ (n_sigma * np.sqrt(np.clip(eigenvalues, 0, None))[:, None] * circle)
    return projection(mu)[0] + outline.T


def prior_circle(n_sigma: float, num_points: int = 72) -> np.ndarray:
    """The prior's n-sigma circle in two standard-normal coordinates."""
    angles = np.linspace(0.0, 2.0 * np.pi, num_points)
    return n_sigma * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def reparameterized_draws(mu: np.ndarray, sigma: np.ndarray, count: int,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(eps, z) with eps ~ N(0, I) and z = mu + sigma * eps, each (count, d)."""
    eps = np.random.default_rng(seed).standard_normal((count, len(mu)))
    return eps, mu + sigma * eps


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
    members_a, members_b = codes[labels == class_a], codes[labels == class_b]
    if not len(members_a) or not len(members_b):
        raise ValueError("both classes need at least one encoded image")
    return members_b.mean(0) - members_a.mean(0)


# --- generation ----------------------------------------------------------------------

def prior_samples(count: int, latent_dim: int, seed: int, temperature: float = 1.0) -> np.ndarray:
    """z ~ N(0, temperature^2 I), reproducible from the seed."""
    return temperature * np.random.default_rng(seed).standard_normal((count, latent_dim))


def latent_grid(x_range: tuple[float, float], y_range: tuple[float, float], n: int) -> np.ndarray:
    """An n x n grid of 2-d points over the region, row by row from the top (highest y) down."""
    xs = np.linspace(x_range[0], x_range[1], n)
    ys = np.linspace(y_range[1], y_range[0], n)
    return np.array([[x, y] for y in ys for x in xs])


# --- whole-set measures ----------------------------------------------------------------

def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """Dimensions whose encoder mean varies across the data: Cov_x(E_q[z_u]) > threshold (Burda et al.)."""
    return int((mu.var(axis=0) > threshold).sum())
