"""Per-session state of the explorer: which model pair is active, the view, and the URL that carries it.

Shipped model pairs are loaded once per server process and shared by every
session (they are never modified). Pairs a visitor trains or uploads live in
that visitor's own ``st.session_state`` only, so no one else ever sees them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
import streamlit as st

from explorer import events
from vae_core import DATASETS, ImageDataset, ModelPair, is_available, load_checkpoint, load_dataset
from vae_core.latent import MAX_SEED
from vae_core.workspace import Workspace

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SHIPPED_FILES = {"digits": "digits-latent2.pt", "fashion-mnist": "fashion-mnist-latent2.pt",
                 "fashion-mnist-conv": "fashion-mnist-conv-latent2.pt"}
# Shipped pairs whose key is not their dataset's name, and the words that tell them apart.
SHIPPED_VARIANTS = {"fashion-mnist-conv": ("fashion-mnist", "convolutional")}
# The pair a new session lands on: the Fashion-MNIST pair when its images are here, else the embedded digits.
# A host may pin it (say to the lighter digits) with this variable.
LANDING_ENV = "LATENT_EXPLORER_LANDING"
LANDING_ORDER = ("fashion-mnist", "digits")
MAX_OWN_PAIRS = 3
LATENT_LIMIT = 4.0  # slider range: wide enough to extrapolate past the bulk of N(0, 1)

# session_state keys
WORKSPACE = "workspace_key"
OWN_WORKSPACES = "own_workspaces"  # key -> Workspace, least recently used first
OWN_COUNT = "own_workspaces_made"
SELECTED = "selected_index"
EVERY_IMAGE = "map_every_image"  # the Explore map shows the training images too
LATENT = "latent_vector"
LATENT_VERSION = "latent_vector_version"  # bumped whenever z is set other than by the editor itself
SEED = "sample_seed"
NOTICES = "url_notices"
PAIR_NOTICES = "pair_notices"
URL_RESTORED = "url_restored"
REGION = "map_region"  # the Explore map's box or lasso (explorer/events.py Region)
TRAINING_JOB = "training_job"  # this session's background TrainingJob, while it runs


@st.cache_resource(show_spinner="Loading the shipped models and encoding the held-out images…")
def shipped_workspace(key: str) -> Workspace:
    pair = load_checkpoint(ASSETS / SHIPPED_FILES[key])
    dataset = load_dataset(pair.dataset, download=False)
    return Workspace(pair, dataset, label=f"{shipped_title(key)} — shipped AE + VAE")


def shipped_dataset(key: str) -> str:
    return SHIPPED_VARIANTS[key][0] if key in SHIPPED_VARIANTS else key


def shipped_title(key: str) -> str:
    """E.g. 'Fashion-MNIST (28x28)', or 'Fashion-MNIST (28x28), convolutional' for a variant."""
    title = DATASETS[shipped_dataset(key)].title
    return f"{title}, {SHIPPED_VARIANTS[key][1]}" if key in SHIPPED_VARIANTS else title


def shipped_keys() -> list[str]:
    """Shipped pairs whose checkpoint and dataset are on this machine (digits always are)."""
    return [key for key, file in SHIPPED_FILES.items()
            if (ASSETS / file).is_file() and is_available(shipped_dataset(key))]


def own_workspaces() -> dict[str, Workspace]:
    return st.session_state.setdefault(OWN_WORKSPACES, {})


def workspace_labels() -> dict[str, str]:
    labels = {key: shipped_workspace_label(key) for key in shipped_keys()}
    labels.update({key: ws.label for key, ws in own_workspaces().items()})
    return labels


def shipped_workspace_label(key: str) -> str:
    return f"{shipped_title(key)} — shipped"


def get_workspace(key: str) -> Workspace:
    if key in own_workspaces():
        return own_workspaces()[key]
    return shipped_workspace(key)


def landing_key() -> str:
    available = shipped_keys()
    pinned = os.environ.get(LANDING_ENV)
    if pinned in available:
        return pinned
    return next(key for key in LANDING_ORDER if key in available)


def active_key() -> str:
    key = st.session_state.get(WORKSPACE)
    if key is None or key not in workspace_labels():
        key = landing_key()
        st.session_state[WORKSPACE] = key
    return key


def active_workspace() -> Workspace:
    return get_workspace(active_key())


def activate(key: str) -> None:
    """Make a pair active and reset the view that belonged to the previous one."""
    if st.session_state.get(WORKSPACE) != key:
        st.session_state[WORKSPACE] = key
        st.session_state[SELECTED] = None
        set_latent_vector(None)
    own = own_workspaces()
    if key in own:
        own[key] = own.pop(key)  # most recently used last


def add_own_pair(pair: ModelPair, label: str, dataset: ImageDataset | None = None) -> str:
    """Register a pair trained or uploaded in this session and make it active; returns its key.

    A session keeps its MAX_OWN_PAIRS most recently used pairs (each holds its models and its held-out codes);
    an older one is dropped, with a notice. ``dataset``: the pair's dataset when it is in no registry (a
    person's own images); else loaded by name.
    """
    if dataset is None:
        dataset = load_dataset(pair.dataset, download=False)
    workspaces = own_workspaces()
    number = st.session_state[OWN_COUNT] = st.session_state.get(OWN_COUNT, 0) + 1
    key = f"own-{number}"
    workspaces[key] = Workspace(pair, dataset, label=f"{label} (this session)")
    activate(key)
    while len(workspaces) > MAX_OWN_PAIRS:
        dropped = workspaces.pop(next(iter(workspaces)))
        st.session_state.setdefault(PAIR_NOTICES, []).append(
            f"This session keeps its {MAX_OWN_PAIRS} most recently used pairs, so {dropped.label} was let go. "
            "Download a checkpoint (Train page) to keep a pair.")
    return key


# --- the view: selection, latent vector, seed ---------------------------------------

def selected_index() -> int | None:
    """The inspected image: a held-out index, or beyond them a training image's (see Workspace.total)."""
    index = st.session_state.get(SELECTED)
    return index if index is not None and 0 <= index < active_workspace().total else None


def selected_held_out() -> int | None:
    """The inspected image if it is a held-out one: the pages that list held-out images start from it."""
    index = selected_index()
    return index if index is not None and active_workspace().is_held_out(index) else None


def select(index: int | None) -> None:
    st.session_state[SELECTED] = index


def latent_vector() -> np.ndarray:
    """The editor's current z: set explicitly, else the selected point's mu, else the prior mean."""
    ws = active_workspace()
    z = st.session_state.get(LATENT)
    if z is not None and len(z) == ws.latent_dim():
        return np.asarray(z, dtype=float)
    index = selected_index()
    return ws.code(index).astype(float) if index is not None else np.zeros(ws.latent_dim())


def set_latent_vector(z: np.ndarray | None, from_editor: bool = False) -> None:
    """Set the editor's z (None: back to the default). The editor adopts a z set anywhere else; one it sent
    itself it already shows."""
    st.session_state[LATENT] = None if z is None else [float(v) for v in np.clip(z, -LATENT_LIMIT, LATENT_LIMIT)]
    if not from_editor:
        st.session_state[LATENT_VERSION] = latent_version() + 1


def latent_version() -> int:
    return st.session_state.get(LATENT_VERSION, 0)


def sample_seed() -> int:
    return int(st.session_state.setdefault(SEED, 0))


# --- the URL -----------------------------------------------------------------------

def restore_view_from_url() -> None:
    """Once per session: apply model, point, z and seed from the query string; bad values become notices."""
    if st.session_state.get(URL_RESTORED):
        return
    st.session_state[URL_RESTORED] = True
    params = st.query_params
    notices = []
    model = params.get("model")
    if model is not None:
        if model in shipped_keys():
            activate(model)
        else:
            notices.append(f"model '{model}' is not available here (links can only name shipped models); "
                           "showing the default instead")
    latent_dim = active_workspace().latent_dim()
    point = params.get("point")
    if point is not None:
        ws = active_workspace()
        if point.isdigit() and int(point) < ws.total:
            select(int(point))
            if not ws.is_held_out(int(point)):
                st.session_state[EVERY_IMAGE] = True  # a training image: show the map it is on
        else:
            notices.append(f"point '{point}' does not exist in this dataset; no point selected")
    z = params.get("z")
    if z is not None:
        values = _parse_floats(z)
        if values is not None and len(values) == latent_dim:
            set_latent_vector(np.array(values))
        else:
            notices.append(f"latent vector '{z}' is not {latent_dim} numbers; starting from the default")
    region_text = params.get("region")
    if region_text is not None:
        st.session_state[REGION] = events.region_from_text(region_text)
        if st.session_state[REGION] is None:
            notices.append(f"region '{region_text[:80]}' is not a box or a lasso; nothing selected")
    seed = params.get("seed")
    if seed is not None:
        if seed.isdigit() and int(seed) <= MAX_SEED:
            st.session_state[SEED] = int(seed)
        else:
            notices.append(f"seed '{seed}' is not a whole number; using 0")
    st.session_state[NOTICES] = notices


def _parse_floats(text: str) -> list[float] | None:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def view_params() -> dict[str, str]:
    """The query string that reopens this view; session-only models cannot be named in a link."""
    params: dict[str, str] = {}
    key = active_key()
    if key in SHIPPED_FILES:
        params["model"] = key
    index = selected_index()
    if index is not None:
        params["point"] = str(index)
    if st.session_state.get(LATENT) is not None:
        params["z"] = ",".join(f"{v:.3f}" for v in st.session_state[LATENT])
    if st.session_state.get(SEED):
        params["seed"] = str(st.session_state[SEED])
    if st.session_state.get(REGION) is not None:
        params["region"] = events.region_text(st.session_state[REGION])
    return params


def sync_url() -> None:
    """Write the view into the query string, always: a run's copy of the query string is the one the browser
    sent with its request, which a page switch has cleared, or a run still in flight was about to change."""
    st.query_params.from_dict(view_params())


def shareable_link() -> str:
    base = urlsplit(st.context.url or "http://localhost:8501/")
    return urlunsplit((base.scheme, base.netloc, base.path, urlencode(view_params()), ""))


def pop_pair_notices() -> list[str]:
    return st.session_state.pop(PAIR_NOTICES, None) or []


def pop_url_notices() -> list[str]:
    return st.session_state.pop(NOTICES, None) or []
