"""Upsampling (docs/format.md §3f): nearest-neighbour Resize by integer factors, and the zero
insertion that turns a transposed convolution into an ordinary one.

Both only move values (a copy, or a zero), so the output keeps the input's format and every
target is exact by construction. A ConvTranspose of stride s is the frontend's zero insertion
by s followed by a stride-1 conv with the flipped, transposed kernel (wqrc/frontend/onnx.py):
the zeros cost MACs, but the layer is then the contract's conv, with its ROM, its
accumulator bound and every backend's kernel.
"""
from __future__ import annotations

import numpy as np

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef

SCALES = Attr("scales", "ints", (2, 2), length=2, lo=1, hi=64, doc="integer factors along H and W")


class _Upsample(OpDef):
    rank = (3,)
    attrs = (SCALES,)
    keeps_format = True
    kernel = "upsample"
    zeros = False   # zero insertion (True) or nearest-neighbour copies
    round_commutes = True

    def out_hw(self, node, h: int, w: int) -> tuple[int, int]:
        sh, sw = node.attrs["scales"]
        return ((h - 1) * sh + 1, (w - 1) * sw + 1) if self.zeros else (h * sh, w * sw)

    def shape(self, node, in_shapes):
        c, h, w = in_shapes[0]
        ho, wo = self.out_hw(node, h, w)
        if max(ho, wo) > MAX_EXTENT:
            self.fail(node, f"attribute scales: {node.attrs['scales']} makes the map {ho}x{wo}")
        return (c, ho, wo)

    def interval(self, node, ins):
        lo, hi = ins[0]
        return (min(lo, 0.0), max(hi, 0.0)) if self.zeros else (lo, hi)

    def run_int(self, qm, node, ins, path):
        x = ins[0]
        sh, sw = node.attrs["scales"]
        if not self.zeros:
            return np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)
        n, c, h, w = x.shape
        ho, wo = self.out_hw(node, h, w)
        y = np.zeros((n, c, ho, wo), dtype=x.dtype)
        y[:, :, ::sh, ::sw] = x
        return y


class Upsample(_Upsample):
    name = "upsample"
    doc = "nearest-neighbour upsampling by integer factors (ONNX Resize, mode nearest)"


class ZeroInsert(_Upsample):
    name = "zero_insert"
    doc = "zeros between the elements, (H-1)*s+1 rows (a transposed convolution's first half)"
    zeros = True


UPSAMPLE_OPS = (Upsample, ZeroInsert)
