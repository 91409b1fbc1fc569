"""Tensor ranges for choosing activation formats (docs/format.md §2).

Calibration runs the float graph on data and takes each tensor's max-abs (or
a percentile of |x|); without data a static interval analysis bounds every
tensor for an input range. Both return ``{tensor: (lo, hi)}``.
"""
from __future__ import annotations

import numpy as np

from wqrc.ir.graph import Graph
from wqrc.ir.to_torch import run_float
from wqrc.ops import op_def
from wqrc.ops.elementwise import clamp_interval


def calibrate(graph: Graph, x: np.ndarray, percentile: float | None = None) -> dict[str, tuple[float, float]]:
    tensors = run_float(graph, x, return_all=True)
    out = {}
    for name, t in tensors.items():
        lo, hi = float(t.min()), float(t.max())
        if percentile is not None:
            hi_abs = float(np.percentile(np.abs(t), percentile))
            lo, hi = max(lo, -hi_abs), min(hi, hi_abs)
        out[name] = (lo, hi)
    return out


def static_ranges(graph: Graph, lo: float, hi: float) -> dict[str, tuple[float, float]]:
    """Interval propagation: a sound bound for every input in [lo, hi], by each op's rule (wqrc.ops)."""
    r = {graph.input: (float(lo), float(hi))}
    for n in graph.nodes:
        out = op_def(n).interval(n, [r[t] for t in n.inputs])
        r[n.output] = clamp_interval(out, n.attrs.get("clip"))
    return r
