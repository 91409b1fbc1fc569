"""Element-wise ops: activations, residual add, channel concat (docs/format.md §3)."""
from __future__ import annotations

from wqrc.ops.base import Attr, OpDef
from wqrc.ops.layers import CLAMP
from wqrc.contract.arith import half
from wqrc.contract import kernels as K


class _Clamp(OpDef):
    clamps = True
    kernel = "copy"  # a copy that saturates and clamps
    round_commutes = True  # integer bounds

    def run_int(self, qm, node, ins, path):
        return K.clamp(ins[0], node.attrs["qclip"])


class Relu(_Clamp):
    name = "relu"
    doc = "max(x, 0)"

    def output_clamp(self, node):
        return (0.0, None)

    def interval(self, node, ins):
        return max(ins[0][0], 0.0), max(ins[0][1], 0.0)


class Clip(_Clamp):
    name = "clip"
    doc = "clamp to [min, max] (ReLU6 and friends)"
    attrs = (Attr("min", "opt_float", None), Attr("max", "opt_float", None))

    def output_clamp(self, node):
        return (node.attrs.get("min"), node.attrs.get("max"))

    def check_params(self, node, in_shapes):
        lo, hi = node.attrs["min"], node.attrs["max"]
        if lo is not None and hi is not None and lo > hi:
            self.fail(node, f"attribute min: {lo} is above max {hi}")

    def interval(self, node, ins):
        return clamp_interval(ins[0], self.output_clamp(node))


def _aligned_terms(qm, node) -> list[int]:
    """The largest magnitude of each input after its alignment shift, rounding offset included."""
    return [qm.formats[t].max_abs_q * (1 << max(0, -s)) + half(s) for t, s in zip(node.inputs, node.attrs["shifts"])]


class Add(OpDef):
    name = "add"
    doc = "element-wise sum of two equally shaped tensors (residuals)"
    inputs = (2, 2)
    attrs = (CLAMP,)
    aligns_inputs = True
    kernel = "add"

    def bounds(self, qm, node):
        s = sum(_aligned_terms(qm, node))
        return s, s

    def shape(self, node, in_shapes):
        if any(tuple(s) != tuple(in_shapes[0]) for s in in_shapes[1:]):
            self.fail(node, f"input shapes {[tuple(s) for s in in_shapes]} differ; broadcasting adds are "
                            f"not supported")
        return in_shapes[0]

    def interval(self, node, ins):
        return sum(i[0] for i in ins), sum(i[1] for i in ins)

    def run_int(self, qm, node, ins, path):
        return K.add(ins, node.attrs["shifts"], qm.formats[node.output], node.attrs.get("qclip"))


class Mul(OpDef):
    """The product of two activations, the second broadcast over H and W when it is (C, 1, 1): a
    squeeze-and-excitation gate (docs/format.md §3e). y = sat(rshift_round(q_a * q_b, sh)),
    sh = f_y - (f_a + f_b): the product is exact, then requantized like a layer's sum."""
    name = "mul"
    doc = "element-wise product; the second input may be (C, 1, 1) (squeeze-and-excitation)"
    inputs = (2, 2)
    kernel = "mul"

    def shape(self, node, in_shapes):
        a, b = (tuple(s) for s in in_shapes)
        if b != a and not (len(a) == 3 and b == (a[0], 1, 1)):
            self.fail(node, f"input shapes {a} and {b}: the second must equal the first or be (C, 1, 1)")
        return a

    def interval(self, node, ins):
        (a0, a1), (b0, b1) = ins
        p = [a0 * b0, a0 * b1, a1 * b0, a1 * b1]
        return min(p), max(p)

    def unsigned_output(self, node, in_fmts):
        return all(not f.signed for f in in_fmts)

    def derived_attrs(self, node, in_fmts, out_fmt):
        return {"shift": out_fmt.frac - (in_fmts[0].frac + in_fmts[1].frac)}

    def bounds(self, qm, node):
        a, b = (qm.formats[t].max_abs_q for t in node.inputs)
        s = a * b + half(node.attrs["shift"])
        return s, s

    def run_int(self, qm, node, ins, path):
        return K.mul(ins[0], ins[1], node.attrs["shift"], qm.formats[node.output])


class Concat(OpDef):
    name = "concat"
    doc = "concatenation along channels"
    inputs = (2, None)
    rank = (1, 3)
    aligns_inputs = True
    joins_inputs = True
    kernel = "copy"  # each input copied, aligned, into its slice

    def bounds(self, qm, node):
        s = max(_aligned_terms(qm, node))
        return s, s

    def shape(self, node, in_shapes):
        x = in_shapes[0]
        if any(len(s) != len(x) or tuple(s[1:]) != tuple(x[1:]) for s in in_shapes[1:]):
            self.fail(node, f"shapes {[tuple(s) for s in in_shapes]} cannot be joined on channels")
        return (sum(s[0] for s in in_shapes),) + tuple(x[1:])

    def interval(self, node, ins):
        return min(i[0] for i in ins), max(i[1] for i in ins)

    def run_int(self, qm, node, ins, path):
        return K.concat(ins, node.attrs["shifts"], qm.formats[node.output])


def clamp_interval(r: tuple[float, float], clip) -> tuple[float, float]:
    """An interval after a clamp (lo, hi), either side None (docs/format.md §2)."""
    lo, hi = r
    if clip:
        c_lo, c_hi = clip
        if c_lo is not None:
            lo, hi = max(lo, c_lo), max(hi, c_lo)
        if c_hi is not None:
            lo, hi = min(lo, c_hi), min(hi, c_hi)
    return lo, hi
