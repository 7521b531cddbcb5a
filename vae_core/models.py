"""The two models of the seeds, a plain autoencoder and a variational autoencoder, in two architectures.

``architecture="mlp"`` is the seeds' multilayer perceptron over flattened
images; ``architecture="conv"`` puts two stride-2 convolutions (32 and 64
channels) before the same hidden layer and mirrors them with transposed
convolutions in the decoder. Both kinds, losses and checkpoints are the same
for either. Decoders produce logits internally (``decode_logits``) so that
training can use a numerically stable Bernoulli likelihood; ``decode`` applies
the sigmoid the seeds put at the end of the decoder.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal

import torch
from torch import nn

from .replay import Replay

ModelKind = Literal["ae", "vae"]
Architecture = Literal["mlp", "conv"]
KIND_TITLES = {"ae": "AE", "vae": "VAE"}
ARCHITECTURES: tuple[str, ...] = ("mlp", "conv")
# A VAE trained elsewhere and imported as ONNX graphs (vae_core.onnx_import): described, never built from our layers.
ONNX_ARCHITECTURE = "onnx"
# Channels of the convolutional encoder's two stride-2 layers (the decoder mirrors them).
CONV_CHANNELS = (32, 64)
# Each stride-2 layer halves the image side (rounding down), so two need a side of at least 4.
CONV_MIN_SIDE = 4
# The largest sizes a model may declare: a checkpoint from a stranger cannot make us build a huge one.
MAX_IMAGE_SIDE = 4096
MAX_LATENT_DIM = 512
MAX_HIDDEN_DIM = 8192


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model. Plain data, so it survives a safe checkpoint load.

    Checkpoints written before ``architecture`` existed lack the field and load as MLPs.
    """

    kind: ModelKind = "vae"
    input_shape: tuple[int, int, int] = (1, 28, 28)
    hidden_dim: int = 400
    latent_dim: int = 20
    # The seed's autoencoder puts a ReLU on its 32-d code; a linear code keeps
    # low-dimensional maps from collapsing onto the positive quadrant.
    code_activation: Literal["relu", "linear"] = "relu"
    architecture: Architecture = "mlp"
    # Built from our own layers, so it can be trained, rebuilt from a checkpoint and run in the browser.
    foreign: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.kind not in ("ae", "vae"):
            raise ValueError(f"model kind must be 'ae' or 'vae', not {self.kind!r}")
        object.__setattr__(self, "input_shape", checked_input_shape(self.input_shape))
        for name, limit in (("latent_dim", MAX_LATENT_DIM), ("hidden_dim", MAX_HIDDEN_DIM)):
            object.__setattr__(self, name, checked_size(name, getattr(self, name), limit))
        if self.code_activation not in ("relu", "linear"):
            raise ValueError(f"code_activation must be 'relu' or 'linear', not {self.code_activation!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}")
        if self.architecture == "conv" and min(self.input_shape[1:]) < CONV_MIN_SIDE:
            raise ValueError(f"a convolutional model needs images of at least {CONV_MIN_SIDE}x{CONV_MIN_SIDE} "
                             f"pixels, not {self.input_shape[1]}x{self.input_shape[2]}")

    @property
    def input_dim(self) -> int:
        c, h, w = self.input_shape
        return c * h * w

    def to_dict(self) -> dict:
        return {**asdict(self), "input_shape": list(self.input_shape)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model settings: {sorted(unknown)}")
        return cls(**data)


def _is_whole(value) -> bool:
    """An integer proper: not a float like 2.0 or 2.5, a string, or a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def checked_input_shape(shape) -> tuple[int, int, int]:
    """(channels, height, width) as whole numbers from 1 to MAX_IMAGE_SIDE, or ValueError."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 3 \
            or not all(_is_whole(s) and 1 <= s <= MAX_IMAGE_SIDE for s in shape):
        raise ValueError(f"input_shape must be (channels, height, width) in whole numbers, not {shape}")
    return tuple(int(s) for s in shape)


def checked_size(name: str, value, limit: int) -> int:
    """A layer size as a whole number from 1 to ``limit``, or ValueError naming it."""
    if not (_is_whole(value) and 1 <= value <= limit):
        raise ValueError(f"{name} must be a whole number from 1 to {limit}, not {value!r}")
    return int(value)


def original_autoencoder_config() -> ModelConfig:
    """The autoencoder of the seed documents: 784-256-32 with ReLU, sigmoid output."""
    return ModelConfig(kind="ae", hidden_dim=256, latent_dim=32, code_activation="relu")


def original_vae_config() -> ModelConfig:
    """The VAE of the seed documents (and of PyTorch's canonical example): 784-400-20."""
    return ModelConfig(kind="vae", hidden_dim=400, latent_dim=20)


# --- encoders and decoders ---------------------------------------------------------------

def _conv_sides(config: ModelConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """(height, width) after the first and after the second stride-2 convolution."""
    _, h, w = config.input_shape
    return (h // 2, w // 2), (h // 4, w // 4)


def _encoder(config: ModelConfig, out_features: int) -> nn.Sequential:
    if config.architecture == "mlp":
        features: list[nn.Module] = [nn.Flatten(), nn.Linear(config.input_dim, config.hidden_dim)]
    else:
        channels = config.input_shape[0]
        first, second = CONV_CHANNELS
        (h2, w2) = _conv_sides(config)[1]
        # Kernel 4, stride 2, padding 1 halves each side exactly (rounding down).
        features = [nn.Conv2d(channels, first, 4, stride=2, padding=1), nn.ReLU(),
                    nn.Conv2d(first, second, 4, stride=2, padding=1), nn.ReLU(),
                    nn.Flatten(), nn.Linear(second * h2 * w2, config.hidden_dim)]
    return nn.Sequential(*features, nn.ReLU(), nn.Linear(config.hidden_dim, out_features))


def _decoder(config: ModelConfig) -> nn.Sequential:
    if config.architecture == "mlp":
        return nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, config.input_dim),
        )
    channels, h, w = config.input_shape
    first, second = CONV_CHANNELS
    (h1, w1), (h2, w2) = _conv_sides(config)
    # output_padding restores the pixel that a halving dropped from an odd side.
    return nn.Sequential(
        nn.Linear(config.latent_dim, config.hidden_dim),
        nn.ReLU(),
        nn.Linear(config.hidden_dim, second * h2 * w2),
        nn.ReLU(),
        nn.Unflatten(1, (second, h2, w2)),
        nn.ConvTranspose2d(second, first, 4, stride=2, padding=1, output_padding=(h1 - 2 * h2, w1 - 2 * w2)),
        nn.ReLU(),
        nn.ConvTranspose2d(first, channels, 4, stride=2, padding=1, output_padding=(h - 2 * h1, w - 2 * w1)),
    )


class _LatentModel(nn.Module):
    config: ModelConfig
    encoder: nn.Sequential
    decoder: nn.Sequential

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        """Flat rows or images, as (N, C, H, W)."""
        return x.reshape(x.shape[0], *self.config.input_shape)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes to the decoder's logits: (N, C*H*W) for an MLP, (N, C, H, W) for a conv model."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (N, latent_dim) to images (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z)).view(-1, *self.config.input_shape)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class Autoencoder(_LatentModel):
    """Deterministic encoder and decoder: x -> z -> x'."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or original_autoencoder_config()
        self.encoder = _encoder(self.config, self.config.latent_dim)
        if self.config.code_activation == "relu":
            self.encoder.append(nn.ReLU())
        self.decoder = _decoder(self.config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._images(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I), sigma = exp(logvar / 2).

    eps is drawn from ``generator`` (torch's global generator when None) on mu's
    own device, instead of from a CUDA-only tensor type, so it works on CPU, CUDA
    and MPS alike; gradients flow to mu and logvar. Pass ``eps`` to reuse draws.
    """
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(_LatentModel):
    """Encoder to q(z|x) = N(mu, diag(sigma^2)), reparameterized sample, decoder."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or original_vae_config()
        # One layer yields mu and log-variance side by side, as in the seed.
        self.encoder = _encoder(self.config, 2 * self.config.latent_dim)
        self.decoder = _decoder(self.config)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (mu, logvar), each (N, latent_dim)."""
        mu, logvar = self.encoder(self._images(x)).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator=generator)
        return self.decode(z), mu, logvar


def build_model(config: ModelConfig) -> Autoencoder | VAE:
    """A model with torch's default initialisation, drawn from the global generator (see training.new_model)."""
    return VAE(config) if config.kind == "vae" else Autoencoder(config)


@dataclass
class ModelPair:
    """The explorer works on an AE and a VAE trained on the same dataset; either may be absent."""

    dataset: str
    ae: Autoencoder | None = None
    vae: VAE | None = None
    histories: dict[str, list[dict]] = field(default_factory=dict)
    train_settings: dict[str, dict] = field(default_factory=dict)
    data_manifest: dict | None = None  # the source of a custom ("custom:<name>") dataset, saved with the pair
    # Each model's held-out codes per epoch of its training (vae_core.replay.Replay); none for older checkpoints.
    replays: dict[str, Replay] = field(default_factory=dict)

    def models(self) -> dict[str, Autoencoder | VAE]:
        return {name: m for name, m in (("ae", self.ae), ("vae", self.vae)) if m is not None}
