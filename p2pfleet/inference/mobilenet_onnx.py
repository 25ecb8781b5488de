"""Float MobileNetV2 as an ONNX graph, built with onnx.helper from the folded weights.

Same input as the exact tier (uint8 RGB NHWC [N,224,224,3], so one shard input
serves both tiers) and float32 logits [N,1000] out. The graph does the
normalisation itself; convolutions run in NCHW inside.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.labels import labels_sha256
from p2pfleet.inference.mobilenet_v2 import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NUM_CLASSES,
    FoldedConv,
    FoldedMobileNetV2,
    fold_state_dict,
)
from p2pfleet.inference.onnx_container import encode_onnx_model
from p2pfleet.inference.ort_runtime import ORT_RUNTIME, pinned_settings
from p2pfleet.inference.torch_legacy import bundled_weights_path, load_legacy_checkpoint

FLOAT_MODEL_NAME = "mobilenet_v2-float"
OPSET = 17


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        self._count += 1
        output = f"t{self._count}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output


def _conv(graph: _Graph, layer: FoldedConv, x: str, relu6_bounds: tuple[str, str]) -> str:
    w = layer.weight.astype(np.float32)
    if layer.kind == "stem":
        weight, group, kernel = w.transpose(3, 2, 0, 1), 1, 3  # HWIO -> OIHW
    elif layer.kind == "dw":
        weight, group, kernel = w.transpose(2, 0, 1)[:, None], w.shape[2], 3  # [C,1,3,3]
    else:
        weight, group, kernel = w.T[:, :, None, None], 1, 1  # [Cout,Cin,1,1]
    pad = kernel // 2
    y = graph.op(
        "Conv",
        [
            x,
            graph.const(f"{layer.name}.w", weight),
            graph.const(f"{layer.name}.b", layer.bias.astype(np.float32)),
        ],
        kernel_shape=[kernel, kernel],
        strides=[layer.stride, layer.stride],
        pads=[pad, pad, pad, pad],
        group=int(group),
    )
    return graph.op("Clip", [y, *relu6_bounds]) if layer.relu6 else y


def mobilenet_v2_onnx(model: FoldedMobileNetV2) -> bytes:
    """Deterministic ONNX bytes for the folded float network."""
    import onnx
    from onnx import TensorProto, helper

    graph = _Graph()
    bounds = (
        graph.const("relu6.lo", np.array(0.0, np.float32)),
        graph.const("relu6.hi", np.array(6.0, np.float32)),
    )
    scale = graph.const("pixel.scale", np.array(255.0, np.float32))
    mean = graph.const("pixel.mean", np.array(IMAGENET_MEAN, np.float32))
    std = graph.const("pixel.std", np.array(IMAGENET_STD, np.float32))
    x = graph.op("Cast", ["images"], to=TensorProto.FLOAT)
    x = graph.op("Div", [graph.op("Sub", [graph.op("Div", [x, scale]), mean]), std])
    x = graph.op("Transpose", [x], perm=[0, 3, 1, 2])
    x = _conv(graph, model.stem, x, bounds)
    for block in model.blocks:
        y = x
        for layer in block.convs:
            y = _conv(graph, layer, y, bounds)
        x = graph.op("Add", [x, y]) if block.residual else y
    x = _conv(graph, model.head, x, bounds)
    x = graph.op("Flatten", [graph.op("GlobalAveragePool", [x])], axis=1)
    fc_w = graph.const("fc.w", model.fc_weight.astype(np.float32))
    fc_b = graph.const("fc.b", model.fc_bias.astype(np.float32))
    graph.nodes.append(helper.make_node("Gemm", [x, fc_w, fc_b], ["logits"]))
    onnx_graph = helper.make_graph(
        graph.nodes,
        "mobilenet_v2_float",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["N", 224, 224, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        graph.initializers,
    )
    proto = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="p2pfleet"
    )
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    data: bytes = proto.SerializeToString(deterministic=True)
    return data


def build_mobilenet_v2_float() -> bytes:
    """The float tolerant-tier model file, built from the installed weights package."""
    weights = bundled_weights_path()
    folded = fold_state_dict(load_legacy_checkpoint(weights))
    metadata = {
        "name": FLOAT_MODEL_NAME,
        "tier": "tolerant",
        "task": "classify-image",
        "comparator": "classification",
        "runtime": ORT_RUNTIME,
        "runtime_settings": pinned_settings().as_manifest(),
        "license": "BSD-3-Clause (torchvision weights)",
        "source": {
            "file": weights.name,
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        },
        "input": {"dtype": "uint8", "layout": "NHWC", "shape": [-1, 224, 224, 3]},
        "output": {"dtype": "float32", "shape": [-1, NUM_CLASSES], "meaning": "logits"},
        "labels_sha256": labels_sha256(),
    }
    return encode_onnx_model(metadata, mobilenet_v2_onnx(folded))
