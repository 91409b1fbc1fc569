"""Re-gridding: a layer's weights that a model quantized on a grid wqrc cannot store exactly.

A QONNX/Brevitas quantizer whose scale is not a power of two (Brevitas's default float
scales, a constant-scale ternary layer of 0.1), or whose quantized weights a folded BatchNorm
moved off their grid, leaves values that no DFP format holds exactly. The layer then takes the
DFP format that holds them best: each exponent (one per layer, or per output channel where the
quantizer's scale was) of least squared error, and its quantizer's bits or, where that is far
from the model's values, a few more. The report compares the result with the model's own outputs.
"""
from __future__ import annotations

import numpy as np

from wqrc.quant.health import sqnr_db

REGRID_MAX_EXTRA_BITS = 4   # a re-gridded layer may take this many bits more than its quantizer ...
REGRID_DB = 40.0            # ... until its weights are within 1% RMS of the model's own values


def regrid(values: np.ndarray, bits: int, per_channel: bool, widen: bool = True) -> dict:
    """A weight pin (wqrc.quant.plan.model_pins) for a layer whose quantizer's scale is not a power of two (or whose quantized
    weights a folded BatchNorm moved): the DFP format that best holds its values, in [out, ...]
    order. Each exponent (one, or one per output channel) is the one of least squared error; the
    bits are the quantizer's, or with ``widen`` the fewest up to REGRID_MAX_EXTRA_BITS more (at
    most 16) that reach REGRID_DB: a ternary layer of scale 0.1 takes 5 bits (13 * 2^-7)."""
    rows = values.reshape(values.shape[0], -1).astype(np.float64)
    groups = rows if per_channel else rows.reshape(1, -1)
    last = min(16, bits + REGRID_MAX_EXTRA_BITS) if widen else bits
    best = None
    for b in range(max(2, bits), last + 1):
        qmax = (1 << (b - 1)) - 1
        got, exps = np.empty_like(groups), []
        for k, r in enumerate(groups):
            top = float(np.abs(r).max())
            e0 = int(np.ceil(np.log2(top / qmax))) if top > 0 else 0
            e = min((e0 - 1, e0, e0 + 1), key=lambda e: float(np.sum((np.clip(np.round(r / 2.0 ** e), -qmax, qmax)
                                                                       * 2.0 ** e - r) ** 2)))
            got[k] = np.clip(np.round(r / 2.0 ** e), -qmax, qmax) * 2.0 ** e
            exps.append(e)
        db = sqnr_db(groups, got)
        if best is None or db > best[0]:   # more bits only where they hold the values better
            e_rows = exps if per_channel else exps * len(rows)
            best = (db, {"scheme": "dfp", "bits": b, "exponents": [int(v) for v in e_rows], "regrid": True,
                         "regrid_db": round(db, 2), **({"widened_from": bits} if b > bits else {})})
        if db >= REGRID_DB:
            break
    return best[1]
