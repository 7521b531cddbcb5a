"""The two models of the seeds: a plain autoencoder and a variational autoencoder.

Both are multilayer perceptrons over flattened images. Decoders produce logits
internally (``decode_logits``) so that training can use the numerically stable
``binary_cross_entropy_with_logits``; ``decode`` applies the sigmoid the seeds
put at the end of the decoder.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

ModelKind = Literal["ae", "vae"]
KIND_TITLES = {"ae": "AE", "vae": "VAE"}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model. Plain data, so it survives a safe checkpoint load."""

    kind: ModelKind = "vae"
    input_shape: tuple[int, int, int] = (1, 28, 28)
    hidden_dim: int = 400
    latent_dim: int = 20
    # The seed's autoencoder puts a ReLU on its 32-d code; a linear code keeps
    # low-dimensional maps from collapsing onto the positive quadrant.
    code_activation: Literal["relu", "linear"] = "relu"

    def __post_init__(self) -> None:
        if self.kind not in ("ae", "vae"):
            raise ValueError(f"model kind must be 'ae' or 'vae', not {self.kind!r}")
        shape = self.input_shape
        if not isinstance(shape, (tuple, list)) or len(shape) != 3 \
                or not all(_is_whole(s) and 1 <= s <= 4096 for s in shape):
            raise ValueError(f"input_shape must be (channels, height, width) in whole numbers, not {shape}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in shape))
        for name, limit in (("latent_dim", 512), ("hidden_dim", 8192)):
            value = getattr(self, name)
            if not (_is_whole(value) and 1 <= value <= limit):
                raise ValueError(f"{name} must be a whole number from 1 to {limit}, not {value!r}")
            object.__setattr__(self, name, int(value))
        if self.code_activation not in ("relu", "linear"):
            raise ValueError(f"code_activation must be 'relu' or 'linear', not {self.code_activation!r}")

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


def seed_autoencoder_config() -> ModelConfig:
    """The seed's autoencoder: 784-256-32 with ReLU, sigmoid output."""
    return ModelConfig(kind="ae", hidden_dim=256, latent_dim=32, code_activation="relu")


def seed_vae_config() -> ModelConfig:
    """The seed's (and PyTorch's canonical example's) VAE: 784-400-20."""
    return ModelConfig(kind="vae", hidden_dim=400, latent_dim=20)


def _decoder(config: ModelConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(config.latent_dim, config.hidden_dim),
        nn.ReLU(),
        nn.Linear(config.hidden_dim, config.input_dim),
    )


class _LatentModel(nn.Module):
    config: ModelConfig
    decoder: nn.Sequential

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
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
        self.config = config or seed_autoencoder_config()
        layers: list[nn.Module] = [
            nn.Flatten(),
            nn.Linear(self.config.input_dim, self.config.hidden_dim),
            nn.ReLU(),
            nn.Linear(self.config.hidden_dim, self.config.latent_dim),
        ]
        if self.config.code_activation == "relu":
            layers.append(nn.ReLU())
        self.encoder = nn.Sequential(*layers)
        self.decoder = _decoder(self.config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I), sigma = exp(logvar / 2).

    Sampling eps on mu's own device (instead of a CUDA-only tensor type) keeps
    it working on CPU, CUDA and MPS alike; gradients flow to mu and logvar.
    """
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(_LatentModel):
    """Encoder to q(z|x) = N(mu, diag(sigma^2)), reparameterized sample, decoder."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or seed_vae_config()
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.config.input_dim, self.config.hidden_dim),
            nn.ReLU(),
            # One layer yields mu and log-variance side by side, as in the seed.
            nn.Linear(self.config.hidden_dim, 2 * self.config.latent_dim),
        )
        self.decoder = _decoder(self.config)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (mu, logvar), each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def build_model(config: ModelConfig) -> Autoencoder | VAE:
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

    def models(self) -> dict[str, Autoencoder | VAE]:
        return {name: m for name, m in (("ae", self.ae), ("vae", self.vae)) if m is not None}
