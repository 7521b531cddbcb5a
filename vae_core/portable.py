"""A decoder as a plain list of layers that another runtime (the explorer's browser code) can run.

``portable_decoder(model)`` walks the decoder's ``nn.Sequential`` (or an imported
model's ONNX graph: vae_core/onnx_portable.py) and writes each layer as an
operation with NumPy weights. It returns ``None`` when the decoder
holds a layer outside the small set below, when one decode would cost too much
arithmetic for a browser frame, or when the layers do not reproduce
``model.decode`` on a few random codes (a decoder that does more than its
``Sequential``). ``run_portable_decoder`` is the reference implementation of the
format, in NumPy: the browser's runtime and this one must agree with torch (or
onnxruntime).

Operations (arrays are float32; shapes are those of one image, batch excluded):
- ``linear``: ``weight_t`` (in, out), the transpose of torch's weight, and ``bias`` (out,)
- ``relu``
- ``reshape``: ``shape`` (C, H, W) from a flat vector
- ``conv_transpose2d``: torch's ``weight`` (C_in, C_out, k, k), ``bias``, ``stride``, ``padding``,
  ``output_padding`` (square kernels, no groups or dilation)
- ``conv2d``: torch's ``weight`` (C_out, C_in, k, k), ``bias``, ``stride``, ``padding``
The output is the last layer's logits; the image is their sigmoid, shaped ``output_shape``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

# One decode must fit comfortably in a browser frame (JavaScript does roughly 0.5 to 1 GFLOP/s here).
MAX_MULTIPLY_ADDS = 8_000_000
MAX_WEIGHT_BYTES = 32 * 2**20
AGREEMENT_TOLERANCE = 1e-5  # max abs difference in pixel probability against torch


@dataclass
class PortableLayer:
    op: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, int | list[int]] = field(default_factory=dict)


@dataclass
class PortableDecoder:
    latent_dim: int
    output_shape: tuple[int, int, int]
    layers: list[PortableLayer]
    multiply_adds: int

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for layer in self.layers for a in layer.arrays.values())


def _float32(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy().astype(np.float32))


def _square(value) -> int | None:
    """The side of a square kernel, stride or padding; None when the two sides differ."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    return values[0] if len(set(values)) == 1 else None


def _convolution(module: nn.Conv2d | nn.ConvTranspose2d,
                 shape: tuple[int, ...]) -> tuple[PortableLayer, tuple, int] | None:
    kernel, stride, padding = (_square(getattr(module, a)) for a in ("kernel_size", "stride", "padding"))
    if None in (kernel, stride, padding) or module.groups != 1 or _square(module.dilation) != 1 \
            or module.padding_mode != "zeros" or module.bias is None or len(shape) != 3:
        return None
    c, h, w = shape
    if c != module.in_channels:
        return None
    attrs = {"kernel": kernel, "stride": stride, "padding": padding,
             "in_channels": module.in_channels, "out_channels": module.out_channels}
    if isinstance(module, nn.ConvTranspose2d):
        output_padding = _square(module.output_padding)
        if output_padding is None:
            return None
        attrs["output_padding"] = output_padding
        oh = (h - 1) * stride - 2 * padding + kernel + output_padding
        ow = (w - 1) * stride - 2 * padding + kernel + output_padding
        op = "conv_transpose2d"
        cost = c * h * w * module.out_channels * kernel * kernel
    else:
        oh = (h + 2 * padding - kernel) // stride + 1
        ow = (w + 2 * padding - kernel) // stride + 1
        op = "conv2d"
        cost = module.out_channels * oh * ow * c * kernel * kernel
    if oh < 1 or ow < 1:
        return None
    layer = PortableLayer(op, {"weight": _float32(module.weight), "bias": _float32(module.bias)}, attrs)
    return layer, (module.out_channels, oh, ow), cost


def _layers(model) -> tuple[list[PortableLayer], int] | None:
    decoder = getattr(model, "decoder", None)
    if not isinstance(decoder, nn.Sequential):
        return None
    shape: tuple = (model.config.latent_dim,)
    layers: list[PortableLayer] = []
    cost = 0
    for module in decoder:
        if isinstance(module, nn.Linear):
            if len(shape) != 1 or shape[0] != module.in_features or module.bias is None:
                return None
            weights = {"weight_t": _float32(module.weight.T), "bias": _float32(module.bias)}
            layers.append(PortableLayer("linear", weights, {"in": module.in_features, "out": module.out_features}))
            cost += module.in_features * module.out_features
            shape = (module.out_features,)
        elif isinstance(module, nn.ReLU):
            layers.append(PortableLayer("relu"))
        elif isinstance(module, nn.Unflatten):
            target = tuple(int(s) for s in module.unflattened_size)
            if module.dim not in (1, -1) or len(shape) != 1 or len(target) != 3 or int(np.prod(target)) != shape[0]:
                return None
            layers.append(PortableLayer("reshape", attrs={"shape": list(target)}))
            shape = target
        elif isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
            converted = _convolution(module, shape)
            if converted is None:
                return None
            layer, shape, layer_cost = converted
            layers.append(layer)
            cost += layer_cost
        else:
            return None
    if int(np.prod(shape)) != int(np.prod(model.config.input_shape)):
        return None
    return layers, cost


def portable_decoder(model) -> PortableDecoder | None:
    """The decoder as portable layers, or None when another runtime should not (or cannot) run it."""
    # An imported model converts its own graph (vae_core/onnx_import.py): onnx is loaded only for one.
    converted = model.portable_layers() if model.config.foreign else _layers(model)
    if converted is None:
        return None
    layers, cost = converted
    decoder = PortableDecoder(latent_dim=model.config.latent_dim, output_shape=tuple(model.config.input_shape),
                              layers=layers, multiply_adds=cost)
    if cost > MAX_MULTIPLY_ADDS or decoder.weight_bytes > MAX_WEIGHT_BYTES:
        return None
    z = np.random.default_rng(0).standard_normal((4, decoder.latent_dim)).astype(np.float32) * 2
    with torch.no_grad():
        was_training = model.training
        model.eval()
        expected = model.decode(torch.as_tensor(z, device=model.device)).cpu().numpy()
        model.train(was_training)
    got = run_portable_decoder(decoder, z)
    if got.shape != expected.shape or np.abs(got - expected).max() > AGREEMENT_TOLERANCE:
        return None
    return decoder


def run_portable_decoder(decoder: PortableDecoder, z: np.ndarray) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] from codes (N, latent_dim): the format's reference semantics."""
    x = np.atleast_2d(np.asarray(z, dtype=np.float64))
    for layer in decoder.layers:
        a, attrs = layer.arrays, layer.attrs
        if layer.op == "linear":
            x = x @ a["weight_t"] + a["bias"]
        elif layer.op == "relu":
            x = np.maximum(x, 0.0)
        elif layer.op == "reshape":
            x = x.reshape(len(x), *attrs["shape"])
        elif layer.op == "conv_transpose2d":
            x = _conv_transpose2d(x, a["weight"], a["bias"], attrs)
        elif layer.op == "conv2d":
            x = _conv2d(x, a["weight"], a["bias"], attrs)
        else:
            raise ValueError(f"unknown portable operation {layer.op!r}")
    logits = x.reshape(len(x), *decoder.output_shape)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def _conv_transpose2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, attrs: dict) -> np.ndarray:
    """Each input pixel scatters its kernel, scaled, into the output at stride spacing; then crop the padding."""
    n, c_in, h, w = x.shape
    k, s, p, op = attrs["kernel"], attrs["stride"], attrs["padding"], attrs["output_padding"]
    full_h, full_w = (h - 1) * s + k + op, (w - 1) * s + k + op
    out = np.zeros((n, weight.shape[1], full_h, full_w))
    for i in range(k):
        for j in range(k):
            contribution = np.einsum("nchw,co->nohw", x, weight[:, :, i, j])
            out[:, :, i:i + (h - 1) * s + 1:s, j:j + (w - 1) * s + 1:s] += contribution
    oh, ow = full_h - 2 * p, full_w - 2 * p
    return out[:, :, p:p + oh, p:p + ow] + bias[None, :, None, None]


def _conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, attrs: dict) -> np.ndarray:
    n, c_in, h, w = x.shape
    k, s, p = attrs["kernel"], attrs["stride"], attrs["padding"]
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((n, weight.shape[0], oh, ow))
    for i in range(k):
        for j in range(k):
            window = padded[:, :, i:i + (oh - 1) * s + 1:s, j:j + (ow - 1) * s + 1:s]
            out += np.einsum("nchw,oc->nohw", window, weight[:, :, i, j])
    return out + bias[None, :, None, None]
