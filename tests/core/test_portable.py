"""vae_core.portable: decoders exported as plain layers agree with torch, or are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vae_core import load_checkpoint
from vae_core.models import ModelConfig
from vae_core.portable import MAX_MULTIPLY_ADDS, portable_decoder, run_portable_decoder

ASSETS = Path(__file__).resolve().parents[2] / "latent_explorer" / "assets"


class _ConvDecoderModel(nn.Module):
    """Stands in for any model whose decoder is a Sequential of supported layers (here a conv decoder)."""

    def __init__(self, decoder: nn.Sequential, latent_dim: int, input_shape=(1, 28, 28)):
        super().__init__()
        self.config = ModelConfig(kind="vae", input_shape=input_shape, hidden_dim=8, latent_dim=latent_dim)
        self.decoder = decoder

    @property
    def device(self):
        return torch.device("cpu")

    def decode(self, z):
        return torch.sigmoid(self.decoder(z)).view(-1, *self.config.input_shape)


def _conv_model(seed: int = 0) -> _ConvDecoderModel:
    torch.manual_seed(seed)
    decoder = nn.Sequential(
        nn.Linear(3, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.Conv2d(16, 1, 3, stride=1, padding=1))
    return _ConvDecoderModel(decoder, latent_dim=3)


def _torch_decode(model, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.decode(torch.as_tensor(z, dtype=torch.float32)).numpy()


@pytest.mark.parametrize("checkpoint", ["digits-latent2.pt", "fashion-mnist-latent2.pt"])
def test_shipped_mlp_decoders_export_and_agree_with_torch(checkpoint):
    pair = load_checkpoint(ASSETS / checkpoint)
    z = np.random.default_rng(1).standard_normal((100, 2)).astype(np.float32) * 2
    for model in pair.models().values():
        decoder = portable_decoder(model)
        assert decoder is not None
        assert [layer.op for layer in decoder.layers] == ["linear", "relu", "linear"]
        assert decoder.output_shape == tuple(model.config.input_shape)
        np.testing.assert_allclose(run_portable_decoder(decoder, z), _torch_decode(model, z), atol=1e-5)


def test_conv_decoders_with_padding_and_output_padding_agree_with_torch():
    model = _conv_model()
    decoder = portable_decoder(model)
    assert decoder is not None
    assert [layer.op for layer in decoder.layers] == [
        "linear", "relu", "reshape", "conv_transpose2d", "relu", "conv_transpose2d", "relu", "conv2d"]
    z = np.random.default_rng(2).standard_normal((16, 3)).astype(np.float32)
    got = run_portable_decoder(decoder, z)
    assert got.shape == (16, 1, 28, 28)
    np.testing.assert_allclose(got, _torch_decode(model, z), atol=1e-5)


def test_a_layer_outside_the_format_means_no_portable_decoder():
    model = _conv_model()
    model.decoder[1] = nn.Tanh()
    assert portable_decoder(model) is None


def test_a_decoder_too_costly_for_a_browser_frame_is_refused():
    hidden = MAX_MULTIPLY_ADDS // 784 + 1
    decoder = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 784))
    assert portable_decoder(_ConvDecoderModel(decoder, latent_dim=2)) is None


def test_a_model_whose_decode_does_more_than_its_layers_is_refused():
    model = _conv_model()
    model.decode = lambda z: torch.sigmoid(model.decoder(z) * 2).view(-1, 1, 28, 28)
    assert portable_decoder(model) is None
