"""Pools: max, average and global average (docs/format.md §3)."""
from __future__ import annotations

import numpy as np

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef, window_out
from wqrc.contract.arith import avgpool_divisor, half
from wqrc.contract import kernels as K

KERNEL = Attr("kernel", "ints", None, length=2, lo=1, hi=MAX_EXTENT, required=True)
STRIDES = Attr("strides", "ints", (1, 1), length=2, lo=1, hi=MAX_EXTENT)
PADS = Attr("pads", "ints", (0, 0, 0, 0), length=4, lo=0, hi=MAX_EXTENT, doc="top, left, bottom, right")
CEIL = Attr("ceil_mode", "int", 0, lo=0, hi=1)


class _Pool(OpDef):
    rank = (3,)
    keeps_format = True
    kernel = "pool"

    def check_params(self, node, in_shapes):
        a = node.attrs
        if a["kernel"] is None:
            self.fail(node, "attribute kernel: missing (kernel_shape is required)")
        (kh, kw), (pt, pl, pb, pr) = a["kernel"], a["pads"]
        if max(pt, pb) >= kh or max(pl, pr) >= kw:
            self.fail(node, f"attribute pads: {a['pads']} must be smaller than the kernel {a['kernel']}")
        _, h, w = in_shapes[0]
        dh, dw = a.get("dilations", (1, 1))
        if (kh - 1) * dh + 1 > h + pt + pb or (kw - 1) * dw + 1 > w + pl + pr:
            self.fail(node, f"attribute kernel: {a['kernel']} is larger than the padded input {tuple(in_shapes[0])}")

    def shape(self, node, in_shapes):
        a = node.attrs
        c, h, w = in_shapes[0]
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["strides"], a["pads"]
        dh, dw = a.get("dilations", (1, 1))
        ceil = bool(a["ceil_mode"])
        ho, wo = window_out(h, kh, sh, pt, pb, dh, ceil), window_out(w, kw, sw, pl, pr, dw, ceil)
        for size, k, s, p0, d, n in ((h, kh, sh, pt, dh, ho), (w, kw, sw, pl, dw, wo)):
            for i in range(n):  # a window of padding only has no defined max or mean
                if not any(0 <= i * s - p0 + j * d < size for j in range(k)):
                    self.fail(node, f"window {i} covers only padding (kernel {a['kernel']}, pads {a['pads']}, "
                                    f"dilations {(dh, dw)}); not supported")
        return (c, ho, wo)


def window_counts(in_shape, attrs: dict, out_hw) -> np.ndarray:
    """How many input elements each output position of an average pool divides by: kh * kw
    everywhere with counted (or no) padding, else the window's overlap with the input; for the
    float executors that divide per position (the NumPy kernel counts the same with its windows)."""
    _, h, w = in_shape
    kh, kw = attrs["kernel"]
    pads = tuple(attrs["pads"])
    ho, wo = out_hw
    if attrs.get("count_include_pad") or not any(pads):
        return np.full((ho, wo), kh * kw, np.int64)
    pt, pl, pb, pr = pads
    mask = np.pad(np.ones((h, w)), ((pt, pb), (pl, pr)))
    sh, sw = attrs["strides"]
    return np.array([[mask[i * sh:i * sh + kh, j * sw:j * sw + kw].sum() for j in range(wo)]
                     for i in range(ho)]).astype(np.int64)


def divided_bound(total: int, n: int) -> int:
    """The largest magnitude while a sum of ``n`` values up to ``total`` is divided: total * R + half."""
    r, s = avgpool_divisor(n)
    return total * r + half(s)


class MaxPool(_Pool):
    name = "maxpool"
    takes_max = True
    round_commutes = True   # its padding value is an integer, qmin - 1
    doc = "2-D max pooling"
    attrs = (KERNEL, STRIDES, PADS, Attr("dilations", "ints", (1, 1), length=2, lo=1, hi=MAX_EXTENT), CEIL)

    def run_int(self, qm, node, ins, path):
        return K.maxpool(ins[0], node.attrs, qm.formats[node.output])


class AvgPool(_Pool):
    name = "avgpool"
    doc = "2-D average pooling"
    attrs = (KERNEL, STRIDES, PADS, CEIL, Attr("count_include_pad", "int", 0, lo=0, hi=1))

    def shape(self, node, in_shapes):
        out = super().shape(node, in_shapes)
        if node.attrs["ceil_mode"]:
            floor = super().shape(type(node)(node.op, node.name, node.inputs, node.output,
                                             dict(node.attrs, ceil_mode=0)), in_shapes)
            if floor != out:
                self.fail(node, "attribute ceil_mode: 1 adds a partial window; not supported for average pooling")
        return out

    def interval(self, node, ins):
        lo, hi = ins[0]
        if node.attrs.get("count_include_pad") and any(node.attrs["pads"]):
            return min(lo, 0.0), max(hi, 0.0)  # padded zeros are averaged in
        return lo, hi

    def bounds(self, qm, node):
        kh, kw = node.attrs["kernel"]
        m = qm.formats[node.inputs[0]].max_abs_q
        return kh * kw * m, max(divided_bound(k * m, k) for k in range(1, kh * kw + 1))

    def run_int(self, qm, node, ins, path):
        return K.avgpool(ins[0], node.attrs, qm.formats[node.output])


class GlobalAvgPool(OpDef):
    name = "global_avgpool"
    doc = "mean over H and W, keeping a 1x1 map"
    rank = (3,)
    keeps_format = True
    kernel = "pool"  # one window over the whole map
    whole_map = True

    def shape(self, node, in_shapes):
        return (in_shapes[0][0], 1, 1)

    def bounds(self, qm, node):
        _, h, w = qm.shapes[node.inputs[0]]
        s = h * w * qm.formats[node.inputs[0]].max_abs_q
        return s, divided_bound(s, h * w)

    def run_int(self, qm, node, ins, path):
        return K.global_avgpool(ins[0], qm.formats[node.output])
