"""Weighted layers: conv and dense (docs/format.md §3)."""
from __future__ import annotations

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef, finite_param, window_out

CLAMP = Attr("clip", "clamp", None, doc="fused output clamp (lo, hi), either side open: ReLU is (0, None)")


class Conv(OpDef):
    name = "conv"
    doc = "2-D convolution (groups, stride, padding, dilation)"
    rank = (3,)
    weighted = True
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


class Dense(OpDef):
    name = "dense"
    doc = "fully connected layer, y = x W^T + b"
    rank = (1,)
    weighted = True
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
