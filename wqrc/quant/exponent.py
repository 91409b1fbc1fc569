"""Exponent rules (docs/format.md §1): how a layer's top exponent n1 is chosen.

``paper`` is eq. 2; ``max`` never clips; ``mse`` picks, among exponents near
``paper``, the one with the least squared error (Bae et al.'s MSQE rule).
"""
from __future__ import annotations

import numpy as np

from wqrc.errors import WqrcError
from wqrc.contract.arith import floor_log2

RULES = ("paper", "max", "mse", "output")  # output: by the network's output error on data (output_rule.py)
# What quantize and compile take by default: ``output`` where calibration data is given (and one
# exponent per layer), ``mse`` otherwise. Chosen by measurement on held-out models (issue 35,
# docs/results.md "Held-out models"): one more bit lost at most 0.34 points under nested
# ``output`` against up to 3.60 under ``mse``. The precision searches quantize once per candidate
# plan (``output`` costs 2-70 s a quantization) and take ``mse`` for ``auto``; finetune keeps ``mse``
# as its default (cli_options.TRAIN_EXPONENT_DEFAULT).
AUTO = "auto"


def resolve_rule(rule: str, calibrated: bool, granularity: str = "layer") -> str:
    """The rule ``auto`` stands for: ``output`` with calibration data and per-layer exponents
    (the rule needs data, and chooses one exponent per layer), ``mse`` otherwise."""
    if rule not in RULES + (AUTO,):
        raise WqrcError(f"--exponent: unknown rule '{rule}' (use {', '.join(RULES + (AUTO,))})")
    if rule != AUTO:
        return rule
    return "output" if calibrated and granularity == "layer" else "mse"
MSE_SEARCH_RADIUS = 4
GRANULARITIES = ("layer", "channel")  # one exponent per layer (the paper), or per output channel (§1c)
# per-channel exponents (docs/format.md §1c) lie within this many of the layer's largest: a channel
# further down is all but zero at the layer's scale, and a bounded spread keeps every per-channel
# shift a small integer in C, HLS and RTL and the aligned executors' sums in int64
MAX_CHANNEL_SPREAD = 24
# W_mem counts per-channel exponents at this many bits per output channel: the width of the
# RTL's table of D_c = sh_max - sh_c (<= MAX_CHANNEL_SPREAD), and an int8 on an MCU
CHANNEL_EXPONENT_BITS = 8


def n1_paper(s: float) -> int:
    return floor_log2(4.0 * s / 3.0)


def n1_max(s: float, sch, b: int) -> int:
    n1 = floor_log2(s) - b
    while sch.max_level(n1, b) < s:
        n1 += 1
    return n1


def values_at(w: np.ndarray, sch, b: int, n1: int) -> np.ndarray:
    """Q(w) as float64 values for top exponent ``n1``: the level each weight rounds to."""
    return np.ldexp(sch.multipliers(w, n1, b).astype(np.float64), sch.exponent(n1, b))


def n1_mse(w: np.ndarray, s: float, sch, b: int) -> int:
    """Least sum((W - Q(W))**2); ties go to the exponent nearest ``paper``, then the larger."""
    base = n1_paper(s)
    best = None
    w = np.asarray(w, np.float64)
    for n1 in range(base - MSE_SEARCH_RADIUS, base + MSE_SEARCH_RADIUS + 1):
        q = values_at(w, sch, b, n1)
        err = float(np.sum((w - q) ** 2))
        key = (err, abs(n1 - base), -n1)
        if best is None or key < best[0]:
            best = (key, n1)
    return best[1]


def choose_n1(w: np.ndarray, sch, b: int, rule: str) -> int:
    """Top exponent for weights ``w``; the caller has rejected non-finite weights and s == 0."""
    s = float(np.max(np.abs(w)))
    if rule == "paper":
        return n1_paper(s)
    if rule == "max":
        return n1_max(s, sch, b)
    if rule == "mse":
        return n1_mse(w, s, sch, b)
    if rule == "output":
        raise WqrcError("--exponent output chooses each layer's exponent by its output error on calibration "
                        "data: give --calib (or --data), or use another rule")
    raise ValueError(rule)
