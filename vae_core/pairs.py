"""What to train (``JobSpec``) and the one function that trains it (``train_pair``), wherever it runs.

The CLI calls ``train_pair`` in its own process; the training engine
(``vae_core.engine``) calls it on a worker of its dask cluster, and ships
each finished epoch's weights back as bytes (``weights_bytes``), and the
training's replay (``pair.replays``) once, with the end of the training.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from .data import DATASETS, ImageDataset
from .models import (
    ARCHITECTURES,
    KIND_TITLES,
    Autoencoder,
    ModelConfig,
    ModelKind,
    ModelPair,
    build_model,
    original_autoencoder_config,
    original_vae_config,
)
from .training import EpochReport, EpochTrainer, TrainConfig, device_name, new_model, resolve_device

# The order of a pair's models wherever they are listed or reported (a pair's models train side by side).
KIND_ORDER: tuple[ModelKind, ...] = ("ae", "vae")


@dataclass(frozen=True)
class DefaultSizes:
    """Hidden and latent sizes a training takes when none are given; None: each kind's size in the seeds."""

    hidden_dim: int | None
    latent_dim: int | None

    def describe(self, size: str) -> str:
        """E.g. '32 for the AE, 20 for the VAE' for the seeds' latent sizes, or '2'."""
        value = getattr(self, size)
        if value is not None:
            return str(value)
        originals = {"ae": original_autoencoder_config(), "vae": original_vae_config()}
        return ", ".join(f"{getattr(config, size)} for the {KIND_TITLES[kind]}" for kind, config in originals.items())


# The CLI trains the seed documents' models; the Train page (and a JobSpec) a latent space of 2,
# which the map shows without a projection.
SEED_SIZES = DefaultSizes(hidden_dim=None, latent_dim=None)
MAP_SIZES = DefaultSizes(hidden_dim=256, latent_dim=2)


@dataclass(frozen=True)
class JobSpec:
    """What to train: dataset, which models, their architecture and sizes, and the optimisation settings.

    Both models share the architecture and the hidden and latent sizes; a size
    left as None takes the seed documents' value for each kind (AE 256 hidden,
    32 latent; VAE 400 and 20). ``ae_code_activation`` is the AE's only extra
    setting (the VAE's code is a Gaussian, never clipped).
    """

    dataset: str
    kinds: tuple[ModelKind, ...] = KIND_ORDER
    latent_dim: int | None = MAP_SIZES.latent_dim
    hidden_dim: int | None = MAP_SIZES.hidden_dim
    ae_code_activation: str = "linear"
    train: TrainConfig = field(default_factory=TrainConfig)
    data_dir: str | None = None
    architecture: str = "mlp"
    # A person's own images (a "custom:" dataset), which are in no registry: they travel with the spec.
    custom_dataset: ImageDataset | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.custom_dataset is not None:
            if self.custom_dataset.name != self.dataset:
                raise ValueError(f"the custom dataset is {self.custom_dataset.name!r}, not {self.dataset!r}")
        elif self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        kinds = tuple(self.kinds)
        if not kinds or set(kinds) - set(KIND_ORDER) or len(set(kinds)) != len(kinds):
            raise ValueError(f"kinds must be 'ae', 'vae' or both, each once, not {kinds}")
        object.__setattr__(self, "kinds", tuple(k for k in KIND_ORDER if k in kinds))
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}")
        for kind in self.kinds:
            self.model_config(kind)  # raises ValueError on sizes a model cannot have

    def model_config(self, kind: ModelKind) -> ModelConfig:
        original = original_vae_config() if kind == "vae" else original_autoencoder_config()
        shape = DATASETS[self.dataset].image_shape if self.custom_dataset is None else self.custom_dataset.image_shape
        return ModelConfig(kind=kind, input_shape=shape,
                           hidden_dim=original.hidden_dim if self.hidden_dim is None else self.hidden_dim,
                           latent_dim=original.latent_dim if self.latent_dim is None else self.latent_dim,
                           code_activation=self.ae_code_activation if kind == "ae" else "relu",
                           architecture=self.architecture)

    def with_train(self, **changes) -> JobSpec:
        """The same spec with some training settings changed, e.g. ``spec.with_train(beta=4.0)`` for a sweep."""
        return replace(self, train=replace(self.train, **changes))

    def train_settings(self, trained_on: str) -> dict:
        """What a checkpoint records about how each of its models was trained: the settings, and the device it
        ran on (``trained_on``, e.g. 'cuda:0', where ``device`` may say "auto"; absent from older checkpoints)."""
        return {**self.train.to_dict(), "dataset": self.dataset, "trained_on": trained_on}

    @property
    def total_epochs(self) -> int:
        return len(self.kinds) * self.train.epochs


@dataclass
class PairResult:
    """The models that finished at least one epoch, and whether training was stopped early."""

    pair: ModelPair
    cancelled: bool


def train_pair(
    spec: JobSpec,
    dataset: ImageDataset,
    on_epoch: Callable[[EpochReport, Autoencoder], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_start: Callable[[tuple[ModelKind, ...], str], None] | None = None,
    record_replay: bool = True,
) -> PairResult:
    """Train the spec's models side by side, a batch of each in turn; the one place where a pair is trained.

    Side by side, a stop at any moment after the first batch keeps every model
    of the pair (an AE trained to the end before its VAE begins would leave no
    VAE). Each model draws from generators of its own, so it comes out the
    same as trained alone. ``on_start`` gets the kinds once their models are
    built, and the device they train on ('cuda:0', 'cpu'), ``on_epoch`` each finished epoch's report with the model it
    describes (an epoch cut short by a stop included). ``should_stop`` is
    polled between batches. A diverging model raises TrainingDiverged after its
    weights were restored to its last good epoch; the other keeps its epochs.
    With ``record_replay`` each model keeps its held-out codes of every epoch (``pair.replays``).
    """
    pair = ModelPair(dataset=spec.dataset, data_manifest=dataset.manifest)
    if should_stop is not None and should_stop():
        return PairResult(pair, cancelled=True)
    device = resolve_device(spec.train.device)
    trained_on = device_name(device)
    train_x, test_x = dataset.images("train").to(device), dataset.images("test").to(device)
    trainers = {kind: EpochTrainer(new_model(spec.model_config(kind), seed=spec.train.seed), train_x, test_x,
                                   spec.train, record_replay=record_replay) for kind in spec.kinds}
    if on_start is not None:
        on_start(spec.kinds, trained_on)
    cancelled = False
    try:
        while not cancelled and not all(trainer.done for trainer in trainers.values()):
            for trainer in trainers.values():
                trainer.begin_epoch()
            training = list(trainers.values())
            while training:
                if should_stop is not None and should_stop():
                    cancelled = True
                    break
                training = [trainer for trainer in training if trainer.train_batch()]
            for trainer in trainers.values():
                report = trainer.end_epoch()
                if report is not None and on_epoch is not None:
                    on_epoch(report, trainer.model)
    finally:
        for kind, trainer in trainers.items():
            if trainer.history:
                setattr(pair, kind, trainer.model.cpu().eval())
                pair.histories[kind] = [epoch.to_dict() for epoch in trainer.history]
                pair.train_settings[kind] = spec.train_settings(trained_on)
                replay = None if trainer.recorder is None else trainer.recorder.replay()
                if replay is not None:
                    pair.replays[kind] = replay
    return PairResult(pair, cancelled=cancelled)


def weights_bytes(model) -> bytes:
    """A model's weights as the bytes a worker sends: torch.save of a plain state dict on the CPU."""
    buffer = io.BytesIO()
    torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def model_from_bytes(config: ModelConfig, data: bytes):
    """The model ``weights_bytes`` described, on the CPU, in eval mode; never runs pickled code."""
    with torch.device("meta"):
        model = build_model(config)
    model.to_empty(device="cpu")
    model.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    return model.eval()
