"""Per-session state of the explorer: which model pair is active, the model store seen from a session (its owner
token, its pairs), and the view, kept in ``st.session_state``; the one module that reads and writes
``st.query_params``, through latent_explorer.view_state.

Shipped model pairs (latent_explorer.shipped) are loaded once per server process and shared by every session
(they are never modified). Pairs a visitor trains or uploads are written once to the model store
(vae_core.store), where their link (``?model=<id>``) finds them from any server sharing it; in memory, each
session holds its MAX_OWN_PAIRS most recently used ones in its own ``st.session_state``.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import secrets
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
import streamlit as st

from latent_explorer import view_state
from latent_explorer.shipped import SHIPPED_FILES, landing_key, load_shipped_workspace, shipped_keys, shipped_label
from latent_explorer.text import plain
from latent_explorer.view_state import MapView, ViewState
from vae_core import DatasetUnavailable, ImageDataset, ModelPair, load_dataset
from vae_core.store import (
    ID_PATTERN,
    MAX_DAYS_ENV,
    MAX_MB_ENV,
    STORE_ENV,
    ModelStore,
    StoreError,
    StoreUnavailable,
    owner_hash,
)
from vae_core.workspace import Workspace

LOG = logging.getLogger(__name__)
MAX_OWN_PAIRS = 3  # in memory; the store keeps every pair, and one let go from memory is opened again from it
# A host may keep pairs trained on a person's own images for their owner only ("off").
SHARE_OWN_IMAGES_ENV = "LATENT_EXPLORER_SHARE_OWN_IMAGES"
# The owner token: set in the browser by components.remember_owner, read back from the request's cookies.
OWNER_COOKIE = "latent_explorer_owner"
OWNER_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
# Where components.remember_owner's page reports the token its browser holds, when that is not this session's
# (its component's state, under its key).
OWNER_REPORT = "lx_hidden_owner"
LATENT_LIMIT = 4.0  # slider range: wide enough to extrapolate past the bulk of N(0, 1)
# What a model's label says it is, after its name: a shipped pair's says "shipped".
YOURS, SHARED_WITH_YOU, THIS_SESSION_ONLY = "(yours)", "(shared with you)", "(this session only)"

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
REGION = "map_region"  # the Explore map's box or lasso (latent_explorer/events.py Region)
MAP_VIEW = "map_view"  # the Explore map's view above latent size 2 (view_state.MapView; None: PCA or latent size 2)
LINKED_MAP_VIEW = "linked_map_view"  # (view, (i, j) 0-based or None) from a link, for the Explore page's controls
DECODED_AT = "decoded_location"  # the whole code the Explore map decodes after a click on empty space (or None)
COLOUR_BY = "map_colour_by"  # what the Explore map's points are coloured by: "class" or a POINT_QUANTITIES key
TRAINING_JOB = "training_job"  # this session's background TrainingJob, while it runs
STORED_IDS = "stored_model_ids"  # workspace key -> its id in the model store
OWNER_TOKEN = "owner_token"


@st.cache_resource(show_spinner="Loading the shipped models and encoding the held-out images…")
def shipped_workspace(key: str) -> Workspace:
    """A shipped pair's workspace, loaded once per server process and shared by every session."""
    return load_shipped_workspace(key)


def own_workspaces() -> dict[str, Workspace]:
    return st.session_state.setdefault(OWN_WORKSPACES, {})


def workspace_labels() -> dict[str, str]:
    labels = {key: shipped_label(key) for key in shipped_keys()}
    labels.update({key: ws.label for key, ws in own_workspaces().items()})
    return labels


def get_workspace(key: str) -> Workspace:
    if key in own_workspaces():
        return own_workspaces()[key]
    return shipped_workspace(key)


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
        st.session_state[MAP_VIEW] = None
        st.session_state[DECODED_AT] = None
        set_latent_vector(None)
    own = own_workspaces()
    if key in own:
        own[key] = own.pop(key)  # most recently used last


def add_own_pair(pair: ModelPair, label: str, dataset: ImageDataset | None = None) -> str:
    """Register a pair trained or uploaded in this session, kept in the model store first so that it outlives
    the session, and make it active; returns its key.

    ``dataset``: the pair's dataset when it is in no registry (a person's own images); else loaded by name.
    """
    if dataset is None:
        dataset = load_dataset(pair.dataset, download=False)
    model_id = keep_in_store(pair, label, dataset)
    workspace = Workspace(pair, dataset, label=f"{label} {YOURS if model_id is not None else THIS_SESSION_ONLY}")
    return _hold(workspace, model_id)


def _hold(workspace: Workspace, model_id: str | None) -> str:
    """Hold a workspace in this session's memory and make it active; its key.

    A session holds its MAX_OWN_PAIRS most recently used pairs (each holds its models and its held-out codes);
    an older one is let go from memory, with a notice.
    """
    workspaces = own_workspaces()
    number = st.session_state[OWN_COUNT] = st.session_state.get(OWN_COUNT, 0) + 1
    key = f"own-{number}"
    workspaces[key] = workspace
    if model_id is not None:
        stored_ids()[key] = model_id
    activate(key)
    while len(workspaces) > MAX_OWN_PAIRS:
        dropped_key = next(iter(workspaces))
        dropped = workspaces.pop(dropped_key)
        if stored_ids().pop(dropped_key, None) is not None:
            text = "It stays on this server: open it again from Your models or its link."
        else:
            text = "Download a checkpoint (Train page) to keep a pair."
        st.session_state.setdefault(PAIR_NOTICES, []).append(
            f"This session keeps its {MAX_OWN_PAIRS} most recently used pairs in memory, so {dropped.label} "
            f"was let go. {text}")
    return key


# --- the model store -----------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _store_at(url: str, max_mb: str, max_days: str) -> ModelStore:
    """One ModelStore per configuration and server process (a fault is not cached: the next run tries again).
    Models past the age cap go when a server starts, as well as whenever a model is kept."""
    store = ModelStore.from_environment()
    store.enforce_retention()
    return store


# configuration -> (when, why) the store last could not be reached: a store that is away is asked again only
# after STORE_RETRY_S, not on every run of every session (an unreachable bucket can take seconds to say so).
_store_faults: dict[tuple[str, ...], tuple[float, str]] = {}
STORE_RETRY_S = 60.0


def model_store() -> ModelStore:
    """The store the environment names; StoreUnavailable when it cannot be reached."""
    configuration = tuple(os.environ.get(name, "") for name in (STORE_ENV, MAX_MB_ENV, MAX_DAYS_ENV))
    fault = _store_faults.get(configuration)
    if fault is not None and time.monotonic() - fault[0] < STORE_RETRY_S:
        raise StoreUnavailable(fault[1])
    try:
        return _store_at(*configuration)
    except StoreUnavailable as err:
        _store_faults[configuration] = (time.monotonic(), str(err))
        LOG.warning("models are not being kept: %s", err)
        raise


def visitor_reason(err: Exception) -> str:
    """An error in words for a visitor: the store's own faults name paths and hosts, which go to the server's
    log instead."""
    if isinstance(err, StoreUnavailable):
        LOG.warning("model store: %s", err)
        return "models are not being kept on this server right now"
    return str(err)


def store_reachable() -> bool:
    """Whether models are being kept right now (why not goes to the server's log)."""
    try:
        model_store()
    except StoreUnavailable:
        return False
    return True


def stored_ids() -> dict[str, str]:
    return st.session_state.setdefault(STORED_IDS, {})


def stored_id(key: str | None = None) -> str | None:
    """The store id of a pair in memory (the active one by default), None for a shipped or unkept pair."""
    return stored_ids().get(active_key() if key is None else key)


def owner_token() -> str:
    """This browser's owner token: from its cookie, else a new one (components.remember_owner sets it).

    Two tabs opened at once on a first visit both come without a cookie, and each session makes a token. The
    browser keeps one of them (its page writes the cookie only where there is none); a session whose page
    reports another token than its own adopts the browser's, moving the models it kept under its own to it.
    """
    token = st.session_state.get(OWNER_TOKEN)
    if token is None:
        cookie = _owner_cookie()
        token = cookie if _is_owner_token(cookie) else secrets.token_urlsafe(32)
        st.session_state[OWNER_TOKEN] = token
    held = _browser_owner_token()
    if held is not None and held != token and _moved_models(token, held):
        st.session_state[OWNER_TOKEN] = token = held
    return token


def _is_owner_token(text: object) -> bool:
    return isinstance(text, str) and OWNER_TOKEN_PATTERN.fullmatch(text) is not None


def _browser_owner_token() -> str | None:
    """The token the browser holds, as its page last reported it (None before any report)."""
    report = st.session_state.get(OWNER_REPORT)
    held = report.get("token") if hasattr(report, "get") else None
    return held if _is_owner_token(held) else None


def _moved_models(from_token: str, to_token: str) -> bool:
    """Whether the models kept under ``from_token`` are now ``to_token``'s; while the store cannot be reached
    they stay, and the session keeps its token to try again on its next run, so none is left under a token
    nobody holds."""
    try:
        model_store().move_owner(from_token, to_token)
    except StoreError as err:
        LOG.warning("the models of a browser's second tab were not moved to its token yet: %s", err)
        return False
    _owner_entries.clear()
    return True


def _owner_cookie() -> str | None:
    cookie = st.context.cookies.get(OWNER_COOKIE)
    return cookie if isinstance(cookie, str) else None  # no request (AppTest) has no cookies


def owner_cookie_missing() -> bool:
    return _owner_cookie() != owner_token()


def sharing_own_images() -> bool:
    return os.environ.get(SHARE_OWN_IMAGES_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def keep_in_store(pair: ModelPair, label: str, dataset: ImageDataset) -> str | None:
    """Write a new pair to the store; its id, or None (with a notice) when the store cannot keep it."""
    try:
        model_id = model_store().put(pair, label, owner_token(), dataset=dataset if pair.data_manifest else None)
        _owner_entries.clear()
        return model_id
    except StoreError as err:
        st.session_state.setdefault(PAIR_NOTICES, []).append(
            f"{label} is not kept on this server ({visitor_reason(err)}): it lasts as long as this session. "
            "Download a checkpoint (Train page) to keep it.")
        return None


def open_stored(model_id: str) -> str:
    """Make a stored pair active (from memory when this session holds it); its key. Raises StoreError or
    DatasetUnavailable with words for the visitor."""
    for key, kept_id in stored_ids().items():
        if kept_id == model_id and key in own_workspaces():
            activate(key)
            return key
    store = model_store()
    entry = store.entry(model_id)  # every time: it may have been deleted, renamed or let go since it was loaded
    if entry.image_count and not sharing_own_images() and entry.owner != owner_hash(owner_token()):
        raise StoreError("it was trained on its maker's own images, which this server keeps for its maker only")
    workspace = _stored_workspace(store, model_id)
    store.note_opened(model_id)
    # This session's own copy carries its label (a rename changes it); models, codes and caches are shared.
    held = copy.copy(workspace)
    held.label = f"{entry.label} {YOURS if entry.owner == owner_hash(owner_token()) else SHARED_WITH_YOU}"
    return _hold(held, model_id)


@st.cache_resource(max_entries=8, show_spinner="Opening the model…", hash_funcs={ModelStore: id})
def _stored_workspace(store: ModelStore, model_id: str) -> Workspace:
    """A stored pair, read and encoded once per server process while it is in demand (a link shared with many
    people is opened by many sessions), like the shipped pairs."""
    kept = store.open(model_id)
    dataset = kept.dataset or load_dataset(kept.entry.dataset, download=False)
    return Workspace(kept.pair, dataset, label=kept.entry.label)


def my_models() -> list:
    """This browser's stored models (StoredEntry), most recently opened first; empty when the store is away."""
    try:
        return _owner_entries(model_store(), model_store().url, owner_token())
    except StoreError:
        return []


@st.cache_data(ttl=15, show_spinner=False)
def _owner_entries(_store: ModelStore, url: str, token: str) -> list:
    """An owner's list, read at most every 15 s by this server (the sidebar asks on every run); cleared when
    this server keeps, renames or deletes a model, so a change made here shows at once."""
    return _store.entries(token)


def is_mine(model_id: str) -> bool:
    try:
        return model_store().entry(model_id).owner == owner_hash(owner_token())
    except StoreError:
        return False


def rename_stored(model_id: str, label: str) -> None:
    label = model_store().rename(model_id, owner_token(), label)
    _owner_entries.clear()
    for key, kept_id in stored_ids().items():
        if kept_id == model_id and key in own_workspaces():
            own_workspaces()[key].label = f"{label} {YOURS}"


def delete_stored(model_id: str) -> None:
    """Delete one of this browser's models from the store, and from this session's memory."""
    model_store().delete(model_id, owner_token())
    _owner_entries.clear()
    for key in [k for k, kept_id in stored_ids().items() if kept_id == model_id]:
        stored_ids().pop(key)
        own_workspaces().pop(key, None)
    if st.session_state.get(WORKSPACE) not in workspace_labels():
        activate(landing_key())


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
    """Once per session: open the model a link names and apply the view it carries (latent_explorer/view_state.py);
    each value left out becomes a notice."""
    if st.session_state.get(URL_RESTORED):
        return
    st.session_state[URL_RESTORED] = True
    query = {name: value for name in view_state.PARAMETERS if (value := st.query_params.get(name)) is not None}
    notices = []
    model = query.pop("model", None)
    if model is not None and not _open_linked_model(model, notices):
        # The point and z belong to the model the link names: on another model they would be another view.
        if any(name in query for name in ("point", "at", "z", "region")):
            notices[-1] += ", without the point, location, latent vector and region it names (they belong to " \
                           "that model)"
        for belongs_to_the_model in view_state.BELONG_TO_THE_MODEL:
            query.pop(belongs_to_the_model, None)
    ws = active_workspace()
    linked, view_notices = ViewState.from_query(query, ws, linkable_model())
    if linked.point is not None:
        select(linked.point)
        if not ws.is_held_out(linked.point):
            st.session_state[EVERY_IMAGE] = True  # a training image: show the map it is on
    if linked.at is not None:
        st.session_state[DECODED_AT] = linked.at
    if linked.z is not None:
        set_latent_vector(np.array(linked.z))
    if "region" in query:
        st.session_state[REGION] = linked.region
    if linked.view is not None:
        st.session_state[LINKED_MAP_VIEW] = (linked.view.name, linked.view.dims)
    if "seed" in query:
        st.session_state[SEED] = linked.seed
    if linked.colour is not None:
        st.session_state[COLOUR_BY] = linked.colour
    st.session_state[NOTICES] = notices + view_notices


def _open_linked_model(model: str, notices: list[str]) -> bool:
    """Activate the model a link names; False, with a notice, when it cannot be opened."""
    if model in shipped_keys():
        activate(model)
        return True
    if not ID_PATTERN.fullmatch(model):
        notices.append(f"model {view_state.quoted(model)} is not a model of this server; showing the default "
                       "instead")
        return False
    try:
        open_stored(model)
    except (StoreError, DatasetUnavailable) as err:
        notices.append(f"the model it names cannot be opened ({_plain_reason(err)}); showing the default instead")
        return False
    return True


def _plain_reason(err: Exception) -> str:
    """An error's words as they are shown in a notice (they may quote a file's or a store's contents)."""
    return plain(visitor_reason(err), limit=300)


def set_map_view(view: str, dims: tuple[int, int] | None) -> None:
    """The Explore map's view as a link carries it (PCA, the default, and latent size 2 carry none)."""
    st.session_state[MAP_VIEW] = MapView(view, dims) if view in ("tsne", "active") else None


def linkable_model() -> str | None:
    """What ``?model=`` names for the active pair: a shipped key or a store id; None for a pair kept nowhere."""
    key = active_key()
    return key if key in SHIPPED_FILES else stored_id(key)


def current_view() -> ViewState:
    """This session's view, as a link carries it."""
    latent = st.session_state.get(LATENT)
    return ViewState(model=linkable_model(), point=selected_index(), at=st.session_state.get(DECODED_AT),
                     z=None if latent is None else tuple(latent), seed=st.session_state.get(SEED) or 0,
                     region=st.session_state.get(REGION), view=st.session_state.get(MAP_VIEW),
                     colour=st.session_state.get(COLOUR_BY))


def view_params() -> dict[str, str]:
    """The query string that reopens this view (empty for a pair the link cannot name)."""
    return current_view().to_query()


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
