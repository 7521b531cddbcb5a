"""Architectures of the seeds, configurable shapes, and ModelConfig validation."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vae_core.models import (
    VAE,
    Autoencoder,
    ModelConfig,
    ModelPair,
    build_model,
    original_autoencoder_config,
    original_vae_config,
    reparameterize,
)
from vae_core.training import new_model


def _layers(sequential: nn.Sequential) -> list[tuple]:
    described = []
    for layer in sequential:
        if isinstance(layer, nn.Linear):
            described.append(("linear", layer.in_features, layer.out_features))
        else:
            described.append(type(layer).__name__.lower())
    return described


def test_default_autoencoder_is_the_seeds_784_256_32_with_relu_code():
    model = Autoencoder()
    assert model.config == original_autoencoder_config()
    assert model.config.kind == "ae" and model.config.input_shape == (1, 28, 28)
    assert _layers(model.encoder) == ["flatten", ("linear", 784, 256), "relu", ("linear", 256, 32), "relu"]
    assert _layers(model.decoder) == [("linear", 32, 256), "relu", ("linear", 256, 784)]
    x = torch.rand(5, 1, 28, 28)
    code = model.encode(x)
    assert code.shape == (5, 32) and (code >= 0).all()  # ReLU on the code, as in the seed
    out = model(x)
    assert out.shape == (5, 1, 28, 28)
    # The seed's decoder ends in a sigmoid: decode = sigmoid(decoder logits).
    torch.testing.assert_close(out, torch.sigmoid(model.decoder(code)).view(5, 1, 28, 28))


def test_linear_code_autoencoder_has_no_relu_on_the_code():
    model = Autoencoder(ModelConfig(kind="ae", input_shape=(1, 8, 8), hidden_dim=16, latent_dim=3,
                                    code_activation="linear"))
    assert _layers(model.encoder) == ["flatten", ("linear", 64, 16), "relu", ("linear", 16, 3)]
    torch.manual_seed(0)
    codes = model.encode(torch.rand(200, 1, 8, 8))
    assert (codes < 0).any()


def test_default_vae_is_784_400_20_with_encoder_emitting_mu_and_logvar():
    model = VAE()
    assert model.config == original_vae_config()
    assert (model.config.hidden_dim, model.config.latent_dim) == (400, 20)
    assert _layers(model.encoder) == ["flatten", ("linear", 784, 400), "relu", ("linear", 400, 40)]
    assert _layers(model.decoder) == [("linear", 20, 400), "relu", ("linear", 400, 784)]
    x = torch.rand(3, 1, 28, 28)
    mu, logvar = model.encode(x)
    raw = model.encoder(x)
    assert mu.shape == logvar.shape == (3, 20)
    torch.testing.assert_close(mu, raw[:, :20])
    torch.testing.assert_close(logvar, raw[:, 20:])


def test_vae_forward_returns_decoded_reparameterized_sample_mu_and_logvar():
    model = VAE(ModelConfig(input_shape=(1, 8, 8), hidden_dim=16, latent_dim=2))
    x = torch.rand(4, 1, 8, 8)
    torch.manual_seed(3)
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 3
    recon, mu, logvar = out
    assert recon.shape == (4, 1, 8, 8) and mu.shape == logvar.shape == (4, 2)
    torch.manual_seed(3)
    mu2, logvar2 = model.encode(x)
    eps = torch.randn_like(mu2)
    torch.testing.assert_close(recon, model.decode(mu2 + torch.exp(0.5 * logvar2) * eps))
    torch.testing.assert_close(recon, model.decode(reparameterize(mu2, logvar2, eps)))


@pytest.mark.parametrize("kind", ["ae", "vae"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 4, 5)])
def test_configurable_input_shape_and_latent_size(kind, shape):
    model = build_model(ModelConfig(kind=kind, input_shape=shape, hidden_dim=12, latent_dim=2))
    assert isinstance(model, VAE if kind == "vae" else Autoencoder)
    x = torch.rand(7, *shape)
    code = model.encode(x)
    mu = code[0] if kind == "vae" else code
    assert mu.shape == (7, 2)
    # Decoding: (N, latent) -> (N, C, H, W) in [0, 1], also for extreme codes.
    z = torch.cat([torch.randn(5, 2), torch.full((1, 2), 1e4), torch.full((1, 2), -1e4)])
    images = model.decode(z)
    assert images.shape == (7, *shape)
    assert images.min() >= 0 and images.max() <= 1
    # Flat inputs are accepted as well as images.
    flat = model.encode(x.flatten(1))
    torch.testing.assert_close(flat[0] if kind == "vae" else flat, mu)


def test_model_device_and_new_model_seed():
    a = new_model(ModelConfig(input_shape=(1, 8, 8), hidden_dim=8, latent_dim=2), seed=5)
    b = new_model(ModelConfig(input_shape=(1, 8, 8), hidden_dim=8, latent_dim=2), seed=5)
    c = new_model(ModelConfig(input_shape=(1, 8, 8), hidden_dim=8, latent_dim=2), seed=6)
    assert a.device == torch.device("cpu")
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not all(torch.equal(a.state_dict()[k], c.state_dict()[k]) for k in a.state_dict())


@pytest.mark.parametrize("bad", [
    dict(kind="gan"),
    dict(input_shape=(1, 8)),
    dict(input_shape=(1, 8, 8, 1)),
    dict(input_shape=(0, 8, 8)),
    dict(input_shape=(1, -8, 8)),
    dict(latent_dim=0),
    dict(latent_dim=513),
    dict(hidden_dim=0),
    dict(hidden_dim=8193),
    dict(hidden_dim=10 ** 9),
    dict(code_activation="tanh"),
])
def test_model_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


@pytest.mark.parametrize("bad", [dict(latent_dim=2.5), dict(hidden_dim="16"), dict(latent_dim="2")])
def test_model_config_rejects_non_integer_sizes(bad):
    # A size that is not an int passes the range check (int(2.5) == 2, int("16") == 16)
    # but is stored as given, and building the model then fails with a TypeError deep in torch.
    with pytest.raises((ValueError, TypeError)):
        ModelConfig(input_shape=(1, 8, 8), **bad)


def test_model_config_dict_round_trip_and_json():
    config = ModelConfig(kind="ae", input_shape=(3, 4, 5), hidden_dim=17, latent_dim=3, code_activation="linear")
    data = config.to_dict()
    assert data == {"kind": "ae", "input_shape": [3, 4, 5], "hidden_dim": 17, "latent_dim": 3,
                    "code_activation": "linear", "architecture": "mlp"}
    assert ModelConfig.from_dict(json.loads(json.dumps(data))) == config
    assert ModelConfig.from_dict(data).input_shape == (3, 4, 5)
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**data, "dropout": 0.5})


def test_config_input_dim():
    assert ModelConfig(input_shape=(3, 4, 5)).input_dim == 60
    assert ModelConfig().input_dim == 784


def test_model_pair_lists_present_models_in_order():
    ae = Autoencoder(ModelConfig(kind="ae", input_shape=(1, 8, 8), hidden_dim=4, latent_dim=2))
    vae = VAE(ModelConfig(input_shape=(1, 8, 8), hidden_dim=4, latent_dim=2))
    assert list(ModelPair("digits", ae=ae, vae=vae).models()) == ["ae", "vae"]
    assert list(ModelPair("digits", vae=vae).models()) == ["vae"]
    assert ModelPair("digits").models() == {}


# --- the convolutional architecture ---------------------------------------------------------

def _conv(kind: str = "vae", shape=(1, 28, 28), hidden: int = 32, latent: int = 2, **extra) -> ModelConfig:
    return ModelConfig(kind=kind, input_shape=shape, hidden_dim=hidden, latent_dim=latent, architecture="conv",
                       **extra)


def test_conv_vae_is_two_stride_2_convolutions_then_the_hidden_layer_and_mirrors_them():
    model = VAE(_conv(hidden=64, latent=2))
    convs = [m for m in model.encoder if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride) for c in convs] == [(1, 32, (2, 2)), (32, 64, (2, 2))]
    linears = [(m.in_features, m.out_features) for m in model.encoder if isinstance(m, nn.Linear)]
    assert linears == [(64 * 7 * 7, 64), (64, 4)]  # 28 -> 14 -> 7; mu and log-variance side by side
    transposed = [m for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in transposed] == [(64, 32), (32, 1)]
    x = torch.rand(5, 1, 28, 28)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 2)
    assert model.decode_logits(mu).shape == (5, 1, 28, 28)
    recon, mu2, _ = model(x, generator=torch.Generator().manual_seed(0))
    assert recon.shape == (5, 1, 28, 28) and 0 <= recon.min() and recon.max() <= 1
    torch.testing.assert_close(mu2, mu)


@pytest.mark.parametrize("kind", ["ae", "vae"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 4, 5), (2, 31, 30), (1, 28, 28)])
def test_conv_models_take_any_shape_from_4x4_and_decode_back_to_it(kind, shape):
    model = build_model(_conv(kind, shape, hidden=12, latent=3, code_activation="linear"))
    x = torch.rand(4, *shape)
    code = model.encode(x)
    mu = code[0] if kind == "vae" else code
    assert mu.shape == (4, 3)
    images = model.decode(torch.cat([mu, torch.full((1, 3), 1e4)]))
    assert images.shape == (5, *shape) and images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(model.encode(x.flatten(1))[0] if kind == "vae" else model.encode(x.flatten(1)), mu)


def test_conv_autoencoder_keeps_the_relu_code_option():
    relu = Autoencoder(_conv("ae", (1, 8, 8), code_activation="relu"))
    linear = Autoencoder(_conv("ae", (1, 8, 8), code_activation="linear"))
    assert isinstance(relu.encoder[-1], nn.ReLU) and isinstance(linear.encoder[-1], nn.Linear)
    assert (relu.encode(torch.rand(50, 1, 8, 8)) >= 0).all()


def test_conv_config_refuses_images_smaller_than_4x4_and_unknown_architectures():
    with pytest.raises(ValueError, match="at least 4x4"):
        _conv(shape=(1, 3, 28))
    with pytest.raises(ValueError, match="architecture"):
        ModelConfig(architecture="transformer")
    assert ModelConfig(input_shape=(1, 3, 3)).architecture == "mlp"  # an MLP takes any size


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_new_model_is_torchs_default_initialisation_from_its_own_generator(architecture, kind):
    config = ModelConfig(kind=kind, input_shape=(1, 8, 8), hidden_dim=16, latent_dim=2, architecture=architecture)
    torch.manual_seed(11)
    expected = build_model(config).state_dict()
    state = torch.random.get_rng_state()
    got = new_model(config, seed=11).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state), "new_model drew from the global generator"
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)


def test_reparameterize_draws_from_the_generator_it_is_given():
    mu, logvar = torch.zeros(3, 4), torch.zeros(3, 4)
    state = torch.random.get_rng_state()
    first = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
    again = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, again) and torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(first, torch.randn(3, 4, generator=torch.Generator().manual_seed(1)))
