"""Tensor ranges for choosing activation formats (docs/format.md §2).

Calibration runs the float graph on data and takes each tensor's max-abs (or a
percentile of |x|, or the range of the format of least squared error); without
data a static interval analysis bounds every tensor for an input range. Both
return ``{tensor: (lo, hi)}``.
"""
from __future__ import annotations

import math

import numpy as np

from wqrc.contract.formats import choose_frac
from wqrc.ir.graph import Graph
from wqrc.ir.to_torch import run_float
from wqrc.ops import op_def
from wqrc.ops.elementwise import clamp_interval


ACT_RULES = ("auto", "max", "mse")
MSE_SAMPLES = 1 << 20        # values of a tensor the mse rule scores (a seeded subset beyond that)
MSE_STEPS = 4                # candidate formats: max-abs, and 1..3 fraction bits finer (clipping the tail)


def calibrate(graph: Graph, x: np.ndarray, percentile: float | None = None, rule: str = "max",
              act_bits: int = 8) -> dict[str, tuple[float, float]]:
    """Each tensor's (lo, hi) on ``x``. ``rule`` "max": max-abs (or the ``percentile`` of |x|);
    "mse": of the formats max-abs gives and 1..3 fraction bits finer, the one whose rounding and
    saturation of the tensor's values has the least squared error at ``act_bits``, as the
    range that format holds. The graph's outputs keep max-abs (clipping the largest logit
    changes the argmax)."""
    tensors = run_float(graph, x, return_all=True)
    outputs = {graph.output, *graph.extra_outputs}
    out = {}
    for name, t in tensors.items():
        lo, hi = float(t.min()), float(t.max())
        if percentile is not None:
            hi_abs = float(np.percentile(np.abs(t), percentile))
            lo, hi = max(lo, -hi_abs), min(hi, hi_abs)
        elif rule == "mse" and name not in outputs and name != graph.input:
            m = _least_error_max(t, lo < 0, act_bits)
            lo, hi = max(lo, -m), min(hi, m)
        out[name] = (lo, hi)
    return out


def _least_error_max(t: np.ndarray, signed: bool, bits: int) -> float:
    v = np.asarray(t, np.float64).reshape(-1)
    if v.size > MSE_SAMPLES:
        v = np.random.default_rng(0).choice(v, MSE_SAMPLES, replace=False)
    top = float(np.abs(v).max()) if v.size else 0.0
    if not top > 0:
        return top
    qmin, qmax = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    f0 = choose_frac(top, signed, bits)
    best, best_err = top, None
    for k in range(MSE_STEPS):
        f = f0 - k
        q = np.ldexp(np.clip(np.floor(np.ldexp(v, -f) + 0.5), qmin, qmax), f)
        err = float(np.sum((v - q) ** 2))
        if best_err is None or err < best_err:
            best, best_err = (top if k == 0 else math.ldexp(qmax, f)), err
    return best


def static_ranges(graph: Graph, lo: float, hi: float) -> dict[str, tuple[float, float]]:
    """Interval propagation: a sound bound for every input in [lo, hi], by each op's rule (wqrc.ops)."""
    r = {graph.input: (float(lo), float(hi))}
    for n in graph.nodes:
        out = op_def(n).interval(n, [r[t] for t in n.inputs])
        r[n.output] = clamp_interval(out, n.attrs.get("clip"))
    return r
