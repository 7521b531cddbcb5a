"""An imported ONNX decoder as the portable decoder's layers (vae_core/portable.py), where its graph is a chain of
operations the browser runs: fully connected layers, ReLU, reshapes, convolutions and transposed convolutions.

The portable format ends in logits whose sigmoid is the image. A Bernoulli decoder's output is such logits; a
Gaussian decoder qualifies when its last operation is a sigmoid of them, which is then left to the format. Anything
else (another operation, a branch, weights computed at run time) gives None, and the server decodes instead.
``portable.portable_decoder`` checks the layers against onnxruntime on random codes, as it checks ours against
torch, before the browser gets them.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .portable import PortableLayer

# Operations that pass their one input through unchanged.
PASS_THROUGH = frozenset({"Identity"})


def _attributes(node: onnx.NodeProto) -> dict:
    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


def _square(values, size: int = 2) -> int | None:
    """The one value of a square kernel, stride or padding (ONNX lists each side, pads each side's two ends)."""
    values = list(values)
    return values[0] if len(values) == size and len(set(values)) == 1 else None


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Every value fixed in the file: initializers and Constant nodes' tensors."""
    found = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = _attributes(node).get("value")
            if isinstance(value, onnx.TensorProto):
                found[node.output[0]] = numpy_helper.to_array(value)
    return found


def _float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def _convolution(node: onnx.NodeProto, weights: list[np.ndarray], shape: tuple[int, ...]
                 ) -> tuple[PortableLayer, tuple[int, int, int], int] | None:
    attributes = _attributes(node)
    if len(weights) != 2 or len(shape) != 3 or attributes.get("group", 1) != 1 \
            or attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    weight, bias = weights
    transposed = node.op_type == "ConvTranspose"
    kernel = _square(attributes.get("kernel_shape", weight.shape[2:]))
    stride = _square(attributes.get("strides", [1, 1]))
    padding = _square(attributes.get("pads", [0, 0, 0, 0]), size=4)
    dilation = _square(attributes.get("dilations", [1, 1]))
    if None in (kernel, stride, padding) or dilation != 1 or weight.ndim != 4 or weight.shape[2:] != (kernel, kernel):
        return None
    c, h, w = shape
    in_channels, out_channels = (weight.shape[0], weight.shape[1]) if transposed else (weight.shape[1], weight.shape[0])
    if c != in_channels or bias.shape != (out_channels,):
        return None
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "in_channels": in_channels,
             "out_channels": out_channels}
    if transposed:
        output_padding = _square(attributes.get("output_padding", [0, 0]))
        if output_padding is None or "output_shape" in attributes:
            return None
        attrs["output_padding"] = output_padding
        side = [(s - 1) * stride - 2 * padding + kernel + output_padding for s in (h, w)]
        cost = c * h * w * out_channels * kernel * kernel
    else:
        side = [(s + 2 * padding - kernel) // stride + 1 for s in (h, w)]
        cost = out_channels * side[0] * side[1] * c * kernel * kernel
    if min(side) < 1:
        return None
    layer = PortableLayer("conv_transpose2d" if transposed else "conv2d",
                          {"weight": _float32(weight), "bias": _float32(bias)}, attrs)
    return layer, (out_channels, side[0], side[1]), cost


def _linear(node: onnx.NodeProto, weights: list[np.ndarray], shape: tuple[int, ...]) -> PortableLayer | None:
    """Gemm (A·B' + C) or MatMul (A·B) of the running vector by fixed weights, as one linear layer."""
    if len(shape) != 1:
        return None
    if node.op_type == "Gemm":
        attributes = _attributes(node)
        if attributes.get("transA", 0) or attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0:
            return None
        matrix = weights[0].T if attributes.get("transB", 0) else weights[0]
        bias = weights[1] if len(weights) > 1 else np.zeros(matrix.shape[-1])
    else:
        matrix, bias = weights[0], np.zeros(weights[0].shape[-1])
    if matrix.ndim != 2 or matrix.shape[0] != shape[0] or np.broadcast(bias, np.zeros(matrix.shape[1])).shape \
            != (matrix.shape[1],):
        return None
    bias = np.broadcast_to(bias, (matrix.shape[1],))
    return PortableLayer("linear", {"weight_t": _float32(matrix), "bias": _float32(bias)},
                         {"in": matrix.shape[0], "out": matrix.shape[1]})


def _reshaped(target: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The one-image shape a Reshape to ``target`` (batch first, as 0 or -1 or the batch) makes of ``shape``."""
    rest = [int(v) for v in target.reshape(-1)[1:]]
    if any(v <= 0 for v in rest) and not (rest.count(-1) == 1 and all(v > 0 or v == -1 for v in rest)):
        return None
    if -1 in rest:
        known = math.prod(v for v in rest if v != -1)
        rest[rest.index(-1)] = math.prod(shape) // known if known and math.prod(shape) % known == 0 else -1
    return tuple(rest) if math.prod(rest) == math.prod(shape) and min(rest) > 0 else None


def portable_layers(decoder_onnx: bytes, latent_dim: int, image_shape: tuple[int, int, int],
                    likelihood: str) -> tuple[list[PortableLayer], int] | None:
    """The layers and multiply-adds of one decode of a checked ONNX decoder, or None where its graph is not a chain
    of the portable operations."""
    graph = onnx.load_model_from_string(decoder_onnx).graph
    constants = _constants(graph)
    current, shape = graph.input[0].name, (latent_dim,)
    layers: list[PortableLayer] = []
    cost, ends_in_sigmoid = 0, False
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        data = [name for name in node.input if name and name not in constants]
        if data != [current] or node.input[0] != current or len(node.output) != 1 or ends_in_sigmoid:
            return None
        weights = [constants[name] for name in node.input[1:] if name]
        if node.op_type in ("Gemm", "MatMul"):
            layer = _linear(node, weights, shape)
            if layer is None:
                return None
            layers.append(layer)
            cost += layer.attrs["in"] * layer.attrs["out"]
            shape = (layer.attrs["out"],)
        elif node.op_type == "Add" and len(weights) == 1 and layers and layers[-1].op == "linear":
            bias = layers[-1].arrays["bias"] + weights[0]
            if bias.shape != layers[-1].arrays["bias"].shape:
                return None
            layers[-1].arrays["bias"] = _float32(bias)
        elif node.op_type == "Relu":
            layers.append(PortableLayer("relu"))
        elif node.op_type == "Sigmoid" and likelihood == "gaussian":
            ends_in_sigmoid = True  # the format's own last step; nothing may follow it
        elif node.op_type in ("Conv", "ConvTranspose"):
            converted = _convolution(node, weights, shape)
            if converted is None:
                return None
            layer, shape, layer_cost = converted
            layers.append(layer)
            cost += layer_cost
        elif node.op_type == "Reshape" and len(weights) == 1:
            target = _reshaped(weights[0], shape)
            if target is None:
                return None
            if len(target) == 3 and len(shape) == 1:
                layers.append(PortableLayer("reshape", attrs={"shape": list(target)}))
            elif len(target) != 1 and target != shape:
                return None  # the format reshapes a vector to an image and reads images flat: nothing else
            shape = target if len(target) == 3 else shape
        elif node.op_type not in PASS_THROUGH:
            return None
        current = node.output[0]
    if current != graph.output[0].name or (likelihood == "gaussian" and not ends_in_sigmoid) \
            or math.prod(shape) != math.prod(image_shape):
        return None
    return layers, cost
