"""Image datasets as tensors: train and test images, labels and class names.

``digits`` ships inside scikit-learn (8x8, no download) and is the offline
default. ``fashion-mnist`` and ``mnist`` are read from the standard IDX files
in a local folder (raw or gzipped), and downloaded (``vae_core.download``) only
when no folder has them. A person's own images (``vae_core.image_sources``)
become datasets named ``custom:<name>`` that carry a manifest of their source.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import registry
from .download import download_dataset
from .registry import (
    CUSTOM_PREFIX,
    DATA_DIR_ENV,
    DATASETS,
    DIGIT_CLASSES,
    DOWNLOAD_DIR,
    FASHION_CLASSES,
    IDX_FILES,
    SYSTEM_DATA_DIR,
    SYSTEM_DATA_ENV,
    DatasetInfo,
    DatasetUnavailable,
    ImageDataset,
    dataset_title,
    find_idx_file,
    load_idx_folder,
    missing_dataset_message,
    read_idx,
)

# The registry's names, importable from here as before (DOWNLOAD_DIR as it was at start-up: see registry).
__all__ = ["CUSTOM_PREFIX", "DATA_DIR_ENV", "DATASETS", "DIGIT_CLASSES", "DOWNLOAD_DIR", "FASHION_CLASSES",
           "IDX_FILES", "SYSTEM_DATA_DIR", "SYSTEM_DATA_ENV", "DatasetInfo", "DatasetUnavailable", "ImageDataset",
           "candidate_folders", "dataset_title", "find_local_folder", "is_available", "load_dataset",
           "load_idx_folder", "missing_dataset_message", "read_idx"]


def candidate_folders(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for a dataset's IDX files, most specific first."""
    info = DATASETS[name]
    roots: list[Path] = []
    if data_dir:
        roots.append(Path(data_dir))
    if os.environ.get(DATA_DIR_ENV):
        roots.append(Path(os.environ[DATA_DIR_ENV]))
    roots += [registry.DOWNLOAD_DIR, Path(os.environ.get(SYSTEM_DATA_ENV) or SYSTEM_DATA_DIR)]
    folders: list[Path] = []
    for root in roots:
        # The folder itself, a per-dataset subfolder, and torchvision's own layout.
        folders += [root, root / name]
        if info.torchvision_class:
            folders.append(root / info.torchvision_class / "raw")
    return folders


def find_local_folder(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first folder holding all four IDX files of the dataset, or None."""
    for folder in candidate_folders(name, data_dir):
        if all(find_idx_file(folder, stem) for stem in IDX_FILES.values()):
            return folder
    return None


def _load_digits() -> ImageDataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    # Pixel values are 0..16; stored as bytes like the 28x28 datasets.
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    train_x, test_x, train_y, test_y = train_test_split(
        images, bunch.target, test_size=0.2, stratify=bunch.target, random_state=0)
    return ImageDataset(
        name="digits",
        train_images=torch.from_numpy(train_x).unsqueeze(1),
        train_labels=torch.from_numpy(train_y.astype(np.int64)),
        test_images=torch.from_numpy(test_x).unsqueeze(1),
        test_labels=torch.from_numpy(test_y.astype(np.int64)),
        class_names=DIGIT_CLASSES,
    )


@lru_cache(maxsize=4)
def load_dataset(name: str, data_dir: str | None = None, download: bool = True) -> ImageDataset:
    """Load a registered dataset; raises DatasetUnavailable with a how-to when it cannot."""
    if name not in DATASETS:
        raise DatasetUnavailable(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "digits":
        return _load_digits()
    folder = find_local_folder(name, data_dir)
    if folder is None:
        if not download:
            raise DatasetUnavailable(missing_dataset_message(name))
        folder = download_dataset(name)
    return load_idx_folder(name, folder)


def is_available(name: str, data_dir: str | None = None) -> bool:
    """Whether the registered dataset can be loaded without a network (never for a custom one)."""
    if name not in DATASETS:
        return False
    return name == "digits" or find_local_folder(name, data_dir) is not None
