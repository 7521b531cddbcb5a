"""The AE beside the VAE, and both beside the prior: the numbers behind the Compare and Sample pages.

A VAE is trained so that its codes follow N(0, I); an AE is not. The measures
here check that claim on held-out data (how much of each model's codes fall
where the prior puts its mass) and pair the two models image by image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammainc, gammaincinv

from .workspace import ModelSummary, Workspace

# --- the prior's mass ------------------------------------------------------------------


def prior_mass_inside(radius: float, dim: int) -> float:
    """P(||z|| <= radius) for z ~ N(0, I_dim): ||z||^2 is chi-square with dim degrees of freedom."""
    return float(gammainc(dim / 2.0, radius**2 / 2.0))


def radius_holding_prior_mass(mass: float, dim: int) -> float:
    """The radius of the ball around 0 that holds this share of N(0, I_dim)."""
    return float(np.sqrt(2.0 * gammaincinv(dim / 2.0, mass)))


@dataclass(frozen=True)
class PriorCoverage:
    """How many codes fall inside the ball that holds as much prior mass as the n-sigma circle of a 2-d map."""

    n_sigma: float
    radius: float  # n_sigma itself for a 2-d latent
    prior_mass: float  # share of N(0, I) inside the radius
    fraction: float  # share of the codes inside the radius


def prior_coverage(codes: np.ndarray, n_sigma: float) -> PriorCoverage:
    """Share of codes (N, d) within the prior's n-sigma region, next to the share the prior itself puts there.

    In two dimensions the region is the n-sigma circle drawn on the map. In d
    dimensions a ball of radius n holds far less of N(0, I) (its mass sits near
    radius sqrt(d)), so the radius is widened until it holds the same share as
    the 2-d circle; the comparison with the prior then means the same thing for
    every latent size.
    """
    dim = codes.shape[1]
    mass = prior_mass_inside(n_sigma, 2)
    radius = n_sigma if dim == 2 else radius_holding_prior_mass(mass, dim)
    fraction = float(np.mean(np.linalg.norm(codes, axis=1) <= radius))
    return PriorCoverage(n_sigma=n_sigma, radius=radius, prior_mass=mass, fraction=fraction)


# --- held-out images side by side --------------------------------------------------------


def comparison_indices(total: int, count: int, seed: int, first: int | None = None) -> np.ndarray:
    """count distinct indices below total, drawn reproducibly from the seed; first (if given) leads."""
    count = min(count, total)
    rng = np.random.default_rng(seed)
    if first is None:
        return rng.choice(total, size=count, replace=False)
    others = np.delete(np.arange(total), first)
    return np.concatenate([[first], rng.choice(others, size=count - 1, replace=False)]).astype(int)


def interpolation_partner(labels: np.ndarray, index: int) -> int:
    """A second endpoint for a path from index: the first held-out image of another class."""
    others = np.flatnonzero(labels != labels[index])
    if len(others):
        return int(others[0])
    return (index + 1) % len(labels)


@dataclass(frozen=True)
class ReconstructionComparison:
    """The same held-out images through each model of a pair; images are (N, H, W), errors (N,)."""

    indices: np.ndarray
    originals: np.ndarray
    reconstructions: dict[str, np.ndarray]
    pixel_mse: dict[str, np.ndarray]  # per image, averaged over pixels and channels


@torch.no_grad()
def compare_reconstructions(ws: Workspace, indices: np.ndarray) -> ReconstructionComparison:
    """Each model decodes its encoder mean of every image, the same deterministic code the summaries use."""
    indices = np.asarray(indices, dtype=int)
    x = ws.image_tensors(indices)
    reconstructions, errors = {}, {}
    for kind in ws.kinds:
        model = ws.model(kind)
        model.eval()
        z = torch.as_tensor(ws.encodings[kind].mu[indices], dtype=torch.float32, device=model.device)
        decoded = model.decode(z).cpu()
        reconstructions[kind] = decoded.mean(1).numpy()
        errors[kind] = (decoded - x).pow(2).flatten(1).mean(1).numpy()
    return ReconstructionComparison(indices=indices, originals=x.mean(1).numpy(),
                                    reconstructions=reconstructions, pixel_mse=errors)


# --- whole-set figures ----------------------------------------------------------------------

def model_summaries(ws: Workspace) -> dict[str, ModelSummary]:
    """ws.summary for every model of the pair (each cached on the workspace)."""
    return {kind: ws.summary(kind) for kind in ws.kinds}
