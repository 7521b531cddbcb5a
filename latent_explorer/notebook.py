"""``latent_explorer.explore()``: a VAE trained in a notebook or a script, opened in Latent Explorer in one call.

    import latent_explorer
    latent_explorer.explore(vae.encoder, vae.decoder, images, labels)   # after the training loop

The two PyTorch modules (or callables such as ``vae.encode``) are exported to ONNX in memory and imported through
``vae_core.onnx_pairs.import_onnx_pair``, the checks every uploaded file passes, so the app runs exactly what an
upload of the same files would. The images become a dataset of the person's own images through the reader and
limits of the Train page's upload (``vae_core.image_sources``). The pair is kept in the model store; a
Latent Explorer server on that store shows it at ``?model=<id>``: one this process started earlier, the one at
``url=``, or else a new one, started here in the background, that ends when this process ends.

Nothing here imports Streamlit: the server runs in its own process.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latent_explorer import cli
from vae_core.data import DATASETS, ImageDataset, is_available
from vae_core.image_sources import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, ConversionOptions, ImageLimits, load_image_source
from vae_core.onnx_import import ENCODER_SCALES
from vae_core.onnx_pairs import import_onnx_pair
from vae_core.registry import missing_dataset_message
from vae_core.store import ModelStore

LIKELIHOODS = ("bernoulli", "gaussian")
SCALE_WORDS = {"logvar": "log σ²", "sigma": "σ"}
PIXEL_WORDS = {"bernoulli": "logits", "gaussian": "means"}
EXAMPLE_BATCH = 2  # torch.export treats a dimension of size 1 as fixed: the example batch must be larger
DEFAULT_URL = "http://localhost:8501"  # where `latent-explorer` serves when started by hand
HEALTH_PATH = "/_stcore/health"  # Streamlit's: "ok" once the server takes requests
START_TIMEOUT_S = 120.0  # a cold start imports torch and Streamlit
STOP_TIMEOUT_S = 10.0
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
IFRAME_HEIGHT_PX = 820  # the landing map wants 560 px or more, with the page's header and controls above it
# Read by latent_explorer.session in the server (not imported from there: it imports Streamlit).
SHARE_OWN_IMAGES_ENV = "LATENT_EXPLORER_SHARE_OWN_IMAGES"
DEFAULT_NAME = "VAE from Python"


class ExploreError(ValueError):
    """explore() cannot use what it was given; the message says what and why. Nothing was kept."""


@dataclass(frozen=True)
class ExploreResult:
    """The kept model's id in the store, and the link that opens it."""

    model_id: str
    url: str

    def _repr_html_(self) -> str:
        return f'<a href="{self.url}" target="_blank">Latent Explorer: model {self.model_id}</a>'


def explore(encoder: nn.Module | Callable, decoder: nn.Module | Callable, images=None, labels=None,
            likelihood: str = "bernoulli", *, class_names: Sequence[str] | None = None, dataset: str | None = None,
            encoder_scale: str = "logvar", name: str = DEFAULT_NAME, store: str | os.PathLike | None = None,
            url: str | None = None, start: bool = True, inline: bool = True) -> ExploreResult:
    """Keep a VAE trained in this process in the model store and open it in Latent Explorer; its id and link.

    ``encoder(x)`` takes images (N, C, H, W), float32 in [0, 1], and returns (μ, log σ²), or (μ, σ) with
    ``encoder_scale="sigma"``; ``decoder(z)`` takes codes (N, D) and returns the pixels' logits
    (``likelihood="bernoulli"``) or means in [0, 1] (``"gaussian"``). Modules or callables (``vae.encode``);
    they are run in eval mode, on the device of their parameters, and left in the mode they were in.

    ``images``: an array or tensor (N, C, H, W) or (N, H, W), uint8 or floats in [0, 1], square, 8 to 64
    pixels, 1 or 3 channels; ``labels``: one integer per image, optional, with ``class_names`` indexed by them.
    A fifth of each class is held out for the map. Or ``dataset``: a registered dataset ("fashion-mnist",
    "mnist", "digits") instead of images.

    ``store``: the model store (a folder or an fsspec URL; default $LATENT_EXPLORER_STORE, else the app's own).
    ``url``: a running Latent Explorer that reads that store; without it, the server this process started for
    the store, or a new one (headless, on a free port of localhost, ended with this process). ``start=False``
    starts and checks nothing and returns the link on ``url`` (default localhost:8501). In Jupyter, with
    ``inline``, the app is also shown under the cell. The model belongs to no browser (this process cannot know
    their owner tokens): the app shows it to whoever has the link, as "shared with you", which a server whose host
    keeps models of own images for their owners only (LATENT_EXPLORER_SHARE_OWN_IMAGES=off) refuses for images
    given here; the server started here always shows them.

    Raises ExploreError, or another ValueError of the checks (vae_core's OnnxModelError, ImageSourceError), with
    a sentence saying why; nothing is kept then.
    """
    if likelihood not in LIKELIHOODS:
        raise ExploreError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, not {likelihood!r}")
    if encoder_scale not in ENCODER_SCALES:
        raise ExploreError(f"encoder_scale must be one of {', '.join(ENCODER_SCALES)}, not {encoder_scale!r}")
    if (images is None) == (dataset is None):
        raise ExploreError("give either the images the VAE was trained on or dataset=, the name of a registered "
                           f"dataset ({', '.join(DATASETS)}): one of the two")
    own_images = None if images is None else own_images_dataset(images, labels, class_names, name)
    if own_images is None:
        if labels is not None or class_names is not None:
            raise ExploreError(f"the registered dataset {dataset!r} brings its own labels; leave labels out")
        if dataset not in DATASETS:
            raise ExploreError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}, or give images")
        if url is None and not is_available(dataset):  # the server started here could not open it
            raise ExploreError(missing_dataset_message(dataset))
    model_store = ModelStore(store) if store is not None else ModelStore.from_environment()
    base_url = None if url is None else url.rstrip("/")
    if start and base_url is not None and not _answers(base_url):
        raise ExploreError(f"nothing answers at {base_url}{HEALTH_PATH}: start `latent-explorer --store "
                           f"{model_store.url}` there, leave url out to start one here, or pass start=False")
    image_shape = DATASETS[dataset].image_shape if own_images is None else own_images.image_shape
    encoder_onnx, decoder_onnx = exported_pair(encoder, decoder, image_shape, likelihood, encoder_scale)
    pair = import_onnx_pair(encoder_onnx, decoder_onnx, dataset or own_images.name, likelihood,
                            encoder_outputs=("mu", encoder_scale), encoder_scale=encoder_scale, own_images=own_images)
    if base_url is None:
        base_url = _server_for(model_store).url if start else DEFAULT_URL
    # The browser that opens the link holds an owner token of its own, which this process cannot know: the model
    # is kept under a token nobody holds, and the app shows it to whoever has the link ("shared with you").
    model_id = model_store.put(pair, name, secrets.token_urlsafe(32), dataset=own_images)
    result = ExploreResult(model_id, f"{base_url}/?model={model_id}")
    if start:
        print(f"Latent Explorer: {result.url}")
    else:
        print(f"Kept as {model_id} in {model_store.url}. Open {result.url} once `latent-explorer --store "
              f"{model_store.url}` serves there.")
    if start and inline and _in_jupyter():
        from IPython.display import IFrame, display  # only in a running IPython kernel, where it is installed

        display(IFrame(result.url, width="100%", height=IFRAME_HEIGHT_PX))
    return result


# --- the images -----------------------------------------------------------------------------------

def _as_numpy(values, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as err:
        raise ExploreError(f"{what} must be an array or a tensor ({err})") from err


def own_images_dataset(images, labels=None, class_names: Sequence[str] | None = None,
                       name: str = DEFAULT_NAME) -> ImageDataset:
    """The images (and labels) as a dataset of a person's own images, through the reader, conversion and limits
    of the Train page's upload: written to an .npz in memory and read back as an upload is."""
    pixels = _as_numpy(images, "images")
    if pixels.ndim == 3:
        pixels = pixels[:, None]
    if pixels.ndim != 4 or pixels.shape[1] not in (1, 3):
        hint = " (channels last? use images.permute(0, 3, 1, 2))" if pixels.ndim == 4 and pixels.shape[-1] in (1, 3) \
            else ""
        raise ExploreError(f"images must be (N, C, H, W) with 1 or 3 channels, or (N, H, W); these are "
                           f"{tuple(pixels.shape)}{hint}")
    size = pixels.shape[2]
    if pixels.shape[3] != size or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise ExploreError(f"images must be square, {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels a side, as the "
                           f"encoder takes them; these are {pixels.shape[2]}×{pixels.shape[3]}")
    if class_names is not None and labels is None:
        raise ExploreError("class_names name the classes of the labels: give the labels too")
    # float32 is exact enough for the reader's rounding to 0-255 and half the bytes of float64.
    arrays = {"images": pixels.astype(np.float32) if pixels.dtype.kind == "f" else pixels}
    if labels is not None:
        arrays["labels"] = _as_numpy(labels, "labels")
    if class_names is not None:
        arrays["class_names"] = np.array([str(class_name) for class_name in class_names])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return load_image_source(buffer.getvalue(), f"{name}.npz",
                             ConversionOptions(image_size=size, channels=pixels.shape[1]), ImageLimits())


# --- the modules, exported --------------------------------------------------------------------

class _Call(nn.Module):
    """A callable (``vae.encode``) as a module's forward, so that torch.onnx.export takes it."""

    def __init__(self, function: Callable):
        super().__init__()
        self.function = function

    def forward(self, values: torch.Tensor):
        return self.function(values)


def _owning_module(function: nn.Module | Callable) -> nn.Module | None:
    """The module whose parameters a callable uses: itself, or the module a bound method belongs to."""
    if isinstance(function, nn.Module):
        return function
    owner = getattr(function, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def _described(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def _brief(err: BaseException, max_chars: int = 300) -> str:
    """The exception's first paragraph on one line, without terminal colours, capped: the exporter's messages run
    to pages of advice for PyTorch's developers after the sentence that matters."""
    text = " ".join(ANSI_ESCAPE.sub("", str(err)).split("\n\n")[0].split())
    return f"{type(err).__name__}: {text[:max_chars - 1] + '…' if len(text) > max_chars else text}"


def _check_outputs(encoder: Callable, decoder: Callable, example: torch.Tensor, likelihood: str,
                   encoder_scale: str) -> torch.Tensor:
    """Run both once on the example, so that a wrong number of outputs or a latent size the decoder does not take
    is said in the terms of the person's code rather than of ONNX graphs; the encoder's μ."""
    scale = SCALE_WORDS[encoder_scale]
    with torch.no_grad():
        try:
            codes = encoder(example)
        except Exception as err:  # whatever the person's code raises
            raise ExploreError(f"encoder(x) fails on images of shape {tuple(example.shape)} ({_brief(err)})") from err
        if not (isinstance(codes, (tuple, list)) and len(codes) == 2
                and all(isinstance(part, torch.Tensor) for part in codes)):
            raise ExploreError(f"encoder(x) must return two tensors, μ and {scale}; it returned {_described(codes)}")
        mu, spread = codes
        if mu.ndim != 2 or mu.shape != spread.shape or len(mu) != len(example):
            raise ExploreError(f"encoder(x) must return μ and {scale} of shape (N, D) each; for {len(example)} "
                               f"images it returned {tuple(mu.shape)} and {tuple(spread.shape)}")
        try:
            pixels = decoder(mu)
        except Exception as err:  # whatever the person's code raises
            raise ExploreError(f"decoder(z) fails on the encoder's {mu.shape[1]}-d codes ({_brief(err)}); does it "
                               "take codes of the encoder's latent size?") from err
    if not isinstance(pixels, torch.Tensor):
        raise ExploreError(f"decoder(z) must return one tensor, the pixels' {PIXEL_WORDS[likelihood]}; it returned "
                           f"{_described(pixels)}")
    return mu


def _onnx_bytes(function: Callable, example: torch.Tensor, role: str, input_name: str,
                output_names: list[str]) -> bytes:
    module = function if isinstance(function, nn.Module) else _Call(function).eval()
    try:
        program = torch.onnx.export(module, (example,), input_names=[input_name], output_names=output_names,
                                    dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
        return program.model_proto.SerializeToString()
    except Exception as err:  # the exporter raises many kinds, for anything torch.export cannot trace
        cause = err
        while cause.__cause__ is not None:  # the exporter's own error wraps torch.export's, which says what failed
            cause = cause.__cause__
        raise ExploreError(f"the {role} cannot be exported to ONNX with a free batch size ({_brief(cause)}); "
                           "torch.export must be able to trace it (no Python branch on a tensor's value)") from err


def exported_pair(encoder: nn.Module | Callable, decoder: nn.Module | Callable, image_shape: tuple[int, int, int],
                  likelihood: str = "bernoulli", encoder_scale: str = "logvar") -> tuple[bytes, bytes]:
    """The encoder (outputs "mu" and "logvar" or "sigma") and the decoder as ONNX files, in memory, each with a
    symbolic batch dimension; run in eval mode, then every module is put back in the mode it was in."""
    owners = [module for module in (_owning_module(encoder), _owning_module(decoder)) if module is not None]
    modes = {sub: sub.training for owner in owners for sub in owner.modules()}
    parameter = next((p for owner in owners for p in (*owner.parameters(), *owner.buffers())), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    example = torch.rand(EXAMPLE_BATCH, *image_shape, generator=torch.Generator().manual_seed(0)).to(device)
    try:
        for owner in owners:
            owner.eval()
        mu = _check_outputs(encoder, decoder, example, likelihood, encoder_scale)
        encoder_onnx = _onnx_bytes(encoder, example, "encoder", "images", ["mu", encoder_scale])
        decoder_onnx = _onnx_bytes(decoder, mu, "decoder", "z", [PIXEL_WORDS[likelihood]])
    finally:
        for sub, training in modes.items():
            sub.training = training
    return encoder_onnx, decoder_onnx


# --- the server -----------------------------------------------------------------------------------

@dataclass
class _Server:
    process: subprocess.Popen
    url: str
    log_path: Path

    def running(self) -> bool:
        # Not its health check: a server busy training may answer late, and a second one would not help.
        return self.process.poll() is None

    def stop(self) -> None:
        """Close its pipe, as this process's end would (the server then ends itself), kill it if it lingers, and
        remove its log."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_path.unlink(missing_ok=True)

    def log_tail(self, max_chars: int = 2000) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-max_chars:].strip() or "(empty)"


_SERVERS: dict[str, _Server] = {}  # by store URL: the servers explore() started in this process
_SERVERS_LOCK = threading.Lock()


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + HEALTH_PATH, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _server_for(store: ModelStore) -> _Server:
    """The running server this process started on this store, or a new one, once its health check answers."""
    with _SERVERS_LOCK:
        server = _SERVERS.get(store.url)
        if server is not None and server.running():
            return server
        server = _start_server(store)
        _SERVERS[store.url] = server
        return server


def _start_server(store: ModelStore) -> _Server:
    port = _free_port()
    log_file, log_name = tempfile.mkstemp(prefix="latent-explorer-", suffix=".log")
    os.close(log_file)
    log_path = Path(log_name)
    package_root = str(Path(__file__).resolve().parent.parent)  # the same latent_explorer as this process's
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    # It listens on localhost only, for the person who called explore(): the models of their own images, kept
    # under an owner token no browser holds, must open for them whatever the host's setting for visitors.
    env[SHARE_OWN_IMAGES_ENV] = "on"
    command = [sys.executable, "-m", "latent_explorer.notebook", "--headless", "--port", str(port),
               "--address", "localhost", "--store", store.url]
    with open(log_path, "wb") as log:
        # Its own session: a Ctrl-C meant for this script's foreground work does not reach the server.
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    server = _Server(process, f"http://localhost:{port}", log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(server.url):
        if process.poll() is not None:
            raise ExploreError(f"the Latent Explorer server ended as it started (exit status {process.returncode}); "
                               f"its log ({log_path}):\n{server.log_tail()}")
        if time.monotonic() > deadline:
            problem = (f"the Latent Explorer server did not answer within {START_TIMEOUT_S:.0f} s; its log:\n"
                       f"{server.log_tail()}")
            server.stop()
            raise ExploreError(problem)
        time.sleep(0.2)
    return server


def stop_servers() -> None:
    """Stop every server explore() started in this process (they also end when this process ends)."""
    with _SERVERS_LOCK:
        while _SERVERS:
            _SERVERS.popitem()[1].stop()


atexit.register(stop_servers)


def _in_jupyter() -> bool:
    """Whether this is an IPython kernel (Jupyter), asked without importing IPython where nothing has."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _serve_while_parent_lives(argv: list[str]) -> None:
    """`latent-explorer` with these arguments, ended when the process that started it ends, however it ends: its
    end closes the pipe on this one's stdin, and a watcher then asks the server to stop (SIGTERM)."""
    def stop_at_end_of_input() -> None:
        sys.stdin.buffer.read()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_TIMEOUT_S)  # still here: the server did not stop
        os._exit(1)

    threading.Thread(target=stop_at_end_of_input, daemon=True, name="parent-watcher").start()
    cli.main(argv)


if __name__ == "__main__":
    _serve_while_parent_lives(sys.argv[1:])
