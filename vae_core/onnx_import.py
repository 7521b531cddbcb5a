"""A VAE trained anywhere, imported as two ONNX files and explored like the explorer's own.

The encoder takes images (N, C, H, W), float32 in [0, 1] like the datasets', and gives the mean and the
log-variance (or the standard deviation) of a diagonal Gaussian q(z|x), under output names the importer
declares. The decoder takes codes (N, D) and gives, per code, the logits of Bernoulli pixels or the means of
Gaussian pixels: the likelihood decides the ELBO (losses.py: "bce", or "mse", a Gaussian of variance 1/2).

The files may come from a stranger, so each is checked before any of it runs, and again whenever a checkpoint
carrying them is loaded. A failed check raises OnnxModelError saying which check and why; nothing is kept.
- Size: at most ``OnnxLimits.max_file_bytes``; it parses as ONNX and passes ``onnx.checker``.
- Operators: the standard ONNX set only. Another domain (custom operators, functions of their own) is code a
  runtime would load, and weights in external files would be read from paths on the server.
- Signature: one graph input, the declared outputs, shapes that agree with the dataset's images and with each
  other. A symbolic batch dimension is allowed; a fixed one is run in chunks of that size.
- Cost: one trial run of a small batch on onnxruntime's CPU provider, on one thread, may take at most
  ``OnnxLimits.max_ms_per_image`` of CPU time per image (or code), and must give finite values of the
  declared shapes (and, for Gaussian pixels, means within the images' range [0, 1]).

``OnnxVAE`` runs the checked graphs with onnxruntime (its CUDA provider where installed, else the CPU) behind
the VAE's interface (``encode``, ``decode_logits``, ``decode``, ``config``), so that workspaces, diagnostics
and the CLI take it as they take our own VAE. It cannot be trained, and the browser does not run its decoder.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from .losses import LIKELIHOOD_LOSSES
from .models import MAX_LATENT_DIM, ONNX_ARCHITECTURE, checked_input_shape, checked_size, reparameterize
from .onnx_portable import portable_layers
from .portable import PortableLayer

Likelihood = Literal["bernoulli", "gaussian"]
EncoderScale = Literal["logvar", "sigma"]
ENCODER_SCALES: tuple[str, ...] = ("logvar", "sigma")
DEFAULT_ENCODER_OUTPUTS = ("mu", "logvar")
MAX_OUTPUT_NAME_CHARS = 200
# The standard operator set under its two spellings. Any other domain names operators that a runtime loads
# code for (onnxruntime's contrib operators, a custom-op library).
STANDARD_DOMAINS = frozenset({"", "ai.onnx"})

MAX_MB_ENV = "LATENT_EXPLORER_ONNX_MAX_MB"
MAX_MS_ENV = "LATENT_EXPLORER_ONNX_MAX_MS_PER_IMAGE"
# The trial run's wall clock may exceed its CPU budget this many times over (a busy server shares its cores)
# before the run is stopped: a graph that never ends cannot hold a server.
WALL_CLOCK_SLACK = 10.0
MIN_WALL_CLOCK_S = 1.0


class OnnxModelError(ValueError):
    """The ONNX files cannot be used; the message says which check failed and why, for the person who gave them."""


@dataclass(frozen=True)
class OnnxLimits:
    """What an imported file may cost: its size, and the CPU time of one image (or code) in the trial run."""

    max_file_bytes: int = 64 * 2**20
    max_ms_per_image: float = 20.0
    trial_images: int = 16

    @classmethod
    def from_environment(cls) -> OnnxLimits:
        """The defaults, with LATENT_EXPLORER_ONNX_MAX_MB and LATENT_EXPLORER_ONNX_MAX_MS_PER_IMAGE where set."""
        settings = {}
        for name, field_name, unit in ((MAX_MB_ENV, "max_file_bytes", 2**20), (MAX_MS_ENV, "max_ms_per_image", 1)):
            text = os.environ.get(name, "")
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {text[:20]!r}")
            settings[field_name] = int(value * unit) if field_name == "max_file_bytes" else value
        return cls(**settings)

    @property
    def trial_wall_clock_s(self) -> float:
        return max(MIN_WALL_CLOCK_S, WALL_CLOCK_SLACK * self.max_ms_per_image * self.trial_images / 1000)


@dataclass(frozen=True)
class OnnxModelConfig:
    """What an imported VAE is: ONNX graphs of an architecture of its own, described (likelihood, latent size,
    image shape, output naming) so that nothing tries to rebuild it from our layers. Plain data, so it survives
    a safe checkpoint load."""

    input_shape: tuple[int, int, int]
    latent_dim: int
    likelihood: Likelihood
    encoder_outputs: tuple[str, str] = DEFAULT_ENCODER_OUTPUTS  # the outputs holding the mean and the scale
    encoder_scale: EncoderScale = "logvar"  # what the second of them holds: log sigma^2, or sigma
    kind: ClassVar[str] = "vae"
    architecture: ClassVar[str] = ONNX_ARCHITECTURE
    foreign: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", checked_input_shape(self.input_shape))
        object.__setattr__(self, "latent_dim", checked_size("latent_dim", self.latent_dim, MAX_LATENT_DIM))
        if self.likelihood not in LIKELIHOOD_LOSSES:
            raise ValueError(f"likelihood must be one of {tuple(LIKELIHOOD_LOSSES)}, not {self.likelihood!r}")
        if self.encoder_scale not in ENCODER_SCALES:
            raise ValueError(f"encoder_scale must be one of {ENCODER_SCALES}, not {self.encoder_scale!r}")
        names = self.encoder_outputs
        if not isinstance(names, (tuple, list)) or len(names) != 2 or len(set(names)) != 2 \
                or not all(isinstance(n, str) and 0 < len(n) <= MAX_OUTPUT_NAME_CHARS for n in names):
            raise ValueError(f"encoder_outputs must be two different output names, not {names!r}")
        object.__setattr__(self, "encoder_outputs", tuple(names))

    @property
    def loss(self) -> str:
        """The reconstruction loss (losses.py) that computes this model's -log p(x|z)."""
        return LIKELIHOOD_LOSSES[self.likelihood]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "architecture": self.architecture, "input_shape": list(self.input_shape),
                "latent_dim": self.latent_dim, "likelihood": self.likelihood,
                "encoder_outputs": list(self.encoder_outputs), "encoder_scale": self.encoder_scale}

    @classmethod
    def from_dict(cls, data: dict) -> OnnxModelConfig:
        settings = dict(data)
        if settings.pop("kind", None) != cls.kind or settings.pop("architecture", None) != cls.architecture:
            raise ValueError(f"an imported model is a {cls.kind!r} of architecture {cls.architecture!r}")
        known = set(cls.__dataclass_fields__)
        if set(settings) - known:
            raise ValueError(f"unknown model settings: {sorted(set(settings) - known)}")
        return cls(**settings)


# --- reading the files -------------------------------------------------------------------------

def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if n_bytes >= 2**20 else f"{n_bytes:,} bytes"


def _shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


def _brief(err: BaseException, max_chars: int = 300) -> str:
    """An exception as one line of a message: its type, and its text with the line breaks taken out, capped."""
    text = " ".join(str(err).split())
    if len(text) > max_chars:
        text = text[:max_chars - 1] + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _check_size(n_bytes: int, role: str, limits: OnnxLimits) -> None:
    if n_bytes > limits.max_file_bytes:
        raise OnnxModelError(f"the {role} file is too large: {_size(n_bytes)}, and an ONNX file may be at most "
                             f"{_size(limits.max_file_bytes)} ({MAX_MB_ENV})")
    if not n_bytes:
        raise OnnxModelError(f"the {role} file is empty")


def read_onnx_file(source: str | os.PathLike | bytes, role: str, limits: OnnxLimits) -> bytes:
    """The bytes of one file (a path, or bytes already read), refused before reading when over the size limit."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise OnnxModelError(f"there is no {role} file at {path}")
        _check_size(path.stat().st_size, role, limits)
        data = path.read_bytes()
    _check_size(len(data), role, limits)
    return data


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """A graph and every subgraph inside it (the branches of If, the bodies of Loop and Scan)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _graphs(subgraph)


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph holds: initializers, sparse ones, and constants written into node attributes."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attribute in node.attribute:
            yield from ([attribute.t] if attribute.type == onnx.AttributeProto.TENSOR else attribute.tensors)
            sparse = ([attribute.sparse_tensor] if attribute.type == onnx.AttributeProto.SPARSE_TENSOR
                      else attribute.sparse_tensors)
            for tensor in sparse:
                yield from (tensor.values, tensor.indices)


def _check_self_contained(model: onnx.ModelProto, role: str) -> None:
    """Standard ONNX operators only, and every weight inside the file: nothing makes a runtime load code or read
    another file."""
    def refuse(what: str) -> None:
        raise OnnxModelError(f"the {role} uses operators outside the standard ONNX set ({what}); operators of "
                             "another domain are code a runtime loads, so only standard ONNX operators are accepted")

    for function in model.functions:
        refuse(f"it defines the function {function.name!r} in the domain {function.domain!r}")
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain not in STANDARD_DOMAINS:
                refuse(f"{node.op_type!r} of the domain {node.domain!r}")
        for tensor in _tensors(graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
                raise OnnxModelError(f"the {role} keeps its weights in a separate file (tensor {tensor.name!r} "
                                     "is external data); export it with every weight inside the .onnx file")
    for opset in model.opset_import:  # imported, if no node uses it
        if opset.domain not in STANDARD_DOMAINS:
            refuse(f"it imports the operator set {opset.domain!r}")


def _parsed(data: bytes, role: str) -> onnx.ModelProto:
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf's DecodeError, or whatever a damaged file provokes in the parser
        raise OnnxModelError(f"the {role} file is not an ONNX model: it does not parse as one "
                             f"({_brief(err)})") from err
    if not model.HasField("graph") or not model.ir_version:
        raise OnnxModelError(f"the {role} file is not an ONNX model: it parses, but holds no model graph")
    _check_self_contained(model, role)
    try:
        onnx.checker.check_model(model)
    except Exception as err:  # ValidationError, or a failure of the checker on an odd file
        raise OnnxModelError(f"the {role} file fails ONNX's own validity check (onnx.checker: "
                             f"{_brief(err)})") from err
    return model


# --- the graphs' declared signatures --------------------------------------------------------

@dataclass(frozen=True)
class _Port:
    """One graph input or output as declared: its name, element type and dimensions (an int when fixed, None
    when symbolic or absent); ``dims`` is None when the file declares no shape at all."""

    name: str
    elem_type: int
    dims: tuple[int | None, ...] | None

    @classmethod
    def of(cls, value: onnx.ValueInfoProto) -> _Port:
        tensor = value.type.tensor_type
        dims = None
        if tensor.HasField("shape"):
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        return cls(value.name, tensor.elem_type, dims)

    def describe(self) -> str:
        """E.g. 'N×1×28×28' (N: a symbolic batch, ?: another symbolic dimension)."""
        if self.dims is None:
            return "of no declared shape"
        if not self.dims:
            return "a scalar"
        return _shape_text(["N" if self.dims[0] is None else self.dims[0],
                            *("?" if d is None else d for d in self.dims[1:])])

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the graph was exported for, or None when any batch size goes."""
        return None if not self.dims else self.dims[0]


def _single_input(model: onnx.ModelProto, role: str, expected: str) -> _Port:
    # Files of ONNX IR versions before 4 list their weights among the inputs too; those are not inputs to feed.
    weights = {tensor.name for tensor in model.graph.initializer}
    inputs = [_Port.of(value) for value in model.graph.input if value.name not in weights]
    if len(inputs) != 1:
        names = ", ".join(repr(port.name) for port in inputs)
        raise OnnxModelError(f"the {role} must take exactly one input, {expected}; it takes {len(inputs)}"
                             + (f" ({names})" if names else ""))
    port = inputs[0]
    if port.elem_type != onnx.TensorProto.FLOAT:
        type_name = onnx.TensorProto.DataType.Name(port.elem_type) if port.elem_type else "of no declared type"
        raise OnnxModelError(f"the {role}'s input {port.name!r} must be float32 {expected}; it is {type_name}")
    if port.fixed_batch is not None and port.fixed_batch < 1:
        raise OnnxModelError(f"the {role}'s input {port.name!r} has a batch dimension fixed at {port.fixed_batch}")
    return port


def _outputs(model: onnx.ModelProto) -> dict[str, _Port]:
    return {value.name: _Port.of(value) for value in model.graph.output}


def _image_layout_matches(dims: tuple[int, ...], image_shape: tuple[int, int, int]) -> bool:
    """Whether values of shape ``dims`` (one image's, batch excluded) are an image of ``image_shape`` in C, H, W
    order: flat, or the same dimensions with any of size 1 left out or added (so H×W for one channel, but not
    a channels-last H×W×C, whose values a reshape would scramble)."""
    if math.prod(dims) != math.prod(image_shape):
        return False
    return len(dims) == 1 or [d for d in dims if d != 1] == [d for d in image_shape if d != 1]


@dataclass(frozen=True)
class _Signature:
    input: _Port
    outputs: tuple[_Port, ...]


def _encoder_signature(model: onnx.ModelProto, output_names: tuple[str, str], scale: str,
                       image_shape: tuple[int, int, int], dataset: str) -> _Signature:
    image_port = _single_input(model, "encoder", "images N×C×H×W")
    if image_port.dims is not None:
        known = image_port.dims[1:]
        if len(image_port.dims) != 4 or any(d is not None and d != s for d, s in zip(known, image_shape)):
            raise OnnxModelError(f"the encoder's input {image_port.name!r} takes images {image_port.describe()}, "
                                 f"but the images of {dataset} are N×{_shape_text(image_shape)}")
    outputs = _outputs(model)
    scale_words = "the log-variance" if scale == "logvar" else "the standard deviation"
    missing = [name for name in output_names if name not in outputs]
    if missing:
        listed = ", ".join(repr(name) for name in outputs)
        raise OnnxModelError(f"the encoder has no output named {missing[0]!r} (its outputs: {listed}); say which "
                             f"outputs hold the mean and {scale_words}")
    ports = tuple(outputs[name] for name in output_names)
    for port in ports:
        if port.elem_type != onnx.TensorProto.FLOAT or (port.dims is not None and len(port.dims) != 2):
            raise OnnxModelError(f"the encoder's output {port.name!r} must be float32 codes N×D; it is "
                                 f"{onnx.TensorProto.DataType.Name(port.elem_type)} {port.describe()}")
    sizes = [port.dims[1] for port in ports if port.dims is not None and port.dims[1] is not None]
    if len(sizes) == 2 and sizes[0] != sizes[1]:
        raise OnnxModelError(f"the encoder's outputs {ports[0].name!r} and {ports[1].name!r} have different sizes "
                             f"({sizes[0]} and {sizes[1]}); the mean and {scale_words} must have one per dimension")
    return _Signature(image_port, ports)


def _decoder_signature(model: onnx.ModelProto, image_shape: tuple[int, int, int], dataset: str) -> _Signature:
    code_port = _single_input(model, "decoder", "codes N×D")
    if code_port.dims is not None and len(code_port.dims) != 2:
        raise OnnxModelError(f"the decoder's input {code_port.name!r} must be codes N×D; it is "
                             f"{code_port.describe()}")
    outputs = list(_outputs(model).values())
    if len(outputs) != 1:
        raise OnnxModelError(f"the decoder must give exactly one output, the pixels' logits or means; it gives "
                             f"{len(outputs)} ({', '.join(repr(port.name) for port in outputs)})")
    port = outputs[0]
    if port.elem_type != onnx.TensorProto.FLOAT:
        raise OnnxModelError(f"the decoder's output {port.name!r} must be float32; it is "
                             f"{onnx.TensorProto.DataType.Name(port.elem_type)}")
    if port.dims is not None and len(port.dims) >= 2 and None not in port.dims[1:] \
            and not _image_layout_matches(port.dims[1:], image_shape):
        raise OnnxModelError(_decoder_shape_problem(port.name, port.dims[1:], image_shape, dataset))
    return _Signature(code_port, (port,))


def _decoder_shape_problem(name: str, dims: tuple[int, ...], image_shape: tuple[int, int, int], dataset: str) -> str:
    return (f"the decoder's output {name!r} is {_shape_text(dims)} = {math.prod(dims):,} values per code, which "
            f"is not an image of {dataset} ({_shape_text(image_shape)} = {math.prod(image_shape):,} values, "
            "channels first)")


# --- running a graph ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Graph:
    """A session with its one input and the outputs to fetch, run in chunks when its batch size is fixed."""

    session: ort.InferenceSession
    signature: _Signature

    def run(self, values: np.ndarray, options: ort.RunOptions | None = None) -> list[np.ndarray]:
        names = [port.name for port in self.signature.outputs]
        feed_name = self.signature.input.name
        batch = self.signature.input.fixed_batch
        if batch is None:
            return self.session.run(names, {feed_name: values}, options)
        parts = []
        for start in range(0, len(values), batch):
            chunk = values[start:start + batch]
            filled = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            parts.append([out[:len(chunk)] for out in self.session.run(names, {feed_name: filled}, options)])
        return [np.concatenate(outs) for outs in zip(*parts)]


def _session(data: bytes, role: str, trial: bool) -> ort.InferenceSession:
    """A trial session runs on the CPU on the calling thread alone, so that the CPU time of that thread is the
    run's whole cost; a working one uses the CUDA provider where installed, and torch's thread count."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the CLI's output and the server's log stay readable
    options.enable_cpu_mem_arena = False  # what a batch needed goes back to the system afterwards
    # Idle threads sleep instead of spinning: the explorer's cores serve other visitors between decodes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1 if trial else torch.get_num_threads()
    providers = ["CPUExecutionProvider"]
    if not trial and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(data, options, providers=providers)
    except Exception as err:  # onnxruntime raises its own kinds for operators or versions it cannot run
        raise OnnxModelError(f"onnxruntime cannot load the {role} ({_brief(err)})") from err


@contextlib.contextmanager
def _stopped_after(seconds: float) -> Iterator[ort.RunOptions]:
    """Run options that onnxruntime obeys between operators: after ``seconds`` the run ends with an error."""
    options = ort.RunOptions()
    timer = threading.Timer(seconds, setattr, (options, "terminate", True))
    timer.daemon = True
    timer.start()
    try:
        yield options
    finally:
        timer.cancel()


def _trial_run(graph: _Graph, values: np.ndarray, role: str, unit: str, limits: OnnxLimits) -> list[np.ndarray]:
    """The graph's outputs for ``values``, after a first run of one item (sessions allocate on their first run),
    refused when the timed run costs more CPU time per item than the limit, or outlasts the wall clock."""
    what = f"a trial batch of {len(values)} {unit}s"

    def run(batch: np.ndarray) -> tuple[list[np.ndarray], float]:
        with _stopped_after(limits.trial_wall_clock_s) as options:
            started = time.thread_time()
            try:
                outputs = graph.run(batch, options)
            except Exception as err:  # the run failed, or was stopped by the clock
                if options.terminate:
                    raise OnnxModelError(f"the {role} is too slow: it did not finish {what} within "
                                         f"{limits.trial_wall_clock_s:.1f} s") from err
                raise OnnxModelError(f"the {role} fails on {what} ({_brief(err)})") from err
            return outputs, time.thread_time() - started

    run(values[:1])
    outputs, cpu_s = run(values)
    cpu_ms = cpu_s * 1000 / len(values)
    if cpu_ms > limits.max_ms_per_image:
        raise OnnxModelError(f"the {role} is too slow: {cpu_ms:.3g} ms of CPU time per {unit} in {what}, and an "
                             f"imported model may take at most {limits.max_ms_per_image:g} ms ({MAX_MS_ENV})")
    for port, out in zip(graph.signature.outputs, outputs):
        if not np.isfinite(out).all():
            raise OnnxModelError(f"the {role}'s output {port.name!r} holds NaN or infinite values on {what}")
    return outputs


# --- the model -----------------------------------------------------------------------------------

class OnnxVAE(nn.Module):
    """A VAE whose encoder and decoder are checked ONNX graphs, run by onnxruntime (no gradients: it is explored,
    never trained). ``encode``, ``decode_logits`` and ``decode`` take and give CPU tensors like our VAE's."""

    def __init__(self, config: OnnxModelConfig, encoder_onnx: bytes, decoder_onnx: bytes,
                 encoder: _Graph, decoder: _Graph):
        super().__init__()
        self.config = config
        self.encoder_onnx, self.decoder_onnx = encoder_onnx, decoder_onnx
        self._encoder, self._decoder = encoder, decoder

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (mu, logvar), each (N, latent_dim), from images or flat rows in [0, 1]."""
        images = x.detach().reshape(x.shape[0], *self.config.input_shape).float().cpu().numpy()
        mu, scale = (torch.from_numpy(out) for out in self._encoder.run(images))
        logvar = 2 * torch.log(scale) if self.config.encoder_scale == "sigma" else scale
        return mu, logvar

    def _decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        codes = z.detach().float().cpu().numpy()
        (out,) = self._decoder.run(codes)
        return torch.from_numpy(out).reshape(len(codes), *self.config.input_shape)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Codes to logits (N, C, H, W) whose sigmoid is each pixel's probability (Bernoulli) or mean (Gaussian).

        A Gaussian decoder's means were checked to lie in [0, 1] on trial codes; clamped there, their logits are
        finite or ±inf, whose sigmoid gives 0 and 1 back exactly.
        """
        out = self._decoder_output(z)
        return out if self.config.likelihood == "bernoulli" else torch.logit(out.clamp(0.0, 1.0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (N, latent_dim) to images (N, C, H, W) in [0, 1]."""
        out = self._decoder_output(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out.clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar, generator=generator)), mu, logvar

    def portable_layers(self) -> tuple[list[PortableLayer], int] | None:
        """The decoder as the browser's layers and their multiply-adds, where its graph is a chain of them
        (vae_core/onnx_portable.py); portable.portable_decoder checks them against this model."""
        config = self.config
        return portable_layers(self.decoder_onnx, config.latent_dim, config.input_shape, config.likelihood)


def onnx_vae(encoder_onnx: bytes, decoder_onnx: bytes, image_shape: tuple[int, int, int], dataset: str,
             likelihood: str, encoder_outputs: tuple[str, str] = DEFAULT_ENCODER_OUTPUTS,
             encoder_scale: str = "logvar", limits: OnnxLimits | None = None) -> OnnxVAE:
    """Check two ONNX files against a dataset's images (every check of the module's docstring) and wrap them as
    a VAE; OnnxModelError when a check fails. ``dataset`` names the images in messages."""
    limits = limits or OnnxLimits.from_environment()
    image_shape = checked_input_shape(image_shape)
    if likelihood not in LIKELIHOOD_LOSSES:
        raise OnnxModelError(f"the likelihood must be one of {', '.join(LIKELIHOOD_LOSSES)}, not {likelihood!r}")
    if encoder_scale not in ENCODER_SCALES:
        raise OnnxModelError(f"the encoder's second output must hold one of {', '.join(ENCODER_SCALES)}, "
                             f"not {encoder_scale!r}")
    encoder_outputs = tuple(encoder_outputs)
    if len(encoder_outputs) != 2 or len(set(encoder_outputs)) != 2 or not all(encoder_outputs):
        raise OnnxModelError(f"name two different encoder outputs, the mean's and the scale's, not {encoder_outputs}")
    for role, data in (("encoder", encoder_onnx), ("decoder", decoder_onnx)):
        _check_size(len(data), role, limits)
    encoder_model, decoder_model = _parsed(encoder_onnx, "encoder"), _parsed(decoder_onnx, "decoder")
    encoder_signature = _encoder_signature(encoder_model, encoder_outputs, encoder_scale, image_shape, dataset)
    decoder_signature = _decoder_signature(decoder_model, image_shape, dataset)
    _check_latent_sizes_agree(encoder_signature, decoder_signature)

    images = np.random.default_rng(0).random((limits.trial_images, *image_shape), dtype=np.float32)
    encoder_trial = _Graph(_session(encoder_onnx, "encoder", trial=True), encoder_signature)
    mu, scale = _trial_run(encoder_trial, images, "encoder", "image", limits)
    latent_dim = _checked_codes(mu, scale, encoder_signature, encoder_scale)
    codes = np.random.default_rng(1).standard_normal((limits.trial_images, latent_dim), dtype=np.float32)
    decoder_trial = _Graph(_session(decoder_onnx, "decoder", trial=True), decoder_signature)
    (pixels,) = _trial_run(decoder_trial, codes, "decoder", "code", limits)
    _check_pixels(pixels, decoder_signature, image_shape, dataset, likelihood)

    config = OnnxModelConfig(input_shape=image_shape, latent_dim=latent_dim, likelihood=likelihood,
                             encoder_outputs=encoder_outputs, encoder_scale=encoder_scale)
    return OnnxVAE(config, encoder_onnx, decoder_onnx,
                   _Graph(_session(encoder_onnx, "encoder", trial=False), encoder_signature),
                   _Graph(_session(decoder_onnx, "decoder", trial=False), decoder_signature))


def _check_latent_sizes_agree(encoder: _Signature, decoder: _Signature) -> None:
    """The latent sizes the two files declare, where both declare one (the trial runs check the rest)."""
    declared = [port for port in encoder.outputs if port.dims is not None and port.dims[1] is not None]
    code_port = decoder.input
    takes = None if code_port.dims is None else code_port.dims[1]
    if declared and takes is not None and declared[0].dims[1] != takes:
        raise OnnxModelError(f"the latent sizes differ: the encoder gives {declared[0].dims[1]}-d codes (output "
                             f"{declared[0].name!r}), but the decoder takes {takes}-d codes (input "
                             f"{code_port.name!r})")


def _checked_codes(mu: np.ndarray, scale: np.ndarray, signature: _Signature, encoder_scale: str) -> int:
    """The latent size the encoder gave in its trial run, after checking its outputs' shapes and the scale."""
    mean_port, scale_port = signature.outputs
    for port, out in ((mean_port, mu), (scale_port, scale)):
        if out.ndim != 2 or out.shape[0] != len(mu):
            raise OnnxModelError(f"the encoder's output {port.name!r} must be codes N×D; on a trial batch of "
                                 f"{len(mu)} images it gave {_shape_text(out.shape)}")
    if mu.shape != scale.shape:
        raise OnnxModelError(f"the encoder's outputs {mean_port.name!r} and {scale_port.name!r} have different "
                             f"shapes on a trial batch ({_shape_text(mu.shape)} and {_shape_text(scale.shape)})")
    if encoder_scale == "sigma" and not (scale > 0).all():
        raise OnnxModelError(f"the encoder's output {scale_port.name!r} must hold standard deviations, which are "
                             f"positive; on a trial batch it gives values down to {scale.min():g}")
    latent_dim = mu.shape[1]
    if not 1 <= latent_dim <= MAX_LATENT_DIM:
        raise OnnxModelError(f"the encoder gives {latent_dim}-d codes; latent sizes from 1 to {MAX_LATENT_DIM} "
                             "are explored here")
    return latent_dim


def _check_pixels(pixels: np.ndarray, signature: _Signature, image_shape: tuple[int, int, int], dataset: str,
                  likelihood: str) -> None:
    (port,) = signature.outputs
    if pixels.ndim < 2 or not _image_layout_matches(pixels.shape[1:], image_shape):
        raise OnnxModelError(_decoder_shape_problem(port.name, pixels.shape[1:], image_shape, dataset))
    if likelihood == "gaussian" and not ((pixels >= 0) & (pixels <= 1)).all():
        raise OnnxModelError(f"the decoder's output {port.name!r} gives pixel means from {pixels.min():.3g} to "
                             f"{pixels.max():.3g} on prior draws, outside the images' range [0, 1]; a Gaussian "
                             "decoder's means must lie in it (end the decoder with a sigmoid or a clip)")
