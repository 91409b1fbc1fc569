"""Graph -> ONNX, in the plain op set the frontend reads back.

Fine-tuning writes its result this way, so the trained model compiles with
`wqrc compile` exactly like the original (BatchNorm is already folded, fused
clamps become Relu/Clip nodes again).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from wqrc.ir.graph import Graph
from wqrc.ops.lookup import ONNX_NAMES
from wqrc.ops.pad import onnx_pads

OPSET = 17


class _Writer:
    """Collects the ONNX nodes and initializers of one graph."""

    def __init__(self, shapes=None):
        self.nodes, self.inits, self.k = [], [], 0
        self.shapes = shapes or {}

    def const(self, value, dtype=np.float32) -> str:
        self.k += 1
        name = f"const_{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def tensor(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(self, op_type: str, inputs, out: str, name: str, **attrs) -> None:
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))

    def clamp(self, x: str, clip, out: str, base: str) -> None:
        lo, hi = clip
        if lo == 0.0 and hi is None:
            self.node("Relu", [x], out, base + "_relu")
        else:
            self.node("Clip", [x, self.const(lo) if lo is not None else "", self.const(hi) if hi is not None else ""],
                      out, base + "_clip")


# One table per concern: how each op of the canonical graph is written as ONNX,
# (writer, node, output name) -> None. Ops the passes remove (batchnorm, identity,
# softmax) have no entry: a canonical graph never holds them.

def _conv(wr: _Writer, n, out):
    a = n.attrs
    w, b = wr.tensor(n.name + ".weight", n.weight), wr.tensor(n.name + ".bias", n.bias)
    wr.node("Conv", [n.inputs[0], w, b], out, n.name, kernel_shape=list(n.weight.shape[2:]),
            strides=list(a["strides"]), pads=list(a["pads"]), dilations=list(a["dilations"]), group=a["group"])


def _dense(wr: _Writer, n, out):
    w, b = wr.tensor(n.name + ".weight", n.weight), wr.tensor(n.name + ".bias", n.bias)
    wr.node("Gemm", [n.inputs[0], w, b], out, n.name, transB=1)


def _pool_attrs(a) -> dict:
    return dict(kernel_shape=list(a["kernel"]), strides=list(a["strides"]), pads=list(a["pads"]),
                ceil_mode=int(a.get("ceil_mode", 0)))


def _zero_insert(wr: _Writer, n, out: str) -> None:
    """Zero insertion as ONNX writes it: a depthwise ConvTranspose with a 1x1 kernel of ones."""
    c = wr.shapes[n.inputs[0]][0]
    wr.node("ConvTranspose", [n.inputs[0], wr.const(np.ones((c, 1, 1, 1)))], out, n.name, group=c,
            strides=list(n.attrs["scales"]), kernel_shape=[1, 1])


EXPORT = {
    "conv": _conv,
    "dense": _dense,
    "maxpool": lambda wr, n, out: wr.node("MaxPool", n.inputs, out, n.name, **_pool_attrs(n.attrs),
                                          dilations=list(n.attrs.get("dilations", (1, 1)))),
    "avgpool": lambda wr, n, out: wr.node("AveragePool", n.inputs, out, n.name, **_pool_attrs(n.attrs),
                                          count_include_pad=int(n.attrs.get("count_include_pad", 0))),
    "global_avgpool": lambda wr, n, out: wr.node("GlobalAveragePool", n.inputs, out, n.name),
    "flatten": lambda wr, n, out: wr.node("Flatten", n.inputs, out, n.name, axis=1),
    "reshape": lambda wr, n, out: wr.node("Reshape", [n.inputs[0], wr.const(np.array([-1] + list(n.attrs["shape"]),
                                                                               np.int64))], out, n.name),
    "add": lambda wr, n, out: wr.node("Add", n.inputs, out, n.name),
    "concat": lambda wr, n, out: wr.node("Concat", n.inputs, out, n.name, axis=1),
    "select_channels": lambda wr, n, out: wr.node("Gather", [n.inputs[0], wr.const(n.attrs["channels"], np.int64)], out, n.name,
                                                  axis=1),
    "mul": lambda wr, n, out: wr.node("Mul", n.inputs, out, n.name),
    "upsample": lambda wr, n, out: wr.node("Resize", [n.inputs[0], "", wr.const(
        np.array([1, 1] + list(n.attrs["scales"]), np.float32))], out, n.name, mode="nearest",
        coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    "zero_insert": lambda wr, n, out: _zero_insert(wr, n, out),
    "pad": lambda wr, n, out: wr.node("Pad", [n.inputs[0], wr.const(onnx_pads(n.attrs["pads"]), np.int64),
                                              wr.const(float(n.attrs["value"]))], out, n.name),
    "relu": lambda wr, n, out: wr.node("Relu", n.inputs, out, n.name),
    "clip": lambda wr, n, out: wr.clamp(n.inputs[0], (n.attrs.get("min"), n.attrs.get("max")), out, n.name),
    **{name: (lambda t: lambda wr, n, out: wr.node(t, n.inputs, out, n.name, **{
        k: v for k, v in n.attrs.items() if k in ("alpha", "beta")}))(t) for name, t in ONNX_NAMES.items()},
}


def graph_to_onnx(graph: Graph, name: str = "wqrc") -> onnx.ModelProto:
    wr = _Writer(graph.shapes)
    for n in graph.nodes:
        clip = n.attrs.get("clip")
        out = n.output + "__pre" if clip else n.output
        if n.op not in EXPORT:
            raise ValueError(f"cannot write op {n.op}")
        EXPORT[n.op](wr, n, out)
        if clip:
            wr.clamp(out, clip, n.output, n.name)
    in_shape = ["batch"] + list(graph.input_shape)
    g = helper.make_graph(wr.nodes, name, [helper.make_tensor_value_info(graph.input, TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(t, TensorProto.FLOAT, ["batch"] + list(graph.shapes[t]))
                           for t in graph.outputs], wr.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="wqrc")
    model.ir_version = 8
    return model
