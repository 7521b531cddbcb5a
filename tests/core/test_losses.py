"""KL divergence, reparameterization, reconstruction terms and the ELBO, checked against
independent computations (torch.distributions, Monte Carlo, hand arithmetic)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal

from vae_core.losses import kl_divergence, kl_per_dimension, negative_elbo, reconstruction_nll
from vae_core.models import VAE, ModelConfig, reparameterize

F64 = torch.float64


def _random_posterior(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = 1.5 * torch.randn(shape, generator=g, dtype=F64)
    logvar = 1.2 * torch.randn(shape, generator=g, dtype=F64)
    return mu, logvar


def _q_and_prior(mu: torch.Tensor, logvar: torch.Tensor):
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    return q, p


# --- KL ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed, dim", [(0, 1), (1, 3), (2, 8), (3, 20)])
def test_kl_matches_monte_carlo_estimate(seed, dim):
    mu, logvar = _random_posterior(seed, (dim,))
    q, p = _q_and_prior(mu, logvar)
    n = 200_000
    torch.manual_seed(100 + seed)
    z = q.sample((n,))
    log_ratio = q.log_prob(z) - p.log_prob(z)  # E_q[log q(z) - log p(z)] = KL(q || p)
    estimate = log_ratio.mean().item()
    standard_error = log_ratio.std().item() / math.sqrt(n)
    closed_form = kl_divergence(mu[None], logvar[None])[0].item()
    assert abs(closed_form - estimate) < 5 * standard_error + 1e-9, (closed_form, estimate, standard_error)
    # The Monte Carlo check is sharp enough to catch a wrong formula (e.g. a missing 1/2 or sigma for sigma^2).
    assert 5 * standard_error < 0.1 * closed_form


def test_kl_agrees_with_torch_distributions_exactly():
    mu, logvar = _random_posterior(7, (16, 6))
    q, p = _q_and_prior(mu, logvar)
    expected = torch.distributions.kl_divergence(q, p)
    assert kl_divergence(mu, logvar).shape == (16,)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected, rtol=1e-12, atol=1e-12)
    per_dim = torch.distributions.kl_divergence(Normal(mu, torch.exp(0.5 * logvar)),
                                                Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(kl_per_dimension(mu, logvar), per_dim, rtol=1e-12, atol=1e-12)


def test_kl_per_dimension_sums_to_kl():
    mu, logvar = _random_posterior(8, (5, 9))
    per_dim = kl_per_dimension(mu, logvar)
    assert per_dim.shape == (5, 9)
    torch.testing.assert_close(per_dim.sum(-1), kl_divergence(mu, logvar), rtol=1e-12, atol=1e-12)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 4)
    assert torch.equal(kl_divergence(zeros, zeros), torch.zeros(3))
    mu, logvar = _random_posterior(9, (50, 4))
    assert (kl_divergence(mu, logvar) > 0).all()
    # Moving only the mean, or only the variance, away from the prior also costs nats.
    assert kl_divergence(torch.tensor([[0.1]]), torch.tensor([[0.0]])).item() == pytest.approx(0.005)
    assert kl_divergence(torch.tensor([[0.0]]), torch.tensor([[0.3]])).item() > 0
    assert kl_divergence(torch.tensor([[0.0]]), torch.tensor([[-0.3]])).item() > 0


# --- the seed's worked numbers ---------------------------------------------------------

def test_seed_kl_example_is_0_1681_not_0_173():
    # Revision guide, section 4.2: 1-D q = N(0.5, 0.8^2). By hand:
    # 1/2 (0.25 + 0.64 - ln 0.64 - 1) = 1/2 (0.89 + 0.4462871 - 1) = 0.1681436.
    # The guide prints "≈ 0.173": an arithmetic slip in the seed, not a different formula.
    by_hand = 0.5 * (0.5 ** 2 + 0.8 ** 2 - math.log(0.8 ** 2) - 1)
    assert by_hand == pytest.approx(0.1681436, abs=1e-7)
    kl = kl_divergence(torch.tensor([[0.5]], dtype=F64), torch.tensor([[math.log(0.64)]], dtype=F64)).item()
    assert kl == pytest.approx(0.16814, abs=1e-5)
    assert kl != pytest.approx(0.173, abs=1e-3)


def test_seed_reparameterization_example():
    # mu = 2, sigma = 0.5, eps = 1 gives z = 2 + 0.5 * 1 = 2.5 (sections 5 and 8 of the guide).
    z = reparameterize(torch.tensor([2.0]), torch.tensor([math.log(0.25)]), torch.tensor([1.0]))
    assert z.item() == pytest.approx(2.5, abs=1e-6)


# --- reparameterization -----------------------------------------------------------------

def test_reparameterized_samples_have_the_posterior_moments():
    mu = torch.tensor([2.0, -1.0, 0.5], dtype=F64)
    sigma = torch.tensor([0.5, 2.0, 1.0], dtype=F64)
    n = 200_000
    torch.manual_seed(0)
    z = reparameterize(mu.expand(n, 3), (2 * sigma.log()).expand(n, 3))
    assert z.shape == (n, 3) and z.dtype == F64
    torch.testing.assert_close(z.mean(0), mu, atol=(5 * sigma / math.sqrt(n)).max().item(), rtol=0)
    torch.testing.assert_close(z.std(0), sigma, rtol=0.01, atol=0)
    # Not a constant: independent draws per row.
    assert z[:, 0].unique().numel() > n // 2


def test_gradients_reach_mu_and_logvar():
    mu = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    logvar = torch.tensor([0.0, -1.0, 0.7], requires_grad=True)
    eps = torch.tensor([0.5, -2.0, 1.3])
    z = reparameterize(mu, logvar, eps)
    z.sum().backward()
    sigma = torch.exp(0.5 * logvar.detach())
    torch.testing.assert_close(mu.grad, torch.ones(3))  # dz/dmu = 1
    torch.testing.assert_close(logvar.grad, 0.5 * sigma * eps)  # dz/dlogvar = sigma * eps / 2


def test_gradients_flow_with_internal_noise_and_on_cpu():
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    z = reparameterize(mu, logvar)  # the seed drew eps with torch.cuda.FloatTensor: CUDA only
    assert z.device.type == "cpu"
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(4, 2))
    torch.testing.assert_close(logvar.grad, 0.5 * z.detach())  # sigma = 1, so 0.5 * eps = 0.5 * z


def test_vae_forward_runs_on_cpu_without_cuda(monkeypatch):
    def no_cuda(*args, **kwargs):
        raise AssertionError("CUDA must not be touched on CPU")

    monkeypatch.setattr(torch.cuda, "FloatTensor", no_cuda, raising=False)
    model = VAE(ModelConfig(input_shape=(1, 4, 4), hidden_dim=8, latent_dim=2))
    recon, mu, logvar = model(torch.rand(3, 1, 4, 4))
    assert recon.device.type == "cpu" and recon.shape == (3, 1, 4, 4)


# --- reconstruction terms ---------------------------------------------------------------

def _logits_and_targets(seed: int, binary: bool):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(6, 1, 5, 7, generator=g, dtype=F64)
    x = torch.rand(6, 1, 5, 7, generator=g, dtype=F64)
    return logits, (x > 0.5).to(F64) if binary else x


@pytest.mark.parametrize("binary", [True, False])
def test_bce_is_summed_binary_cross_entropy_per_image(binary):
    logits, x = _logits_and_targets(1, binary)
    expected = torch.stack([F.binary_cross_entropy(torch.sigmoid(row), t, reduction="sum")
                            for row, t in zip(logits, x)])
    got = reconstruction_nll(logits, x, "bce")
    assert got.shape == (6,)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    if binary:  # Bernoulli decoder: -log p(x|z) = -sum log Bernoulli(x; sigmoid(logits))
        bern = -torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
        torch.testing.assert_close(got, bern, rtol=1e-9, atol=1e-9)


def test_mse_is_gaussian_nll_with_variance_one_half():
    logits, x = _logits_and_targets(2, binary=False)
    d = 5 * 7
    got = reconstruction_nll(logits, x, "mse")
    squared = ((torch.sigmoid(logits) - x) ** 2).flatten(1).sum(1)
    torch.testing.assert_close(got, squared + d / 2 * math.log(math.pi), rtol=1e-12, atol=1e-9)
    gaussian = -Normal(torch.sigmoid(logits), math.sqrt(0.5)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(got, gaussian, rtol=1e-12, atol=1e-9)


def test_reconstruction_accepts_flat_inputs_and_rejects_unknown_losses():
    logits, x = _logits_and_targets(3, binary=True)
    torch.testing.assert_close(reconstruction_nll(logits.flatten(1), x.flatten(1)), reconstruction_nll(logits, x))
    with pytest.raises(ValueError, match="reconstruction loss"):
        reconstruction_nll(logits, x, "l1")


@pytest.mark.parametrize("loss", ["bce", "mse"])
@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0])
def test_negative_elbo_is_reconstruction_plus_beta_kl(loss, beta):
    logits, x = _logits_and_targets(4, binary=True)
    mu, logvar = _random_posterior(5, (6, 3))
    total, reconstruction, kl = negative_elbo(logits, x, mu, logvar, loss, beta)
    q, p = _q_and_prior(mu, logvar)
    expected_kl = torch.distributions.kl_divergence(q, p)
    if loss == "bce":
        expected_rec = -torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    else:
        expected_rec = -Normal(torch.sigmoid(logits), math.sqrt(0.5)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(reconstruction, expected_rec, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(kl, expected_kl, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(total, expected_rec + beta * expected_kl, rtol=1e-9, atol=1e-9)
    assert total.shape == reconstruction.shape == kl.shape == (6,)


def test_negative_elbo_default_is_bce_with_beta_one():
    logits, x = _logits_and_targets(6, binary=True)
    mu, logvar = _random_posterior(6, (6, 2))
    total, reconstruction, kl = negative_elbo(logits, x, mu, logvar)
    torch.testing.assert_close(reconstruction, reconstruction_nll(logits, x, "bce"))
    torch.testing.assert_close(total, reconstruction + kl)


def test_bernoulli_nll_gradients_are_those_of_binary_cross_entropy():
    # The fused Bernoulli term gives its gradient directly: sigmoid(l) - x for the logits, -l for the targets.
    logits, x = _logits_and_targets(8, binary=False)
    logits, x = logits.flatten(1).requires_grad_(), x.flatten(1).requires_grad_()
    assert torch.autograd.gradcheck(lambda lg, t: reconstruction_nll(lg, t, "bce"), (logits, x))
    weights = torch.rand(6, dtype=F64)
    (reconstruction_nll(logits, x) * weights).sum().backward()
    fused = logits.grad.clone(), x.grad.clone()
    logits.grad = x.grad = None
    (F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1) * weights).sum().backward()
    torch.testing.assert_close(fused, (logits.grad, x.grad), rtol=1e-12, atol=1e-12)


def test_bernoulli_nll_is_exact_in_float32_for_saturated_logits():
    # log(1 + exp(-|l|)) stands in for log1p: it differs by less than 6e-8 per pixel, even far from zero.
    logits = torch.tensor([[-90.0, -20.0, -5.0, 0.0, 5.0, 20.0, 90.0]])
    x = torch.tensor([[0.0, 0.3, 1.0, 0.5, 0.0, 0.7, 1.0]])
    expected = F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none").sum(1)
    got = reconstruction_nll(logits, x)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert abs(got.double() - expected).item() < 7 * 6e-8 + 1e-5 * expected.item()
