"""Lowering: each node of a QModel to one typed kernel call (wqrc/lower/calls.py).

One function per kernel family (``OpDef.kernel``), in one table, ``LOWER``; what differs
between the ops of a family is read from the op's declared properties (``zeros``,
``takes_max``, ``whole_map``, ``aligns_inputs``) and the scheme's (``multiplies``), never
from a name. Everything here is target-neutral; the C, HLS and RTL renderers lay the
calls out. Refusals that hold for every 64-bit target (an add or product whose exact
value could leave int64) are made here, once, naming the node.
"""
from __future__ import annotations

import math

import numpy as np

from wqrc.contract.arith import avgpool_divisor
from wqrc.contract.formats import output_bounds
from wqrc.errors import WqrcError
from wqrc.lower.calls import (AddCall, AliasCall, Call, ConvCall, ConvGeometry, CopyCall, CopyPart, LutCall, MulCall,
                              PadCall, PoolCall, PoolGeometry, UpsampleCall)
from wqrc.ops import KERNEL_FAMILIES, op_def
from wqrc.quant.schemes import SCHEMES


def _common(qm, node, index: int) -> dict:
    return dict(name=node.name, op=node.op, index=index, inputs=tuple(node.inputs), output=node.output,
                in_formats=tuple(qm.formats[t] for t in node.inputs), out_format=qm.formats[node.output])


def conv_geometry(qm, node, layer) -> ConvGeometry:
    """A conv's sizes, kernel, stride, dilation and pads; a dense layer's as a 1x1 conv of a 1x1 map."""
    if len(layer.codes.shape) == 4:
        a = node.attrs
        c, h, w = qm.shapes[node.inputs[0]]
        o, ho, wo = qm.shapes[node.output]
        kh, kw = layer.codes.shape[2:]
        pt, pl, pb, pr = a["pads"]
        return ConvGeometry(in_c=c, in_h=h, in_w=w, out_c=o, out_h=ho, out_w=wo, group=a["group"], k_h=kh, k_w=kw,
                            stride_h=a["strides"][0], stride_w=a["strides"][1], dil_h=a["dilations"][0],
                            dil_w=a["dilations"][1], pad_t=pt, pad_l=pl, pad_b=pb, pad_r=pr)
    o, i = layer.codes.shape
    return ConvGeometry(in_c=i, in_h=1, in_w=1, out_c=o, out_h=1, out_w=1, group=1, k_h=1, k_w=1, stride_h=1,
                        stride_w=1, dil_h=1, dil_w=1, pad_t=0, pad_l=0, pad_b=0, pad_r=0)


def _conv(qm, node, index: int) -> ConvCall:
    layer = qm.layers[node.name]
    geo = conv_geometry(qm, node, layer)
    lo, hi = output_bounds(qm.formats[node.output], node.attrs.get("qclip"))
    shifts = np.broadcast_to(np.asarray(layer.requant_shift), (geo.out_c,))
    return ConvCall(**_common(qm, node, index), geometry=geo, scheme=layer.scheme,
                    multiplies=SCHEMES[layer.scheme].multiplies, bits=layer.bits, exponent=layer.exponent,
                    shifts=tuple(int(s) for s in shifts), per_channel=bool(layer.per_channel),
                    half_even=layer.rounding == "half_even", lo=int(lo), hi=int(hi), acc_bits=layer.acc_bits,
                    acc_bound=int(layer.acc_bound), bias=tuple(int(b) for b in layer.bias), w_mem=layer.w_mem)


def _pool(qm, node, index: int) -> PoolCall:
    """The divisor tables R, S as the code backends index them: entry n for a window of n elements
    (entry 0 unused; a max pool has no other), or for a global pool, whose every window has H*W
    elements, that one divisor at entry 0."""
    op = op_def(node)
    a = node.attrs
    c, h, w = qm.shapes[node.inputs[0]]
    _, ho, wo = qm.shapes[node.output]
    if op.whole_map:
        kh, kw, strides, pads, dil, include = h, w, (1, 1), (0, 0, 0, 0), (1, 1), 1
        div = [avgpool_divisor(h * w)]
    else:
        (kh, kw), strides, pads = a["kernel"], a["strides"], a["pads"]
        dil, include = a.get("dilations", (1, 1)), int(a.get("count_include_pad", 0))
        div = [(1, 0)] + ([] if op.takes_max else [avgpool_divisor(n) for n in range(1, kh * kw + 1)])
    geo = PoolGeometry(c=c, in_h=h, in_w=w, out_h=ho, out_w=wo, k_h=kh, k_w=kw, stride_h=strides[0],
                       stride_w=strides[1], dil_h=dil[0], dil_w=dil[1], pad_t=pads[0], pad_l=pads[1],
                       count_include_pad=include)
    fmt = qm.formats[node.output]
    return PoolCall(**_common(qm, node, index), geometry=geo, takes_max=op.takes_max, whole_map=op.whole_map,
                    div_r=tuple(r for r, _ in div), div_s=tuple(s for _, s in div), lo=fmt.qmin, hi=fmt.qmax)


def _add(qm, node, index: int) -> AddCall:
    """Refused, naming the node, where the aligned terms could leave int64 (docs/format.md §3)."""
    total = sum(qm.formats[t].max_abs_q << max(0, -sh) for t, sh in zip(node.inputs, node.attrs["shifts"]))
    if total >= 1 << 63:
        raise WqrcError(f"node '{node.name}' (add): aligning its inputs to the output format "
                        f"{qm.formats[node.output].describe()} needs {total.bit_length() + 1}-bit sums, more "
                        f"than the 64 bits of the C, HLS and RTL targets")
    lo, hi = output_bounds(qm.formats[node.output], node.attrs.get("qclip"))
    return AddCall(**_common(qm, node, index), shifts=tuple(node.attrs["shifts"]),
                   size=math.prod(qm.shapes[node.output]), lo=int(lo), hi=int(hi), sum_bound=total)


def _copy(qm, node, index: int) -> CopyCall:
    lo, hi = output_bounds(qm.formats[node.output], node.attrs.get("qclip"))
    op = op_def(node)
    if op.selects:   # a channel selection: a part per block or strided series of channels
        x = node.inputs[0]
        plane = math.prod(qm.shapes[x][1:])
        parts = tuple(CopyPart(x, qm.formats[x], 0, n * plane, out_c * plane, in_c * plane, count,
                               in_step * plane, out_step * plane)
                      for out_c, in_c, n, count, out_step, in_step in op.blocks(node))
        return CopyCall(**_common(qm, node, index), parts=parts, lo=int(lo), hi=int(hi))
    shifts = node.attrs["shifts"] if op.aligns_inputs else [0]
    parts, offset = [], 0
    for t, sh in zip(node.inputs, shifts):
        n = math.prod(qm.shapes[t])
        parts.append(CopyPart(t, qm.formats[t], int(sh), n, offset))
        offset += n
    return CopyCall(**_common(qm, node, index), parts=tuple(parts), lo=int(lo), hi=int(hi))


def _mul(qm, node, index: int) -> MulCall:
    """(channels, positions per channel, positions of the gate per channel) of docs/format.md §3e;
    refused, naming the node, where the exact product could leave int64."""
    a, b = (qm.formats[t].max_abs_q for t in node.inputs)
    if a * b >= 1 << 63:
        raise WqrcError(f"node '{node.name}' (mul): the product of its inputs needs {(a * b).bit_length() + 1} bits, "
                        f"more than the 64 of the C, HLS and RTL targets; use fewer activation bits")
    shape, b_shape = qm.shapes[node.inputs[0]], qm.shapes[node.inputs[1]]
    if len(shape) == 3:
        hw = shape[1] * shape[2]
        c, b_hw = shape[0], 1 if tuple(b_shape) != tuple(shape) else hw
    else:
        c, hw, b_hw = 1, shape[0], shape[0]
    fmt = qm.formats[node.output]
    return MulCall(**_common(qm, node, index), channels=c, positions=hw, gate_positions=b_hw,
                   shift=int(node.attrs["shift"]), lo=fmt.qmin, hi=fmt.qmax)


def _upsample(qm, node, index: int) -> UpsampleCall:
    c, h, w = qm.shapes[node.inputs[0]]
    sh, sw = node.attrs["scales"]
    return UpsampleCall(**_common(qm, node, index), c=c, h=h, w=w, scale_h=sh, scale_w=sw, zeros=op_def(node).zeros)


def _pad(qm, node, index: int) -> PadCall:
    c, h, w = qm.shapes[node.inputs[0]]
    return PadCall(**_common(qm, node, index), c=c, h=h, w=w, pads=tuple(node.attrs["pads"]),
                   code=int(node.attrs["code"]))


def _lut(qm, node, index: int) -> LutCall:
    return LutCall(**_common(qm, node, index), table=tuple(int(v) for v in node.attrs["table"]),
                   qmin=qm.formats[node.inputs[0]].qmin, size=math.prod(qm.shapes[node.output]))


def _alias(qm, node, index: int) -> AliasCall:
    return AliasCall(**_common(qm, node, index))


# One table per concern: how each kernel family is lowered; tests/test_ops.py checks it covers them all.
LOWER = {"conv": _conv, "pool": _pool, "add": _add, "copy": _copy, "mul": _mul, "upsample": _upsample,
         "pad": _pad, "lut": _lut, "alias": _alias}
assert set(LOWER) == set(KERNEL_FAMILIES), "every kernel family needs a lowering"
# The call type each family lowers to: what a renderer keyed by call type must cover.
CALLS = {"conv": ConvCall, "pool": PoolCall, "add": AddCall, "copy": CopyCall, "mul": MulCall,
         "upsample": UpsampleCall, "pad": PadCall, "lut": LutCall, "alias": AliasCall}


def lower_node(qm, node, index: int) -> Call:
    return LOWER[op_def(node).kernel](qm, node, index)


def lower(qm) -> tuple[Call, ...]:
    """Every node's call, in graph order."""
    return tuple(lower_node(qm, n, i) for i, n in enumerate(qm.nodes))
