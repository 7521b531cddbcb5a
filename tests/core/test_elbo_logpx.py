"""ELBO <= log p(x): the importance-weighted estimate against the ELBO on a trained VAE,
and against log p(x) computed by numerical integration for a 1-D latent toy model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from vae_core.losses import importance_weighted_log_px, kl_divergence, negative_elbo
from vae_core.models import ModelConfig, reparameterize
from vae_core.training import new_model

F64 = torch.float64


@torch.no_grad()
def _mc_elbo(model, x, samples: int, seed: int) -> torch.Tensor:
    """Per-image ELBO = -(reconstruction + KL), averaged over reparameterized samples (float64)."""
    torch.manual_seed(seed)
    mu, logvar = model.encode(x)
    values = [-negative_elbo(model.decode_logits(reparameterize(mu, logvar)), x, mu, logvar)[0]
              for _ in range(samples)]
    return torch.stack(values).double().mean(0)


@torch.no_grad()
def _iw_mean(model, x, k: int, seeds: range) -> float:
    """Mean over images and generator seeds of the K-sample estimate."""
    values = [importance_weighted_log_px(model, x, k, generator=torch.Generator().manual_seed(s)).double().mean()
              for s in seeds]
    return torch.stack(values).mean().item()


def test_iw_rejects_zero_samples(trained_vae, digits):
    with pytest.raises(ValueError):
        importance_weighted_log_px(trained_vae, digits.images("test")[:2], 0)


def test_iw_is_reproducible_from_a_generator(trained_vae, digits):
    x = digits.images("test")[:20]
    a = importance_weighted_log_px(trained_vae, x, 5, generator=torch.Generator().manual_seed(4))
    b = importance_weighted_log_px(trained_vae, x, 5, generator=torch.Generator().manual_seed(4))
    c = importance_weighted_log_px(trained_vae, x, 5, generator=torch.Generator().manual_seed(5))
    assert a.shape == (20,) and torch.equal(a, b) and not torch.equal(a, c)


def test_single_sample_iw_estimate_averages_to_the_elbo(trained_vae, digits):
    # With K = 1 the importance weight is p(x|z) p(z) / q(z|x): its log averages to the ELBO,
    # which negative_elbo computes with the closed-form KL instead.
    x = digits.images("test")
    seeds = 20
    iw1 = torch.stack([
        importance_weighted_log_px(trained_vae, x, 1, generator=torch.Generator().manual_seed(s)).double()
        for s in range(seeds)]).mean(0)
    elbo = _mc_elbo(trained_vae, x, seeds, seed=1000)
    difference = iw1 - elbo
    standard_error = difference.std().item() / math.sqrt(len(difference))
    assert abs(difference.mean().item()) < 4 * standard_error + 1e-3, (difference.mean().item(), standard_error)
    # The tolerance is far smaller than the K = 1 -> K = 10 gain, so a biased K = 1 would be caught.
    gain = _iw_mean(trained_vae, x, 10, range(2)) - _iw_mean(trained_vae, x, 1, range(2))
    assert 4 * standard_error < gain / 2


def test_iw_estimate_grows_with_k_and_bounds_the_elbo(trained_vae, digits):
    x = digits.images("test")
    seeds = range(4)
    k1, k10, k100 = (_iw_mean(trained_vae, x, k, seeds) for k in (1, 10, 100))
    elbo = _mc_elbo(trained_vae, x, 20, seed=7).mean().item()
    assert k1 < k10 < k100, (k1, k10, k100)
    assert elbo < k100
    assert elbo < k10
    # The bound is not loose by absurd amounts for a trained model (nats per 8x8 image).
    assert k100 - elbo < 5.0


# --- a toy model whose log p(x) can be integrated numerically ----------------------------

@pytest.fixture(scope="module")
def toy_model():
    """A VAE over 2-pixel images with a 1-d latent; decoder sharpened so q differs from the posterior."""
    model = new_model(ModelConfig(kind="vae", input_shape=(1, 1, 2), hidden_dim=8, latent_dim=1), seed=0)
    model = model.double().eval()
    with torch.no_grad():
        model.decoder[0].weight.mul_(3.0)
        model.decoder[2].weight.mul_(3.0)
    return model


def _log_px_given_z(logits: torch.Tensor, x: torch.Tensor, loss: str) -> torch.Tensor:
    """log p(x|z) written out independently of vae_core.losses: Bernoulli, or Gaussian with variance 1/2."""
    if loss == "bce":
        return (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(-1)
    return Normal(torch.sigmoid(logits), math.sqrt(0.5)).log_prob(x).sum(-1)


@torch.no_grad()
def _quadrature(model, x: torch.Tensor, loss: str) -> tuple[float, float]:
    """(log p(x), ELBO) by integrating over z on a fine grid: log ∫ p(x|z) p(z) dz and
    ∫ q(z|x) log p(x|z) dz - KL(q || p)."""
    z = torch.linspace(-12.0, 12.0, 48_001, dtype=F64)
    dz = (z[1] - z[0]).item()
    log_lik = _log_px_given_z(model.decode_logits(z[:, None]), x.flatten(), loss)
    log_prior = Normal(0.0, 1.0).log_prob(z)
    log_px = (torch.logsumexp(log_lik + log_prior, 0) + math.log(dz)).item()
    mu, logvar = model.encode(x.view(1, 1, 1, 2))
    q = Normal(mu[0, 0], torch.exp(0.5 * logvar[0, 0]))
    expected_log_lik = (q.log_prob(z).exp() * log_lik).sum().item() * dz
    kl = torch.distributions.kl_divergence(q, Normal(0.0, 1.0)).item()
    return log_px, expected_log_lik - kl


TOY_IMAGES = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.3, 0.8]]


@pytest.mark.parametrize("loss", ["bce", "mse"])
@pytest.mark.parametrize("pixels", TOY_IMAGES)
def test_iw_estimate_converges_to_integrated_log_px(toy_model, loss, pixels):
    x = torch.tensor(pixels, dtype=F64).view(1, 1, 1, 2)
    log_px, elbo = _quadrature(toy_model, x, loss)
    assert elbo <= log_px + 1e-9  # Jensen, for our own integrals
    # 2000 copies of the image with K = 50 each: pooled, one estimate with K = 100 000.
    copies = 2000
    per_copy = importance_weighted_log_px(toy_model, x.expand(copies, 1, 1, 2), 50, loss,
                                          generator=torch.Generator().manual_seed(0))
    pooled = (torch.logsumexp(per_copy, 0) - math.log(copies)).item()
    assert pooled == pytest.approx(log_px, abs=0.01)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_toy_single_sample_estimate_is_the_integrated_elbo(toy_model, loss):
    for pixels in TOY_IMAGES:
        x = torch.tensor(pixels, dtype=F64).view(1, 1, 1, 2)
        log_px, elbo = _quadrature(toy_model, x, loss)
        draws = importance_weighted_log_px(toy_model, x.expand(20_000, 1, 1, 2), 1, loss,
                                           generator=torch.Generator().manual_seed(1))
        standard_error = draws.std().item() / math.sqrt(len(draws))
        assert abs(draws.mean().item() - elbo) < 4 * standard_error + 1e-6, (pixels, draws.mean().item(), elbo)
        # The code's one-sample -negative_elbo (closed-form KL) has the same mean.
        mu, logvar = toy_model.encode(x.expand(20_000, 1, 1, 2))
        torch.manual_seed(2)
        with torch.no_grad():
            z = reparameterize(mu, logvar)
            neg, _, kl = negative_elbo(toy_model.decode_logits(z), x.expand(20_000, 1, 1, 2), mu, logvar, loss)
        assert kl[0].item() == pytest.approx(
            torch.distributions.kl_divergence(Normal(mu[0, 0], torch.exp(0.5 * logvar[0, 0])),
                                              Normal(0.0, 1.0)).item(), rel=1e-9)
        assert abs(-neg.mean().item() - elbo) < 4 * neg.std().item() / math.sqrt(len(neg)) + 1e-6


def test_toy_gap_between_elbo_and_log_px_is_real(toy_model):
    # So that the two tests above tell the ELBO and log p(x) apart.
    x = torch.tensor([0.0, 0.0], dtype=F64).view(1, 1, 1, 2)
    log_px, elbo = _quadrature(toy_model, x, "bce")
    assert log_px - elbo > 0.5
    assert kl_divergence(*toy_model.encode(x)).item() > 0
