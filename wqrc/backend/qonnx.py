"""``--target qonnx``: the quantized model as QONNX, in real units, with a ``Quant`` node for
every stored format (weights, biases, activations), so that QONNX tools (qonnx's executor,
FINN, hls4ml) read the formats wqrc chose and compute wqrc's integers.

The graph computes docs/format.md §3 exactly, in float32, the argument of
:mod:`wqrc.sim.ort_exec` in real units: a value ``q * 2**f`` with ``|q| < 2**24`` is exact in
float32, so are sums of such values, power-of-two scalings, floors and clamps. Each
requantization ``sat(rshift_round(acc, sh))`` becomes ``Add(half LSB) -> Quant(scale 2**f_y,
rounding FLOOR)``: Quant clamps to the format, then floors (clamping to integer bounds and
flooring commute), and ``floor(v + 1/2)`` is the contract's rounding. Where no right shift
happens the value is already on the output grid and no half is added. The input is quantized
with ``HALF_UP`` (qonnx: half away from zero, the contract's input rounding).

Po2 weights have no uniform QONNX type; their Quant is the narrowest signed integer holding
the multipliers, scaled by 2**n2: the same values, exactly. Average pools keep the contract's
``rshift_round(sum * R, S)`` (Cast to float64, where the product stays exact, Floor, back).
:func:`qonnx_model` refuses a model whose sums are not provably below 2**24 (the shared
exactness guard) or whose formats leave float32's range, naming why.
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from wqrc.errors import WqrcError
from wqrc.contract.geometry import explicit_pads
from wqrc.ops.pools import window_counts
from wqrc.contract.arith import avgpool_divisor, bits_for_signed
from wqrc.contract.formats import TensorFormat, output_bounds
from wqrc.ops import op_def, op_table
from wqrc.quant.qmodel import QModel
from wqrc.quant.schemes import SCHEMES, SCHEMES_KEY
from wqrc.sim.exactness import node_bounds
from wqrc.ops.pad import onnx_pads

DOMAIN = "qonnx.custom_op.general"
EXACT = 2 ** 24
OPSET = 13
FRAC_LIMIT = 100  # |f| of every format: q * 2**f with |q| < 2**24 stays a normal float32


class _Builder:
    """ONNX nodes, initializers and the value_info of every tensor (qonnx's executor needs each
    tensor's shape); the batch is 1, as QONNX tools expect."""

    def __init__(self):
        self.nodes, self.inits, self.infos, self.k = [], [], {}, 0

    def name(self, base: str) -> str:
        self.k += 1
        return f"{base}__{self.k}"

    def const(self, value, dtype=np.float32, base: str = "c") -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), n))
        return n

    def op(self, op_type: str, inputs, shape, elem=TensorProto.FLOAT, domain: str = "", base: str = "",
           batch: bool = True, exact_name: str = "", **attrs) -> str:
        """One node; ``shape`` is an activation's shape without the batch, or a parameter's (batch=False)."""
        out = exact_name or self.name(base or op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, domain=domain, **attrs))
        self.infos[out] = helper.make_tensor_value_info(out, elem, ([1] if batch else []) + list(shape))
        return out

    def quant(self, x: str, shape, scale, bits: int, signed: bool, rounding: str = "FLOOR",
              narrow: bool = False, base: str = "", batch: bool = True, exact_name: str = "") -> str:
        """A QONNX Quant: sat(round(x / scale)) * scale; ``scale`` a power of two or an array of them."""
        return self.op("Quant", [x, self.const(scale), self.const(0.0), self.const(float(bits))], shape,
                       domain=DOMAIN, base=base or "Quant", batch=batch, exact_name=exact_name, signed=int(signed),
                       narrow=int(narrow), rounding_mode=rounding)

    def requant(self, x: str, shape, fmt: TensorFormat, shift, qclip=None, base: str = "",
                even: bool = False) -> str:
        """sat(rshift_round(acc, sh)) of a value at the output grid 2**f times 2**sh; ``shift`` an int,
        or one per channel (axis 0 of ``shape``). Ties to even (a layer's rounding, docs/format.md §3)
        is qonnx's own ROUND (np.round), with no offset."""
        sh = np.atleast_1d(np.asarray(shift))
        if not even and (sh > 0).any():
            half = np.where(sh > 0, np.ldexp(1.0, fmt.frac - 1), 0.0)
            half = half.reshape((-1,) + (1,) * (len(shape) - 1)) if sh.size > 1 else float(half[0])
            x = self.op("Add", [x, self.const(half)], shape)
        y = self.quant(x, shape, np.ldexp(1.0, fmt.frac), fmt.bits, fmt.signed, rounding="ROUND" if even else "FLOOR",
                       base=base)
        lo, hi = output_bounds(fmt, qclip)
        if (lo, hi) != (fmt.qmin, fmt.qmax):
            y = self.clip(y, shape, np.ldexp(float(lo), fmt.frac), np.ldexp(float(hi), fmt.frac))
        return y

    def clip(self, x: str, shape, lo: float, hi: float) -> str:
        return self.op("Clip", [x, self.const(lo), self.const(hi)], shape)


def _check(qm: QModel) -> None:
    for t, fmt in qm.formats.items():
        if fmt.bits > 24:
            raise WqrcError(f"--target qonnx: tensor '{t}' is {fmt.bits}-bit; QONNX runs in float32, exact to "
                            f"24 bits (use --act-bits 24 or less)")
        if abs(fmt.frac) > FRAC_LIMIT:
            raise WqrcError(f"--target qonnx: tensor '{t}' has scale 2**{fmt.frac}, outside float32's range")
    for node, layer in qm.weighted():
        name, f_x = node.name, qm.formats[node.inputs[0]].frac
        e = layer.exponents
        if e.size and max(abs(int(e.max())), abs(int(e.min())), abs(f_x + int(e.min())), abs(f_x + int(e.max()))) \
                > FRAC_LIMIT:
            raise WqrcError(f"--target qonnx: layer '{name}' has a scale outside float32's range")
    for n in qm.nodes:
        if n.op not in WRITE:
            raise WqrcError(f"--target qonnx: node '{n.name}' ({n.op}) has no QONNX form yet")
        b = node_bounds(qm)[n.name]
        if b.sum >= EXACT or b.product >= 2 ** 53:
            raise WqrcError(f"--target qonnx: node '{n.name}' ({n.op}) can form sums up to {b.sum}, beyond "
                            f"float32's exact 2**24; QONNX runs in float32 (use narrower weights or activations)")


def qonnx_model(qm: QModel) -> onnx.ModelProto:
    """The QONNX model of ``qm`` (input and output in real units, batch 1)."""
    _check(qm)
    b = _Builder()
    fin = qm.input_format
    x = b.quant(qm.input, qm.input_shape, np.ldexp(1.0, fin.frac), fin.bits, fin.signed, rounding="HALF_UP",
                base="input_quant")
    env = {qm.input: x}
    for node in qm.nodes:
        env[node.output] = WRITE[node.op](b, qm, node, [env[t] for t in node.inputs])
    outs = [env[t] for t in qm.outputs]
    if len(set(outs)) != len(outs) or qm.input in outs:
        raise WqrcError("--target qonnx: two graph outputs (or an output and the input) are one tensor")
    for o in outs:
        b.infos.pop(o)
    graph = helper.make_graph(
        b.nodes, "wqrc_qonnx",
        [helper.make_tensor_value_info(qm.input, TensorProto.FLOAT, [1] + list(qm.input_shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1] + list(qm.shapes[t])) for o, t in zip(outs, qm.outputs)],
        b.inits, value_info=list(b.infos.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, 1)],
                              producer_name="wqrc")
    model.ir_version = 8
    po2 = {name: f"po2:{layer.bits}" for name, layer in qm.layers.items() if not SCHEMES[layer.scheme].multiplies}
    if po2:  # Po2 levels have no QONNX type: the importer reads them back from here (frontend/qonnx.py)
        helper.set_model_props(model, {SCHEMES_KEY: json.dumps(po2, sort_keys=True)})
    return model


def write_qonnx(model: onnx.ModelProto, out_dir: str) -> dict:
    """OUT/qonnx/model.onnx (``model`` from :func:`qonnx_model`); returns the report's entry."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    onnx.save(model, path)
    return {"file": "qonnx/model.onnx", "quant_nodes": sum(n.op_type == "Quant" for n in model.graph.node)}


# One table per concern: each integer op in QONNX, (builder, model, node, input names) -> output
# name; the same computation as wqrc.contract.kernels, in real units.

def _weighted(b: _Builder, qm: QModel, node, ins) -> str:
    layer = qm.layers[node.name]
    e = layer.exponents.astype(np.int64)
    oc = layer.codes.shape[0]
    per = (oc,) + (1,) * (layer.codes.ndim - 1)
    w_scale = np.ldexp(1.0, e).reshape(per) if layer.per_channel else np.ldexp(1.0, int(layer.exponent))
    w_real = np.ldexp(layer.multipliers.astype(np.float64), e.reshape(per))
    narrow = SCHEMES[layer.scheme].multiplies   # DFP's symmetric range; Po2 levels as plain integers
    w_bits = layer.bits if narrow else bits_for_signed(layer.max_abs_mult)
    w = b.quant(b.const(w_real, base=node.name + "_weight"), layer.codes.shape, w_scale, w_bits, True,
                narrow=narrow, batch=False, exact_name=node.name + ".weight")
    f_x = qm.formats[node.inputs[0]].frac
    bias = np.asarray(layer.bias, np.float64)
    b_scale = np.ldexp(1.0, f_x + e) if layer.per_channel else np.ldexp(1.0, f_x + int(layer.exponent))
    bq = b.quant(b.const(np.ldexp(bias, f_x + e), base=node.name + "_bias"), (oc,), b_scale,
                 bits_for_signed(int(np.abs(bias).max()) if bias.size else 0), True, base=node.name + "_bias_quant",
                 batch=False)
    out_shape = qm.shapes[node.output]
    a = node.attrs
    if layer.codes.ndim == 4:   # a convolution; a dense layer's codes are (out, in)
        y = b.op("Conv", [ins[0], w, bq], out_shape, exact_name=node.name, pads=list(a["pads"]),
                 strides=list(a["strides"]), dilations=list(a["dilations"]), group=a["group"],
                 kernel_shape=list(layer.codes.shape[2:]))
    else:
        y = b.op("Gemm", [ins[0], w, bq], out_shape, exact_name=node.name, transB=1)
    return b.requant(y, out_shape, qm.formats[node.output], layer.requant_shift, a.get("qclip"),
                     base=node.name + "_out_quant", even=layer.rounding == "half_even")


def _maxpool(b: _Builder, qm: QModel, node, ins) -> str:
    """ONNX MaxPool pads with -inf: padding never wins, as in the contract (docs/format.md §3). Pads
    as wide as the window (ceil_mode's partial windows) ONNX refuses: those are an explicit Pad
    by qmin - 1, a value that never wins either."""
    a = node.attrs
    (kh, kw), pads = a["kernel"], explicit_pads(qm.shapes[node.inputs[0]], a)
    x, pool_pads = ins[0], list(pads)
    if max(pads[0], pads[2]) >= kh or max(pads[1], pads[3]) >= kw:
        fmt = qm.formats[node.inputs[0]]
        c, h, w = qm.shapes[node.inputs[0]]
        pt, pl, pb, pr = pads
        x = b.op("Pad", [x, b.const([0, 0, pt, pl, 0, 0, pb, pr], np.int64),
                         b.const(np.ldexp(float(fmt.qmin - 1), fmt.frac))], (c, h + pt + pb, w + pl + pr))
        pool_pads = [0, 0, 0, 0]
    return b.op("MaxPool", [x], qm.shapes[node.output], base=node.name, kernel_shape=[kh, kw],
                strides=list(a["strides"]), dilations=list(a.get("dilations", (1, 1))), pads=pool_pads)


def _power_of_two_mean(b: _Builder, qm: QModel, node, mean: str, n: int) -> str:
    """A mean over n = 2**S elements: float32 divides exactly, and rshift_round(sum, S) is
    floor(mean + 1/2): the plain ONNX pool and a rounding Quant (what QONNX readers expect)."""
    fmt = qm.formats[node.output]
    return b.requant(mean, qm.shapes[node.output], fmt, 1 if n > 1 else 0, base=node.name + "_quant")


def _divide(b: _Builder, qm: QModel, node, total: str, counts: np.ndarray) -> str:
    """rshift_round(sum * R, S) per position in float64 (exact below 2**53), then the format."""
    fmt = qm.formats[node.output]
    shape = qm.shapes[node.output]
    mult, offset = np.zeros(counts.shape), np.zeros(counts.shape)
    for n in np.unique(counts):
        r, s = avgpool_divisor(int(n))
        m = counts == n
        mult[m] = np.ldexp(float(r), -s)
        offset[m] = np.ldexp(1.0, fmt.frac - 1) if s > 0 else 0.0
    t = b.op("Cast", [total], shape, elem=TensorProto.DOUBLE, to=TensorProto.DOUBLE)
    t = b.op("Add", [b.op("Mul", [t, b.const(mult, np.float64)], shape, elem=TensorProto.DOUBLE),
                     b.const(offset, np.float64)], shape, elem=TensorProto.DOUBLE)
    t = b.op("Mul", [b.op("Floor", [b.op("Mul", [t, b.const(2.0 ** -fmt.frac, np.float64)], shape,
                                         elem=TensorProto.DOUBLE)], shape, elem=TensorProto.DOUBLE),
                     b.const(2.0 ** fmt.frac, np.float64)], shape, elem=TensorProto.DOUBLE)
    t = b.op("Cast", [t], shape, to=TensorProto.FLOAT)
    return b.quant(t, shape, np.ldexp(1.0, fmt.frac), fmt.bits, fmt.signed, base=node.name + "_quant")


def _avgpool(b: _Builder, qm: QModel, node, ins) -> str:
    a = node.attrs
    c = qm.shapes[node.inputs[0]][0]
    kh, kw = a["kernel"]
    counts = window_counts(qm.shapes[node.inputs[0]], a, qm.shapes[node.output][1:])
    n = kh * kw
    if np.all(counts == n) and n & (n - 1) == 0:
        mean = b.op("AveragePool", [ins[0]], qm.shapes[node.output], base=node.name, kernel_shape=[kh, kw],
                    strides=list(a["strides"]), pads=list(a["pads"]), count_include_pad=1)
        return _power_of_two_mean(b, qm, node, mean, n)
    total = b.op("Conv", [ins[0], b.const(np.ones((c, 1, kh, kw)))], qm.shapes[node.output], base=node.name,
                 pads=list(a["pads"]), strides=list(a["strides"]), group=c, kernel_shape=[kh, kw])
    return _divide(b, qm, node, total, counts)


def _global_avgpool(b: _Builder, qm: QModel, node, ins) -> str:
    _, h, w = qm.shapes[node.inputs[0]]
    if h * w & (h * w - 1) == 0:
        return _power_of_two_mean(b, qm, node, b.op("GlobalAveragePool", ins, qm.shapes[node.output], base=node.name),
                                  h * w)
    total = b.op("ReduceSum", [ins[0], b.const([2, 3], np.int64)], qm.shapes[node.output], base=node.name,
                 keepdims=1)
    return _divide(b, qm, node, total, np.full((1, 1), h * w))


def _aligned_parts(b: _Builder, qm: QModel, node, ins, saturate: bool) -> list[str]:
    """Each input moved to the output grid (rshift_round by its shift, §3); saturated for concat."""
    fmt = qm.formats[node.output]
    parts = []
    for t, name, s in zip(ins, node.inputs, node.attrs["shifts"]):
        shape = qm.shapes[name]
        if saturate:
            parts.append(b.requant(t, shape, fmt, s))
        elif s > 0:  # unsaturated: a Quant as wide as float32 is exact, 24 bits
            t = b.op("Add", [t, b.const(np.ldexp(1.0, fmt.frac - 1))], shape)
            parts.append(b.quant(t, shape, np.ldexp(1.0, fmt.frac), 24, True))
        else:
            parts.append(t)
    return parts


def _add(b: _Builder, qm: QModel, node, ins) -> str:
    parts = _aligned_parts(b, qm, node, ins, saturate=False)
    shape = qm.shapes[node.output]
    y = parts[0]
    for p in parts[1:]:
        y = b.op("Add", [y, p], shape)
    return b.requant(y, shape, qm.formats[node.output], 0, node.attrs.get("qclip"), base=node.name + "_quant")


def _concat(b: _Builder, qm: QModel, node, ins) -> str:
    return b.op("Concat", _aligned_parts(b, qm, node, ins, saturate=True), qm.shapes[node.output],
                base=node.name, axis=1)


def _clamp(b: _Builder, qm: QModel, node, ins) -> str:
    fmt = qm.formats[node.output]
    lo, hi = node.attrs["qclip"]
    lo, hi = fmt.qmin if lo is None else lo, fmt.qmax if hi is None else hi
    return b.clip(ins[0], qm.shapes[node.output], np.ldexp(float(lo), fmt.frac), np.ldexp(float(hi), fmt.frac))


def _mul(b: _Builder, qm: QModel, node, ins) -> str:
    shape = qm.shapes[node.output]
    y = b.op("Mul", ins, shape, base=node.name)
    return b.requant(y, shape, qm.formats[node.output], node.attrs["shift"], base=node.name + "_quant")


def _upsample(b: _Builder, qm: QModel, node, ins) -> str:
    sh, sw = node.attrs["scales"]
    shape = qm.shapes[node.output]
    if not op_def(node).zeros:   # nearest copies; zero insertion is a 1x1 transposed conv of ones
        return b.op("Resize", [ins[0], "", b.const([1.0, 1.0, float(sh), float(sw)])], shape, base=node.name,
                    mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    c = qm.shapes[node.inputs[0]][0]
    return b.op("ConvTranspose", [ins[0], b.const(np.ones((c, 1, 1, 1)))], shape, base=node.name, group=c,
                strides=[sh, sw], kernel_shape=[1, 1])


def _lookup(b: _Builder, qm: QModel, node, ins) -> str:
    """table[q - qmin]: the code from the real value (a power-of-two scaling), a Gather of the
    table's real values (docs/format.md §3d)."""
    fin, fout = qm.formats[node.inputs[0]], qm.formats[node.output]
    shape = qm.shapes[node.output]
    q = b.op("Mul", [ins[0], b.const(np.ldexp(1.0, -fin.frac))], shape)
    idx = b.op("Cast", [b.op("Sub", [q, b.const(float(fin.qmin))], shape)], shape, elem=TensorProto.INT64,
               to=TensorProto.INT64)
    table = np.ldexp(np.asarray(node.attrs["table"], np.float64), fout.frac)
    return b.op("Gather", [b.const(table), idx], shape, base=node.name, axis=0)


# The writer of each op: by kernel family where the family's ops share one, else the op's own.
WRITE = op_table("qonnx writer", families=dict(
    conv=_weighted, add=_add, mul=_mul, upsample=_upsample, lut=_lookup,
    pad=lambda b, qm, node, ins: b.op(
        "Pad", [ins[0], b.const(onnx_pads(node.attrs["pads"]), np.int64),
                b.const(np.ldexp(float(node.attrs["code"]), qm.formats[node.inputs[0]].frac))],
        qm.shapes[node.output], base=node.name),
), ops=dict(
    maxpool=_maxpool, avgpool=_avgpool, global_avgpool=_global_avgpool, concat=_concat, relu=_clamp, clip=_clamp,
    select_channels=lambda b, qm, node, ins: b.op(
        "Gather", [ins[0], b.const(list(node.attrs["channels"]), np.int64)], qm.shapes[node.output], base=node.name,
        axis=1),
    flatten=lambda b, qm, node, ins: b.op("Flatten", ins, (int(np.prod(qm.shapes[node.output])),),
                                          base=node.name, axis=1),
    reshape=lambda b, qm, node, ins: b.op("Reshape", [ins[0], b.const([1] + list(node.attrs["shape"]), np.int64)],
                                          qm.shapes[node.output], base=node.name),
))
