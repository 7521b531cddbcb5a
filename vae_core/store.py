"""The model store: every pair a visitor trains or uploads, kept so that a link opens it on any server.

A store is a folder or any fsspec URL (``s3://…``, ``gs://…``, ``memory://`` in tests) that several server
processes may share. Each model is one entry under ``models/<id>/``:

- ``checkpoint.pt``: the pair, in the checkpoint format, read back with the same safe loader;
- ``images.npz``: for a pair trained on a person's own images, those images (both splits), read back
  without pickle;
- ``label.json``: its name, rewritten when its owner renames it;
- ``opened.json``: when it was last opened (retention lets the least recently opened go first);
- ``entry.json``: what it is (dataset, owner, created, size), written last: an entry without it is
  half-written and never listed or opened.

``owners/<owner hash>/<id>`` marks each owner's models, so that listing one person's models reads theirs only.

Every file is written to a temporary key and then moved onto its own, so a reader sees either the old
content or the new, never a part. In a local folder each file is fsynced before the move and its folder after
it, so every file of an entry is on the disk before the entry file that makes them visible, and a power cut
leaves no entry whose files are missing. Ids are random (144 bits), so two writers never pick the same entry;
when two servers let the same entry go at once, the second finds it gone and carries on. A model that is let go
leaves a small tombstone under ``gone/<id>.json`` so that its link can say what became of it; the retention
pass removes tombstones older than ``tombstone_age_s`` (their links then say the model is unknown).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import re
import secrets
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
import torch
from fsspec.implementations.local import LocalFileSystem

from .checkpoint import MAX_CHECKPOINT_BYTES, CheckpointError, checkpoint_bytes, load_checkpoint
from .data import ImageDataset
from .image_sources import ImageLimits, manifest_image_shape
from .models import ModelPair

STORE_ENV = "LATENT_EXPLORER_STORE"
MAX_MB_ENV = "LATENT_EXPLORER_STORE_MAX_MB"
MAX_DAYS_ENV = "LATENT_EXPLORER_STORE_MAX_DAYS"
TOMBSTONE_DAYS_ENV = "LATENT_EXPLORER_STORE_TOMBSTONE_DAYS"
DEFAULT_STORE = Path.home() / ".cache" / "latent-explorer" / "store"
DEFAULT_MAX_MB = 2048
DEFAULT_MAX_DAYS = 30
DEFAULT_TOMBSTONE_DAYS = 90  # how long a let-go model's link says what became of it

ID_BYTES = 18  # 144 random bits, 24 URL-safe characters
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{24}")
MAX_LABEL_CHARS = 80
# A person's own images are capped when they are converted (vae_core.image_sources); a stored copy is no larger.
MAX_IMAGES_BYTES = ImageLimits().max_dataset_values + 8 * ImageLimits().max_images + 2**20  # pixels, labels, headers

DAY_S = 86_400
# Retention reads every entry's description: after a put it runs at most this often per process, so keeping a
# model stays quick on a large remote store (which may then be over its cap for up to this long).
RETENTION_EVERY_S = 60.0


class StoreError(Exception):
    """A store operation failed; the message says why, in words for the visitor."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written."""


class InvalidModelId(StoreError):
    """The text cannot be a model id (checked before any key is built from it)."""


class UnknownModel(StoreError):
    """No model has this id in the store, and none ever had that the store remembers."""


class ModelGone(StoreError):
    """The model was here and was let go (its age or the store's size) or deleted by its owner."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class EntryRefused(StoreError):
    """The entry's files are not what the store wrote (damaged or tampered with); nothing in them was run."""


class NotOwner(StoreError):
    """Only the person who made a model may rename or delete it."""


@dataclass(frozen=True)
class StoredEntry:
    """What the store says about one model, without loading it."""

    model_id: str
    label: str
    dataset: str
    owner: str  # a hash of the owner's token, never the token itself
    created: float  # seconds since the epoch
    last_opened: float
    size_bytes: int
    image_count: int  # the person's own images stored with it (0 for a registered dataset)


@dataclass(frozen=True)
class StoredModel:
    entry: StoredEntry
    pair: ModelPair
    dataset: ImageDataset | None  # the person's own images, when the pair was trained on them


def _faults_as_unavailable(method):
    """A backend's own exceptions (a network error, a permission refused) become StoreUnavailable, so callers
    have one family of errors to turn into words."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001 - fsspec backends raise their own kinds
            raise StoreUnavailable(f"the model store did not answer ({type(err).__name__}: "
                                   f"{str(err).splitlines()[0] if str(err) else 'no detail'})") from err

    return wrapper


def _fsync_folder(path: str) -> None:
    """Make a local folder's entries (a file renamed into it, a folder made in it) durable."""
    if os.name == "nt":  # Windows opens no folder as a file; NTFS journals its folders' entries itself
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def new_model_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def check_model_id(text: str) -> str:
    """The id itself, or InvalidModelId: only ids of this exact shape ever become part of a key."""
    if not isinstance(text, str) or not ID_PATTERN.fullmatch(text):
        raise InvalidModelId("this is not a model id")
    return text


def owner_hash(token: str) -> str:
    """What the store records of an owner: someone who can read the store cannot act as the owner."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def clean_label(label: str) -> str:
    """A model's name: one line of printable characters, capped."""
    label = "".join(c if c.isprintable() else " " for c in str(label)).strip()
    return label[:MAX_LABEL_CHARS] or "Unnamed model"


def _dataset_bytes(dataset: ImageDataset) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, train_images=dataset.train_images.numpy(), train_labels=dataset.train_labels.numpy(),
             test_images=dataset.test_images.numpy(), test_labels=dataset.test_labels.numpy())
    return buffer.getvalue()


def _dataset_from_bytes(data: bytes, entry: dict, manifest: dict | None) -> ImageDataset:
    """The stored images, checked against the pair's manifest (no pickle is ever read)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            parts = {name: arrays[name] for name in ("train_images", "train_labels", "test_images", "test_labels")}
        shape = manifest_image_shape(manifest)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        raise EntryRefused(f"its images are damaged ({type(err).__name__})") from err
    class_names = entry.get("class_names")
    if not (isinstance(class_names, list) and class_names and all(isinstance(n, str) for n in class_names)):
        raise EntryRefused("its class names are damaged")
    for split in ("train", "test"):
        images, labels = parts[f"{split}_images"], parts[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != shape \
                or labels.dtype != np.int64 or labels.shape != (len(images),) \
                or (len(labels) and (labels.min() < 0 or labels.max() >= len(class_names))):
            raise EntryRefused(f"its {split} images do not match the model")
    return ImageDataset(name=entry["dataset"], class_names=tuple(class_names), manifest=manifest,
                        **{name: torch.from_numpy(array.copy()) for name, array in parts.items()})


class ModelStore:
    """Models kept in a folder or an fsspec URL, shared by every server process that points at it."""

    def __init__(self, url: str | os.PathLike, max_bytes: int = DEFAULT_MAX_MB * 2**20,
                 max_age_s: float = DEFAULT_MAX_DAYS * DAY_S, tombstone_age_s: float = DEFAULT_TOMBSTONE_DAYS * DAY_S):
        self.url = str(url)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.tombstone_age_s = tombstone_age_s
        self._retained_at = -math.inf  # time.monotonic() of the last retention pass
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
            # Remote stores (s3, gs…) keep an object once its upload ends; a local disk only once it is fsynced.
            self._local = isinstance(self.fs, LocalFileSystem)
            self.fs.makedirs(self._key("models"), exist_ok=True)
            self.fs.makedirs(self._key("gone"), exist_ok=True)
            self.fs.ls(self._key("models"), detail=False)
        except Exception as err:  # fsspec backends raise their own kinds: any of them means "cannot reach it"
            raise StoreUnavailable(f"the model store at {self.url} cannot be reached ({type(err).__name__}: "
                                   f"{str(err).splitlines()[0] if str(err) else 'no detail'})") from err

    @classmethod
    def from_environment(cls) -> ModelStore:
        """The store LATENT_EXPLORER_STORE names (a local folder by default), with the environment's caps."""
        caps = {}
        for name, default in ((MAX_MB_ENV, DEFAULT_MAX_MB), (MAX_DAYS_ENV, DEFAULT_MAX_DAYS),
                              (TOMBSTONE_DAYS_ENV, DEFAULT_TOMBSTONE_DAYS)):
            try:
                caps[name] = float(os.environ.get(name) or default)
            except ValueError:
                raise StoreUnavailable(f"{name} must be a number, not {os.environ[name]!r}") from None
        return cls(os.environ.get(STORE_ENV) or DEFAULT_STORE, max_bytes=int(caps[MAX_MB_ENV] * 2**20),
                   max_age_s=caps[MAX_DAYS_ENV] * DAY_S, tombstone_age_s=caps[TOMBSTONE_DAYS_ENV] * DAY_S)

    # --- keys and atomic files -------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _owner_key(self, owner: str, model_id: str = "") -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", owner):
            raise EntryRefused("its owner is damaged")
        return self._key("owners", owner, *([check_model_id(model_id)] if model_id else []))

    def _entry_key(self, model_id: str, name: str = "") -> str:
        return self._key("models", check_model_id(model_id), *([name] if name else []))

    def _write(self, key: str, data: bytes) -> None:
        """Whole or not at all: a temporary key beside the target, then moved onto it; on a local disk, durable
        when this returns (the file fsynced before the move, its folder after it)."""
        temporary = f"{key}.{secrets.token_hex(8)}.tmp"
        folder = key.rsplit("/", 1)[0]
        self._make_folder(folder)
        try:
            with self.fs.open(temporary, "wb") as f:
                f.write(data)
                if self._local:
                    f.flush()
                    os.fsync(f.fileno())
            self.fs.mv(temporary, key)
            if self._local:
                _fsync_folder(folder)  # the rename itself is recorded in the folder
        except BaseException:
            try:
                self.fs.rm(temporary)
            except Exception:  # noqa: BLE001 - the temporary may never have been written
                pass
            raise

    def _make_folder(self, folder: str) -> None:
        """The folder, made if missing; on a local disk each folder made is fsynced into its parent, or a power
        cut could lose the folder with the files fsynced inside it."""
        missing = []
        if self._local:
            path = folder
            while not os.path.isdir(path):
                missing.append(path)
                path = os.path.dirname(path)
        self.fs.makedirs(folder, exist_ok=True)
        for path in reversed(missing):
            _fsync_folder(os.path.dirname(path))

    def _read(self, key: str, max_bytes: int) -> bytes:
        if self.fs.size(key) > max_bytes:
            raise EntryRefused("one of its files is larger than the store ever writes")
        with self.fs.open(key, "rb") as f:
            return f.read(max_bytes + 1)

    def _read_json(self, key: str) -> dict:
        data = json.loads(self._read(key, 64 * 1024).decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data

    def _write_json(self, key: str, content: dict) -> None:
        self._write(key, json.dumps(content).encode("utf-8"))

    # --- writing ---------------------------------------------------------------------------------
    @_faults_as_unavailable
    def put(self, pair: ModelPair, label: str, owner_token: str, dataset: ImageDataset | None = None) -> str:
        """Keep a pair (and, for one trained on a person's own images, those images); returns its new id.

        The entry file is written last, so until then no reader lists or opens the model.
        """
        model_id = new_model_id()
        checkpoint = checkpoint_bytes(pair)
        self._write(self._entry_key(model_id, "checkpoint.pt"), checkpoint)
        size = len(checkpoint)
        entry = {"dataset": pair.dataset, "owner": owner_hash(owner_token), "created": time.time()}
        if pair.data_manifest is not None:
            if dataset is None:
                raise StoreError("a pair trained on a person's own images is kept with its images")
            images = _dataset_bytes(dataset)
            self._write(self._entry_key(model_id, "images.npz"), images)
            size += len(images)
            entry.update(class_names=list(dataset.class_names),
                         image_count=len(dataset.train_labels) + len(dataset.test_labels))
        self._write_json(self._entry_key(model_id, "label.json"), {"label": clean_label(label)})
        self._write_json(self._entry_key(model_id, "opened.json"), {"at": entry["created"]})
        self._write_json(self._entry_key(model_id, "entry.json"), dict(entry, size_bytes=size))
        self._write_json(self._owner_key(entry["owner"], model_id), {})
        if time.monotonic() - self._retained_at >= RETENTION_EVERY_S:
            self.enforce_retention()
        return model_id

    @_faults_as_unavailable
    def rename(self, model_id: str, owner_token: str, label: str) -> str:
        self._check_owner(model_id, owner_token)
        label = clean_label(label)
        self._write_json(self._entry_key(model_id, "label.json"), {"label": label})
        return label

    @_faults_as_unavailable
    def delete(self, model_id: str, owner_token: str) -> None:
        self._check_owner(model_id, owner_token)
        self._let_go(model_id, "deleted")

    @_faults_as_unavailable
    def move_owner(self, from_token: str, to_token: str) -> list[str]:
        """Make every model of one owner another's; returns their ids. A browser whose two tabs began at once with
        two tokens keeps the one its cookie holds, and the other tab's models follow it.

        Per model: the new owner's marker, then its entry file (the switch: each owner's list checks it), then
        the old marker, so that at every moment the model is in exactly one owner's list.
        """
        old, new = owner_hash(from_token), owner_hash(to_token)
        moved = []
        for entry in self.entries(from_token):
            try:
                content = self._read_json(self._entry_key(entry.model_id, "entry.json"))
            except (FileNotFoundError, EntryRefused, ValueError, UnicodeDecodeError):
                continue  # let go or damaged since the listing
            self._write_json(self._owner_key(new, entry.model_id), {})
            self._write_json(self._entry_key(entry.model_id, "entry.json"), dict(content, owner=new))
            try:
                self.fs.rm(self._owner_key(old, entry.model_id))
            except FileNotFoundError:
                pass  # another server moved it at the same time
            moved.append(entry.model_id)
        return moved

    def _check_owner(self, model_id: str, owner_token: str) -> None:
        if self.entry(model_id).owner != owner_hash(owner_token):
            raise NotOwner("only the person who made this model can rename or delete it")

    def _let_go(self, model_id: str, reason: str) -> None:
        """Tombstone first, then the entry file (the model is no longer listed), then the rest.

        Two servers may let the same model go at once: whatever one of them already removed, the other skips.
        """
        self._write_json(self._key("gone", f"{check_model_id(model_id)}.json"), {"reason": reason, "at": time.time()})
        try:
            self.fs.rm(self._owner_key(self.entry(model_id).owner, model_id))
        except (StoreError, FileNotFoundError):
            pass  # already let go by another server, or its description is damaged: no marker to find
        for name in ("entry.json", "checkpoint.pt", "images.npz", "label.json", "opened.json"):
            try:
                self.fs.rm(self._entry_key(model_id, name))
            except FileNotFoundError:
                pass
        try:
            self.fs.rm(self._entry_key(model_id), recursive=True)
        except FileNotFoundError:
            pass

    # --- reading ---------------------------------------------------------------------------------
    @_faults_as_unavailable
    def entry(self, model_id: str) -> StoredEntry:
        """What the store says about a model; UnknownModel, ModelGone or EntryRefused when it cannot say."""
        check_model_id(model_id)
        try:
            content = self._read_json(self._entry_key(model_id, "entry.json"))
        except FileNotFoundError:
            self._raise_missing(model_id)
        except (ValueError, UnicodeDecodeError) as err:
            raise EntryRefused("its description is damaged") from err
        return self._entry_from(model_id, content)

    def _raise_missing(self, model_id: str):
        try:
            tombstone = self._read_json(self._key("gone", f"{model_id}.json"))
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            raise UnknownModel("no model with this id is kept on this server") from None
        if tombstone.get("reason") == "deleted":
            raise ModelGone("its owner deleted it from this server", "deleted")
        raise ModelGone("it was not opened for a long while, or the store needed the room, so it was let go "
                        "from this server", "expired")

    def _entry_from(self, model_id: str, content: dict) -> StoredEntry:
        try:
            label = self._read_json(self._entry_key(model_id, "label.json")).get("label")
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            label = None
        try:
            opened = float(self._read_json(self._entry_key(model_id, "opened.json"))["at"])
        except (FileNotFoundError, ValueError, UnicodeDecodeError, KeyError, TypeError):
            opened = None
        try:
            created = float(content["created"])
            return StoredEntry(model_id=model_id, label=clean_label(label or "Unnamed model"),
                               dataset=str(content["dataset"]), owner=str(content["owner"]), created=created,
                               last_opened=opened if opened is not None else created,
                               size_bytes=int(content["size_bytes"]), image_count=int(content.get("image_count", 0)))
        except (KeyError, TypeError, ValueError) as err:
            raise EntryRefused("its description is damaged") from err

    @_faults_as_unavailable
    def open(self, model_id: str) -> StoredModel:
        """Load a kept model through the safe checkpoint loader, and note that it was opened."""
        entry = self.entry(model_id)
        try:
            content = self._read_json(self._entry_key(model_id, "entry.json"))
            pair = load_checkpoint(self._read(self._entry_key(model_id, "checkpoint.pt"), MAX_CHECKPOINT_BYTES))
            if pair.dataset != entry.dataset:
                raise EntryRefused("its checkpoint is not the model it describes")
            dataset = None
            if pair.data_manifest is not None:
                images = self._read(self._entry_key(model_id, "images.npz"), MAX_IMAGES_BYTES)
                dataset = _dataset_from_bytes(images, content, pair.data_manifest)
        except FileNotFoundError:
            self._raise_missing(model_id)  # let go while it was being read
        except CheckpointError as err:
            raise EntryRefused(f"its checkpoint was refused: {err}") from err
        self.note_opened(model_id)
        return StoredModel(entry=entry, pair=pair, dataset=dataset)

    @_faults_as_unavailable
    def note_opened(self, model_id: str) -> None:
        """Record that the model was opened now (a server that holds it in memory opens it without reading)."""
        self._write_json(self._entry_key(model_id, "opened.json"), {"at": time.time()})

    @_faults_as_unavailable
    def entries(self, owner_token: str | None = None) -> list[StoredEntry]:
        """Every complete entry (or one owner's), most recently opened first; damaged ones are skipped."""
        wanted = owner_hash(owner_token) if owner_token is not None else None
        try:
            paths = self.fs.ls(self._key("models") if wanted is None else self._owner_key(wanted), detail=False)
        except FileNotFoundError:
            return []  # an owner who never kept a model
        found = []
        for path in paths:
            model_id = path.rstrip("/").rsplit("/", 1)[-1]
            if not ID_PATTERN.fullmatch(model_id):
                continue
            try:
                entry = self.entry(model_id)
            except StoreError:
                continue  # half-written, damaged, or let go since the listing
            if wanted is None or entry.owner == wanted:
                found.append(entry)
        return sorted(found, key=lambda e: e.last_opened, reverse=True)

    # --- retention -------------------------------------------------------------------------------
    @_faults_as_unavailable
    def enforce_retention(self, now: float | None = None) -> list[str]:
        """Let go of models not opened for max_age_s, then of the least recently opened until the store fits
        max_bytes, and remove tombstones older than tombstone_age_s; returns the ids let go. (Shipped models are
        never in the store, so they never go.)"""
        now = time.time() if now is None else now
        self._retained_at = time.monotonic()
        kept = sorted(self.entries(), key=lambda e: e.last_opened)
        let_go = [e for e in kept if now - e.last_opened > self.max_age_s]
        kept = [e for e in kept if e not in let_go]
        total = sum(e.size_bytes for e in kept)
        while kept and total > self.max_bytes:
            oldest = kept.pop(0)
            total -= oldest.size_bytes
            let_go.append(oldest)
        for entry in let_go:
            self._let_go(entry.model_id, "expired")
        self._remove_old_tombstones(now)
        return [e.model_id for e in let_go]

    def _remove_old_tombstones(self, now: float) -> None:
        """A damaged tombstone says nothing (its link reads as unknown already), so it goes as well."""
        for path in self.fs.ls(self._key("gone"), detail=False):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if not (name.endswith(".json") and ID_PATTERN.fullmatch(name.removesuffix(".json"))):
                continue  # a temporary file of a tombstone being written
            try:
                at = float(self._read_json(path)["at"])
            except FileNotFoundError:
                continue  # removed by another server's pass
            except (EntryRefused, ValueError, UnicodeDecodeError, KeyError, TypeError):
                at = -math.inf
            if now - at > self.tombstone_age_s:
                try:
                    self.fs.rm(path)
                except FileNotFoundError:
                    pass
