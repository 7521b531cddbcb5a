"""Nothing the pages compute touches torch's global random generator (trainings in the same process rely on it
not mattering, and a page must not change what another visitor's draws give)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from core_helpers import REPO_ROOT

from vae_core import load_checkpoint
from vae_core.comparison import compare_reconstructions, model_summaries
from vae_core.losses import importance_weighted_log_px
from vae_core.workspace import Workspace


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_what_the_pages_compute_leaves_the_global_generator_alone(digits, architecture):
    if architecture == "mlp":
        pair = load_checkpoint(REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt")
    else:
        from vae_core.jobs import JobSpec, train_pair
        from vae_core.training import TrainConfig

        pair = train_pair(JobSpec("digits", hidden_dim=16, architecture="conv", train=TrainConfig(epochs=1)),
                          digits).pair
    state = torch.random.get_rng_state()
    ws = Workspace(pair, digits, label="test")
    for kind in ws.kinds:
        ws.summary(kind)
        ws.reconstruction(kind, 3)
        ws.decode(np.zeros((2, ws.latent_dim(kind))), kind)
    model_summaries(ws)
    ws.analyse(5, samples=16)
    ws.log_px(5, samples=16)
    ws.neighbours(5)
    ws.neighbours(len(ws) + 3, every_image=True)
    ws.encode(ws.image_tensors(7)[0].numpy())
    ws.manifold((-2.0, 2.0), (-2.0, 2.0), n=4)
    compare_reconstructions(ws, np.arange(6))
    importance_weighted_log_px(ws.vae, ws.image_tensors(np.arange(4)), 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.random.get_rng_state(), state)
