"""Constant padding (docs/format.md §3g): the input placed in a larger map of one constant.

A Pad that only adds zeros in front of a conv or an average pool (or in front of a ReLU's max
pool) is folded into that op's own padding by the frontend; any other constant Pad is this op.
Its value is quantized once, into the input's format, like a weight: ``code = sat(round(v /
2**f))`` (half away from zero), a derived attribute every executor and backend reads. The
output keeps the input's format, so every target is exact by construction.
"""
from __future__ import annotations

import numpy as np

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef
from wqrc.contract.arith import round_half_away


def onnx_pads(pads) -> list[int]:
    """(top, left, bottom, right) as ONNX Pad's begins, then ends, over (N, C, H, W)."""
    pt, pl, pb, pr = pads
    return [0, 0, pt, pl, 0, 0, pb, pr]


def torch_pads(pads) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) as torch.nn.functional.pad's (left, right, top, bottom)."""
    pt, pl, pb, pr = pads
    return (pl, pr, pt, pb)


class Pad(OpDef):
    name = "pad"
    doc = "a constant border: (top, left, bottom, right) elements of value `value` around the map"
    rank = (3,)
    attrs = (Attr("pads", "ints", (0, 0, 0, 0), length=4, lo=0, hi=MAX_EXTENT, doc="top, left, bottom, right"),
             Attr("value", "float", 0.0, doc="the border's value, in real units"))
    keeps_format = True
    kernel = "pad"

    def shape(self, node, in_shapes):
        c, h, w = in_shapes[0]
        pt, pl, pb, pr = node.attrs["pads"]
        if max(h + pt + pb, w + pl + pr) > MAX_EXTENT:
            self.fail(node, f"attribute pads: {node.attrs['pads']} makes the map too large")
        return (c, h + pt + pb, w + pl + pr)

    def interval(self, node, ins):
        lo, hi = ins[0]
        v = float(node.attrs["value"])
        return (min(lo, v), max(hi, v))

    def unsigned_output(self, node, in_fmts):
        return not in_fmts[0].signed and node.attrs["value"] >= 0

    def derived_attrs(self, node, in_fmts, out_fmt) -> dict:
        f = in_fmts[0]
        q = int(round_half_away(np.ldexp(float(node.attrs["value"]), -f.frac)))
        return {"code": min(max(q, f.qmin), f.qmax)}

    def run_int(self, qm, node, ins, path):
        pt, pl, pb, pr = node.attrs["pads"]
        return np.pad(ins[0], ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=node.attrs["code"])
