"""Downloading Fashion-MNIST and MNIST from a mirror on 127.0.0.1: progress, checks, and all-or-nothing failures."""

from __future__ import annotations

import gzip
import hashlib
import socket

import numpy as np
import pytest

from devtools.idx_mirror import (
    IDX_STEMS,
    LocalMirror,
    debian_fashion_mnist_files,
    gzipped_idx_files,
    idx_bytes,
    synthetic_arrays,
)
from vae_core import registry
from vae_core.data import DATA_DIR_ENV, DatasetUnavailable, load_dataset
from vae_core.download import MIRRORS_ENV, dataset_folder, download_dataset, mirrors_reachable, torchvision_sources


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An empty download cache, no environment folder or mirror, a cold load_dataset cache."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(MIRRORS_ENV, raising=False)
    root = tmp_path / "cache"
    monkeypatch.setattr(registry, "DOWNLOAD_DIR", root)
    load_dataset.cache_clear()
    yield root
    load_dataset.cache_clear()


def all_paths(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"  # nothing listens once the socket closes


def test_torchvision_declares_the_files_and_mirrors():
    mirrors, resources = torchvision_sources("fashion-mnist")
    assert [file for file, _ in resources] == [f"{stem}.gz" for stem in IDX_STEMS]
    assert all(len(digest) == 32 for _, digest in resources) and mirrors
    with pytest.raises(DatasetUnavailable, match="cannot be downloaded"):
        torchvision_sources("digits")


def test_download_from_the_local_mirror_with_progress(cache):
    arrays = synthetic_arrays(seed=1)
    files = gzipped_idx_files(arrays)
    events = []
    with LocalMirror(files) as mirror:
        folder = download_dataset("fashion-mnist", mirrors=[mirror.url], on_progress=events.append)
    assert folder == cache / "FashionMNIST" / "raw" == dataset_folder("fashion-mnist")
    # Only the four extracted IDX files remain: no archives, no staging folder.
    assert all_paths(cache) == ["FashionMNIST", "FashionMNIST/raw", *sorted(f"FashionMNIST/raw/{s}" for s in IDX_STEMS)]
    dataset = load_dataset("fashion-mnist", download=False)
    assert np.array_equal(dataset.train_images[:, 0].numpy(), arrays[IDX_STEMS[0]])
    assert dataset.test_labels.tolist() == arrays[IDX_STEMS[3]].tolist()

    # Progress: every file downloaded to its full announced size, then extracted; a final check; done.
    for number, (name, payload) in enumerate(files.items(), start=1):
        downloading = [e for e in events if e.file == name and e.stage == "downloading"]
        assert {e.file_number for e in downloading} == {number} and downloading[0].file_count == 4
        assert [e.total_bytes for e in downloading] == [len(payload)] * len(downloading)
        sizes = [e.done_bytes for e in downloading]
        assert sizes[0] == 0 and sizes[-1] == len(payload) and sizes == sorted(sizes)
        assert downloading[0].fraction == 0.0 and downloading[-1].fraction == 1.0
        extracting = [e for e in events if e.file == name and e.stage == "extracting"]
        assert extracting[-1].done_bytes == extracting[-1].total_bytes == len(payload)
    # Mirrors other than torchvision's are not held to torchvision's MD5 sums, so no MD5 stage here.
    assert not [e for e in events if e.stage == "checking" and e.file != "all files"]
    assert [e.stage for e in events[-2:]] == ["checking", "done"] and events[-1].fraction is None
    assert events[0].describe().startswith("Downloading train-images-idx3-ubyte.gz (file 1 of 4): 0.0 of")
    assert events[-1].describe() == "Fashion-MNIST (28x28) is ready."


def test_given_md5_sums_are_checked(cache):
    files = gzipped_idx_files(synthetic_arrays(seed=2))
    resources = [(name, md5(payload)) for name, payload in files.items()]
    events = []
    with LocalMirror(files) as mirror:
        download_dataset("mnist", mirrors=[mirror.url], resources=resources, on_progress=events.append)
    checked = [e.file for e in events if e.stage == "checking" and e.file != "all files"]
    assert checked == list(files)
    assert load_dataset("mnist", download=False).train_images.shape == (6, 1, 28, 28)


def test_an_existing_dataset_is_not_downloaded_again(cache):
    files = gzipped_idx_files(synthetic_arrays(seed=3))
    with LocalMirror(files) as mirror:
        download_dataset("mnist", mirrors=[mirror.url])
        first = len(mirror.requests)
        events = []
        download_dataset("mnist", mirrors=[mirror.url], on_progress=events.append)
        assert len(mirror.requests) == first == 4
    assert [e.stage for e in events] == ["done"]


def test_the_second_mirror_is_tried_when_the_first_fails(cache):
    files = gzipped_idx_files(synthetic_arrays(seed=4))
    with LocalMirror(files, faults={name: "missing" for name in files}) as broken, LocalMirror(files) as good:
        download_dataset("fashion-mnist", mirrors=[broken.url, good.url])
        assert len(broken.requests) == len(good.requests) == 4
    assert load_dataset("fashion-mnist", download=False).test_images.shape == (4, 1, 28, 28)


def _failing_download(cache, files, message, **kwargs):
    with LocalMirror(files, faults=kwargs.pop("faults", None)) as mirror:
        with pytest.raises(DatasetUnavailable, match=message) as raised:
            download_dataset("fashion-mnist", mirrors=[mirror.url], **kwargs)
    text = str(raised.value)
    assert "nothing was kept" in text and "apt-get install dataset-fashion-mnist" in text
    # No half dataset, no archive, no staging folder: only the empty parent of the dataset folder.
    assert all_paths(cache) == ["FashionMNIST"]
    return text


@pytest.mark.parametrize("broken", range(4))
def test_a_connection_dropped_mid_file_keeps_nothing(cache, broken):
    files = gzipped_idx_files(synthetic_arrays(seed=5, train=200))
    name = list(files)[broken]
    text = _failing_download(cache, files, "interrupted after", faults={name: "interrupt"})
    assert f"{len(files[name]) // 2:,} of {len(files[name]):,} bytes" in text and name in text


def test_a_server_that_stops_sending_mid_file(cache):
    files = gzipped_idx_files(synthetic_arrays(seed=12, train=200))
    _failing_download(cache, files, "train-labels-idx1-ubyte.gz: the server stopped answering",
                      faults={"train-labels-idx1-ubyte.gz": "stall"}, timeout_s=2)


def test_a_missing_file_on_the_server(cache):
    files = gzipped_idx_files(synthetic_arrays(seed=6))
    _failing_download(cache, files, "HTTP 404", faults={"t10k-labels-idx1-ubyte.gz": "missing"})


def test_a_wrong_md5_sum(cache):
    files = gzipped_idx_files(synthetic_arrays(seed=7))
    resources = [(name, md5(payload)) for name, payload in files.items()]
    resources[1] = (resources[1][0], md5(b"something else"))
    _failing_download(cache, files, r"train-labels-idx1-ubyte.gz .*MD5 sum does not match", resources=resources)


def test_a_truncated_gzip_archive(cache):
    files = gzipped_idx_files(synthetic_arrays(seed=8))
    files["t10k-images-idx3-ubyte.gz"] = files["t10k-images-idx3-ubyte.gz"][:-100]
    _failing_download(cache, files, "not a complete gzip archive")


def test_files_that_are_not_the_dataset(cache):
    arrays = synthetic_arrays(seed=9)
    arrays[IDX_STEMS[2]] = arrays[IDX_STEMS[2]][:, :27, :27]
    _failing_download(cache, gzipped_idx_files(arrays), "27x27")


def test_a_mirror_nobody_answers(cache):
    url = closed_port_url()
    with pytest.raises(DatasetUnavailable, match="cannot connect") as raised:
        download_dataset("mnist", mirrors=[url])
    assert url in str(raised.value)
    assert all_paths(cache) == ["MNIST"]


def test_a_partial_folder_from_an_older_download_is_replaced(cache):
    partial = dataset_folder("fashion-mnist")
    partial.mkdir(parents=True)
    (partial / IDX_STEMS[0]).write_bytes(b"half a file")
    arrays = synthetic_arrays(seed=10)
    with LocalMirror(gzipped_idx_files(arrays)) as mirror:
        download_dataset("fashion-mnist", mirrors=[mirror.url])
    assert (partial / IDX_STEMS[0]).read_bytes() == idx_bytes(arrays[IDX_STEMS[0]])
    assert all_paths(cache) == ["FashionMNIST", "FashionMNIST/raw", *sorted(f"FashionMNIST/raw/{s}" for s in IDX_STEMS)]


def test_load_dataset_downloads_from_the_mirror_in_the_environment(cache, monkeypatch):
    arrays = synthetic_arrays(seed=11)
    with LocalMirror(gzipped_idx_files(arrays)) as mirror:
        monkeypatch.setenv(MIRRORS_ENV, mirror.url)
        dataset = load_dataset("mnist", data_dir=str(cache / "nowhere"))
    assert dataset.train_labels.tolist() == arrays[IDX_STEMS[1]].tolist()
    assert dataset_folder("mnist").is_dir()


def test_the_real_fashion_mnist_through_the_mirror(cache):
    files = debian_fashion_mnist_files()
    if files is None:
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    resources = [(name, md5(payload)) for name, payload in files.items()]
    with LocalMirror(files) as mirror:
        download_dataset("fashion-mnist", mirrors=[mirror.url], resources=resources)
    dataset = load_dataset("fashion-mnist", download=False)
    assert dataset.train_images.shape == (60000, 1, 28, 28) and dataset.test_images.shape == (10000, 1, 28, 28)
    raw = gzip.decompress(files["t10k-labels-idx1-ubyte.gz"])
    assert dataset.test_labels.tolist() == list(raw[8:])


def test_reachability_of_mirrors(monkeypatch):
    monkeypatch.delenv(MIRRORS_ENV, raising=False)
    files = gzipped_idx_files(synthetic_arrays())
    with LocalMirror(files) as mirror:
        assert mirrors_reachable("fashion-mnist", [mirror.url])
        assert mirror.requests == ["HEAD /train-images-idx3-ubyte.gz"]  # asks, downloads nothing
        assert mirrors_reachable("mnist", [closed_port_url(), mirror.url])
        monkeypatch.setenv(MIRRORS_ENV, mirror.url)
        assert mirrors_reachable("mnist")
    with LocalMirror(files, faults={"train-images-idx3-ubyte.gz": "missing"}) as mirror:
        assert not mirrors_reachable("mnist", [mirror.url])
    assert not mirrors_reachable("fashion-mnist", [closed_port_url()])


def test_the_download_command(cache, monkeypatch, capsys):
    from vae_core.cli import main

    with LocalMirror(gzipped_idx_files(synthetic_arrays(seed=13))) as mirror:
        monkeypatch.setenv(MIRRORS_ENV, mirror.url)
        assert main(["download", "mnist", "--root", str(cache / "elsewhere")]) == 0
        assert f"MNIST (28x28) is in {cache / 'elsewhere' / 'MNIST' / 'raw'}" in capsys.readouterr().err
        mirror.faults["t10k-images-idx3-ubyte.gz"] = "missing"
        assert main(["download", "fashion-mnist"]) == 2
    assert "error: Fashion-MNIST (28x28) is not available here" in capsys.readouterr().err
    assert all_paths(cache) == ["FashionMNIST", "elsewhere", "elsewhere/MNIST", "elsewhere/MNIST/raw",
                                *sorted(f"elsewhere/MNIST/raw/{s}" for s in IDX_STEMS)]
