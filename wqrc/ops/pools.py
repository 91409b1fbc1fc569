"""Pools: max, average and global average (docs/format.md §3)."""
from __future__ import annotations

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef, window_out

KERNEL = Attr("kernel", "ints", None, length=2, lo=1, hi=MAX_EXTENT)
STRIDES = Attr("strides", "ints", (1, 1), length=2, lo=1, hi=MAX_EXTENT)
PADS = Attr("pads", "ints", (0, 0, 0, 0), length=4, lo=0, hi=MAX_EXTENT, doc="top, left, bottom, right")
CEIL = Attr("ceil_mode", "int", 0, lo=0, hi=1)


class _Pool(OpDef):
    rank = (3,)

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
        return (c, window_out(h, kh, sh, pt, pb, dh, ceil), window_out(w, kw, sw, pl, pr, dw, ceil))


class MaxPool(_Pool):
    name = "maxpool"
    doc = "2-D max pooling"
    attrs = (KERNEL, STRIDES, PADS, Attr("dilations", "ints", (1, 1), length=2, lo=1, hi=MAX_EXTENT), CEIL)


class AvgPool(_Pool):
    name = "avgpool"
    doc = "2-D average pooling"
    attrs = (KERNEL, STRIDES, PADS, CEIL, Attr("count_include_pad", "int", 0, lo=0, hi=1))


class GlobalAvgPool(OpDef):
    name = "global_avgpool"
    doc = "mean over H and W, keeping a 1x1 map"
    rank = (3,)

    def shape(self, node, in_shapes):
        return (in_shapes[0][0], 1, 1)
