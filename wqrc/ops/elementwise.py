"""Element-wise ops: activations, residual add, channel concat (docs/format.md §3)."""
from __future__ import annotations

from wqrc.ops.base import Attr, OpDef
from wqrc.ops.layers import CLAMP


class Relu(OpDef):
    name = "relu"
    doc = "max(x, 0)"


class Clip(OpDef):
    name = "clip"
    doc = "clamp to [min, max] (ReLU6 and friends)"
    attrs = (Attr("min", "opt_float", None), Attr("max", "opt_float", None))

    def check_params(self, node, in_shapes):
        lo, hi = node.attrs["min"], node.attrs["max"]
        if lo is not None and hi is not None and lo > hi:
            self.fail(node, f"attribute min: {lo} is above max {hi}")


class Add(OpDef):
    name = "add"
    doc = "element-wise sum of two equally shaped tensors (residuals)"
    inputs = (2, 2)
    attrs = (CLAMP,)

    def shape(self, node, in_shapes):
        if any(tuple(s) != tuple(in_shapes[0]) for s in in_shapes[1:]):
            self.fail(node, f"input shapes {[tuple(s) for s in in_shapes]} differ; broadcasting adds are "
                            f"not supported")
        return in_shapes[0]


class Concat(OpDef):
    name = "concat"
    doc = "concatenation along channels"
    inputs = (2, None)
    rank = (1, 3)

    def shape(self, node, in_shapes):
        x = in_shapes[0]
        if any(len(s) != len(x) or tuple(s[1:]) != tuple(x[1:]) for s in in_shapes[1:]):
            self.fail(node, f"shapes {[tuple(s) for s in in_shapes]} cannot be joined on channels")
        return (sum(s[0] for s in in_shapes),) + tuple(x[1:])
