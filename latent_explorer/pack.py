"""Binary packs: arrays and a little JSON, sent to the browser once and kept there by id.

Layout (little-endian): ``b"LXP1"``, a uint32 header length, the header as UTF-8 JSON, zero padding
to a multiple of 8, then the arrays one after another, each starting on a multiple of 8 so the
browser can view them as typed arrays without copying element by element. The header names each
array's dtype, shape and offset (from the start of the array section) and carries ``meta`` for the
component code. The pack's id is a hash of its content: the browser keeps packs by id, and
Streamlit's message cache sees identical bytes when a page is drawn again, so a pack crosses the
network once per browser session.

``workspace_pack`` is what the explorer's browser components read: class labels, every held-out
image's codes (μ, and σ for a VAE), each model's 2-d projection and, where the browser can run it,
its decoder (vae_core.portable). ``every_image_pack`` holds the same for the training split too, and
borrows the decoders from the workspace pack (``decoders_from``).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from vae_core.portable import PortableDecoder, portable_decoder
from vae_core.workspace import Workspace

MAGIC = b"LXP1"
# "off" makes every page decode on the server, as it does for decoders the browser cannot run.
BROWSER_DECODER = os.environ.get("LATENT_EXPLORER_BROWSER_DECODER", "on") != "off"
ALIGN = 8
DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.uint8): "uint8", np.dtype(np.uint16): "uint16",
          np.dtype(np.int32): "int32"}


@dataclass(frozen=True)
class Pack:
    id: str
    data: bytes
    meta: dict


def _padding(length: int) -> bytes:
    return b"\0" * (-length % ALIGN)


def encode_pack(meta: dict, arrays: dict[str, np.ndarray]) -> Pack:
    index, blobs, offset = {}, [], 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in DTYPES:
            raise TypeError(f"pack array {name!r} has unsupported dtype {array.dtype}")
        raw = array.tobytes()
        index[name] = {"dtype": DTYPES[array.dtype], "shape": list(array.shape), "offset": offset}
        blobs += [raw, _padding(len(raw))]
        offset += len(raw) + len(_padding(len(raw)))
    body = b"".join(blobs)
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode() + json.dumps(index).encode() + body)
    pack_id = digest.hexdigest()[:20]
    header = json.dumps({"id": pack_id, "meta": meta, "arrays": index}, separators=(",", ":")).encode()
    prefix = MAGIC + struct.pack("<I", len(header)) + header
    return Pack(pack_id, prefix + _padding(len(prefix)) + body, meta)


def decode_pack(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and arrays of a pack (the browser's reading, in Python: for tests and tools)."""
    if data[:4] != MAGIC:
        raise ValueError("not a latent explorer pack")
    (length,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8:8 + length])
    start = 8 + length + len(_padding(8 + length))
    arrays = {}
    for name, entry in header["arrays"].items():
        dtype = np.dtype(entry["dtype"])
        count = int(np.prod(entry["shape"]))
        arrays[name] = np.frombuffer(data, dtype, count, start + entry["offset"]).reshape(entry["shape"])
    return header, arrays


def decoder_entry(name: str, decoder: PortableDecoder, arrays: dict[str, np.ndarray]) -> dict:
    """The header entry for a portable decoder; its weights go into ``arrays`` under ``name.*``."""
    layers = []
    for i, layer in enumerate(decoder.layers):
        refs = {}
        for key, array in layer.arrays.items():
            refs[key] = f"{name}.{i}.{key}"
            arrays[refs[key]] = array
        layers.append({"op": layer.op, "arrays": refs, **layer.attrs})
    return {"latent_dim": decoder.latent_dim, "output_shape": list(decoder.output_shape), "layers": layers}


def _models_meta(ws: Workspace, arrays: dict[str, np.ndarray], decoders: bool) -> dict:
    models = {}
    for kind in ws.kinds:
        projection = ws.projections[kind]
        decoder = portable_decoder(ws.model(kind)) if decoders and BROWSER_DECODER else None
        models[kind] = {
            "latent_dim": ws.latent_dim(kind),
            "has_sigma": ws.encodings[kind].logvar is not None,
            "projection": {"mean": projection.mean.astype(float).tolist(),
                           "components": projection.components.astype(float).tolist(),
                           "axis_titles": list(projection.axis_titles)},
            "decoder": None if decoder is None else decoder_entry(f"{kind}.decoder", decoder, arrays),
        }
    return models


def _code_arrays(ws: Workspace, every_image: bool) -> dict[str, np.ndarray]:
    labels = ws.all_labels() if every_image else ws.labels
    arrays = {"labels": labels.astype(np.uint8 if len(ws.class_names) <= 256 else np.uint16)}
    for kind in ws.kinds:
        encoding = ws.codes(kind, every_image=every_image)
        arrays[f"{kind}.mu"] = encoding.mu.astype(np.float32)
        if encoding.logvar is not None:
            arrays[f"{kind}.sigma"] = encoding.sigma.astype(np.float32)
    return arrays


def _build_pack(ws: Workspace, every_image: bool) -> Pack:
    """The held-out codes with the decoders; or every image's codes, the held-out split first, which borrow
    the decoders of the held-out pack."""
    arrays = _code_arrays(ws, every_image)
    meta = {"type": "workspace", "count": ws.total if every_image else len(ws), "held_out": len(ws),
            "class_names": list(ws.class_names), "image_shape": list(ws.dataset.image_shape),
            "main_kind": ws.main_kind, "models": _models_meta(ws, arrays, decoders=not every_image)}
    if every_image:
        meta["decoders_from"] = workspace_pack(ws).id
    return encode_pack(meta, arrays)


_packs: weakref.WeakKeyDictionary[Workspace, dict[bool, Pack]] = weakref.WeakKeyDictionary()
_packs_lock = threading.Lock()


def _pack(ws: Workspace, every_image: bool) -> Pack:
    with _packs_lock:
        packs = _packs.setdefault(ws, {})
    if every_image not in packs:
        built = _build_pack(ws, every_image)  # outside the lock: the every-image pack needs the held-out one
        with _packs_lock:
            packs.setdefault(every_image, built)
    return packs[every_image]


def workspace_pack(ws: Workspace) -> Pack:
    """The held-out codes and the decoders, built once per workspace (a few MB at most) and dropped with it."""
    return _pack(ws, every_image=False)


def every_image_pack(ws: Workspace) -> Pack:
    """The codes of every image, training split included (70,000 for Fashion-MNIST: about 2 MB)."""
    return _pack(ws, every_image=True)


def browser_decodes(ws: Workspace, kind: str) -> bool:
    """Whether the browser can run this model's decoder (else pages fall back to decoding on the server)."""
    return workspace_pack(ws).meta["models"][kind]["decoder"] is not None
