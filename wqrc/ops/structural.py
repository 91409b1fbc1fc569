"""Ops that move or drop data: flatten, identity, trailing softmax, foldable batch norm."""
from __future__ import annotations

import math

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef, finite_param


class Flatten(OpDef):
    name = "flatten"
    doc = "(C, H, W) -> (C*H*W)"
    keeps_format = True
    aliases_input = True
    kernel = "alias"
    round_commutes = True

    def shape(self, node, in_shapes):
        return (math.prod(in_shapes[0]),)

    def run_int(self, qm, node, ins, path):
        return ins[0].reshape(len(ins[0]), -1)


class Reshape(OpDef):
    """Any reshape that keeps the batch: tensors are stored in C order, so it moves no data
    (the same buffer, reinterpreted, in every target): (C,) -> (C, 1, 1) for a gate computed by
    dense layers, squeezes and unsqueezes of unit extents, (C, H, W) -> (C', H', W')."""
    name = "reshape"
    doc = "reshape keeping the batch and the element order (no data moves)"
    attrs = (Attr("shape", "shape", None, lo=1, hi=MAX_EXTENT, required=True,
                  doc="the output shape, batch excluded"),)
    keeps_format = True
    aliases_input = True
    kernel = "alias"
    round_commutes = True

    def shape(self, node, in_shapes):
        out = tuple(node.attrs["shape"])
        if math.prod(out) != math.prod(in_shapes[0]):
            self.fail(node, f"attribute shape: {out} does not hold the {math.prod(in_shapes[0])} elements of "
                            f"{tuple(in_shapes[0])}")
        return out

    def run_int(self, qm, node, ins, path):
        return ins[0].reshape((len(ins[0]),) + tuple(node.attrs["shape"]))


class Identity(OpDef):
    name = "identity"
    doc = "no-op (Identity, Dropout); removed"
    integer = False


class Softmax(OpDef):
    name = "softmax"
    doc = "trailing softmax; dropped from the integer graph"
    integer = False


class BatchNorm(OpDef):
    name = "batchnorm"
    doc = "batch normalisation (folded into the layer before it)"
    integer = False
    attrs = (Attr("epsilon", "float", 1e-5),)

    def check_params(self, node, in_shapes):
        c = in_shapes[0][0]
        for key in ("scale", "bias", "mean", "var"):
            finite_param(self, node, key, (c,))
        if node.attrs["epsilon"] < 0 or (node.params["var"] + node.attrs["epsilon"] <= 0).any():
            self.fail(node, "variance + epsilon must be positive")
