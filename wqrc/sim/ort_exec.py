"""The integer graph lowered to an ONNX graph of float32 and uint8 tensors, run by onnxruntime.

Same argument as :mod:`wqrc.sim.fast`: an integer below 2**24 is exact in
float32, and so are sums of such integers, floors, clamps and power-of-two
scalings. Each conv/dense becomes ``Conv(x, W * 2**-sh, (b + half) * 2**-sh)
-> Floor -> Clip``, which is docs/format.md §3's ``sat(rshift_round(acc, sh))`` exactly
when the accumulator bound (plus the rounding half) stays below 2**24.
Pooled sums are multiplied by the divisor constant in float64, where they stay
exact.

A conv/dense layer with 8-bit input and output whose groups have
QL_MIN_CHANNELS input channels or more runs instead as onnxruntime's integer
convolution, QLinearConv, on uint8 codes (:func:`_qlinear_plan`): int32 sums
of u8 x s8 products, then one float32 multiply by the requantization scale
and a round to nearest even. It rounds ties to even, not up as the contract
does; a scale of 2**-sh * (1 + 2**-22) breaks every tie upwards and moves no
other value across a rounding boundary, and an offset makes every tie
positive (:func:`_qlinear`). :func:`lower` returns None when any step is not
provably exact; the caller then uses the torch executor or the NumPy kernels.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from wqrc.ops import op_def, op_table
from wqrc.ops.pad import onnx_pads
from wqrc.contract.geometry import explicit_pads
from wqrc.ops.pools import window_counts
from wqrc.contract.arith import avgpool_divisor, half
from wqrc.quant.qmodel import QModel
from wqrc.sim.exactness import exact_within, node_bounds
from wqrc.contract.formats import output_bounds

EXACT = 2 ** 24


class _Builder:
    def __init__(self):
        self.nodes, self.inits, self.k = [], [], 0
        # tensors whose values are still to be rounded (a conv's requantization, deferred): the
        # rounding op, Floor (of v + half: ties up) or Round (ties to even, ONNX's Round)
        self.unrounded: dict[str, str] = {}
        self.roundings: dict[str, str] = {}
        # uint8 tensors of codes: value = code - offset (offset = -qmin of a signed format)
        self.offsets: dict[str, int] = {}
        self.converted: dict[tuple, str] = {}

    def as_float(self, x: str) -> str:
        """x as exact float32 values (rounded where its rounding was deferred, decoded where it
        holds uint8 codes; each conversion made once)."""
        if x not in self.offsets:
            return self.rounded(x)
        if (x, "float") not in self.converted:
            y = self.op("Cast", [x], to=TensorProto.FLOAT)
            if self.offsets[x]:
                y = self.op("Sub", [y, self.const(float(self.offsets[x]))])
            self.converted[(x, "float")] = y
        return self.converted[(x, "float")]

    def as_codes(self, x: str, offset: int) -> str:
        """x as uint8 codes value + offset (the caller has checked that its format fits)."""
        if self.offsets.get(x) == offset:
            return x
        if (x, offset) not in self.converted:
            y = self.as_float(x)
            if offset:
                y = self.op("Add", [y, self.const(float(offset))])
            y = self.op("Cast", [y], to=TensorProto.UINT8)
            self.offsets[y] = offset
            self.converted[(x, offset)] = y
        return self.converted[(x, offset)]

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


def lower(qm: QModel, qlinear: str = "auto") -> Optional[onnx.ModelProto]:
    """An ONNX model computing ``qm`` exactly, or None if that cannot be proved. ``qlinear``:
    which layers run as QLinearConv: "auto" those where it is exact and pays
    (:func:`_qlinear_plan`), "all" every one where it is exact (the tests and the fuzzer, on
    models too small to pay), "none" none."""
    if any(n.op not in LOWER for n in qm.nodes):
        return None
    if qlinear not in ("auto", "all", "none"):
        raise ValueError(qlinear)
    qlinear = {} if qlinear == "none" else _qlinear_plan(qm, every=qlinear == "all")
    # the shared guard: float32 sums (Conv, Gemm, ReduceSum) below 2**24, the average pools'
    # multiplications (done in float64) below 2**53; a QLinearConv layer has its own
    rest = [n for n in qm.nodes if n.name not in qlinear]
    if not exact_within(qm, EXACT, 2 ** 53, rest):
        return None
    b = _Builder()
    env = {qm.input: qm.input}
    for node in qm.nodes:
        x = env[node.inputs[0]]
        if node.name in qlinear:
            env[node.output] = _qlinear(b, qm, node, b.as_codes(x, qlinear[node.name][0]), *qlinear[node.name])
            continue
        if x in b.offsets and node.op in CODES_PASS and CODES_PASS[node.op](qm, node):
            env[node.output] = LOWER[node.op](b, qm, node, [x])
            b.offsets[env[node.output]] = b.offsets[x]
            continue
        ins = [env[t] if op_def(node).round_commutes and env[t] not in b.offsets else b.as_float(env[t])
               for t in node.inputs]
        env[node.output] = LOWER[node.op](b, qm, node, ins)
        if op_def(node).round_commutes and ins[0] in b.unrounded:
            b.unrounded[env[node.output]] = b.unrounded[ins[0]]
    out = b.as_float(env[qm.output])
    shape_in = ["n"] + list(qm.input_shape)
    graph = helper.make_graph(b.nodes, "wqrc_exact", [helper.make_tensor_value_info(qm.input, TensorProto.FLOAT, shape_in)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


# One table per concern: each integer op as float32 ONNX nodes, (builder, model, node,
# input names) -> output name; the same computation as wqrc.contract.kernels.
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


# QLinearConv where it is exact and pays (docs/targets.md, "The simulator's speed"): a group of
# fewer input channels runs faster as the float32 Conv (2.6x on one channel, fashion's first layer),
# and so does a layer of few MACs, whose uint8 conversions and layout transposes cost more than
# the integer GEMM saves (the digits model's 8x8 maps: 0.44 of onnxruntime float against 0.74);
# a layer whose input already holds codes (a QLinearConv before it) or that the float32 Conv
# cannot run exactly (sums from 2**24) takes QLinearConv all the same
QL_MIN_CHANNELS = 8
QL_MIN_MACS = 200_000  # per image
QL_MAX_SHIFT = 13      # the tie-breaking scale's margin (_qlinear) holds up to here
QL_EPS = 2.0 ** -22
QL_SAFE_WEIGHT = 64    # |w| <= 64: no u8 x s8 pair sum passes int16 (255 * 128 < 2**15)


def _wide_weights_exact() -> bool:
    """Whether onnxruntime's u8 x s8 sums are exact for every int8 weight here. Its AVX2 kernels
    (and AVX-512 without VNNI) add pairs of u8 x s8 products in saturating int16
    (VPMADDUBSW): with an input of 255 two weights beyond 64 of one sign overflow it (an
    onnxruntime issue, #16105). VNNI's VPDPBUSD sums in int32. So weights beyond 64 in
    magnitude are lowered only on an x86 CPU that reports VNNI; elsewhere, and on a
    platform whose CPU flags cannot be read, the float32 Conv takes those layers."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool({"avx512_vnni", "avx_vnni"} & flags)


def qlinear_mismatches(shift: int, offset_in: int, offset_out: int, first: int = -2, last: int = 258) -> int:
    """How many outputs of a QLinearConv built as :func:`_qlinear` builds it, run by this
    onnxruntime, differ from the contract, over every accumulator from (lo + first) * 2**s to
    (lo + last) * 2**s (s = max(shift, 0), lo = -offset_out: a u8 or s8 output): one input channel of weight 1
    whose codes 0..255 meet biases 256 apart, one output channel per bias."""
    import onnxruntime as ort
    from types import SimpleNamespace

    from wqrc.contract.formats import TensorFormat
    from wqrc.quant.qmodel import AlignedLayer
    from wqrc.contract.kernels import requantize

    lo, step = -offset_out, 1 << max(shift, 0)
    bias = list(range((lo + first) * step + offset_in, (lo + last) * step + offset_in + 256, 256))
    al = AlignedLayer(np.ones((len(bias), 1, 1, 1), np.int64), bias, shift, 0)
    node = SimpleNamespace(name="l", op="conv", attrs={"pads": [0, 0, 0, 0], "strides": [1, 1], "dilations": [1, 1],
                                                        "group": 1})
    b = _Builder()
    y = _qlinear(b, SimpleNamespace(layers={"l": SimpleNamespace(aligned=lambda: al)}), node, "x", offset_in, offset_out)
    graph = helper.make_graph(b.nodes, "probe", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 1, 256])],
                              [helper.make_tensor_value_info(y, TensorProto.UINT8, None)], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    codes = np.arange(256, dtype=np.uint8).reshape(1, 1, 1, 256)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": codes})[0]
    acc = np.asarray(bias, np.int64).reshape(1, -1, 1, 1) + (codes.astype(np.int64) - offset_in)
    want = requantize(acc, shift, TensorFormat(offset_out != 0, 8, 0), None) + offset_out  # the contract's own
    return int(np.count_nonzero(got.astype(np.int64) != want))


_PROBED: list = []


def _qlinear_rounds_as_the_contract() -> bool:
    """Whether this onnxruntime's QLinearConv requantizes as :func:`_qlinear` proves it does:
    probed once per process (a few milliseconds) at the smallest, a middle and the largest
    shift, and without a shift, near both ends of the output range (every tie there) and with
    and without offsets. The proof rests on how onnxruntime requantizes (float32 multiply,
    round to nearest even); should a version requantize otherwise, the float32 Conv takes
    every layer again, and a warning says so."""
    if not _PROBED:
        ok = all(qlinear_mismatches(sh, oi, oo, first, last) == 0
                 for sh in (-2, 0, 1, 7, QL_MAX_SHIFT) for oi, oo in ((0, 0), (128, 128))
                 for first, last in ((-2, 4), (250, 258)))
        if not ok:
            import warnings
            warnings.warn("onnxruntime's QLinearConv does not requantize as wqrc's lowering expects; "
                          "the simulator uses float32 convolutions instead", RuntimeWarning, stacklevel=3)
        _PROBED.append(ok)
    return _PROBED[0]


def _qlinear_plan(qm: QModel, every: bool = False) -> dict[str, tuple[int, int]]:
    """The layers that run as QLinearConv, each with (input offset, output offset): uint8
    codes hold value + offset. A layer qualifies when it rounds half up, its input is 8 bits
    or fewer and its output 8 bits with bounds [lo, lo + 255] (so that uint8's saturation is
    its clamp), its weights fit int8 (and VPMADDUBSW: :func:`_wide_weights_exact`), every
    group has QL_MIN_CHANNELS input channels or more, its shift is at most QL_MAX_SHIFT, and
    its sums with the output offset fit int32; and where it has QL_MIN_MACS per image or
    more, its input holds codes already, or its sums pass what the float32 Conv holds (with
    ``every``, wherever it is exact: the last two conditions are about speed)."""
    wide_ok = None
    plan = {}
    bounds = node_bounds(qm)
    codes = set()  # tensors that the lowering will hold as uint8 codes
    for node in qm.nodes:
        if node.op in CODES_PASS and node.inputs[0] in codes and CODES_PASS[node.op](qm, node):
            codes.add(node.output)
        if node.name not in qm.layers:
            continue
        layer = qm.layers[node.name]
        if layer.rounding != "half_up":
            continue
        al = layer.aligned()
        w = al.multipliers
        macs = int(np.prod(qm.shapes[node.output], dtype=np.int64)) * int(w[0].size)
        if macs < QL_MIN_MACS and bounds[node.name].sum < EXACT and node.inputs[0] not in codes and not every:
            continue
        f_in, f_out = qm.formats[node.inputs[0]], qm.formats[node.output]
        lo, hi = output_bounds(f_out, node.attrs.get("qclip"))
        if w.dtype == object or f_in.bits > 8 or f_out.bits != 8 or hi - lo != 255 or al.shift > QL_MAX_SHIFT:
            continue
        if w.min() < -128 or w.max() > 127:
            continue
        if w[0].size // int(np.prod(w.shape[2:], dtype=np.int64)) < QL_MIN_CHANNELS and not every:
            continue
        if int(np.abs(w).max()) > QL_SAFE_WEIGHT:
            if node.op == "conv" and node.attrs["group"] != 1:
                continue  # depthwise and grouped kernels: only the plain GEMM's VNNI form is known
            if wide_ok is None:
                wide_ok = _wide_weights_exact()
            if not wide_ok:
                continue
        if al.acc_bound + abs(lo) * (1 << max(al.shift, 0)) >= 2 ** 31:
            continue
        plan[node.name] = (-f_in.qmin, -lo)
        codes.add(node.output)
    return plan if not plan or _qlinear_rounds_as_the_contract() else {}


def _qlinear(b: _Builder, qm: QModel, node, x: str, offset_in: int, offset_out: int) -> str:
    """The layer as QLinearConv on uint8 codes x (value + offset_in), giving codes value + offset_out.

    onnxruntime computes y = sat_u8(round_even(fl(N) * c) + zp), N the int32 sum with the bias,
    c = x_scale * w_scale / y_scale = w_scale here (scales of 1). For a shift s >= 1 the
    contract wants q = floor(t + 1/2), t = (acc + b) / 2**s, clamped to [lo, lo + 255]. With
    N = acc + b - lo * 2**s (t' = t - lo: the offset in the bias), zp = 0 and
    c = 2**-s * (1 + eps), eps = 2**-22 (exact in float32):
      - a tie t' = q' - 1/2 with q' >= 1 becomes (q' - 1/2)(1 + eps)(1 + d), |d| <= 2**-24
        (the one float32 rounding of the product), which is above q' - 1/2: it rounds up to q';
      - the largest t' below it, q' + 1/2 - 2**-s, stays below q' + 1/2 while
        (q' + 1/2)(eps + 2**-24 + eps * 2**-24) < 2**-s, true for q' <= 255 and s <= 13;
      - t' below 1/2 gives at most 0, t' from 255.5 on at least 255, so uint8's saturation
        is the clamp; fl(N) is exact below 2**24, and beyond it t' is far outside [0, 255]
        either way (the float32 product is monotone).
    For s <= 0 the product N * 2**-s is an integer (no ties; c = 2**-s exactly) and the offset
    goes into zp. The input's offset is its zero point, subtracted in int32 by onnxruntime."""
    a = node.attrs
    al = qm.layers[node.name].aligned()
    s = al.shift
    w = np.asarray(al.multipliers, np.int64)
    if node.op == "dense":
        w = w.reshape(w.shape + (1, 1))
        x = b.op("Reshape", [x, b.const([0, -1, 1, 1], np.int64)])
    if s >= 1:
        scale, bias, zp = 2.0 ** -s * (1 + QL_EPS), [int(v) + offset_out * (1 << s) for v in al.bias], 0
    else:
        scale, bias, zp = 2.0 ** -s, [int(v) for v in al.bias], offset_out
    one = b.const(1.0)
    inputs = [x, one, b.const(offset_in, np.uint8), b.const(w, np.int8), b.const(scale), b.const(0, np.int8),
              one, b.const(zp, np.uint8), b.const(np.asarray(bias, np.int64), np.int32)]
    if node.op == "conv":
        y = b.op("QLinearConv", inputs, pads=list(a["pads"]), strides=list(a["strides"]),
                 dilations=list(a["dilations"]), group=a["group"], kernel_shape=list(w.shape[2:]))
    else:
        y = b.op("Reshape", [b.op("QLinearConv", inputs, kernel_shape=[1, 1]), b.const([0, -1], np.int64)])
    b.offsets[y] = offset_out
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


# ops that run on uint8 codes as they are (same offset in and out), where this says they may: a
# max pool without padding (its padding value, qmin - 1, has no code), flatten, reshape
CODES_PASS = {
    "maxpool": lambda qm, node: explicit_pads(qm.shapes[node.inputs[0]], node.attrs) == (0, 0, 0, 0),
    "flatten": lambda qm, node: True,
    "reshape": lambda qm, node: True,
}

# The builder of each op: by kernel family where the family's ops share one, else the op's own.
LOWER = op_table("onnxruntime lowering", families=dict(
    conv=_weighted, add=_add, mul=_mul, upsample=_upsample, lut=_lookup,
    pad=lambda b, qm, node, ins: b.op("Pad", [ins[0], b.const(onnx_pads(node.attrs["pads"]), np.int64),
                                              b.const(float(node.attrs["code"]))]),
), ops=dict(
    maxpool=_maxpool, avgpool=_avgpool, global_avgpool=_global_avgpool, concat=_concat, relu=_clamp, clip=_clamp,
    select_channels=lambda b, qm, node, ins: b.op("Gather", [ins[0], b.const(list(node.attrs["channels"]), np.int64)],
                                                  axis=1),
    flatten=lambda b, qm, node, ins: b.op("Flatten", [ins[0]], axis=1),
    reshape=lambda b, qm, node, ins: b.op("Reshape", [ins[0], b.const([-1] + list(node.attrs["shape"]), np.int64)]),
))


class OrtExecutor:
    def __init__(self, model: onnx.ModelProto):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # every optimisation: each value is an exactly representable integer (times a power of
        # two), so no fusion, layout change or summation order can round it
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.input = model.graph.input[0].name
        self.integer = any(n.op_type == "QLinearConv" for n in model.graph.node)  # for reports

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.session.run(None, {self.input: np.asarray(x, np.float32)})[0]
        return y.astype(np.int64)
