"""Your own images: zips and folders of PNG/JPEG, .npy/.npz arrays, and every hostile or broken input.

Each refusal is checked for its message and for writing nothing: HOME, TMPDIR and the working directory
point into a sandbox whose every file is snapshotted before and after.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import struct
import tempfile
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from vae_core.image_sources import (
    ConversionOptions,
    ImageLimits,
    ImageSourceError,
    class_counts,
    load_image_source,
    manifest_image_shape,
    options_from_manifest,
    preview,
    same_images,
)

RNG = np.random.default_rng(0)


# --- building sources ---------------------------------------------------------------------

def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def noise(height: int = 28, width: int = 28, channels: int | None = None) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but carries almost no data: a decompression bomb's header."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def zip_of(files: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in files.items():
            archive.writestr(zipfile.ZipInfo(name), payload, compress_type=compression)
    return buffer.getvalue()


def class_folders(classes=("boots", "hats", "shirts"), per_class=5, wrapper="clothes/") -> dict[str, bytes]:
    return {f"{wrapper}{c}/{i:02d}.png": png(noise()) for c in classes for i in range(per_class)}


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npz(compressed: bool = False, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


# --- nothing written anywhere ---------------------------------------------------------------

class Sandbox:
    """HOME, TMPDIR and the working directory inside ``root``; snapshot() lists every file under it."""

    def __init__(self, root):
        self.root = root

    def snapshot(self) -> list[tuple[str, int, int]]:
        return sorted((str(p.relative_to(self.root)), p.stat().st_size, p.stat().st_mtime_ns)
                      for p in self.root.rglob("*"))


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    for sub in ("home", "tmp", "cwd", "sources"):
        (tmp_path / sub).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path / "cwd")
    return Sandbox(tmp_path)


def refused(sandbox, source, match: str, name: str | None = None, **kwargs) -> str:
    before = sandbox.snapshot()
    with pytest.raises(ImageSourceError, match=match) as raised:
        load_image_source(source, name, **kwargs)
    assert sandbox.snapshot() == before, "a refused source wrote something"
    return str(raised.value)


def loaded(sandbox, source, name: str | None = None, **kwargs):
    before = sandbox.snapshot()
    dataset = load_image_source(source, name, **kwargs)
    assert sandbox.snapshot() == before, "reading a source wrote something"
    return dataset


# --- what works ----------------------------------------------------------------------------

def test_a_zip_of_class_folders(sandbox):
    files = class_folders(per_class=5)
    files["clothes/README.txt"] = b"about these pictures"
    files["__MACOSX/clothes/._01.png"] = b"resource fork"
    content = zip_of(files)
    dataset = loaded(sandbox, content, "My Clothes.zip")
    assert dataset.name == "custom:my-clothes" and dataset.title == "Your images: my-clothes"
    assert dataset.class_names == ("boots", "hats", "shirts")
    assert dataset.image_shape == (1, 28, 28)
    # 5 per class, 20% held out, stratified: one of each class on the map.
    assert sorted(dataset.test_labels.tolist()) == [0, 1, 2] and len(dataset.train_labels) == 12
    manifest = dataset.manifest
    assert manifest["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["source"] == "My Clothes.zip" and manifest["kind"] == "zip"
    assert manifest["class_counts"] == {"boots": 5, "hats": 5, "shirts": 5} == class_counts(dataset)
    assert (manifest["images"], manifest["train_images"], manifest["test_images"]) == (15, 12, 3)
    assert (manifest["image_size"], manifest["channels"], manifest["split_seed"]) == (28, 1, 0)
    assert manifest["labelled"] is True
    assert any("Skipped 1 file not PNG or JPEG (clothes/README.txt)" in n for n in manifest["notes"])
    assert any("Ignored 1 hidden or system file" in n for n in manifest["notes"])
    # The images are the files' pixels (28x28 grey: nothing to convert).
    first = Image.open(io.BytesIO(files["clothes/boots/00.png"]))
    all_images = np.concatenate([dataset.train_images.numpy(), dataset.test_images.numpy()])
    assert any(np.array_equal(image[0], np.asarray(first)) for image in all_images)


def test_the_split_is_seeded_and_reproducible(sandbox):
    content = zip_of(class_folders(per_class=10))
    a = loaded(sandbox, content, "a.zip")
    b = loaded(sandbox, content, "a.zip")
    c = loaded(sandbox, content, "a.zip", options=ConversionOptions(split_seed=1))
    assert np.array_equal(a.test_images.numpy(), b.test_images.numpy())
    assert not np.array_equal(a.test_images.numpy(), c.test_images.numpy())
    assert same_images(a.manifest, b.manifest) and not same_images(a.manifest, c.manifest)
    assert options_from_manifest(c.manifest) == ConversionOptions(split_seed=1, labelled=True)


def test_a_flat_zip_is_unlabelled_and_a_single_folder_is_a_wrapper(sandbox):
    for names in ([f"{i}.png" for i in range(6)], [f"cats/{i}.png" for i in range(6)]):
        dataset = loaded(sandbox, zip_of({n: png(noise()) for n in names}), "cats.zip")
        assert dataset.class_names == ("unlabelled",) and dataset.manifest["labelled"] is False
        assert len(dataset.test_images) == 1 and len(dataset.train_images) == 5
    forced = loaded(sandbox, zip_of(class_folders()), "c.zip", options=ConversionOptions(labelled=False))
    assert forced.class_names == ("unlabelled",)


def test_a_folder_of_class_folders(sandbox):
    root = sandbox.root / "sources" / "pets"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(4):
            (root / c / f"{i}.png").write_bytes(png(noise(12, 12)))
    (root / "notes.md").write_text("not an image")
    dataset = loaded(sandbox, root)
    assert dataset.name == "custom:pets" and dataset.class_names == ("cat", "dog")
    assert dataset.manifest["kind"] == "folder" and dataset.manifest["images"] == 8
    assert loaded(sandbox, root).manifest["sha256"] == dataset.manifest["sha256"]
    assert any("12x12 pixels: resized to 28x28" in n for n in dataset.manifest["notes"])


def test_mixed_sizes_shapes_and_modes_are_converted_and_said(sandbox):
    files = {
        "a/wide.png": png(noise(20, 60)),
        "a/rgb.png": png(noise(28, 28, 3)),
        "a/photo.jpg": jpeg(noise(300, 300, 3)),
        "b/clear.png": png(np.zeros((28, 28, 4), dtype=np.uint8)),  # fully transparent
        "b/deep.png": png(np.full((28, 28), 65535, dtype=np.uint16)),
        "b/small.png": png(noise(8, 8)),
    }
    dataset = loaded(sandbox, zip_of(files), "mixed.zip")
    notes = " ".join(dataset.manifest["notes"])
    assert "come in 4 sizes, from 8x8 to 300x300 pixels: all were resized to 28x28" in notes
    assert "1 image not square" in notes and "1 image with transparency: flattened onto white" in notes
    assert "3 colour images turned grey" in notes
    images = np.concatenate([dataset.train_images.numpy(), dataset.test_images.numpy()])
    assert images.shape == (6, 1, 28, 28)
    white = [i for i in images if i.min() == 255]
    assert len(white) == 2  # the transparent one on white, and the 16-bit one at full scale
    summary = preview(dataset)
    assert summary.notes == tuple(dataset.manifest["notes"])


def test_colour_is_kept_with_three_channels(sandbox):
    red = np.zeros((28, 28, 3), dtype=np.uint8)
    red[..., 0] = 255
    grey = np.full((28, 28), 100, dtype=np.uint8)
    files = {f"r/{i}.png": png(red) for i in range(3)} | {f"g/{i}.png": png(grey) for i in range(3)}
    dataset = loaded(sandbox, zip_of(files), "colours.zip", options=ConversionOptions(image_size=16, channels=3))
    assert dataset.image_shape == (3, 16, 16)
    images = np.concatenate([dataset.train_images.numpy(), dataset.test_images.numpy()])
    labels = np.concatenate([dataset.train_labels.numpy(), dataset.test_labels.numpy()])
    assert (images[labels == 0][:, 0] == 100).all() and (images[labels == 0][:, 1] == 100).all()
    assert (images[labels == 1][:, 0] == 255).all() and (images[labels == 1][:, 2] == 0).all()
    assert "3 grey images repeated into 3 colour channels" in " ".join(dataset.manifest["notes"])
    assert manifest_image_shape(dataset.manifest) == (3, 16, 16)


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw"])
def test_arrays_of_every_layout(sandbox, layout):
    pixels = RNG.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    array = {"nhw": pixels, "nhwc": pixels[..., None], "nchw": pixels[:, None]}[layout]
    dataset = loaded(sandbox, npy(array), "digits.npy")
    assert dataset.manifest["kind"] == "npy" and dataset.class_names == ("unlabelled",)
    images = np.concatenate([dataset.train_images.numpy(), dataset.test_images.numpy()])[:, 0]
    assert sorted(map(bytes, images)) == sorted(map(bytes, pixels))  # exactly the pixels: nothing to convert


def test_an_npz_with_float_images_and_string_labels(sandbox):
    images = RNG.random((12, 3, 32, 32)).astype(np.float32)
    labels = np.array(["sky", "sea", "sand"] * 4)
    dataset = loaded(sandbox, npz(images=images, labels=labels, extra=np.arange(3)), "beach.npz",
                     options=ConversionOptions(channels=3))
    assert dataset.class_names == ("sand", "sea", "sky") and dataset.image_shape == (3, 28, 28)
    notes = " ".join(dataset.manifest["notes"])
    assert "32x32 pixels: resized to 28x28" in notes and "Ignored the arrays extra" in notes


def test_an_npz_with_integer_labels_and_class_names(sandbox):
    content = npz(compressed=True, x=RNG.integers(0, 256, (10, 28, 28, 1), dtype=np.uint8),
                  labels=np.array([3, 7] * 5), class_names=np.array([f"c{i}" for i in range(8)]))
    dataset = loaded(sandbox, content, "named.npz")
    assert dataset.class_names == ("c3", "c7") and dataset.manifest["class_counts"] == {"c3": 5, "c7": 5}
    plain = loaded(sandbox, npz(images=np.zeros((4, 9, 9), np.uint8), labels=np.array([5, 5, 2, 2])), "n.npz")
    assert plain.class_names == ("2", "5")


def test_preview_rows_counts_and_grid(sandbox):
    dataset = loaded(sandbox, zip_of(class_folders(classes=("a", "b", "c"), per_class=12)), "p.zip")
    shown = preview(dataset, per_class=8, max_classes=2)
    assert [(row.class_name, row.count, row.samples.shape) for row in shown.rows] == [
        ("a", 12, (8, 1, 28, 28)), ("b", 12, (8, 1, 28, 28))]
    assert shown.hidden_classes == 1
    assert shown.summary == "36 images in 3 classes, 28x28 grey: 30 to train on, 6 held out for the map."
    grid = shown.grid()
    assert grid.shape == (2 * 29 + 1, 8 * 29 + 1, 1) and grid.dtype == np.uint8
    assert np.array_equal(grid[1:29, 1:29, 0], shown.rows[0].samples[0, 0])


# --- archives that are hostile -------------------------------------------------------------

def test_a_zip_bomb_by_compression_ratio(sandbox):
    bomb = zip_of({"bomb/a.png": png(noise()), "bomb/b.png": b"\0" * (50 * 2**20)})
    assert len(bomb) < 200_000
    refused(sandbox, bomb, r"b.png expands [\d,]+ times .*zip bomb", "bomb.zip")


def test_too_much_to_unpack_is_refused_from_the_central_directory(sandbox):
    files = class_folders(per_class=4)
    text = refused(sandbox, zip_of(files, zipfile.ZIP_STORED), "would unpack to", "big.zip",
                   limits=ImageLimits(max_unpacked_bytes=5_000))
    assert "more than the 0.0 MB allowed" in text


def test_too_many_entries(sandbox):
    refused(sandbox, zip_of(class_folders(per_class=4)), "12 entries; at most 10", "many.zip",
            limits=ImageLimits(max_entries=10))


def patch_central_directory(content: bytes, name: str, offset: int, change) -> bytes:
    """The archive with the 4-byte (offset 24: uncompressed size) or 2-byte (offset 8: flags) field of one
    entry's central directory record replaced by change(old value)."""
    data = bytearray(content)
    form = "<I" if offset in (20, 24) else "<H"
    start = data.find(b"PK\x01\x02")
    while start != -1:
        name_length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46:start + 46 + name_length] == name.encode():
            struct.pack_into(form, data, start + offset, change(struct.unpack_from(form, data, start + offset)[0]))
            return bytes(data)
        start = data.find(b"PK\x01\x02", start + 4)
    raise AssertionError(f"{name} is not in the central directory")


def test_a_bomb_whose_central_directory_lies_costs_only_what_it_declares(sandbox):
    files = class_folders(per_class=3)
    files["clothes/hats/bomb.png"] = b"\0" * (100 * 2**20)
    # Declared as 1,000 bytes: no size or ratio check can see it from the central directory.
    lying = patch_central_directory(zip_of(files), "clothes/hats/bomb.png", 24, lambda size: 1000)
    tracemalloc.start()
    try:
        refused(sandbox, lying, "damaged, or its sizes are false, at clothes/hats/bomb.png .*CRC", "liar.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, f"reading the lying entry allocated {peak / 2**20:.0f} MiB"


def test_a_size_declared_larger_than_the_data_yields_only_the_data(sandbox):
    files = class_folders(per_class=3)
    lying = patch_central_directory(zip_of(files), "clothes/hats/01.png", 24, lambda size: 2 * size)
    dataset = loaded(sandbox, lying, "generous.zip")
    assert dataset.manifest["images"] == 9


@pytest.mark.parametrize("entry, message", [
    ("../escape.png", "climbs out of its folder"),
    ("pets/../../escape.png", "climbs out of its folder"),
    ("..\\escape.png", "climbs out of its folder"),
    ("/etc/escape.png", "absolute path"),
    ("C:\\Windows\\escape.png", "absolute path"),
    ("\\\\server\\share\\escape.png", "absolute path"),
])
def test_path_traversal_is_refused(sandbox, entry, message):
    files = class_folders(per_class=3)
    files[entry] = png(noise())
    text = refused(sandbox, zip_of(files), message, "traversal.zip")
    assert "refused" in text


def test_a_symbolic_link_in_an_archive(sandbox):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in class_folders(per_class=3).items():
            archive.writestr(name, payload)
        link = zipfile.ZipInfo("clothes/hats/passwd.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    refused(sandbox, buffer.getvalue(), r"symbolic link \(clothes/hats/passwd.png\)", "links.zip")


def test_an_encrypted_entry(sandbox):
    files = class_folders(per_class=3)
    encrypted = patch_central_directory(zip_of(files), "clothes/hats/01.png", 8, lambda flags: flags | 0x1)
    refused(sandbox, encrypted, r"clothes/hats/01.png in the archive is encrypted", "secret.zip")


def test_a_symbolic_link_in_a_folder(sandbox):
    root = sandbox.root / "sources" / "linked"
    (root / "a").mkdir(parents=True)
    (root / "a" / "1.png").write_bytes(png(noise()))
    (root / "a" / "2.png").symlink_to("/etc/passwd")
    refused(sandbox, root, r"a/2.png is a symbolic link")


def test_folder_limits(sandbox):
    root = sandbox.root / "sources" / "crowded"
    root.mkdir()
    for i in range(6):
        (root / f"{i}.png").write_bytes(png(noise()))
    refused(sandbox, root, "more than 5 files and folders", limits=ImageLimits(max_entries=5))
    refused(sandbox, root, "add up to more than", limits=ImageLimits(max_unpacked_bytes=1_000))


# --- files that are broken or not images ----------------------------------------------------

def test_only_files_that_are_not_images(sandbox):
    text = refused(sandbox, zip_of({"notes.txt": b"hello", "data.csv": b"1,2"}), "holds no PNG or JPEG images",
                   "text.zip")
    assert "2 other files" in text


def test_an_empty_archive_and_an_empty_file(sandbox):
    refused(sandbox, zip_of({}), "holds no PNG or JPEG images", "empty.zip")
    refused(sandbox, b"", "is empty", "nothing.zip")


def test_unreadable_images_are_skipped_and_named(sandbox):
    good = class_folders(per_class=3)
    truncated = png(noise(64, 64))
    broken = {"clothes/hats/garbage.png": b"this is text", "clothes/hats/cut.png": truncated[: len(truncated) // 2],
              "clothes/boots/gif.png": b"GIF89a" + b"\0" * 20}
    dataset = loaded(sandbox, zip_of(good | broken), "some-broken.zip")
    assert dataset.manifest["images"] == 9
    note = next(n for n in dataset.manifest["notes"] if n.startswith("Skipped 3 images that could not be read"))
    assert "clothes/hats/garbage.png (not a PNG or JPEG image)" in note and "cut.png" in note


def test_nothing_readable_at_all(sandbox):
    refused(sandbox, zip_of({"a/1.png": b"junk", "b/2.jpg": b"junk"}), r"none of the 2 images .* could be read",
            "junk.zip")


def test_a_class_left_empty_by_unreadable_images(sandbox):
    files = class_folders(classes=("a", "b"), per_class=3)
    files |= {"clothes/c/1.png": b"junk", "clothes/c/2.png": b"junk"}
    refused(sandbox, zip_of(files), "no readable image is left in the class c", "c.zip")


@pytest.mark.parametrize("width, height, limits, message", [
    (10000, 10000, ImageLimits(), r"is 10,000 x 10,000 pixels \(100 megapixels\), more than the 67 megapixels "
                                  r"a picture may have here\. Any phone or camera photo fits: please scale this "
                                  r"one down"),
    (20000, 20000, ImageLimits(max_image_pixels=10**9), "more pixels than can be decoded safely"),
])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns on the way to refusing
def test_decompression_bombs(sandbox, width, height, limits, message):
    files = class_folders(per_class=3)
    files["clothes/hats/bomb.png"] = png_header_only(width, height)
    refused(sandbox, zip_of(files), message, "bombs.zip", limits=limits)


def test_too_many_pixels_in_all(sandbox):
    refused(sandbox, zip_of(class_folders(per_class=3)), "add up to more than 5,000 pixels", "px.zip",
            limits=ImageLimits(max_total_pixels=5_000))


def test_not_a_zip_and_a_damaged_zip(sandbox):
    refused(sandbox, b"plain text", "not a zip archive", "fake.zip")
    refused(sandbox, b"PK\x03\x04" + b"\0" * 100, "not a readable zip archive", "damaged.zip")
    refused(sandbox, b"plain text", r"not a \.zip of images, an \.npz or an \.npy", "what.bin")


# --- layouts and labels -----------------------------------------------------------------------

def test_labels_asked_for_but_only_one_class(sandbox):
    files = {f"cats/{i}.png": png(noise()) for i in range(4)}
    refused(sandbox, zip_of(files), "only one class", "cats.zip", options=ConversionOptions(labelled=True))


def test_images_beside_the_class_folders(sandbox):
    files = class_folders(per_class=3, wrapper="")
    files["stray.png"] = png(noise())
    refused(sandbox, zip_of(files), r"1 image lies beside the class folders \(e.g. stray.png\)", "stray.zip")


def test_a_class_with_a_single_image(sandbox):
    files = class_folders(per_class=3)
    files["clothes/socks/only.png"] = png(noise())
    refused(sandbox, zip_of(files), "1 image of class socks; every class needs at least two", "socks.zip")


def test_too_many_images_and_too_many_values(sandbox):
    content = zip_of(class_folders(per_class=4))
    refused(sandbox, content, "holds 12 images; at most 10", "n.zip", limits=ImageLimits(max_images=10))
    refused(sandbox, content, r"12 images of 3x64x64 would be 147,456 values", "v.zip",
            options=ConversionOptions(image_size=64, channels=3), limits=ImageLimits(max_dataset_values=100_000))


def test_a_file_over_the_size_cap(sandbox):
    refused(sandbox, zip_of(class_folders()), "larger than 0.0 MB", "large.zip",
            limits=ImageLimits(max_source_bytes=1_000))
    path = sandbox.root / "sources" / "large.zip"
    path.write_bytes(zip_of(class_folders()))
    refused(sandbox, path, "a file of images may be at most", limits=ImageLimits(max_source_bytes=1_000))


@pytest.mark.parametrize("options, message", [
    (dict(image_size=4), "image size must be a whole number of pixels from 8 to 64"),
    (dict(image_size=100), "from 8 to 64"),
    (dict(channels=2), "channels must be 1"),
    (dict(test_fraction=0.9), "held-out fraction"),
    (dict(split_seed=-1), "split seed"),
    (dict(labelled="yes"), "labelled must be"),
])
def test_conversion_options_are_checked(options, message):
    with pytest.raises(ImageSourceError, match=message):
        ConversionOptions(**options)


# --- arrays that are hostile or wrong ------------------------------------------------------------

@pytest.mark.parametrize("array, message", [
    (np.zeros((5, 28, 28), dtype=np.int32), "are int32; they must be uint8"),
    (np.zeros((5, 28, 28), dtype=bool), "are bool; they must be uint8"),
    (np.zeros((5, 28, 28), dtype=np.complex64), "are complex64"),
    (np.full((5, 28, 28), 2.0), "floats from 2 to 2; float pixels must lie from 0 to 1"),
    (np.full((5, 28, 28), -0.5, dtype=np.float32), "floats from -0.5 to -0.5"),
    (np.full((5, 28, 28), np.nan), "NaN or infinite"),
    (np.zeros((5, 784), dtype=np.uint8), r"shape \(5, 784\); expected \(N, H, W\)"),
    (np.zeros((5, 28, 28, 2), dtype=np.uint8), r"shape \(5, 28, 28, 2\)"),
    (np.zeros((2, 5, 28, 28, 1), dtype=np.uint8), "expected"),
    (np.zeros((0, 28, 28), dtype=np.uint8), "holds no images"),
    (np.zeros((1, 28, 28), dtype=np.uint8), "there is 1 image; every class needs at least two"),
])
def test_arrays_of_the_wrong_dtype_or_shape(sandbox, array, message):
    refused(sandbox, npy(array), message, "wrong.npy")


def test_a_pickled_npy_is_never_loaded(sandbox):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    objects = np.array([Boom(), Boom()], dtype=object)
    refused(sandbox, npy(objects, allow_pickle=True), "hold Python objects .*never loaded", "objects.npy")
    refused(sandbox, pickle.dumps([Boom()]), r"not a NumPy \.npy file", "pickle.npy")
    refused(sandbox, npz(images=objects), "hold Python objects", "objects.npz")
    refused(sandbox, npz(images=np.zeros((4, 8, 8), np.uint8), labels=objects), "labels .* hold Python objects",
            "labels.npz")
    assert not (sandbox.root / "cwd" / "pwned").exists()


@pytest.mark.parametrize("arrays, options, message", [
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 0])), {}, r"expected one per image, \(4,\)"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0.5, 1, 0, 1])), {}, "float64; they must be integ"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.array([1, 1, 1, 1])), {}, r"only one class \(1\)"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 0, 5]), class_names=np.array(["a", "b"])),
     {}, "run from 0 to 5, but there are 2 class names"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 0, 1]), class_names=np.array([1, 2])),
     {}, "class names .* must be a 1-d array of strings"),
    (dict(images=np.zeros((4, 8, 8), np.uint8)), dict(labelled=True), "has no 'labels' array"),
    (dict(a=np.zeros((4, 8, 8), np.uint8), b=np.zeros((4, 8, 8), np.uint8)), {}, "name the images 'images'"),
])
def test_npz_labels_and_names_that_do_not_fit(sandbox, arrays, options, message):
    refused(sandbox, npz(**arrays), message, "bad.npz", options=ConversionOptions(**options))


def test_an_npz_that_is_a_bomb_or_not_an_npz(sandbox):
    refused(sandbox, npz(compressed=True, images=np.zeros((3000, 100, 100), np.uint8)), "zip bomb", "bomb.npz")
    refused(sandbox, zip_of({"images.npy": npy(np.zeros((4, 8, 8), np.uint8)), "run.sh": b"rm -rf /"}),
            r"not a NumPy \.npz: it holds run.sh", "mixed.npz")


def test_a_truncated_npy(sandbox):
    content = npy(np.zeros((10, 28, 28), np.uint8))
    refused(sandbox, content[:-100], "damaged or truncated", "cut.npy")
    refused(sandbox, content, "too large", "cut.npy", limits=ImageLimits(max_total_pixels=1_000))


# --- camera photos ----------------------------------------------------------------------------

def camera_photo(width: int, height: int) -> bytes:
    """A JPEG of a camera's size (a smooth gradient, so the file stays small)."""
    row = np.linspace(0, 255, width).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.tile(row, (height, 1))).convert("RGB").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


@pytest.mark.parametrize("width, height", [(6000, 6000), (8160, 6120)])  # a 36 and a 50 megapixel photo
def test_a_camera_photo_is_read_as_a_picture(width, height):
    from vae_core.image_sources import read_image

    picture = read_image(camera_photo(width, height), "photo.jpg", (1, 28, 28))
    assert picture.shape == (1, 28, 28)
    assert picture[0, :, 0].mean() < picture[0, :, -1].mean()  # the gradient survives: dark left, light right


def test_a_zip_of_camera_photos_counts_them_as_decoded_scaled_down(sandbox):
    photo = camera_photo(6000, 6000)
    files = {f"photos/{kind}/{i}.jpg": photo for kind in ("a", "b") for i in range(2)}
    # 4 x 36 megapixels declared; decoded at 1/8 (750 x 750) they are 2.25 megapixels in all.
    dataset = loaded(sandbox, zip_of(files, compression=zipfile.ZIP_STORED), "photos.zip",
                     limits=ImageLimits(max_total_pixels=3_000_000))
    assert len(dataset.train_images) + len(dataset.test_images) == 4
