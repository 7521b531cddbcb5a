"""Datasets: the embedded digits, IDX files written here (raw and gzipped), and clear failures."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from devtools.idx_mirror import idx_bytes
from vae_core import data, registry
from vae_core.data import (
    DATA_DIR_ENV,
    DATASETS,
    IDX_FILES,
    DatasetUnavailable,
    candidate_folders,
    dataset_title,
    is_available,
    load_dataset,
    missing_dataset_message,
    read_idx,
)

SYSTEM_DATASETS = Path("/usr/share/datasets")


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No environment folder, an empty download cache, and a cold load_dataset cache."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(registry, "DOWNLOAD_DIR", tmp_path / "empty-cache")
    load_dataset.cache_clear()
    yield tmp_path
    load_dataset.cache_clear()


@pytest.fixture
def no_system_datasets(monkeypatch, isolated):
    """Also hide /usr/share/datasets (this machine may have the Debian package installed)."""
    real = data.candidate_folders

    def without_system(name, data_dir=None):
        return [f for f in real(name, data_dir) if SYSTEM_DATASETS not in (f, *f.parents)]

    monkeypatch.setattr(data, "candidate_folders", without_system)
    return isolated


def make_arrays(seed: int = 0, side: int = 28):
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (6, side, side), dtype=np.uint8),
        "train_labels": np.array([0, 1, 2, 3, 9, 5], dtype=np.uint8),
        "test_images": rng.integers(0, 256, (4, side, side), dtype=np.uint8),
        "test_labels": np.array([9, 8, 7, 0], dtype=np.uint8),
    }


def write_idx_folder(folder: Path, arrays: dict, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        payload = idx_bytes(arrays[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / stem).write_bytes(payload)
    return folder


def test_idx_helper_writes_the_standard_magic_numbers():
    assert idx_bytes(np.zeros((2, 3, 4)))[:4] == (0x00000803).to_bytes(4, "big")
    assert idx_bytes(np.zeros(5))[:4] == (0x00000801).to_bytes(4, "big")
    assert idx_bytes(np.zeros((2, 3, 4)))[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])


# --- digits -------------------------------------------------------------------------------

def test_digits_shapes_types_and_split(digits):
    assert digits.name == "digits"
    assert digits.train_images.dtype == digits.test_images.dtype == torch.uint8
    assert digits.train_images.shape[1:] == digits.test_images.shape[1:] == (1, 8, 8)
    assert digits.image_shape == (1, 8, 8) == DATASETS["digits"].image_shape
    n_train, n_test = len(digits.train_images), len(digits.test_images)
    assert n_train + n_test == 1797 and n_test == 360
    assert len(digits.train_labels) == n_train and len(digits.test_labels) == n_test
    assert digits.train_labels.dtype == torch.int64
    assert digits.class_names == tuple("0123456789")
    assert set(digits.test_labels.tolist()) == set(range(10))  # stratified


def test_digits_split_is_a_partition_of_the_scikit_learn_set(digits):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    expected = np.rint(bunch.images * 255.0 / 16.0).astype(np.uint8).reshape(1797, 64)
    expected = np.concatenate([expected, bunch.target[:, None].astype(np.uint8)], axis=1)
    ours = np.concatenate([
        np.concatenate([digits.train_images.reshape(-1, 64).numpy(), digits.train_labels[:, None].numpy()], 1),
        np.concatenate([digits.test_images.reshape(-1, 64).numpy(), digits.test_labels[:, None].numpy()], 1),
    ]).astype(np.uint8)
    # Same multiset of (image, label) rows: nothing lost, nothing duplicated across the split.
    assert ours.shape == expected.shape == (1797, 65)
    order = np.lexsort(ours.T[::-1])
    expected_order = np.lexsort(expected.T[::-1])
    assert np.array_equal(ours[order], expected[expected_order])


def test_float_images_are_in_unit_range(digits):
    train = digits.images("train")
    assert train.dtype == torch.float32 and train.shape == digits.train_images.shape
    assert train.min() == 0.0 and train.max() == 1.0
    torch.testing.assert_close(train, digits.train_images.float() / 255)
    assert digits.images("test").shape == digits.test_images.shape
    assert torch.equal(digits.labels("test"), digits.test_labels)
    # images() must not modify the stored bytes.
    assert digits.train_images.dtype == torch.uint8 and digits.train_images.max() == 255


def test_digits_is_always_available():
    assert is_available("digits")
    assert load_dataset("digits") is load_dataset("digits")  # cached


def test_unknown_dataset():
    with pytest.raises(DatasetUnavailable, match="unknown dataset"):
        load_dataset("cifar-10")


# --- IDX files ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["fashion-mnist", "mnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(isolated, name, gz):
    arrays = make_arrays(seed=1)
    folder = write_idx_folder(isolated / "idx", arrays, gz=gz)
    dataset = load_dataset(name, data_dir=str(folder), download=False)
    assert dataset.name == name
    assert dataset.class_names == DATASETS[name].class_names and len(dataset.class_names) == 10
    assert dataset.train_images.shape == (6, 1, 28, 28) and dataset.test_images.shape == (4, 1, 28, 28)
    assert dataset.train_images.dtype == torch.uint8 and dataset.train_labels.dtype == torch.int64
    assert np.array_equal(dataset.train_images[:, 0].numpy(), arrays["train_images"])
    assert np.array_equal(dataset.test_images[:, 0].numpy(), arrays["test_images"])
    assert dataset.train_labels.tolist() == arrays["train_labels"].tolist()
    assert dataset.test_labels.tolist() == arrays["test_labels"].tolist()
    assert is_available(name, str(folder))


def test_fashion_class_names():
    assert DATASETS["fashion-mnist"].class_names[0] == "T-shirt/top"
    assert DATASETS["fashion-mnist"].class_names[9] == "Ankle boot"


@pytest.mark.parametrize("layout", ["name", "torchvision"])
def test_per_dataset_and_torchvision_subfolders_are_found(isolated, layout):
    arrays = make_arrays(seed=2)
    root = isolated / "root"
    sub = root / "fashion-mnist" if layout == "name" else root / "FashionMNIST" / "raw"
    write_idx_folder(sub, arrays, gz=True)
    dataset = load_dataset("fashion-mnist", data_dir=str(root), download=False)
    assert np.array_equal(dataset.test_images[:, 0].numpy(), arrays["test_images"])


def test_environment_folder_is_used(isolated, monkeypatch):
    arrays = make_arrays(seed=3)
    folder = write_idx_folder(isolated / "env", arrays)
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    dataset = load_dataset("mnist", download=False)
    assert dataset.train_labels.tolist() == arrays["train_labels"].tolist()


def test_download_cache_folder_is_used(isolated, monkeypatch):
    arrays = make_arrays(seed=4)
    write_idx_folder(isolated / "cache" / "MNIST" / "raw", arrays, gz=True)
    monkeypatch.setattr(registry, "DOWNLOAD_DIR", isolated / "cache")
    dataset = load_dataset("mnist", download=False)
    assert dataset.test_labels.tolist() == arrays["test_labels"].tolist()


def test_candidate_folders_order(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    monkeypatch.setattr(registry, "DOWNLOAD_DIR", tmp_path / "cache")
    folders = candidate_folders("fashion-mnist", tmp_path / "given")
    roots = [tmp_path / "given", tmp_path / "env", tmp_path / "cache", SYSTEM_DATASETS]
    expected = [f for r in roots for f in (r, r / "fashion-mnist", r / "FashionMNIST" / "raw")]
    assert folders == expected
    # Debian's dataset-fashion-mnist puts the files in /usr/share/datasets/fashion-mnist.
    assert SYSTEM_DATASETS / "fashion-mnist" in folders


def test_given_folder_wins_over_the_environment(isolated, monkeypatch):
    write_idx_folder(isolated / "env", make_arrays(seed=5))
    given = make_arrays(seed=6)
    write_idx_folder(isolated / "given", given)
    monkeypatch.setenv(DATA_DIR_ENV, str(isolated / "env"))
    dataset = load_dataset("mnist", data_dir=str(isolated / "given"), download=False)
    assert np.array_equal(dataset.train_images[:, 0].numpy(), given["train_images"])


# --- missing and malformed ------------------------------------------------------------------

@pytest.mark.parametrize("name, present, absent", [
    ("fashion-mnist", ["apt-get install dataset-fashion-mnist", "train-images-idx3-ubyte", DATA_DIR_ENV], []),
    ("mnist", ["MNIST (28x28) is not available", "train-images-idx3-ubyte", DATA_DIR_ENV], ["apt-get"]),
])
def test_a_missing_dataset_says_how_to_get_it(no_system_datasets, name, present, absent):
    empty = no_system_datasets / "nothing-here"
    empty.mkdir()
    with pytest.raises(DatasetUnavailable) as raised:
        load_dataset(name, data_dir=str(empty), download=False)
    message = str(raised.value)
    assert all(words in message for words in present), message
    assert not any(words in message for words in absent), message
    assert not is_available(name, str(empty))


def test_incomplete_folder_counts_as_missing(no_system_datasets):
    folder = write_idx_folder(no_system_datasets / "partial", make_arrays())
    (folder / IDX_FILES["test_labels"]).unlink()
    with pytest.raises(DatasetUnavailable, match="not available"):
        load_dataset("fashion-mnist", data_dir=str(folder), download=False)


def _corrupt(arrays: dict, folder: Path, key: str, payload: bytes, gz: bool = False) -> Path:
    write_idx_folder(folder, arrays, gz=gz)
    stem = IDX_FILES[key]
    target = folder / (f"{stem}.gz" if gz else stem)
    target.write_bytes(gzip.compress(payload) if gz else payload)
    return folder


@pytest.mark.parametrize("key, mangle, message", [
    ("train_images", lambda b: b"\x01" + b[1:], "bad magic"),
    ("train_labels", lambda b: b"\x00\x01" + b[2:], "bad magic"),
    ("test_images", lambda b: b[:2] + b"\x0d" + b[3:], "unsigned bytes"),
    ("test_images", lambda b: b[:-10], "should hold"),
    ("train_images", lambda b: b[:9], "truncated inside its header"),
    ("train_labels", lambda b: b[:2], "bad magic"),
    ("test_labels", lambda b: b + b"\x00", "should hold"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_malformed_idx_files(isolated, key, mangle, message, gz):
    arrays = make_arrays()
    folder = _corrupt(arrays, isolated / "bad", key, mangle(idx_bytes(arrays[key])), gz=gz)
    with pytest.raises(DatasetUnavailable, match=message):
        load_dataset("fashion-mnist", data_dir=str(folder), download=False)


@pytest.mark.parametrize("stem, mangle", [
    ("train_images", lambda gz: gz[:200]),  # a gzip stream cut short
    ("test_labels", lambda gz: b"plain bytes, not gzip"),
])
def test_damaged_gzip_files(isolated, stem, mangle):
    folder = write_idx_folder(isolated / "gz", make_arrays(), gz=True)
    target = folder / f"{IDX_FILES[stem]}.gz"
    target.write_bytes(mangle(target.read_bytes()))
    with pytest.raises(DatasetUnavailable, match="cannot read"):
        load_dataset("mnist", data_dir=str(folder), download=False)


def _swap_images_and_labels(arrays: dict) -> None:
    arrays["train_images"], arrays["train_labels"] = arrays["train_labels"], arrays["train_images"]


@pytest.mark.parametrize("change, message", [
    (lambda arrays: arrays.update(train_labels=arrays["train_labels"][:5]), "do not match"),
    (lambda arrays: arrays.update(test_labels=np.array([0, 1, 10, 2], dtype=np.uint8)), "beyond"),
    (_swap_images_and_labels, "do not match"),
    (lambda arrays: arrays.update(test_images=arrays["test_images"][:, :27, :27]), "are 27x27"),
])
def test_inconsistent_idx_folders(isolated, change, message):
    arrays = make_arrays()
    change(arrays)
    folder = write_idx_folder(isolated / "inconsistent", arrays)
    with pytest.raises(DatasetUnavailable, match=message):
        load_dataset("fashion-mnist", data_dir=str(folder), download=False)


def test_read_idx_directly(tmp_path):
    cube = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "cube").write_bytes(idx_bytes(cube))
    (tmp_path / "cube.gz").write_bytes(gzip.compress(idx_bytes(cube)))
    assert np.array_equal(read_idx(tmp_path / "cube"), cube)
    assert np.array_equal(read_idx(tmp_path / "cube.gz"), cube)
    with pytest.raises(DatasetUnavailable, match="cannot read"):
        read_idx(tmp_path / "absent")


def test_custom_dataset_names_are_in_no_registry():
    assert dataset_title("custom:shoes") == "Your images: shoes"
    assert dataset_title("fashion-mnist") == DATASETS["fashion-mnist"].title
    assert not is_available("custom:shoes")
    assert "Load the same images again" in missing_dataset_message("custom:shoes")
    with pytest.raises(DatasetUnavailable, match="unknown dataset"):
        load_dataset("custom:shoes")
