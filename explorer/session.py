"""Per-session state of the explorer: which model pair is active, the view, and the URL that carries it.

Shipped model pairs are loaded once per server process and shared by every
session (they are never modified). Pairs a visitor trains or uploads live in
that visitor's own ``st.session_state`` only, so no one else ever sees them.
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
import streamlit as st

from vae_core import DATASETS, ModelPair, is_available, load_checkpoint, load_dataset
from vae_core.data import missing_dataset_message
from vae_core.workspace import Workspace

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SHIPPED_FILES = {"digits": "digits-latent2.pt", "fashion-mnist": "fashion-mnist-latent2.pt",
                 "fashion-mnist-conv": "fashion-mnist-conv-latent2.pt"}
# Shipped pairs whose key is not their dataset's name, and the words that tell them apart.
SHIPPED_VARIANTS = {"fashion-mnist-conv": ("fashion-mnist", "convolutional")}
DEFAULT_KEY = "digits"
LATENT_LIMIT = 4.0  # slider range: wide enough to extrapolate past the bulk of N(0, 1)

# session_state keys
WORKSPACE = "workspace_key"
OWN_WORKSPACES = "own_workspaces"
SELECTED = "selected_index"
LATENT = "latent_vector"
SEED = "sample_seed"
NOTICES = "url_notices"
URL_RESTORED = "url_restored"
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


def missing_shipped_hints() -> list[str]:
    missing = {shipped_dataset(key) for key in SHIPPED_FILES} - {name for name in DATASETS if is_available(name)}
    return [missing_dataset_message(name) for name in DATASETS if name in missing]


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


def active_key() -> str:
    key = st.session_state.get(WORKSPACE, DEFAULT_KEY)
    if key not in workspace_labels():
        key = DEFAULT_KEY
        st.session_state[WORKSPACE] = key
    return key


def active_workspace() -> Workspace:
    return get_workspace(active_key())


def activate(key: str) -> None:
    """Make a pair active and reset the view that belonged to the previous one."""
    if st.session_state.get(WORKSPACE) != key:
        st.session_state[WORKSPACE] = key
        st.session_state[SELECTED] = None
        st.session_state.pop(LATENT, None)


def add_own_pair(pair: ModelPair, label: str) -> str:
    """Register a pair trained or uploaded in this session and make it active; returns its key."""
    dataset = load_dataset(pair.dataset, download=False)
    workspaces = own_workspaces()
    key = f"own-{len(workspaces) + 1}"
    workspaces[key] = Workspace(pair, dataset, label=f"{label} (this session)")
    activate(key)
    return key


# --- the view: selection, latent vector, seed ---------------------------------------

def selected_index() -> int | None:
    index = st.session_state.get(SELECTED)
    return index if index is not None and 0 <= index < len(active_workspace()) else None


def select(index: int | None) -> None:
    st.session_state[SELECTED] = index


def latent_vector() -> np.ndarray:
    """The editor's current z: set explicitly, else the selected point's mu, else the prior mean."""
    ws = active_workspace()
    z = st.session_state.get(LATENT)
    if z is not None and len(z) == ws.latent_dim():
        return np.asarray(z, dtype=float)
    index = selected_index()
    if index is not None:
        return ws.encodings[ws.main_kind].mu[index].astype(float)
    return np.zeros(ws.latent_dim())


def set_latent_vector(z: np.ndarray | None) -> None:
    st.session_state[LATENT] = None if z is None else [float(v) for v in np.clip(z, -LATENT_LIMIT, LATENT_LIMIT)]


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
        if point.isdigit() and int(point) < len(active_workspace()):
            select(int(point))
        else:
            notices.append(f"point '{point}' does not exist in this held-out set; no point selected")
    z = params.get("z")
    if z is not None:
        values = _parse_floats(z)
        if values is not None and len(values) == latent_dim:
            set_latent_vector(np.array(values))
        else:
            notices.append(f"latent vector '{z}' is not {latent_dim} numbers; starting from the default")
    seed = params.get("seed")
    if seed is not None:
        if seed.isdigit() and int(seed) < 2**31:
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
    return params


def sync_url(always: bool = False) -> None:
    """Write the view into the query string. A page switch clears the browser's query string while the
    server still holds the old one, so full app runs write it unconditionally (``always``)."""
    params = view_params()
    if always or st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def shareable_link() -> str:
    base = urlsplit(st.context.url or "http://localhost:8501/")
    return urlunsplit((base.scheme, base.netloc, base.path, urlencode(view_params()), ""))


def pop_url_notices() -> list[str]:
    return st.session_state.pop(NOTICES, None) or []
