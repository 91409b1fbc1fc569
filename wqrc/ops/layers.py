"""Weighted layers: conv and dense (docs/format.md §3)."""
from __future__ import annotations

import numpy as np

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef, finite_param, window_out
from wqrc.contract.arith import half
from wqrc.contract import kernels as K

CLAMP = Attr("clip", "clamp", None, doc="fused output clamp (lo, hi), either side open: ReLU is (0, None)")


class _Weighted(OpDef):
    weighted = True
    kernel = "conv"  # dense: a 1x1 convolution of a 1x1 map

    def interval(self, node, ins):
        x_lo, x_hi = ins[0]
        if node.op == "conv" and any(node.attrs["pads"]):
            x_lo, x_hi = min(x_lo, 0.0), max(x_hi, 0.0)  # zero padding
        w = node.weight.astype(np.float64).reshape(node.weight.shape[0], -1)
        top = np.maximum(w * x_lo, w * x_hi).sum(1) + node.bias
        bot = np.minimum(w * x_lo, w * x_hi).sum(1) + node.bias
        return float(bot.min()), float(top.max())

    def bounds(self, qm, node):
        al = qm.layers[node.name].aligned()  # what the float executors form (QLayer.aligned)
        s = al.acc_bound + half(al.shift)
        return s, s

    def run_int(self, qm, node, ins, path):
        layer = qm.layers[node.name]
        bound = layer.acc_bound - max(abs(b) for b in layer.bias)
        if node.op == "conv":
            acc = K.conv(ins[0], layer.multipliers, layer.bias_array(), node.attrs, bound, path)
        else:
            acc = K.dense(ins[0], layer.multipliers, layer.bias_array(), bound, path)
        return K.requantize(acc, layer.requant_shift, qm.formats[node.output], node.attrs.get("qclip"),
                            layer.rounding)


class Conv(_Weighted):
    name = "conv"
    doc = "2-D convolution (groups, stride, padding, dilation)"
    rank = (3,)
    attrs = (
        Attr("strides", "ints", (1, 1), length=2, lo=1, hi=MAX_EXTENT),
        Attr("pads", "ints", (0, 0, 0, 0), length=4, lo=0, hi=MAX_EXTENT, doc="top, left, bottom, right"),
        Attr("dilations", "ints", (1, 1), length=2, lo=1, hi=MAX_EXTENT),
        Attr("group", "int", 1, lo=1, hi=MAX_EXTENT),
        CLAMP,
    )

    def check_params(self, node, in_shapes):
        w = finite_param(self, node, "weight")
        if w.ndim != 4 or min(w.shape) < 1:
            self.fail(node, f"weight has shape {tuple(w.shape)}, expected (out, in/group, kh, kw) with no zero")
        finite_param(self, node, "bias", (w.shape[0],))
        c, g = in_shapes[0][0], node.attrs["group"]
        if c != w.shape[1] * g:
            self.fail(node, f"{c} input channels do not match weight {tuple(w.shape)} with group={g}")
        if w.shape[0] % g:
            self.fail(node, f"attribute group: {g} does not divide the {w.shape[0]} output channels")

    def shape(self, node, in_shapes):
        a = node.attrs
        _, h, w = in_shapes[0]
        o, _, kh, kw = node.params["weight"].shape
        (sh, sw), (pt, pl, pb, pr), (dh, dw) = a["strides"], a["pads"], a["dilations"]
        return (o, window_out(h, kh, sh, pt, pb, dh, False), window_out(w, kw, sw, pl, pr, dw, False))


class Dense(_Weighted):
    name = "dense"
    doc = "fully connected layer, y = x W^T + b"
    rank = (1,)
    attrs = (CLAMP,)

    def check_params(self, node, in_shapes):
        w = finite_param(self, node, "weight")
        if w.ndim != 2 or min(w.shape) < 1:
            self.fail(node, f"weight has shape {tuple(w.shape)}, expected (out, in) with no zero")
        finite_param(self, node, "bias", (w.shape[0],))
        if in_shapes[0][0] != w.shape[1]:
            self.fail(node, f"input has {in_shapes[0][0]} features, weight expects {w.shape[1]}")

    def shape(self, node, in_shapes):
        return (node.params["weight"].shape[0],)
