"""The registered datasets: what each is, how its IDX files are named and read, and where downloads go.

The bottom of the data modules: ``vae_core.data`` finds and loads datasets,
``vae_core.download`` fetches them, and both build on this, never on each
other. ``DOWNLOAD_DIR`` is read when used, so a test may point it elsewhere
(``monkeypatch.setattr(registry, "DOWNLOAD_DIR", ...)``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

DATA_DIR_ENV = "LATENT_EXPLORER_DATA"
# Where the system's packaged datasets live (Debian's dataset-fashion-mnist installs there).
SYSTEM_DATA_ENV = "LATENT_EXPLORER_SYSTEM_DATA"
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
DOWNLOAD_DIR = Path.home() / ".cache" / "latent-explorer"
# Datasets made from a person's own images are named "custom:<name>"; they are in no registry.
CUSTOM_PREFIX = "custom:"


class DatasetUnavailable(RuntimeError):
    """The dataset cannot be found, read or downloaded; the message says how to get it."""


@dataclass(frozen=True)
class ImageDataset:
    name: str
    train_images: torch.Tensor  # uint8, (N, C, H, W)
    train_labels: torch.Tensor  # int64, (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: tuple[str, ...]
    # Where a custom dataset came from and how it was converted (plain JSON-like data); None for registered ones.
    manifest: dict | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        return dataset_title(self.name)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    def images(self, split: str) -> torch.Tensor:
        """Float images in [0, 1] of the 'train' or 'test' split."""
        raw = {"train": self.train_images, "test": self.test_images}[split]
        return raw.float().div_(255.0)

    def labels(self, split: str) -> torch.Tensor:
        return {"train": self.train_labels, "test": self.test_labels}[split]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    debian_package: str | None
    torchvision_class: str | None


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", "Digits (8x8, scikit-learn, embedded)", DIGIT_CLASSES, (1, 8, 8), None, None),
    "fashion-mnist": DatasetInfo("fashion-mnist", "Fashion-MNIST (28x28)", FASHION_CLASSES,
                                 (1, 28, 28), "dataset-fashion-mnist", "FashionMNIST"),
    "mnist": DatasetInfo("mnist", "MNIST (28x28)", DIGIT_CLASSES, (1, 28, 28), None, "MNIST"),
}

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) of unsigned bytes into an array of its shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise DatasetUnavailable(f"cannot read {path}: {err}") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetUnavailable(f"{path} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise DatasetUnavailable(f"{path} does not hold unsigned bytes (type code {data[2]:#x})")
    ndim = data[3]
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise DatasetUnavailable(f"{path} is truncated inside its header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header_end != expected:
        raise DatasetUnavailable(
            f"{path} should hold {expected} values for shape {shape} but holds {len(data) - header_end}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(shape)


def find_idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(name: str, folder: Path) -> ImageDataset:
    """Read and check the four IDX files of a registered dataset in one folder."""
    paths = {key: find_idx_file(folder, stem) for key, stem in IDX_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetUnavailable(
                f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
        if (1, *images.shape[1:]) != DATASETS[name].image_shape:
            raise DatasetUnavailable(f"{folder}: {split} images are {images.shape[1]}x{images.shape[2]}, "
                                     f"but {name} images are {DATASETS[name].image_shape[1]}x"
                                     f"{DATASETS[name].image_shape[2]}")
        if labels.max(initial=0) >= len(DATASETS[name].class_names):
            raise DatasetUnavailable(f"{folder}: {split} labels go beyond the {name} classes")
    return ImageDataset(
        name=name,
        train_images=torch.from_numpy(arrays["train_images"].copy()).unsqueeze(1),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=torch.from_numpy(arrays["test_images"].copy()).unsqueeze(1),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        class_names=DATASETS[name].class_names,
    )


def dataset_title(name: str) -> str:
    """A dataset's name for people: the registry's title, or 'Your images: <name>' for a custom one."""
    if name in DATASETS:
        return DATASETS[name].title
    if name.startswith(CUSTOM_PREFIX):
        return f"Your images: {name[len(CUSTOM_PREFIX):]}"
    return name


def missing_dataset_message(name: str, cause: str | None = None) -> str:
    if name not in DATASETS:
        return (f"{dataset_title(name)} is not on this server: a dataset of your own images exists only where "
                "its images were loaded. Load the same images again (same size and channels) to use it.")
    info = DATASETS[name]
    ways = [f"put the four IDX files ({', '.join(IDX_FILES.values())}, raw or .gz) in a folder "
            f"and pass it as data_dir / --data-dir or set {DATA_DIR_ENV}"]
    if info.debian_package:
        ways.insert(0, f"on Debian or Ubuntu: apt-get install {info.debian_package}")
    ways.append("or allow the network so torchvision can download it")
    message = f"{info.title} is not available here. To get it: " + "; ".join(ways) + "."
    return f"{message} (download failed: {cause})" if cause else message
