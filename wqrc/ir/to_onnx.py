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

OPSET = 17


def graph_to_onnx(graph: Graph, name: str = "wqrc") -> onnx.ModelProto:
    nodes, inits = [], []
    k = [0]

    def const(value, dtype=np.float32) -> str:
        k[0] += 1
        n = f"const_{k[0]}"
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), n))
        return n

    def clamp(x: str, clip, out: str, base: str) -> None:
        lo, hi = clip
        if lo == 0.0 and hi is None:
            nodes.append(helper.make_node("Relu", [x], [out], name=base + "_relu"))
        else:
            nodes.append(helper.make_node("Clip", [x, const(lo) if lo is not None else "",
                                                   const(hi) if hi is not None else ""], [out], name=base + "_clip"))

    for n in graph.nodes:
        a = n.attrs
        clip = a.get("clip")
        out = n.output + "__pre" if clip else n.output
        if n.op == "conv":
            w, b = n.name + ".weight", n.name + ".bias"
            inits += [numpy_helper.from_array(np.asarray(n.weight, np.float32), w),
                      numpy_helper.from_array(np.asarray(n.bias, np.float32), b)]
            nodes.append(helper.make_node("Conv", [n.inputs[0], w, b], [out], name=n.name,
                                          kernel_shape=list(n.weight.shape[2:]), strides=list(a["strides"]),
                                          pads=list(a["pads"]), dilations=list(a["dilations"]), group=a["group"]))
        elif n.op == "dense":
            w, b = n.name + ".weight", n.name + ".bias"
            inits += [numpy_helper.from_array(np.asarray(n.weight, np.float32), w),
                      numpy_helper.from_array(np.asarray(n.bias, np.float32), b)]
            nodes.append(helper.make_node("Gemm", [n.inputs[0], w, b], [out], name=n.name, transB=1))
        elif n.op in ("maxpool", "avgpool"):
            kw = dict(kernel_shape=list(a["kernel"]), strides=list(a["strides"]), pads=list(a["pads"]),
                      ceil_mode=int(a.get("ceil_mode", 0)))
            if n.op == "maxpool":
                kw["dilations"] = list(a.get("dilations", (1, 1)))
                nodes.append(helper.make_node("MaxPool", n.inputs, [out], name=n.name, **kw))
            else:
                kw["count_include_pad"] = int(a.get("count_include_pad", 0))
                nodes.append(helper.make_node("AveragePool", n.inputs, [out], name=n.name, **kw))
        elif n.op == "global_avgpool":
            nodes.append(helper.make_node("GlobalAveragePool", n.inputs, [out], name=n.name))
        elif n.op == "flatten":
            nodes.append(helper.make_node("Flatten", n.inputs, [out], name=n.name, axis=1))
        elif n.op == "add":
            nodes.append(helper.make_node("Add", n.inputs, [out], name=n.name))
        elif n.op == "concat":
            nodes.append(helper.make_node("Concat", n.inputs, [out], name=n.name, axis=1))
        elif n.op == "relu":
            nodes.append(helper.make_node("Relu", n.inputs, [out], name=n.name))
        elif n.op == "clip":
            clamp(n.inputs[0], (a.get("min"), a.get("max")), out, n.name)
        else:
            raise ValueError(f"cannot write op {n.op}")
        if clip:
            clamp(out, clip, n.output, n.name)
    in_shape = ["batch"] + list(graph.input_shape)
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info(graph.input, TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(graph.output, TensorProto.FLOAT,
                                                        ["batch"] + list(graph.shapes[graph.output]))], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="wqrc")
    model.ir_version = 8
    return model
