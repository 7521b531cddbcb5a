"""Fetching Fashion-MNIST and MNIST with progress, into the data cache, all or nothing.

torchvision's dataset classes name the files, their MD5 sums and the mirrors
(``FashionMNIST.mirrors``/``.resources``). Its own downloader reports progress
only to a terminal progress bar, so the bytes are fetched here with the same
plain HTTP request and handed, chunk by chunk, to a callback a page can draw.

Everything lands in a private staging folder beside the cache first. Each file
is checked (MD5 where the sum is known; the gzip CRC and the IDX structure of
the whole dataset always) and only a complete, readable dataset is renamed into
place, so an interrupted or corrupt download leaves nothing behind and raises
``DatasetUnavailable``.

Mirrors can be replaced, by argument or by the ``LATENT_EXPLORER_MIRRORS``
environment variable (base URLs separated by spaces), so that tests and offline
sites can serve the files themselves. Such mirrors may recompress the files
(Debian's package does), so torchvision's MD5 sums apply to torchvision's own
mirrors only; files from other mirrors are checked by their gzip CRC and the
IDX structure, or by sums given in ``resources``.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .registry import DATASETS, IDX_FILES, DatasetUnavailable

MIRRORS_ENV = "LATENT_EXPLORER_MIRRORS"
CHUNK_BYTES = 256 * 1024
DOWNLOAD_TIMEOUT_S = 30.0  # per network operation, not for the whole file
PROBE_TIMEOUT_S = 2.0

# One download per dataset at a time in this process: a second caller waits and then finds it in place.
_LOCKS = {name: threading.Lock() for name in DATASETS}


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands: one file of several, what is being done to it, and how far along.

    ``stage`` is "downloading", "checking" (MD5 of one file, or ``file`` "all files" for the
    final read of the whole dataset), "extracting" (gunzip), or "done". ``total_bytes`` is None
    when the server does not say how large the file is.
    """

    dataset: str
    file: str
    file_number: int
    file_count: int
    stage: str
    done_bytes: int
    total_bytes: int | None

    @property
    def fraction(self) -> float | None:
        """Of this file and stage, 0 to 1; None when the size is unknown."""
        if not self.total_bytes:
            return None
        return min(self.done_bytes / self.total_bytes, 1.0)

    def describe(self) -> str:
        """E.g. 'Downloading train-images-idx3-ubyte.gz (file 1 of 4): 12.3 of 26.4 MB'."""
        if self.stage == "done":
            return f"{DATASETS[self.dataset].title} is ready."
        text = f"{self.stage.capitalize()} {self.file}"
        if self.file_number:
            text += f" (file {self.file_number} of {self.file_count})"
        if self.stage == "checking":
            return text
        if self.total_bytes:
            return text + f": {_megabytes(self.done_bytes)} of {_megabytes(self.total_bytes)} MB"
        return text + f": {_megabytes(self.done_bytes)} MB"


ProgressCallback = Callable[[DownloadProgress], None]


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f}"


def torchvision_sources(name: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(mirrors, [(file name, MD5)]) as torchvision's dataset class declares them."""
    import torchvision.datasets

    info = DATASETS.get(name)
    if info is None or info.torchvision_class is None:
        downloadable = ", ".join(n for n, i in DATASETS.items() if i.torchvision_class)
        raise DatasetUnavailable(f"{name!r} cannot be downloaded; these can: {downloadable}")
    dataset_class = getattr(torchvision.datasets, info.torchvision_class)
    return list(dataset_class.mirrors), [(file, md5) for file, md5 in dataset_class.resources]


def _sources(name: str, mirrors: Sequence[str] | None,
             resources: Sequence[tuple[str, str | None]] | None) -> tuple[list[str], list[tuple[str, str | None]]]:
    default_mirrors, default_resources = torchvision_sources(name)
    if mirrors is None and os.environ.get(MIRRORS_ENV, "").strip():
        mirrors = os.environ[MIRRORS_ENV].split()
    if resources is None:
        # torchvision's sums describe the files on torchvision's mirrors, not what another mirror serves.
        resources = default_resources if mirrors is None else [(file, None) for file, _ in default_resources]
    mirrors = default_mirrors if mirrors is None else list(mirrors)
    if not mirrors:
        raise DatasetUnavailable("no mirror to download from")
    return [m if m.endswith("/") else m + "/" for m in mirrors], list(resources)


def dataset_folder(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where a download of the dataset lives: torchvision's layout, <root>/<Class>/raw."""
    root = Path(root) if root is not None else registry.DOWNLOAD_DIR
    return root / DATASETS[name].torchvision_class / "raw"


def _is_complete(folder: Path) -> bool:
    return all((folder / stem).is_file() for stem in IDX_FILES.values())


def download_dataset(name: str, root: str | os.PathLike | None = None, *,
                     mirrors: Sequence[str] | None = None,
                     resources: Sequence[tuple[str, str | None]] | None = None,
                     on_progress: ProgressCallback | None = None,
                     timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download Fashion-MNIST or MNIST into ``root`` (default: the data cache) and return its folder.

    ``mirrors``: base URLs tried in order for each file (default: ``$LATENT_EXPLORER_MIRRORS``, else
    torchvision's). ``resources``: [(file name, MD5 or None)] (default: torchvision's, whose sums
    are used only with torchvision's own mirrors). ``on_progress`` is called from this thread with a
    ``DownloadProgress`` for every chunk and every change of stage.

    Nothing is written to the final folder until every file has been downloaded, checked, extracted
    and read back as a whole dataset; any failure removes what was fetched and raises
    ``DatasetUnavailable`` saying what went wrong. A dataset already complete in place is not
    downloaded again.
    """
    mirrors, resources = _sources(name, mirrors, resources)
    final = dataset_folder(name, root)
    report = on_progress or (lambda progress: None)
    with _LOCKS[name]:
        if _is_complete(final):
            report(DownloadProgress(name, "", 0, len(resources), "done", 0, None))
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        # Staging beside the target, on the same file system, so the final move is a rename.
        staging = Path(tempfile.mkdtemp(prefix=f".{final.parent.name}-download-", dir=final.parent))
        try:
            fetched = staging / "raw"
            fetched.mkdir()
            for number, (file, md5) in enumerate(resources, start=1):
                progress = _FileProgress(name, file, number, len(resources), report)
                _fetch_from_mirrors(mirrors, file, md5, fetched, progress, timeout_s)
            report(DownloadProgress(name, "all files", 0, len(resources), "checking", 0, None))
            registry.load_idx_folder(name, fetched)  # raises DatasetUnavailable on any inconsistency
            _move_into_place(fetched, final, staging)
        except DatasetUnavailable as err:
            raise DatasetUnavailable(registry.missing_dataset_message(name, cause=f"{err}; nothing was kept")) from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report(DownloadProgress(name, "", 0, len(resources), "done", 0, None))
    return final


def _move_into_place(fetched: Path, final: Path, staging: Path) -> None:
    if final.exists():
        if _is_complete(final):  # another process finished the same download first
            return
        # A partial folder from an older, non-atomic download: set it aside, removed with the staging folder.
        final.rename(staging / "previous")
    fetched.rename(final)


class _FileProgress:
    """Progress of one file, forwarded to the caller's callback."""

    def __init__(self, dataset: str, file: str, number: int, count: int, report: ProgressCallback):
        self.dataset, self.file, self.number, self.count, self.report = dataset, file, number, count, report

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.report(DownloadProgress(self.dataset, self.file, self.number, self.count, stage, done, total))


def _fetch_from_mirrors(mirrors: list[str], file: str, md5: str | None, folder: Path,
                        progress: _FileProgress, timeout_s: float) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror + file
        try:
            _fetch(url, folder / file, md5, progress, timeout_s)
            _extract(folder / file, progress)
            return
        except (_BadFile, urllib.error.URLError, http.client.HTTPException, OSError) as err:
            failures.append(f"{url}: {_reason(err)}")
            for leftover in (folder / file, folder / _extracted_name(file)):
                leftover.unlink(missing_ok=True)
    raise DatasetUnavailable(f"{file} could not be fetched ({'; '.join(failures)})")


class _BadFile(Exception):
    """A file arrived but is incomplete or not what was expected."""


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    if isinstance(err, TimeoutError):
        return "the server stopped answering"
    return str(err) or type(err).__name__


def _fetch(url: str, target: Path, md5: str | None, progress: _FileProgress, timeout_s: float) -> None:
    from torchvision.datasets.utils import USER_AGENT, calculate_md5

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout_s) as response, open(target, "wb") as out:
        total = response.length  # from Content-Length; None when the server does not send one
        done = 0
        progress("downloading", done, total)
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            done += len(chunk)
            progress("downloading", done, total)
    # http.client returns a short body without complaint when the connection drops mid-file.
    if total is not None and done != total:
        raise _BadFile(f"the connection was interrupted after {done:,} of {total:,} bytes")
    if md5 is not None:
        progress("checking", done, done)
        if calculate_md5(target) != md5:
            raise _BadFile("the file is corrupt (its MD5 sum does not match)")


def _extracted_name(file: str) -> str:
    return file[:-3] if file.endswith(".gz") else file


def _extract(path: Path, progress: _FileProgress) -> None:
    """Gunzip beside itself and remove the archive; the gzip CRC catches corruption no MD5 was given for."""
    if not path.name.endswith(".gz"):
        return
    compressed = path.stat().st_size
    target = path.with_name(_extracted_name(path.name))
    try:
        with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as unzipped, open(target, "wb") as out:
            progress("extracting", 0, compressed)
            while chunk := unzipped.read(CHUNK_BYTES):
                out.write(chunk)
                progress("extracting", raw.tell(), compressed)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _BadFile(f"the file is not a complete gzip archive ({err})") from err
    path.unlink()


def mirrors_reachable(name: str, mirrors: Sequence[str] | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a mirror answers for the dataset's first file within ``timeout_s`` (a HEAD request each).

    Meant for deciding quickly, without downloading, whether to offer a download or to fall back to
    the embedded digits.
    """
    from torchvision.datasets.utils import USER_AGENT

    mirrors, resources = _sources(name, mirrors, None)
    for mirror in mirrors:
        request = urllib.request.Request(mirror + resources[0][0], method="HEAD", headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s):
                return True
        except (urllib.error.URLError, http.client.HTTPException, OSError):
            continue
    return False
