"""Tensor ranges for choosing activation formats (docs/format.md §2).

Calibration runs the float graph on data and takes each tensor's max-abs (or
a percentile of |x|); without data a static interval analysis bounds every
tensor for an input range. Both return ``{tensor: (lo, hi)}``.
"""
from __future__ import annotations

import numpy as np

from wqrc.ir.graph import Graph
from wqrc.ir.to_torch import run_float


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


def _clamp_range(r, clip):
    lo, hi = r
    if clip:
        c_lo, c_hi = clip
        if c_lo is not None:
            lo, hi = max(lo, c_lo), max(hi, c_lo)
        if c_hi is not None:
            lo, hi = min(lo, c_hi), min(hi, c_hi)
    return lo, hi


def static_ranges(graph: Graph, lo: float, hi: float) -> dict[str, tuple[float, float]]:
    """Interval propagation: a sound bound for every input in [lo, hi]."""
    r = {graph.input: (float(lo), float(hi))}
    for n in graph.nodes:
        ins = [r[t] for t in n.inputs]
        x_lo, x_hi = ins[0]
        if n.op in ("conv", "dense"):
            if n.op == "conv" and any(n.attrs["pads"]):
                x_lo, x_hi = min(x_lo, 0.0), max(x_hi, 0.0)  # zero padding
            w = n.weight.astype(np.float64).reshape(n.weight.shape[0], -1)
            top = np.maximum(w * x_lo, w * x_hi).sum(1) + n.bias
            bot = np.minimum(w * x_lo, w * x_hi).sum(1) + n.bias
            out = (float(bot.min()), float(top.max()))
        elif n.op == "add":
            out = (sum(i[0] for i in ins), sum(i[1] for i in ins))
        elif n.op == "concat":
            out = (min(i[0] for i in ins), max(i[1] for i in ins))
        elif n.op == "relu":
            out = (max(x_lo, 0.0), max(x_hi, 0.0))
        elif n.op == "clip":
            out = _clamp_range((x_lo, x_hi), (n.attrs.get("min"), n.attrs.get("max")))
        elif n.op == "avgpool" and n.attrs.get("count_include_pad") and any(n.attrs["pads"]):
            out = (min(x_lo, 0.0), max(x_hi, 0.0))  # padded zeros are averaged in
        else:  # pools, flatten: inside the input's range
            out = (x_lo, x_hi)
        r[n.output] = _clamp_range(out, n.attrs.get("clip"))
    return r
