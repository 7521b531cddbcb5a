"""The map as it formed: a model's held-out codes after each epoch of its training, kept as float16.

The codes come from the evaluation that ends every epoch (a VAE's mu, an AE's
code), so recording them costs a copy, not a pass over the images. Both kinds
are kept: the map shows the AE's codes when a pair has no VAE. The full codes
are kept (not a 2-d view of them): for a latent size above 2 the explorer draws
every frame through the projection it fitted on the final codes, so the last
frame is the map itself.

A long training keeps evenly spaced epochs, at most ``MAX_FRAMES`` of them and
at most ``MAX_REPLAY_BYTES`` of codes, always with its last epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MAX_FRAMES = 500
MAX_REPLAY_BYTES = 8 * 2**20


@dataclass(frozen=True)
class Replay:
    """``epochs[f]`` (1-based) is the epoch after which ``codes[f]`` (images x latent size, float16) were taken."""

    epochs: np.ndarray
    codes: np.ndarray

    def __post_init__(self) -> None:
        epochs, codes = np.asarray(self.epochs), np.asarray(self.codes)
        if epochs.ndim != 1 or not len(epochs) or not np.issubdtype(epochs.dtype, np.integer):
            raise ValueError("a replay's epochs must be a non-empty list of integers")
        if np.any(epochs < 1) or np.any(np.diff(epochs) <= 0):
            raise ValueError("a replay's epochs must be positive and increasing")
        if codes.dtype != np.float16 or codes.ndim != 3 or codes.shape[0] != len(epochs):
            raise ValueError(f"a replay's codes must be float16 of shape (frames, images, latent size) with one "
                             f"frame per epoch; got {codes.dtype} {codes.shape} for {len(epochs)} epochs")
        if not np.isfinite(codes).all():
            raise ValueError("a replay's codes hold non-finite values")
        object.__setattr__(self, "epochs", epochs.astype(np.int64))
        object.__setattr__(self, "codes", codes)

    @property
    def frames(self) -> int:
        return len(self.epochs)

    @property
    def images(self) -> int:
        return self.codes.shape[1]

    @property
    def latent_dim(self) -> int:
        return self.codes.shape[2]

    def to_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only, as a checkpoint stores them (read back by ``torch.load(weights_only=True)``)."""
        return {"epochs": torch.from_numpy(self.epochs), "codes": torch.from_numpy(self.codes)}

    @classmethod
    def from_dict(cls, content: object) -> Replay:
        """The replay a checkpoint holds; ValueError, in words, on anything else."""
        if not isinstance(content, dict) or not all(isinstance(content.get(k), torch.Tensor)
                                                    for k in ("epochs", "codes")):
            raise ValueError("a replay must hold the tensors 'epochs' and 'codes'")
        return cls(content["epochs"].numpy(), content["codes"].numpy())


def planned_epochs(epochs: int, images: int, latent_dim: int) -> set[int]:
    """The epochs of a training of ``epochs`` epochs whose codes are kept: evenly spaced, the last included."""
    frame_bytes = max(images * latent_dim * 2, 1)
    frames = max(2, min(MAX_FRAMES, MAX_REPLAY_BYTES // frame_bytes, epochs))
    return {int(e) for e in np.round(np.linspace(1, epochs, min(frames, epochs)))}


class ReplayRecorder:
    """Collects one model's codes during its training: ``buffer_for(epoch)``, filled by the evaluation, then
    ``epoch_done()``.

    A training cut short (stopped, or cut off in a planned-out epoch) still ends on
    the codes of its last finished epoch: the latest codes are held until the next
    epoch's replace them, and ``replay()`` appends them when they were not planned.
    """

    def __init__(self, epochs: int, images: int, latent_dim: int):
        self.planned = planned_epochs(epochs, images, latent_dim)
        self.shape = (images, latent_dim)
        self.kept: list[tuple[int, np.ndarray]] = []
        self.pending: tuple[int, torch.Tensor] | None = None
        self.latest: tuple[int, torch.Tensor] | None = None

    def buffer_for(self, epoch: int, device: torch.device) -> torch.Tensor:
        """Where the evaluation of ``epoch`` writes its codes (float16, on the training's device)."""
        buffer = torch.empty(self.shape, dtype=torch.float16, device=device)
        self.pending = (epoch, buffer)
        return buffer

    def epoch_done(self) -> None:
        """The epoch's evaluation passed (its loss is finite): its codes are the model's; kept if planned.

        An epoch that diverged never gets here, so its codes are dropped with its weights.
        """
        self.latest, self.pending = self.pending, None
        epoch, buffer = self.latest
        if epoch in self.planned:
            self.kept.append((epoch, buffer.cpu().numpy()))

    def replay(self) -> Replay | None:
        """Every kept frame, ending on the last finished epoch; None before any epoch finished."""
        frames = list(self.kept)
        if self.latest is not None and (not frames or frames[-1][0] != self.latest[0]):
            frames.append((self.latest[0], self.latest[1].cpu().numpy()))
        if not frames:
            return None
        return Replay(np.array([epoch for epoch, _ in frames]), np.stack([codes for _, codes in frames]))
