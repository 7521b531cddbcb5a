"""The VAE objective, per image, in nats.

ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x).

Reconstruction terms are negative log-likelihoods summed over pixels:
- ``bce``: a Bernoulli decoder, -log p(x|z) = sum of binary cross-entropies.
- ``mse``: a Gaussian decoder with variance 1/2, for which
  -log p(x|z) = sum (x - x')^2 + (D/2) log(pi). The constant does not change
  training; keeping it makes the ELBO and log p(x) true nats for both losses.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from .models import reparameterize

ReconstructionLoss = Literal["bce", "mse"]
RECONSTRUCTION_LOSSES: tuple[str, ...] = ("bce", "mse")
# A decoder's likelihood, as a model imported from elsewhere declares it, and the loss that computes its -log p(x|z).
LIKELIHOOD_LOSSES = {"bernoulli": "bce", "gaussian": "mse"}


class _BernoulliNLL(torch.autograd.Function):
    """sum over pixels of -log p(x|z) for Bernoulli pixels with probabilities sigmoid(logits), per image.

    Written out as max(l, 0) - x l + log(1 + exp(-|l|)), the stable form of
    softplus(l) - x l, with the gradient sigmoid(l) - x given directly: one
    autograd node instead of about ten. torch's log1p (and with it softplus and
    binary_cross_entropy_with_logits) was ten times slower than log on the AMD
    EPYC CPUs this was measured on; log(1 + e) differs from log1p(e) by less than
    6e-8 per pixel (benchmarks/README.md).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, x)
        return (logits.clamp_min(0) - x * logits + torch.log(1 + torch.exp(-logits.abs()))).sum(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, x = ctx.saved_tensors
        grad = grad[:, None]
        grad_logits = (torch.sigmoid(logits) - x) * grad if ctx.needs_input_grad[0] else None
        grad_x = -logits * grad if ctx.needs_input_grad[1] else None
        return grad_logits, grad_x


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, loss: ReconstructionLoss = "bce") -> torch.Tensor:
    """-log p(x|z) per image, (N,), from decoder logits and targets in [0, 1]."""
    logits = logits.flatten(1)
    x = x.flatten(1)
    if loss == "bce":
        return _BernoulliNLL.apply(logits, x)
    if loss == "mse":
        squared = (torch.sigmoid(logits) - x).pow(2).sum(1)
        return squared + 0.5 * x.shape[1] * math.log(math.pi)
    raise ValueError(f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, not {loss!r}")


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) for each latent dimension: 1/2 (mu^2 + sigma^2 - log sigma^2 - 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per sample, (N,), for a diagonal Gaussian q."""
    return kl_per_dimension(mu, logvar).sum(-1)


def negative_elbo(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    loss: ReconstructionLoss = "bce",
    beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(reconstruction + beta * KL, reconstruction, KL), each per image (N,).

    With beta = 1 the first is -ELBO in nats, estimated with the one z behind ``logits``.
    """
    reconstruction = reconstruction_nll(logits, x, loss)
    kl = kl_divergence(mu, logvar)
    return reconstruction + beta * kl, reconstruction, kl


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def importance_weighted_log_px(
    model,
    x: torch.Tensor,
    num_samples: int = 64,
    loss: ReconstructionLoss = "bce",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log p(x) ~ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x); per image, (N,).

    For K = 1 its expectation is the ELBO; it rises towards log p(x) as K grows
    (Burda et al., 2016).
    """
    if num_samples < 1:
        raise ValueError("num_samples must be at least 1")
    mu, logvar = model.encode(x)
    zero = torch.zeros_like(mu)
    log_weights = []
    for _ in range(num_samples):
        z = reparameterize(mu, logvar, generator=generator)
        log_px_given_z = -reconstruction_nll(model.decode_logits(z), x, loss)
        log_weights.append(log_px_given_z + log_normal(z, zero, zero) - log_normal(z, mu, logvar))
    stacked = torch.stack(log_weights)
    return torch.logsumexp(stacked, dim=0) - math.log(num_samples)
