"""A dataset mirror on 127.0.0.1 for tests: serves gzipped IDX files, and misbehaves on request.

Point the downloader at it with ``download_dataset(..., mirrors=[mirror.url])`` in-process, or with
``LATENT_EXPLORER_MIRRORS=<mirror.url>`` in a server's environment. Tests never need the internet.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX: two zero bytes, type 0x08 (unsigned byte), the number of dimensions, big-endian sizes, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def synthetic_arrays(seed: int = 0, train: int = 6, test: int = 4, side: int = 28) -> dict[str, np.ndarray]:
    """Random images and labels 0-9 under the IDX file names (without .gz)."""
    rng = np.random.default_rng(seed)
    return {
        IDX_STEMS[0]: rng.integers(0, 256, (train, side, side), dtype=np.uint8),
        IDX_STEMS[1]: rng.integers(0, 10, train, dtype=np.uint8),
        IDX_STEMS[2]: rng.integers(0, 256, (test, side, side), dtype=np.uint8),
        IDX_STEMS[3]: rng.integers(0, 10, test, dtype=np.uint8),
    }


def gzipped_idx_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """{'train-images-idx3-ubyte.gz': gzip bytes, ...} ready to serve."""
    return {f"{stem}.gz": gzip.compress(idx_bytes(array)) for stem, array in arrays.items()}


def debian_fashion_mnist_files() -> dict[str, bytes] | None:
    """The real Fashion-MNIST .gz files of Debian's dataset-fashion-mnist, or None when it is not installed."""
    paths = [DEBIAN_FASHION_MNIST / f"{stem}.gz" for stem in IDX_STEMS]
    if not all(path.is_file() for path in paths):
        return None
    return {path.name: path.read_bytes() for path in paths}


class LocalMirror:
    """Serves ``files`` ({name: bytes}) at ``url`` from a thread, as a context manager.

    ``faults`` ({name: "interrupt" | "stall" | "missing"}): "interrupt" announces the full length,
    sends half the bytes and drops the connection; "stall" sends half and then nothing until the
    mirror closes; "missing" answers 404. ``requests`` records "METHOD /path".
    """

    def __init__(self, files: dict[str, bytes], faults: dict[str, str] | None = None):
        self.files = dict(files)
        self.faults = dict(faults or {})
        self.requests: list[str] = []
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> LocalMirror:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                self._answer(send_body=False)

            def do_GET(self):
                self._answer(send_body=True)

            def _answer(self, send_body: bool):
                mirror.requests.append(f"{self.command} {self.path}")
                name = self.path.lstrip("/")
                body = mirror.files.get(name)
                fault = mirror.faults.get(name)
                if body is None or fault == "missing":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not send_body:
                    return
                if fault in ("interrupt", "stall"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if fault == "stall":
                        mirror._closing.wait()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
