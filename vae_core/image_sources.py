"""A person's own images as a dataset: a .zip or folder of PNG/JPEG files, or a NumPy .npy/.npz array.

Layouts
    Class folders (torchvision's ImageFolder convention): the first folder level below any
    folders that wrap everything names the class; images at any depth under it belong to it.
    Flat: images that are not in class folders form one unlabelled set ("a single folder" is
    a wrapper, not a class). ``.npy``: an array of images, unlabelled. ``.npz``: an ``images``
    array (or its only array), optional ``labels`` (integers or strings, one per image) and
    optional ``class_names`` (strings, indexed by integer labels). Arrays hold uint8 pixels or
    floats in [0, 1], shaped (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1, 3 or 4.

Conversion
    Every image becomes ``image_size`` x ``image_size`` pixels with 1 (grey) or 3 (colour)
    channels: centre-cropped to a square, resized with a Lanczos filter, transparency flattened
    onto white. A seeded, stratified split holds out ``test_fraction`` of each class for the map.
    What was changed (mixed sizes, crops, colour) is listed in the dataset's manifest notes.

Limits (``ImageLimits``), all checked before any image is decoded
    at most 64 MB per file (the app's upload cap), 200 MB of files once unpacked, 50,000
    images, 60,000 names in an archive or folder, a compression ratio of 100 for any archive
    entry over 1 MiB, 16.7 megapixels (4096 x 4096) per image, 500 megapixels in all, and
    40 million values in the converted dataset (50,000 grey 28 x 28 images fit).

Safety
    Nothing is written to disk: archives are read in memory, every entry in small chunks through
    zipfile, which stops at the size the central directory declares and checks the CRC, so an
    entry whose declared size is a lie costs no more memory than it declared and is refused as
    damaged. Path traversal (``..``, absolute names) and symbolic links
    refuse the whole source, as do encrypted entries, decompression bombs and pickled arrays
    (``allow_pickle=False``). Files that are not PNG or JPEG, and images that cannot be
    decoded, are skipped and counted; nothing left is an error. Every refusal is an
    ``ImageSourceError`` whose message is meant for the person who gave the images.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import CUSTOM_PREFIX, ImageDataset

MANIFEST_FORMAT = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PIL_FORMATS = ("PNG", "JPEG")  # a camera's multi-picture JPEG (MPO) opens as JPEG too
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 64
UNLABELLED = "unlabelled"
READ_CHUNK_BYTES = 256 * 1024
RATIO_CHECK_MIN_BYTES = 2**20  # a small entry cannot be a bomb on its own; the total cap covers many
SYSTEM_FILES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


class ImageSourceError(ValueError):
    """The images cannot be used; the message says why, in words for the person who gave them."""


@dataclass(frozen=True)
class ImageLimits:
    max_source_bytes: int = 64 * 2**20  # one .zip/.npz/.npy: the app's upload cap
    max_unpacked_bytes: int = 200 * 2**20  # every entry of an archive, or every file of a folder
    max_images: int = 50_000
    max_entries: int = 60_000  # names in an archive or folder, images or not
    max_compression_ratio: float = 100.0  # PNG and JPEG barely compress: a high ratio is a bomb
    # One image, read from its header before decoding. Any phone or camera photo (50 megapixels and more) fits;
    # beyond it a file is a decompression bomb or nothing a person would upload.
    max_image_pixels: int = 8192 * 8192
    max_total_pixels: int = 500_000_000  # all images, as decoded (a JPEG is decoded already scaled down)
    max_dataset_values: int = 40_000_000  # images x channels x size x size after conversion


@dataclass(frozen=True)
class ConversionOptions:
    """``labelled``: None uses class folders or a labels array when there are some; True requires
    them (two classes or more); False ignores them."""

    image_size: int = 28
    channels: int = 1
    labelled: bool | None = None
    test_fraction: float = 0.2
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.image_size, int) and MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE):
            raise ImageSourceError(f"the image size must be a whole number of pixels from {MIN_IMAGE_SIZE} to "
                                   f"{MAX_IMAGE_SIZE}, not {self.image_size!r}")
        if self.channels not in (1, 3):
            raise ImageSourceError(f"channels must be 1 (grey) or 3 (colour), not {self.channels!r}")
        if self.labelled not in (None, True, False):
            raise ImageSourceError(f"labelled must be None, True or False, not {self.labelled!r}")
        if not (isinstance(self.test_fraction, (int, float)) and 0.05 <= self.test_fraction <= 0.5):
            raise ImageSourceError(f"the held-out fraction must be from 0.05 to 0.5, not {self.test_fraction!r}")
        if not (isinstance(self.split_seed, int) and self.split_seed >= 0):
            raise ImageSourceError(f"the split seed must be a whole number from 0, not {self.split_seed!r}")


def _count(n: int, noun: str) -> str:
    """'1 image', '2,000 images'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f} MB"


def clean_text(text: str, limit: int = 60) -> str:
    """A stranger's file or folder name made safe to show and store: no control characters, length capped."""
    text = "".join("?" if unicodedata.category(c).startswith("C") else c for c in text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dataset_name_for(source_name: str) -> str:
    """'custom:<slug>' from a file or folder name, e.g. 'My Shoes.zip' -> 'custom:my-shoes'."""
    stem = Path(source_name).name
    for suffix in (".zip", ".npz", ".npy"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    slug = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")[:40].strip("-._")
    return CUSTOM_PREFIX + (slug or "images")


# --- reading the source -------------------------------------------------------------------

def load_image_source(source: str | os.PathLike | bytes | BinaryIO, name: str | None = None,
                      options: ConversionOptions | None = None, limits: ImageLimits | None = None) -> ImageDataset:
    """Read a .zip, .npz or .npy (a path, bytes or a binary file object) or a folder of images into a dataset.

    ``name`` is the file name (needed for bytes: its suffix tells the format, and it names the
    dataset). Returns an ImageDataset named ``custom:<name>`` whose ``manifest`` records the
    source (name, kind, sha256), the conversion, the split and what was changed or skipped.
    Raises ImageSourceError for anything it cannot or will not use; writes nothing anywhere.
    See the module's docstring for the layouts and the limits.
    """
    options = options or ConversionOptions()
    limits = limits or ImageLimits()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _from_files(_folder_files(path, limits), name or path.name, options, limits)
        if not path.is_file():
            raise ImageSourceError(f"there is no file or folder at {path}")
        if path.stat().st_size > limits.max_source_bytes:
            raise ImageSourceError(f"{path.name} is {_megabytes(path.stat().st_size)}; a file of images may be at "
                                   f"most {_megabytes(limits.max_source_bytes)} (a folder may hold more)")
        content, name = path.read_bytes(), name or path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        content = bytes(source)
    else:
        content = source.read(limits.max_source_bytes + 1)
    name = clean_text(name or "images", limit=80)
    if len(content) > limits.max_source_bytes:
        raise ImageSourceError(f"{name} is larger than {_megabytes(limits.max_source_bytes)}, "
                               "the most a file of images may be")
    if not content:
        raise ImageSourceError(f"{name} is empty")
    kind = _source_kind(name, content)
    if kind == "npy":
        images = _load_npy(content, name, limits, what="the images")
        return _from_arrays(images, None, None, [], name, kind, content, options, limits)
    archive = _open_zip(content, name, limits)
    if kind == "npz":
        return _from_npz(archive, name, content, options, limits)
    return _from_files(_zip_files(archive, hashlib.sha256(content).hexdigest()), name, options, limits)


def _source_kind(name: str, content: bytes) -> str:
    suffix = Path(name).suffix.lower()
    is_zip, is_npy = content.startswith(b"PK\x03\x04") or content.startswith(b"PK\x05\x06"), \
        content.startswith(b"\x93NUMPY")
    if suffix in (".zip", ".npz"):
        if not is_zip:
            raise ImageSourceError(f"{name} is not a zip archive (an .npz is one too); it may be damaged or "
                                   "another kind of file")
        return suffix[1:]
    if suffix == ".npy":
        if not is_npy:
            raise ImageSourceError(f"{name} is not a NumPy .npy file (its first bytes are not the .npy signature)")
        return "npy"
    if is_npy:
        return "npy"
    if is_zip:
        return "zip"
    raise ImageSourceError(f"{name} is not a .zip of images, an .npz or an .npy array")


# --- archives and folders: listing, with every check that needs no decoding ----------------

@dataclass
class _FileSet:
    """Image files of a source, with what was set aside before reading any of them."""

    kind: str
    images: list[tuple[tuple[str, ...], Callable[[], bytes]]]  # (path parts, read the bytes)
    not_images: list[str] = field(default_factory=list)
    system_files: int = 0
    sha256: str | None = None  # of an archive; a folder's is computed from its images' names and bytes


def _path_parts(name: str) -> tuple[str, ...]:
    return tuple(part for part in re.split(r"[\\/]+", name) if part not in ("", "."))


def _is_system_file(parts: tuple[str, ...]) -> bool:
    return any(part in SYSTEM_FILES or part.startswith(".") for part in parts)


def _check_member_name(name: str) -> None:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise ImageSourceError(f"the archive names a file by an absolute path ({clean_text(name)}); "
                               "archives that could write outside their folder are refused")
    if ".." in re.split(r"[\\/]", name):
        raise ImageSourceError(f"the archive has a path that climbs out of its folder ({clean_text(name)}); "
                               "archives that could write outside their folder are refused")


def _open_zip(content: bytes, name: str, limits: ImageLimits) -> zipfile.ZipFile:
    """Open an archive in memory and check everything its central directory declares."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
        raise ImageSourceError(f"{name} is not a readable zip archive ({err})") from err
    if len(members) > limits.max_entries:
        raise ImageSourceError(f"{name} holds {len(members):,} entries; at most {limits.max_entries:,} are allowed")
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        raise ImageSourceError(f"{name} would unpack to {_megabytes(unpacked)}, more than the "
                               f"{_megabytes(limits.max_unpacked_bytes)} allowed")
    for member in members:
        _check_member_name(member.filename)
        if stat.S_ISLNK(member.external_attr >> 16):
            raise ImageSourceError(f"the archive holds a symbolic link ({clean_text(member.filename)}); "
                                   "links are refused, since they can point anywhere")
        if member.flag_bits & 0x1:
            raise ImageSourceError(f"{clean_text(member.filename)} in the archive is encrypted; "
                                   "use an archive without a password")
        if member.file_size > RATIO_CHECK_MIN_BYTES and \
                member.file_size > limits.max_compression_ratio * max(member.compress_size, 1):
            ratio = member.file_size / max(member.compress_size, 1)
            raise ImageSourceError(f"{clean_text(member.filename)} expands {ratio:,.0f} times "
                                   f"(more than {limits.max_compression_ratio:g}): the archive looks like a zip "
                                   "bomb and was refused")
    return archive


def _zip_reader(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        # zipfile returns no more than the size the central directory declares, then checks the CRC. Reading in
        # chunks keeps every decompression step small too: one read() would inflate all the entry's data at
        # once, however far beyond that size it goes, before cutting it down.
        try:
            with archive.open(member) as entry:
                return b"".join(iter(lambda: entry.read(READ_CHUNK_BYTES), b""))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as err:
            raise ImageSourceError(f"the archive is damaged, or its sizes are false, at "
                                   f"{clean_text(member.filename)} ({err})") from err
    return read


def _zip_files(archive: zipfile.ZipFile, sha256: str) -> _FileSet:
    files = _FileSet(kind="zip", images=[], sha256=sha256)
    for member in archive.infolist():
        if member.is_dir():
            continue
        parts = _path_parts(member.filename)
        if _is_system_file(parts):
            files.system_files += 1
        elif member.filename.lower().endswith(IMAGE_SUFFIXES):
            files.images.append((parts, _zip_reader(archive, member)))
        else:
            files.not_images.append(clean_text(member.filename))
    return files


def _folder_files(root: Path, limits: ImageLimits) -> _FileSet:
    """Walk a folder without following links; stop as soon as a limit is passed."""
    files = _FileSet(kind="folder", images=[])
    entries = unpacked = 0
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            listing = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            raise ImageSourceError(f"cannot read the folder {folder} ({err.strerror or err})") from err
        for entry in listing:
            entries += 1
            if entries > limits.max_entries:
                raise ImageSourceError(f"{root} holds more than {limits.max_entries:,} files and folders")
            relative = Path(entry.path).relative_to(root).as_posix()
            if entry.is_symlink():
                raise ImageSourceError(f"{relative} is a symbolic link; links are not followed, since they can "
                                       "point anywhere")
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
                continue
            parts = _path_parts(relative)
            if _is_system_file(parts):
                files.system_files += 1
                continue
            size = entry.stat(follow_symlinks=False).st_size
            unpacked += size
            if unpacked > limits.max_unpacked_bytes:
                raise ImageSourceError(f"the files in {root} add up to more than "
                                       f"{_megabytes(limits.max_unpacked_bytes)}, the most allowed")
            if entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file(follow_symlinks=False):
                files.images.append((parts, _file_reader(Path(entry.path), size, relative)))
            else:
                files.not_images.append(clean_text(relative))
    return files


def _file_reader(path: Path, size: int, relative: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with open(path, "rb") as f:
                content = f.read(size + 1)
        except OSError as err:
            raise ImageSourceError(f"cannot read {relative} ({err.strerror or err})") from err
        if len(content) != size:
            raise ImageSourceError(f"{relative} changed while it was being read")
        return content
    return read


# --- labels from the layout ---------------------------------------------------------------

def _layout_labels(paths: list[tuple[str, ...]], labelled: bool | None) -> tuple[list[int], tuple[str, ...]]:
    """ImageFolder: the first folder below the common wrapper folders is the class."""
    parts = list(paths)
    while all(len(p) > 1 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]  # a folder that wraps everything is not a class
    in_folders = [p for p in parts if len(p) > 1]
    if labelled is False or (not in_folders and labelled is None):
        return [0] * len(parts), (UNLABELLED,)
    if not in_folders:
        raise ImageSourceError("labels were asked for, but the images are not in two or more class folders "
                               "(only one class; a single folder around everything is a wrapper, not a class)")
    loose = [p for p in parts if len(p) == 1]
    if loose:
        raise ImageSourceError(f"{_count(len(loose), 'image')} {'lies' if len(loose) == 1 else 'lie'} beside the "
                               f"class folders (e.g. {clean_text(loose[0][0])}); put every image in a class folder, "
                               "or none of them")
    classes = sorted({p[0] for p in parts})
    names = tuple(clean_text(c) for c in classes)
    if len(set(names)) != len(names):
        raise ImageSourceError("two class folders have the same name once control characters are removed")
    index = {c: i for i, c in enumerate(classes)}
    return [index[p[0]] for p in parts], names


# --- decoding and converting one image ----------------------------------------------------

@dataclass
class _Changes:
    """What conversion did to the images, for the manifest's notes."""

    sizes: Counter = field(default_factory=Counter)
    not_square: int = 0
    transparent: int = 0
    colour_to_grey: int = 0
    grey_to_colour: int = 0
    unreadable: list[str] = field(default_factory=list)

    def notes(self, size: int) -> list[str]:
        notes = []
        if len(self.sizes) > 1:
            smallest = min(self.sizes, key=lambda s: s[0] * s[1])
            largest = max(self.sizes, key=lambda s: s[0] * s[1])
            notes.append(f"The images come in {len(self.sizes)} sizes, from {smallest[0]}x{smallest[1]} to "
                         f"{largest[0]}x{largest[1]} pixels: all were resized to {size}x{size}.")
        elif self.sizes and next(iter(self.sizes)) != (size, size):
            width, height = next(iter(self.sizes))
            notes.append(f"The images are {width}x{height} pixels: resized to {size}x{size}.")
        if self.not_square:
            notes.append(f"{_count(self.not_square, 'image')} not square: centre-cropped to a square.")
        if self.transparent:
            notes.append(f"{_count(self.transparent, 'image')} with transparency: flattened onto white.")
        if self.colour_to_grey:
            notes.append(f"{_count(self.colour_to_grey, 'colour image')} turned grey (3 channels keep colour).")
        if self.grey_to_colour:
            notes.append(f"{_count(self.grey_to_colour, 'grey image')} repeated into 3 colour channels.")
        if self.unreadable:
            shown = "; ".join(self.unreadable[:3]) + ("; …" if len(self.unreadable) > 3 else "")
            notes.append(f"Skipped {_count(len(self.unreadable), 'image')} that could not be read: {shown}.")
        return notes


COLOUR_MODES = {"RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}


def _convert(image: Image.Image, colour: bool, options: ConversionOptions, changes: _Changes) -> np.ndarray:
    """A decoded image as (channels, size, size) uint8, recording what had to change.

    ``colour``: whether the source image has colour (a JPEG may already be decoded to grey).
    """
    size = options.image_size
    if image.mode.startswith("I"):  # 16-bit PNG: scale 0-65535 down to 0-255
        pixels = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        changes.transparent += 1
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    width, height = image.size
    if width != height:
        changes.not_square += 1
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if options.channels == 1:
        changes.colour_to_grey += colour
        pixels = np.asarray(image.convert("L"))[None]
    else:
        changes.grey_to_colour += not colour
        pixels = np.asarray(image.convert("RGB")).transpose(2, 0, 1)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:,.0f} megapixels" if pixels >= 10**6 else f"{pixels:,} pixels"


def _too_large(name: str, width: int, height: int, limits: ImageLimits) -> ImageSourceError:
    # Worded for a person with an odd file; the limit's purpose, refusing decompression bombs, is ours.
    return ImageSourceError(
        f"{name} is {width:,} x {height:,} pixels ({_megapixels(width * height)}), more than the "
        f"{_megapixels(limits.max_image_pixels)} a picture may have here. Any phone or camera photo fits: "
        "please scale this one down and try again")


def _draft(image: Image.Image, options: ConversionOptions) -> None:
    """Let the JPEG decoder scale down by a power of two on the way in: far less work and memory for photos."""
    if image.format in ("JPEG", "MPO"):
        image.draft("L" if options.channels == 1 else "RGB", (options.image_size, options.image_size))


def _header_size(content: bytes, name: str, limits: ImageLimits,
                 options: ConversionOptions | None = None) -> tuple[int, int] | str:
    """The (width, height) that decoding will produce, from the image's header alone, or why it is unreadable;
    refuses decompression bombs. ``options``: the conversion, whose image size lets a JPEG decode scaled down."""
    try:
        with Image.open(io.BytesIO(content), formats=PIL_FORMATS) as image:
            width, height = image.size
            if options is not None:
                _draft(image, options)  # reads nothing more than the header: sets the size decoding will give
            decoded = image.size
    except Image.DecompressionBombError as err:
        raise ImageSourceError(f"{name} declares more pixels than can be decoded safely; it was refused") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        return f"{name} ({'not a PNG or JPEG image' if isinstance(err, UnidentifiedImageError) else err})"
    if width * height > limits.max_image_pixels:
        raise _too_large(name, width, height, limits)
    return decoded


def _decode(content: bytes, name: str, options: ConversionOptions, changes: _Changes) -> np.ndarray | None:
    try:
        with Image.open(io.BytesIO(content), formats=PIL_FORMATS) as image:
            changes.sizes[image.size] += 1
            colour = image.mode in COLOUR_MODES
            _draft(image, options)
            image = ImageOps.exif_transpose(image)  # phone photos record their rotation separately
            image.load()
            return _convert(image, colour, options, changes)
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        changes.unreadable.append(f"{name} ({err})")
        return None


def read_image(content: bytes, name: str, image_shape: tuple[int, int, int],
               limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """One PNG or JPEG as a model's input: (C, H, W) floats in [0, 1], with the same checks and conversion
    as a dataset's images (square crop, resize, grey or colour). Raises ImageSourceError with the reason."""
    channels, height, width = image_shape
    if height != width or not MIN_IMAGE_SIZE <= height <= MAX_IMAGE_SIZE:
        raise ImageSourceError(f"models of {width}x{height} images cannot take a picture")
    if len(content) > limits.max_source_bytes:
        raise ImageSourceError(f"{name} is {_megabytes(len(content))}, more than the "
                               f"{_megabytes(limits.max_source_bytes)} a file may have")
    options = ConversionOptions(image_size=height, channels=channels)
    unreadable = _header_size(content, name, limits, options)
    changes = _Changes()
    pixels = None if isinstance(unreadable, str) else _decode(content, name, options, changes)
    if pixels is None:
        reason = unreadable if isinstance(unreadable, str) else changes.unreadable[0]
        raise ImageSourceError(f"{reason} cannot be read as an image")
    return pixels.astype(np.float32) / 255.0


def like_the_dataset(image: np.ndarray, background: str = "auto") -> np.ndarray:
    """Light shapes on a dark background, as the datasets here draw them: a picture whose border is mostly
    light (a dark sketch on white paper) is inverted. ``background``: "auto", "light" (invert) or "dark"."""
    if background == "auto":
        border = np.concatenate([image[..., 0, :], image[..., -1, :], image[..., :, 0], image[..., :, -1]], axis=-1)
        background = "light" if border.mean() > 0.5 else "dark"
    return 1.0 - image if background == "light" else image


def _from_files(files: _FileSet, source_name: str, options: ConversionOptions, limits: ImageLimits) -> ImageDataset:
    if not files.images:
        found = f"; it holds {len(files.not_images):,} other files" if files.not_images else ""
        raise ImageSourceError(f"{source_name} holds no PNG or JPEG images{found}")
    if len(files.images) > limits.max_images:
        raise ImageSourceError(f"{source_name} holds {len(files.images):,} images; at most {limits.max_images:,} "
                               "are allowed")
    _check_dataset_values(len(files.images), options, limits)
    files.images.sort(key=lambda item: item[0])  # the split depends on the order: make it the names'
    labels, class_names = _layout_labels([parts for parts, _ in files.images], options.labelled)

    # Every header first: sizes and bombs are known before a single image is decoded.
    changes = _Changes()
    readable: list[int] = []
    total_pixels = 0
    digest = hashlib.sha256()  # a folder's fingerprint: the names and bytes of its images
    for i, (parts, read) in enumerate(files.images):
        content = read()
        digest.update("/".join(parts).encode() + b"\0" + len(content).to_bytes(8, "big") + content)
        size = _header_size(content, clean_text("/".join(parts), 120), limits, options)
        if isinstance(size, str):
            changes.unreadable.append(size)
            continue
        total_pixels += size[0] * size[1]
        if total_pixels > limits.max_total_pixels:
            raise ImageSourceError(f"the images add up to more than {limits.max_total_pixels:,} pixels, the most "
                                   "that will be decoded; use fewer or smaller images")
        readable.append(i)

    pixels, kept_labels = [], []
    for i in readable:
        parts, read = files.images[i]
        converted = _decode(read(), clean_text("/".join(parts), 120), options, changes)
        if converted is not None:
            pixels.append(converted)
            kept_labels.append(labels[i])
    if not pixels:
        raise ImageSourceError(f"none of the {len(files.images):,} images in {source_name} could be read "
                               f"({changes.unreadable[0]})")
    notes = changes.notes(options.image_size)
    if files.not_images:
        shown = ", ".join(files.not_images[:3]) + (", …" if len(files.not_images) > 3 else "")
        notes.append(f"Skipped {_count(len(files.not_images), 'file')} not PNG or JPEG ({shown}).")
    if files.system_files:
        notes.append(f"Ignored {_count(files.system_files, 'hidden or system file')} (such as .DS_Store or __MACOSX).")
    return _build(np.stack(pixels), np.array(kept_labels, dtype=np.int64), class_names, source_name, files.kind,
                  files.sha256 or digest.hexdigest(), options, notes)


# --- arrays -------------------------------------------------------------------------------

def _load_npy(content: bytes, source_name: str, limits: ImageLimits, what: str) -> np.ndarray:
    """An array from .npy bytes, its header checked first; never unpickles anything."""
    stream = io.BytesIO(content)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ImageSourceError(f"{what} in {source_name} use .npy format version {version}, which is not read "
                                   "here (1.0 and 2.0 are)")
    except ValueError as err:
        if isinstance(err, ImageSourceError):
            raise
        raise ImageSourceError(f"{what} in {source_name} are not a readable .npy array ({err})") from err
    if dtype.hasobject:
        raise ImageSourceError(f"{what} in {source_name} hold Python objects (pickled data), which are never "
                               "loaded; save plain numbers or strings")
    if math.prod(shape) * dtype.itemsize > limits.max_unpacked_bytes:
        raise ImageSourceError(f"{what} in {source_name} take {_megabytes(math.prod(shape) * dtype.itemsize)}, "
                               f"more than the {_megabytes(limits.max_unpacked_bytes)} allowed")
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except (ValueError, EOFError, OSError) as err:
        raise ImageSourceError(f"{what} in {source_name} are damaged or truncated ({err})") from err


def _from_npz(archive: zipfile.ZipFile, source_name: str, content: bytes, options: ConversionOptions,
              limits: ImageLimits) -> ImageDataset:
    members = {}
    for member in archive.infolist():
        if member.is_dir():
            continue
        if not member.filename.endswith(".npy"):
            raise ImageSourceError(f"{source_name} is not a NumPy .npz: it holds {clean_text(member.filename)}")
        members[member.filename[:-4]] = member
    others = [key for key in members if key not in ("labels", "class_names")]
    if "images" in members:
        image_key = "images"
    elif len(others) == 1:
        image_key = others[0]
    else:
        raise ImageSourceError(f"{source_name} holds the arrays {', '.join(clean_text(k) for k in members) or 'none'}; "
                               "name the images 'images' (and the labels 'labels')")

    def array(key: str, what: str) -> np.ndarray | None:
        if key not in members:
            return None
        return _load_npy(_zip_reader(archive, members[key])(), source_name, limits, what)

    images = array(image_key, "the images")
    labels = array("labels", "the labels")
    class_names = array("class_names", "the class names")
    ignored = [clean_text(k) for k in members if k not in (image_key, "labels", "class_names")]
    notes = [f"Ignored the arrays {', '.join(ignored)}."] if ignored else []
    return _from_arrays(images, labels, class_names, notes, source_name, "npz", content, options, limits)


def _as_nhwc(images: np.ndarray, source_name: str) -> np.ndarray:
    shape = images.shape
    expected = "(N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1, 3 or 4"
    if images.ndim == 3:
        return images[..., None]
    if images.ndim == 4:
        last, second = shape[3] in (1, 3, 4), shape[1] in (1, 3, 4)
        if last and (not second or shape[1] == shape[2]):
            return images
        if second and (not last or shape[2] == shape[3]):
            return images.transpose(0, 2, 3, 1)
    raise ImageSourceError(f"the images in {source_name} have shape {shape}; expected {expected}")


def _array_labels(labels: np.ndarray | None, class_names: np.ndarray | None, count: int, source_name: str,
                  labelled: bool | None) -> tuple[np.ndarray, tuple[str, ...]]:
    if labelled is False or (labels is None and labelled is None):
        return np.zeros(count, dtype=np.int64), (UNLABELLED,)
    if labels is None:
        raise ImageSourceError(f"labels were asked for, but {source_name} has no 'labels' array "
                               "(a .npy holds images only: save images and labels together with numpy.savez)")
    if labels.shape != (count,):
        raise ImageSourceError(f"the labels in {source_name} have shape {labels.shape}; expected one per image, "
                               f"({count},)")
    if labels.dtype.kind in "iu":
        values, codes = np.unique(labels, return_inverse=True)
        if class_names is None:
            names = tuple(str(int(v)) for v in values)
        else:
            if class_names.ndim != 1 or class_names.dtype.kind != "U":
                raise ImageSourceError(f"the class names in {source_name} must be a 1-d array of strings")
            if values[0] < 0 or values[-1] >= len(class_names):
                raise ImageSourceError(f"the labels in {source_name} run from {values[0]} to {values[-1]}, but there "
                                       f"are {len(class_names)} class names")
            names = tuple(clean_text(str(class_names[v])) for v in values)
    elif labels.dtype.kind == "U":
        values, codes = np.unique(labels, return_inverse=True)
        names = tuple(clean_text(str(v)) for v in values)
    else:
        raise ImageSourceError(f"the labels in {source_name} are {labels.dtype}; they must be integers or strings")
    if len(values) < 2:
        raise ImageSourceError(f"the labels in {source_name} name only one class ({names[0]}); labelled images need "
                               "two classes or more, or use them unlabelled")
    if len(set(names)) != len(names):
        raise ImageSourceError(f"the class names in {source_name} repeat a name")
    return codes.astype(np.int64).reshape(-1), names


def _from_arrays(images: np.ndarray, labels: np.ndarray | None, class_names: np.ndarray | None, notes: list[str],
                 source_name: str, kind: str, content: bytes, options: ConversionOptions,
                 limits: ImageLimits) -> ImageDataset:
    if images.dtype != np.uint8 and images.dtype.kind != "f":
        raise ImageSourceError(f"the images in {source_name} are {images.dtype}; they must be uint8 (0 to 255) or "
                               "floats from 0 to 1")
    images = _as_nhwc(images, source_name)
    count, height, width, channels = images.shape
    if count == 0:
        raise ImageSourceError(f"{source_name} holds no images")
    if count > limits.max_images:
        raise ImageSourceError(f"{source_name} holds {count:,} images; at most {limits.max_images:,} are allowed")
    if height * width > limits.max_image_pixels or count * height * width > limits.max_total_pixels:
        raise ImageSourceError(f"the images in {source_name} are too large: {count:,} of {height}x{width} pixels")
    _check_dataset_values(count, options, limits)
    codes, names = _array_labels(labels, class_names, count, source_name, options.labelled)
    if images.dtype.kind == "f":
        if not np.isfinite(images).all():
            raise ImageSourceError(f"the images in {source_name} hold NaN or infinite values")
        low, high = float(images.min()), float(images.max())
        if low < 0.0 or high > 1.0:
            raise ImageSourceError(f"the images in {source_name} are floats from {low:g} to {high:g}; float pixels "
                                   "must lie from 0 to 1 (divide by 255?)")
        images = np.rint(images * 255.0).astype(np.uint8)
    changes = _Changes(sizes=Counter({(width, height): count}))
    colour = channels > 1
    if (height, width, channels) == (options.image_size, options.image_size, options.channels):
        pixels = np.ascontiguousarray(images.transpose(0, 3, 1, 2))  # already what is asked for
    else:
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        pixels = np.stack([_convert(Image.fromarray(image[..., 0] if channels == 1 else image, mode), colour,
                                    options, changes) for image in images])
    return _build(pixels, codes, names, source_name, kind, hashlib.sha256(content).hexdigest(), options,
                  changes.notes(options.image_size) + notes)


# --- the dataset --------------------------------------------------------------------------

def _check_dataset_values(count: int, options: ConversionOptions, limits: ImageLimits) -> None:
    values = count * options.channels * options.image_size**2
    if values > limits.max_dataset_values:
        raise ImageSourceError(f"{count:,} images of {options.channels}x{options.image_size}x{options.image_size} "
                               f"would be {values:,} values, more than the {limits.max_dataset_values:,} allowed; "
                               "choose a smaller size, grey, or fewer images")


def _split(labels: np.ndarray, class_names: tuple[str, ...], options: ConversionOptions) -> np.ndarray:
    """A boolean mask of held-out images: test_fraction of every class (at least one), seeded."""
    rng = np.random.default_rng(options.split_seed)
    held_out = np.zeros(len(labels), dtype=bool)
    for c, class_name in enumerate(class_names):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            whose = "" if class_names == (UNLABELLED,) else f" of class {class_name}"
            raise ImageSourceError(f"there is {len(members)} image{whose}; every class needs at least two, one to "
                                   "train on and one to hold out")
        count = min(max(1, round(options.test_fraction * len(members))), len(members) - 1)
        held_out[rng.permutation(members)[:count]] = True
    return held_out


def _build(pixels: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], source_name: str, kind: str,
           sha256: str, options: ConversionOptions, notes: list[str]) -> ImageDataset:
    """Split and wrap converted (N, C, S, S) uint8 images; labels index class_names."""
    present = np.unique(labels)
    if len(present) < len(class_names):  # a class whose every image was unreadable
        missing = [class_names[c] for c in range(len(class_names)) if c not in present]
        raise ImageSourceError(f"no readable image is left in the class {missing[0]}")
    held_out = _split(labels, class_names, options)
    counts = np.bincount(labels, minlength=len(class_names))
    manifest = {
        "format": MANIFEST_FORMAT,
        "source": source_name,
        "kind": kind,
        "sha256": sha256,
        "images": int(len(labels)),
        "train_images": int((~held_out).sum()),
        "test_images": int(held_out.sum()),
        "labelled": class_names != (UNLABELLED,),
        "class_names": list(class_names),
        "class_counts": {name: int(n) for name, n in zip(class_names, counts)},
        "image_size": options.image_size,
        "channels": options.channels,
        "test_fraction": float(options.test_fraction),
        "split_seed": options.split_seed,
        "notes": list(notes),
    }
    return ImageDataset(
        name=dataset_name_for(source_name),
        train_images=torch.from_numpy(pixels[~held_out]),
        train_labels=torch.from_numpy(labels[~held_out]),
        test_images=torch.from_numpy(pixels[held_out]),
        test_labels=torch.from_numpy(labels[held_out]),
        class_names=class_names,
        manifest=manifest,
    )


# --- manifests ------------------------------------------------------------------------------

def options_from_manifest(manifest: dict) -> ConversionOptions:
    """The conversion a manifest records, to rebuild the same dataset (and split) from the same source."""
    try:
        return ConversionOptions(image_size=manifest["image_size"], channels=manifest["channels"],
                                 labelled=bool(manifest["labelled"]), test_fraction=manifest["test_fraction"],
                                 split_seed=manifest["split_seed"])
    except (KeyError, TypeError) as err:
        raise ImageSourceError(f"the data manifest lacks a conversion setting ({err})") from err


def manifest_image_shape(manifest: object) -> tuple[int, int, int]:
    """(channels, size, size) of the images a manifest describes; ImageSourceError when it is not one."""
    if not isinstance(manifest, dict):
        raise ImageSourceError("the data manifest is missing")
    options = options_from_manifest(manifest)
    return options.channels, options.image_size, options.image_size


def same_images(a: dict | None, b: dict | None) -> bool:
    """Whether two manifests describe the same source, converted and split the same way."""
    keys = ("sha256", "image_size", "channels", "labelled", "test_fraction", "split_seed")
    return a is not None and b is not None and all(a.get(k) == b.get(k) for k in keys)


# --- preview --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewRow:
    class_name: str
    count: int  # images of this class in the whole dataset
    samples: np.ndarray  # (k, C, S, S) uint8


@dataclass(frozen=True)
class Preview:
    rows: tuple[PreviewRow, ...]
    hidden_classes: int  # classes beyond the rows shown
    summary: str
    notes: tuple[str, ...]

    def grid(self, padding: int = 1) -> np.ndarray:
        """One mosaic, a row of samples per class, as (H, W, C) uint8 with white between images."""
        first = self.rows[0].samples
        channels, size = first.shape[1], first.shape[2]
        columns = max(len(row.samples) for row in self.rows)
        cell = size + padding
        mosaic = np.full((len(self.rows) * cell + padding, columns * cell + padding, channels), 255, dtype=np.uint8)
        for r, row in enumerate(self.rows):
            for c, sample in enumerate(row.samples):
                top, left = padding + r * cell, padding + c * cell
                mosaic[top:top + size, left:left + size] = sample.transpose(1, 2, 0)
        return mosaic


def class_counts(dataset: ImageDataset) -> dict[str, int]:
    """Images per class over both splits."""
    labels = torch.cat([dataset.train_labels, dataset.test_labels]).numpy()
    counts = np.bincount(labels, minlength=len(dataset.class_names))
    return {name: int(n) for name, n in zip(dataset.class_names, counts)}


def preview(dataset: ImageDataset, per_class: int = 8, max_classes: int = 10, seed: int = 0) -> Preview:
    """Sample images per class, the counts and what conversion changed: what to look at before training."""
    images = torch.cat([dataset.train_images, dataset.test_images]).numpy()
    labels = torch.cat([dataset.train_labels, dataset.test_labels]).numpy()
    rng = np.random.default_rng(seed)
    counts = class_counts(dataset)
    rows = []
    for c, name in enumerate(dataset.class_names[:max_classes]):
        members = np.flatnonzero(labels == c)
        chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        rows.append(PreviewRow(name, counts[name], images[chosen]))
    manifest = dataset.manifest or {}
    channels, size = dataset.image_shape[0], dataset.image_shape[1]
    classes = f"in {len(counts)} classes" if manifest.get("labelled", True) else "without labels"
    summary = (f"{len(labels):,} images {classes}, {size}x{size} {'grey' if channels == 1 else 'colour'}: "
               f"{len(dataset.train_labels):,} to train on, {len(dataset.test_labels):,} held out for the map.")
    return Preview(tuple(rows), max(0, len(counts) - max_classes), summary, tuple(manifest.get("notes", ())))
