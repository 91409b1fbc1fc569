"""The integer graph lowered to a float32 ONNX graph and run by onnxruntime.

Same argument as :mod:`wqrc.sim.fast`: an integer below 2**24 is exact in
float32, and so are sums of such integers, floors, clamps and power-of-two
scalings. Each conv/dense becomes ``Conv(x, W * 2**-sh, (b + half) * 2**-sh)
-> Floor -> Clip``, which is docs/format.md §3's ``sat(rshift_round(acc, sh))`` exactly
when the accumulator bound (plus the rounding half) stays below 2**24.
Pooled sums are multiplied by the divisor constant in float64, where they stay
exact. :func:`lower` returns None when any step is not provably exact; the
caller then uses the torch executor or the NumPy kernels.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from wqrc.ops.lookup import LOOKUP_OPS
from wqrc.ops.pad import onnx_pads
from wqrc.ops.pools import explicit_pads, window_counts
from wqrc.quant.arith import avgpool_divisor, half
from wqrc.quant.qmodel import QModel
from wqrc.sim.exactness import exact_within
from wqrc.quant.formats import output_bounds

EXACT = 2 ** 24


class _Builder:
    def __init__(self):
        self.nodes, self.inits, self.k = [], [], 0
        # tensors whose values are still to be rounded (a conv's requantization, deferred): the
        # rounding op, Floor (of v + half: ties up) or Round (ties to even, ONNX's Round)
        self.unrounded: dict[str, str] = {}
        self.roundings: dict[str, str] = {}

    def rounded(self, x: str) -> str:
        """x itself, or Floor(x) / Round(x) where x's rounding was deferred (made once per tensor)."""
        if x not in self.unrounded:
            return x
        if x not in self.roundings:
            self.roundings[x] = self.op(self.unrounded[x], [x])
        return self.roundings[x]

    def name(self, base: str) -> str:
        self.k += 1
        return f"{base}__{self.k}"

    def const(self, value, dtype=np.float32) -> str:
        n = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), n))
        return n

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.name(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def clip(self, x: str, lo: float, hi: float, dtype=np.float32) -> str:
        return self.op("Clip", [x, self.const(lo, dtype), self.const(hi, dtype)])

    def round_shift(self, x: str, s: int, dtype=np.float32) -> str:
        if s > 0:
            x = self.op("Add", [x, self.const(float(1 << (s - 1)), dtype)])
            return self.op("Floor", [self.op("Mul", [x, self.const(2.0 ** -s, dtype)])])
        if s < 0:
            return self.op("Mul", [x, self.const(float(1 << -s), dtype)])
        return x


def _divide(b: _Builder, total: str, counts: np.ndarray, fmt) -> str:
    """rshift_round(total * R, S) per position, in float64 (exact: |total * R| < 2**53)."""
    r = np.zeros(counts.shape)
    offset = np.zeros(counts.shape)
    scale = np.zeros(counts.shape)
    for n in np.unique(counts):
        rn, sn = avgpool_divisor(int(n))
        m = counts == n
        r[m], offset[m], scale[m] = rn, half(sn), 2.0 ** -sn
    t = b.op("Cast", [total], to=TensorProto.DOUBLE)
    t = b.op("Mul", [t, b.const(r, np.float64)])
    t = b.op("Floor", [b.op("Mul", [b.op("Add", [t, b.const(offset, np.float64)]), b.const(scale, np.float64)])])
    t = b.clip(t, float(fmt.qmin), float(fmt.qmax), np.float64)
    return b.op("Cast", [t], to=TensorProto.FLOAT)


def lower(qm: QModel) -> Optional[onnx.ModelProto]:
    """A float32 ONNX model computing ``qm`` exactly, or None if that cannot be proved."""
    # the shared guard: float32 sums (Conv, Gemm, ReduceSum) below 2**24, the average pools'
    # multiplications (done in float64) below 2**53
    if not exact_within(qm, EXACT, 2 ** 53):
        return None
    if any(n.op not in LOWER for n in qm.nodes):
        return None
    b = _Builder()
    env = {qm.input: qm.input}
    for node in qm.nodes:
        ins = [env[t] if node.op in ROUND_COMMUTES else b.rounded(env[t]) for t in node.inputs]
        env[node.output] = LOWER[node.op](b, qm, node, ins)
        if node.op in ROUND_COMMUTES and ins[0] in b.unrounded:
            b.unrounded[env[node.output]] = b.unrounded[ins[0]]
    out = b.rounded(env[qm.output])
    shape_in = ["n"] + list(qm.input_shape)
    graph = helper.make_graph(b.nodes, "wqrc_exact", [helper.make_tensor_value_info(qm.input, TensorProto.FLOAT, shape_in)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


# One table per concern: each integer op as float32 ONNX nodes, (builder, model, node,
# input names) -> output name; the same computation as wqrc.sim.kernels.
# tests/test_ops.py checks that every integer op of wqrc.ops.OPS is here.

def _weighted(b: _Builder, qm: QModel, node, ins) -> str:
    a, fmt = node.attrs, qm.formats[node.output]
    qlayer = qm.layers[node.name]
    layer = qlayer.aligned()  # one shift for every channel (per-channel exponents, docs/format.md §1c)
    scale = 2.0 ** -layer.shift
    w = b.const(np.asarray(layer.multipliers, np.float64) * scale)
    even = qlayer.rounding == "half_even"   # Round: ONNX rounds halves to even; else Floor of v + half
    offset = 0 if even else half(layer.shift)
    bias = b.const(np.array([(v + offset) * scale for v in layer.bias], np.float64))
    if node.op == "conv":
        y = b.op("Conv", [ins[0], w, bias], pads=list(a["pads"]), strides=list(a["strides"]),
                 dilations=list(a["dilations"]), group=a["group"], kernel_shape=list(qlayer.codes.shape[2:]))
    else:
        y = b.op("Gemm", [ins[0], w, bias], transB=1)
    # clamp, then round: the same for integer bounds, and a Clip right after the Conv fuses into
    # it; the rounding is deferred past the ops that commute with it (a max pool, a clamp, a
    # flatten), so it runs on the pooled tensor and outside the Conv's blocked layout
    y = b.clip(y, *map(float, output_bounds(fmt, a.get("qclip"))))
    if layer.shift > 0:
        b.unrounded[y] = "Round" if even else "Floor"
    return y


def _maxpool(b: _Builder, qm: QModel, node, ins) -> str:
    # the registry's explicit pads (ceil_mode included) as a Pad whose value never wins,
    # as the contract's "padding never wins" (docs/format.md §3)
    a = node.attrs
    pt, pl, pb, pr = explicit_pads(qm.shapes[node.inputs[0]], a)
    x = ins[0]
    if (pt, pl, pb, pr) != (0, 0, 0, 0):
        x = b.op("Pad", [x, b.const([0, 0, pt, pl, 0, 0, pb, pr], np.int64),
                         b.const(float(qm.formats[node.inputs[0]].qmin - 1))])
    return b.op("MaxPool", [x], kernel_shape=list(a["kernel"]), strides=list(a["strides"]),
                dilations=list(a.get("dilations", (1, 1))))


def _avgpool(b: _Builder, qm: QModel, node, ins) -> str:
    a = node.attrs
    c = qm.shapes[node.inputs[0]][0]
    kh, kw = a["kernel"]
    total = b.op("Conv", [ins[0], b.const(np.ones((c, 1, kh, kw)))], pads=list(a["pads"]), strides=list(a["strides"]),
                 group=c, kernel_shape=[kh, kw])
    counts = window_counts(qm.shapes[node.inputs[0]], a, qm.shapes[node.output][1:])
    return _divide(b, total, counts, qm.formats[node.output])


def _global_avgpool(b: _Builder, qm: QModel, node, ins) -> str:
    _, h, w_ = qm.shapes[node.inputs[0]]
    total = b.op("ReduceSum", [ins[0], b.const([2, 3], np.int64)], keepdims=1)
    return _divide(b, total, np.full((1, 1), h * w_), qm.formats[node.output])


def _add(b: _Builder, qm: QModel, node, ins) -> str:
    parts = [b.round_shift(t, s) for t, s in zip(ins, node.attrs["shifts"])]
    y = parts[0]
    for p in parts[1:]:
        y = b.op("Add", [y, p])
    return b.clip(y, *map(float, output_bounds(qm.formats[node.output], node.attrs.get("qclip"))))


def _concat(b: _Builder, qm: QModel, node, ins) -> str:
    fmt = qm.formats[node.output]
    parts = [b.clip(b.round_shift(t, s), float(fmt.qmin), float(fmt.qmax)) for t, s in zip(ins, node.attrs["shifts"])]
    return b.op("Concat", parts, axis=1)


def _clamp(b: _Builder, qm: QModel, node, ins) -> str:
    fmt = qm.formats[node.output]
    lo, hi = node.attrs["qclip"]
    return b.clip(ins[0], float(fmt.qmin if lo is None else lo), float(fmt.qmax if hi is None else hi))


def _mul(b: _Builder, qm: QModel, node, ins) -> str:
    """The exact product (below 2**24 by the guard; ONNX Mul broadcasts (N, C, 1, 1)), requantized."""
    fmt = qm.formats[node.output]
    return b.clip(b.round_shift(b.op("Mul", ins), node.attrs["shift"]), float(fmt.qmin), float(fmt.qmax))


def _upsample(b: _Builder, qm: QModel, node, ins) -> str:
    """Nearest copies (Resize, asymmetric/floor: output x reads x // s) or zeros between the elements
    (a depthwise ConvTranspose by a 1x1 kernel of ones): values only move."""
    sh, sw = node.attrs["scales"]
    if node.op == "upsample":
        return b.op("Resize", [ins[0], "", b.const([1.0, 1.0, float(sh), float(sw)])], mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    c = qm.shapes[node.inputs[0]][0]
    return b.op("ConvTranspose", [ins[0], b.const(np.ones((c, 1, 1, 1)))], group=c, strides=[sh, sw],
                kernel_shape=[1, 1])


def _lookup(b: _Builder, qm: QModel, node, ins) -> str:
    """table[q - qmin] as a Gather (table entries and codes are integers below 2**24)."""
    qmin = qm.formats[node.inputs[0]].qmin
    idx = b.op("Cast", [b.op("Sub", [ins[0], b.const(float(qmin))])], to=TensorProto.INT64)
    return b.op("Gather", [b.const(np.asarray(node.attrs["table"], np.float32)), idx], axis=0)


# ops for which op(r(x)) = r(op(x)) on the values they see, r = Floor or Round (any monotone rounding
# to integers): monotone selections and integer-bounded clamps (a max pool's padding value is an
# integer, qmin - 1)
ROUND_COMMUTES = {"maxpool", "flatten", "reshape", "relu", "clip", "upsample", "zero_insert"}

LOWER = {
    "conv": _weighted,
    "dense": _weighted,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": _global_avgpool,
    "flatten": lambda b, qm, node, ins: b.op("Flatten", [ins[0]], axis=1),
    "reshape": lambda b, qm, node, ins: b.op("Reshape", [ins[0], b.const([-1] + list(node.attrs["shape"]), np.int64)]),
    "add": _add,
    "concat": _concat,
    "relu": _clamp,
    "clip": _clamp,
    "mul": _mul,
    "upsample": _upsample,
    "zero_insert": _upsample,
    "pad": lambda b, qm, node, ins: b.op("Pad", [ins[0], b.const(onnx_pads(node.attrs["pads"]), np.int64),
                                                b.const(float(node.attrs["code"]))]),
    **{op.name: _lookup for op in LOOKUP_OPS},
}


class OrtExecutor:
    def __init__(self, model: onnx.ModelProto):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # every optimisation: each value is an exactly representable integer (times a power of
        # two), so no fusion, layout change or summation order can round it
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.input = model.graph.input[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.session.run(None, {self.input: np.asarray(x, np.float32)})[0]
        return y.astype(np.int64)
