"""The model pairs shipped with the app: their files, titles, which of them this machine can open, and the one a
new session lands on. No Streamlit here: the benchmarks and the command line use it too (the server's cached
workspaces are latent_explorer.session's)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cachetools import TTLCache, cached

from vae_core import DATASETS, is_available, load_checkpoint, load_dataset
from vae_core.workspace import Workspace

ASSETS = Path(__file__).resolve().parent / "assets"
SHIPPED_FILES = {"digits": "digits-latent2.pt", "fashion-mnist": "fashion-mnist-latent2.pt",
                 "fashion-mnist-conv": "fashion-mnist-conv-latent2.pt"}
# Shipped pairs whose key is not their dataset's name, and the words that tell them apart.
SHIPPED_VARIANTS = {"fashion-mnist-conv": ("fashion-mnist", "convolutional")}
# The pair a new session lands on: the Fashion-MNIST pair when its images are here, else the embedded digits.
# A host may pin it (say to the lighter digits) with this variable.
LANDING_ENV = "LATENT_EXPLORER_LANDING"
LANDING_ORDER = ("fashion-mnist", "digits")

# Looking for the datasets' files costs a dozen stat calls, and every run asks several times: asked again after
# AVAILABILITY_TTL_S (a dataset installed meanwhile appears then), or at once after a download (forget_availability).
AVAILABILITY_TTL_S = 30.0
_availability: TTLCache = TTLCache(maxsize=1, ttl=AVAILABILITY_TTL_S)


def shipped_dataset(key: str) -> str:
    return SHIPPED_VARIANTS[key][0] if key in SHIPPED_VARIANTS else key


def shipped_title(key: str) -> str:
    """E.g. 'Fashion-MNIST (28x28)', or 'Fashion-MNIST (28x28), convolutional' for a variant."""
    title = DATASETS[shipped_dataset(key)].title
    return f"{title}, {SHIPPED_VARIANTS[key][1]}" if key in SHIPPED_VARIANTS else title


def shipped_label(key: str) -> str:
    return f"{shipped_title(key)} — shipped"


def load_shipped_workspace(key: str) -> Workspace:
    """A shipped pair with its held-out images encoded (seconds for Fashion-MNIST): load once, and share."""
    pair = load_checkpoint(ASSETS / SHIPPED_FILES[key])
    dataset = load_dataset(pair.dataset, download=False)
    return Workspace(pair, dataset, label=f"{shipped_title(key)} — shipped AE + VAE")


@cached(_availability, lock=threading.Lock())
def shipped_keys() -> list[str]:
    """Shipped pairs whose checkpoint and dataset are on this machine (digits always are)."""
    return [key for key, file in SHIPPED_FILES.items()
            if (ASSETS / file).is_file() and is_available(shipped_dataset(key))]


def forget_availability() -> None:
    """A dataset was just downloaded: look again."""
    _availability.clear()


def landing_key() -> str:
    available = shipped_keys()
    pinned = os.environ.get(LANDING_ENV)
    if pinned in available:
        return pinned
    return next(key for key in LANDING_ORDER if key in available)
