"""Activations computed by lookup table (docs/format.md §3d): Sigmoid, Tanh, HardSigmoid, HardSwish,
LeakyRelu.

A smooth or piecewise function has no exact integer form, so its integer semantics is a table:
for every code q of the input format (f_x), ``table[q - qmin] = sat(round(f(q * 2**f_x) / 2**f_y))``
in the output format (f_y, calibrated as any other tensor), computed once by the quantizer in
float64 and stored in the model like weight codes. Every executor and backend reads the table;
none evaluates f. Inputs are limited to LUT_MAX_BITS so that a table stays small (256 entries
at 8 bits).
"""
from __future__ import annotations

import numpy as np

from wqrc.ops.base import Attr, OpDef
from wqrc.contract.arith import round_half_away
from wqrc.contract import kernels as K

LUT_MAX_BITS = 16


class _Lookup(OpDef):
    kernel = "lut"
    nonnegative = False          # f(x) >= 0 for every x: the output format may be unsigned
    critical: tuple[float, ...] = ()   # where f has an interior extremum (for the static range)

    def f(self, x, attrs, xp):
        """The float function on a NumPy (xp = np) or torch (xp = torch) array."""
        raise NotImplementedError

    def interval(self, node, ins):
        lo, hi = ins[0]
        pts = [lo, hi] + [c for c in self.critical if lo < c < hi]
        vals = self.f(np.array(pts, np.float64), node.attrs, np)
        return float(vals.min()), float(vals.max())

    def unsigned_output(self, node, in_fmts):
        return self.nonnegative

    def bounds(self, qm, node):
        m = max(qm.formats[node.inputs[0]].max_abs_q, qm.formats[node.output].max_abs_q)
        return m, m

    def derived_attrs(self, node, in_fmts, out_fmt) -> dict:
        return {"table": self.table(node, in_fmts[0], out_fmt)}

    def check_derived(self, node, in_fmts, out_fmt):
        """The table is data, like weight codes (docs/format.md §3d): its length and range are checked,
        not recomputed (a libm that rounds f differently must not make a model unreadable)."""
        table = node.attrs.get("table")
        n = in_fmts[0].qmax - in_fmts[0].qmin + 1
        if not isinstance(table, list) or len(table) != n:
            return f"attribute table: expected {n} entries, one per input code"
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in table) or \
                min(table) < out_fmt.qmin or max(table) > out_fmt.qmax:
            return f"attribute table: entries must be integers in the output format [{out_fmt.qmin}, {out_fmt.qmax}]"
        return None

    def table(self, node, in_fmt, out_fmt) -> list[int]:
        """The op's integer semantics: one output code per input code, qmin first."""
        from wqrc.errors import WqrcError
        if in_fmt.bits > LUT_MAX_BITS:
            raise WqrcError(f"node '{node.name}' ({node.op}): a lookup-table activation needs an input of at "
                            f"most {LUT_MAX_BITS} bits, got {in_fmt.bits} (use --act-bits {LUT_MAX_BITS} or less)")
        q = np.arange(in_fmt.qmin, in_fmt.qmax + 1, dtype=np.float64)
        y = self.f(np.ldexp(q, in_fmt.frac), node.attrs, np)
        t = np.clip(round_half_away(np.ldexp(y, -out_fmt.frac)), out_fmt.qmin, out_fmt.qmax)
        return [int(v) for v in t]

    def run_int(self, qm, node, ins, path):
        return K.lookup(ins[0], node.attrs["table"], qm.formats[node.inputs[0]].qmin)


def _clamp01(v, xp):
    return xp.clip(v, 0.0, 1.0) if xp is np else v.clamp(0.0, 1.0)


class Sigmoid(_Lookup):
    name = "sigmoid"
    doc = "1 / (1 + exp(-x)), by lookup table"
    nonnegative = True

    def f(self, x, attrs, xp):
        if xp is np:
            return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow in exp for large |x|
        return xp.sigmoid(x)


class Tanh(_Lookup):
    name = "tanh"
    doc = "tanh(x), by lookup table"

    def f(self, x, attrs, xp):
        return xp.tanh(x)


class HardSigmoid(_Lookup):
    name = "hardsigmoid"
    doc = "max(0, min(1, alpha * x + beta)), by lookup table (ONNX defaults; torch's is alpha = 1/6)"
    attrs = (Attr("alpha", "float", 0.2), Attr("beta", "float", 0.5))
    nonnegative = True

    def f(self, x, attrs, xp):
        return _clamp01(attrs["alpha"] * x + attrs["beta"], xp)


class HardSwish(_Lookup):
    name = "hardswish"
    doc = "x * max(0, min(1, x / 6 + 1/2)) (MobileNetV3), by lookup table"
    critical = (-1.5,)

    def f(self, x, attrs, xp):
        return x * _clamp01(x / 6.0 + 0.5, xp)


class LeakyRelu(_Lookup):
    name = "leakyrelu"
    doc = "x for x >= 0, alpha * x below, by lookup table"
    attrs = (Attr("alpha", "float", 0.01),)

    def f(self, x, attrs, xp):
        a = attrs["alpha"]
        return xp.where(x >= 0, x, a * x)


LOOKUP_OPS = (Sigmoid, Tanh, HardSigmoid, HardSwish, LeakyRelu)
# the ONNX op type of each (the frontend reads them, to_onnx writes them)
ONNX_NAMES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "hardsigmoid": "HardSigmoid", "hardswish": "HardSwish",
              "leakyrelu": "LeakyRelu"}
