"""The model store, against a local folder and fsspec's memory filesystem: round trips, atomic writes, two
writers at once, retention order, id validation, and entries tampered with refused."""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

import fsspec
import pytest
import torch
from core_helpers import REPO_ROOT, state_dicts_equal

from devtools.sample_images import shapes_zip
from vae_core.checkpoint import load_checkpoint
from vae_core.image_sources import ConversionOptions, load_image_source
from vae_core.models import ModelConfig, ModelPair, build_model
from vae_core.store import (
    DAY_S,
    EntryRefused,
    InvalidModelId,
    ModelGone,
    ModelStore,
    NotOwner,
    StoreUnavailable,
    UnknownModel,
    check_model_id,
    new_model_id,
    owner_hash,
)

DIGITS_PAIR = REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt"
OWNER = "owner-token"


@pytest.fixture(params=["folder", "memory"])
def store_url(request, tmp_path):
    """A local folder, or a place in fsspec's memory filesystem (shared by every instance in this process)."""
    if request.param == "folder":
        yield str(tmp_path / "store")
        return
    url = f"memory://store-{secrets.token_hex(6)}"
    yield url
    fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


@pytest.fixture
def store(store_url):
    return ModelStore(store_url)


@pytest.fixture(scope="module")
def digits_pair():
    return load_checkpoint(DIGITS_PAIR)


@pytest.fixture(scope="module")
def own_images():
    dataset = load_image_source(shapes_zip(), "shapes.zip", ConversionOptions(image_size=12))
    config = ModelConfig(kind="vae", input_shape=(1, 12, 12), hidden_dim=16, latent_dim=2)
    pair = ModelPair(dataset=dataset.name, vae=build_model(config).eval(), data_manifest=dataset.manifest)
    return pair, dataset


def test_a_pair_comes_back_as_it_was_kept(store, digits_pair):
    model_id = store.put(digits_pair, "my digits", OWNER)
    assert check_model_id(model_id) == model_id
    kept = store.open(model_id)
    assert kept.entry.label == "my digits" and kept.entry.dataset == "digits" and kept.dataset is None
    assert kept.entry.size_bytes == store.fs.size(store._entry_key(model_id, "checkpoint.pt"))
    for kind, model in digits_pair.models().items():
        assert state_dicts_equal(model.state_dict(), kept.pair.models()[kind].state_dict())
    assert [e.model_id for e in store.entries(OWNER)] == [model_id]
    assert store.entries("someone else") == []


def test_own_images_are_kept_with_their_pair(store, own_images):
    pair, dataset = own_images
    model_id = store.put(pair, "shapes", OWNER, dataset=dataset)
    kept = store.open(model_id)
    assert kept.entry.image_count == len(dataset.train_labels) + len(dataset.test_labels)
    assert kept.dataset.name == dataset.name and kept.dataset.class_names == dataset.class_names
    assert torch.equal(kept.dataset.test_images, dataset.test_images)
    assert torch.equal(kept.dataset.train_labels, dataset.train_labels)
    assert kept.dataset.manifest == dataset.manifest


def test_ids_are_random_and_anything_else_is_refused_before_a_key_is_built(store):
    ids = {new_model_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 24 for i in ids)  # 24 URL-safe characters: 144 bits
    for bad in ["", "../../etc/passwd", "a" * 23, "a" * 25, "a/" + "b" * 22, "²" * 24, "a" * 23 + "\n",
                "a" * 23 + ".", None, 12]:
        with pytest.raises(InvalidModelId):
            store.open(bad)
        with pytest.raises(InvalidModelId):
            store.entry(bad)
    with pytest.raises(UnknownModel):
        store.open(new_model_id())


def test_a_half_written_entry_is_neither_listed_nor_opened(store, digits_pair):
    model_id = store.put(digits_pair, "whole", OWNER)
    half = new_model_id()
    store._write(store._entry_key(half, "checkpoint.pt"), b"part of a checkpoint")
    assert [e.model_id for e in store.entries()] == [model_id]
    with pytest.raises(UnknownModel):
        store.open(half)
    # No temporary file is left beside what was written.
    assert not [p for p in store.fs.find(store.root) if p.endswith(".tmp")]


def test_a_write_that_fails_leaves_the_previous_file_whole(store, digits_pair, monkeypatch):
    model_id = store.put(digits_pair, "before", OWNER)

    def broken_move(source, target, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store.fs, "mv", broken_move)
    with pytest.raises(StoreUnavailable, match="disk full"):
        store.rename(model_id, OWNER, "after")
    monkeypatch.undo()
    assert store.entry(model_id).label == "before"
    assert not [p for p in store.fs.find(store.root) if p.endswith(".tmp")]


def test_two_writers_and_a_reader_at_once(store_url, digits_pair):
    """Two server processes share a store: each has its own ModelStore on it."""
    url = store_url
    writers = [ModelStore(url), ModelStore(url)]
    reader = ModelStore(url)
    written: list[str] = []
    errors: list[BaseException] = []

    def write(store):
        try:
            for n in range(4):
                written.append(store.put(digits_pair, f"pair {n}", OWNER))
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    def read():
        try:
            for _ in range(20):
                for entry in reader.entries():
                    reader.open(entry.model_id)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=write, args=(s,)) for s in writers] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(e.model_id for e in reader.entries()) == sorted(written) and len(written) == 8
    for model_id in written:
        assert reader.open(model_id).pair.vae is not None


def test_retention_lets_the_least_recently_opened_go_first_and_says_so(store, digits_pair):
    ids = [store.put(digits_pair, f"pair {n}", OWNER) for n in range(3)]
    size = store.entry(ids[0]).size_bytes
    now = time.time()
    for offset, model_id in zip((30, 10, 20), ids):  # opened 30, 10 and 20 seconds ago
        store._write_json(store._entry_key(model_id, "opened.json"), {"at": now - offset})
    store.max_bytes = 2 * size  # room for two
    assert store.enforce_retention(now) == [ids[0]]
    store.max_bytes = size
    assert store.enforce_retention(now) == [ids[2]]
    assert [e.model_id for e in store.entries()] == [ids[1]]
    with pytest.raises(ModelGone, match="let go") as gone:
        store.open(ids[0])
    assert gone.value.reason == "expired"
    # The age cap: a model not opened for longer than max_age_s goes, whatever the room.
    store.max_bytes, store.max_age_s = 10 * size, 5 * DAY_S
    assert store.enforce_retention(now + 6 * DAY_S) == [ids[1]]
    assert store.entries() == []


def test_two_servers_letting_the_same_models_go_at_once(store_url, digits_pair):
    first, second = ModelStore(store_url), ModelStore(store_url)
    ids = [first.put(digits_pair, f"pair {n}", OWNER) for n in range(4)]
    first.max_bytes = second.max_bytes = first.entry(ids[0]).size_bytes  # room for one
    errors: list[BaseException] = []

    def retain(store):
        try:
            store.enforce_retention()
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=retain, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert [e.model_id for e in first.entries()] == [ids[-1]] == [e.model_id for e in first.entries(OWNER)]
    for model_id in ids[:-1]:
        with pytest.raises(ModelGone):
            second.open(model_id)


def test_opening_keeps_a_model_from_going_first(store, digits_pair):
    older = store.put(digits_pair, "older", OWNER)
    time.sleep(0.01)
    newer = store.put(digits_pair, "newer", OWNER)
    time.sleep(0.01)
    store.open(older)
    store.max_bytes = store.entry(older).size_bytes
    assert store.enforce_retention() == [newer]


def test_only_the_owner_renames_or_deletes_and_a_deleted_link_says_so(store, digits_pair):
    model_id = store.put(digits_pair, "mine", OWNER)
    with pytest.raises(NotOwner):
        store.rename(model_id, "stranger", "theirs")
    with pytest.raises(NotOwner):
        store.delete(model_id, "stranger")
    assert store.rename(model_id, OWNER, "  renamed\n[x](y)  ") == "renamed [x](y)"
    assert store.entry(model_id).label == "renamed [x](y)"
    store.delete(model_id, OWNER)
    with pytest.raises(ModelGone, match="deleted") as gone:
        store.open(model_id)
    assert gone.value.reason == "deleted" and store.entries() == [] and store.entries(OWNER) == []


def test_tampered_entries_are_refused_without_running_anything(store, digits_pair, own_images, tmp_path):
    checkpoint_id = store.put(digits_pair, "tampered checkpoint", OWNER)
    code_ran = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (code_ran,))

    buffer = __import__("io").BytesIO()
    torch.save({"format": "latent-explorer-checkpoint", "x": Payload()}, buffer)
    store._write(store._entry_key(checkpoint_id, "checkpoint.pt"), buffer.getvalue())
    with pytest.raises(EntryRefused, match="refused"):
        store.open(checkpoint_id)
    assert not code_ran.exists()

    pair, dataset = own_images
    images_id = store.put(pair, "tampered images", OWNER, dataset=dataset)
    store._write(store._entry_key(images_id, "images.npz"), b"not an archive")
    with pytest.raises(EntryRefused, match="images"):
        store.open(images_id)

    described_id = store.put(digits_pair, "tampered description", OWNER)
    store._write(store._entry_key(described_id, "entry.json"), b"{not json")
    with pytest.raises(EntryRefused):
        store.open(described_id)
    assert described_id not in [e.model_id for e in store.entries()]


def test_a_backend_fault_while_reading_is_the_store_not_answering(store, digits_pair, monkeypatch):
    model_id = store.put(digits_pair, "kept", OWNER)

    def refused(*args, **kwargs):
        raise PermissionError("access denied")

    monkeypatch.setattr(store.fs, "open", refused)
    with pytest.raises(StoreUnavailable, match="access denied"):
        store.open(model_id)


def test_a_store_that_cannot_be_reached_says_so(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        ModelStore(blocker / "store")


def test_caps_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LATENT_EXPLORER_STORE_MAX_MB", "1.5")
    monkeypatch.setenv("LATENT_EXPLORER_STORE_MAX_DAYS", "2")
    store = ModelStore.from_environment()
    assert (store.max_bytes, store.max_age_s) == (int(1.5 * 2**20), 2 * DAY_S)
    monkeypatch.setenv("LATENT_EXPLORER_STORE_MAX_MB", "lots")
    with pytest.raises(StoreUnavailable, match="must be a number"):
        ModelStore.from_environment()


def test_keeping_a_model_lets_the_oldest_go_when_the_store_is_over_its_cap(store_url, digits_pair):
    store = ModelStore(store_url)
    older = store.put(digits_pair, "older", OWNER)
    store.max_bytes = store.entry(older).size_bytes  # room for one
    store._retained_at = -float("inf")  # as in a server whose last retention pass was over a minute ago
    newer = store.put(digits_pair, "newer", OWNER)
    assert [e.model_id for e in store.entries()] == [newer]
    with pytest.raises(ModelGone, match="let go"):
        store.open(older)


def inode(path) -> tuple[int, int]:
    """What os.fsync saw of a file or folder: a renamed file keeps the inode its temporary had."""
    status = os.stat(path)
    return status.st_dev, status.st_ino


def test_a_local_write_is_on_the_disk_before_the_entry_that_makes_it_visible(tmp_path, digits_pair, monkeypatch):
    store = ModelStore(tmp_path / "store")
    synced: list[tuple[int, int]] = []  # what os.fsync was called on, in order
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        status = os.fstat(descriptor)
        synced.append((status.st_dev, status.st_ino))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    model_id = store.put(digits_pair, "durable", OWNER)
    folder = tmp_path / "store" / "models" / model_id
    entry_synced = synced.index(inode(folder / "entry.json"))
    for name in ("checkpoint.pt", "label.json", "opened.json"):
        assert synced.index(inode(folder / name)) < entry_synced, f"{name} was not fsynced before the entry"
    assert inode(folder) in synced[:entry_synced], "the folder (its renames) was not fsynced before the entry"
    assert inode(tmp_path / "store" / "models") in synced, "the new entry's folder was not fsynced into models/"

    # A put cut short (a crash, a power cut) just before its entry file leaves nothing half-visible.
    synced.clear()
    real_move = store.fs.mv

    def cut_before_the_entry(source, target, **kwargs):
        if target.endswith("/entry.json"):
            raise OSError("power cut")
        real_move(source, target, **kwargs)

    monkeypatch.setattr(store.fs, "mv", cut_before_the_entry)
    with pytest.raises(StoreUnavailable, match="power cut"):
        store.put(digits_pair, "cut short", OWNER)
    (cut,) = [p for p in (tmp_path / "store" / "models").iterdir() if p.name != model_id]
    assert inode(cut / "checkpoint.pt") in synced and inode(cut) in synced
    assert [e.model_id for e in store.entries()] == [model_id] == [e.model_id for e in store.entries(OWNER)]
    with pytest.raises(UnknownModel):
        store.open(cut.name)
    assert not [p for p in store.fs.find(store.root) if p.endswith(".tmp")]


def test_old_tombstones_go_with_a_retention_pass(store, digits_pair):
    old, recent = (store.put(digits_pair, label, OWNER) for label in ("old", "recent"))
    store.delete(old, OWNER)
    store.delete(recent, OWNER)
    now = time.time()
    store._write_json(store._key("gone", f"{old}.json"), {"reason": "deleted", "at": now - 91 * DAY_S})
    store._write_json(store._key("gone", f"{recent}.json"), {"reason": "deleted", "at": now - 89 * DAY_S})
    damaged = new_model_id()
    store._write(store._key("gone", f"{damaged}.json"), b"{not json")
    assert store.tombstone_age_s == 90 * DAY_S  # the default
    store.enforce_retention(now)
    gone = [p.rsplit("/", 1)[-1] for p in store.fs.ls(store._key("gone"), detail=False)]
    assert gone == [f"{recent}.json"]
    with pytest.raises(UnknownModel):
        store.open(old)
    with pytest.raises(ModelGone, match="deleted"):
        store.open(recent)
    store.tombstone_age_s = 30 * DAY_S
    store.enforce_retention(now)
    assert store.fs.ls(store._key("gone"), detail=False) == []


def test_the_tombstone_age_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LATENT_EXPLORER_STORE_TOMBSTONE_DAYS", "7")
    assert ModelStore.from_environment().tombstone_age_s == 7 * DAY_S
    monkeypatch.setenv("LATENT_EXPLORER_STORE_TOMBSTONE_DAYS", "a while")
    with pytest.raises(StoreUnavailable, match="must be a number"):
        ModelStore.from_environment()


def test_one_owners_models_become_anothers(store, digits_pair):
    mine, theirs = "m" * 43, "t" * 43
    moved = [store.put(digits_pair, f"mine {n}", mine) for n in range(2)]
    kept = store.put(digits_pair, "theirs", theirs)
    assert sorted(store.move_owner(mine, theirs)) == sorted(moved)
    assert sorted(e.model_id for e in store.entries(theirs)) == sorted([*moved, kept])
    assert store.entries(mine) == []
    assert {store.entry(model_id).owner for model_id in moved} == {owner_hash(theirs)}
    with pytest.raises(NotOwner):
        store.rename(moved[0], mine, "no longer mine")
    assert store.rename(moved[0], theirs, "theirs now") == "theirs now"
    assert store.move_owner(mine, theirs) == []
