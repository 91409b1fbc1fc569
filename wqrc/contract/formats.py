"""Activation formats (docs/format.md §2): value = q * 2**f, q a signed or unsigned a-bit integer."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wqrc.contract.arith import round_half_away, saturate

MIN_ACT_BITS, MAX_ACT_BITS = 2, 32


@dataclass(frozen=True)
class TensorFormat:
    signed: bool
    bits: int
    frac: int  # f: the value of one LSB is 2**f

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def max_abs_q(self) -> int:
        return max(-self.qmin, self.qmax)

    def to_json(self) -> dict:
        return {"signed": self.signed, "bits": self.bits, "frac": self.frac}

    @staticmethod
    def from_json(d: dict) -> "TensorFormat":
        return TensorFormat(bool(d["signed"]), int(d["bits"]), int(d["frac"]))

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """q = sat(round(x / 2**f)) as int64."""
        q = round_half_away(np.ldexp(np.asarray(x, np.float64), -self.frac))
        return saturate(q, self.qmin, self.qmax).astype(np.int64)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(q, np.float64), self.frac)

    def describe(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits} f={self.frac}"


def choose_frac(max_abs: float, signed: bool, bits: int) -> int:
    """The smallest integer f with max_abs <= qmax * 2**f (0 for an all-zero tensor)."""
    qmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if not max_abs > 0 or not math.isfinite(max_abs):
        return 0
    f = math.frexp(max_abs / qmax)[1] - 2
    while max_abs > math.ldexp(qmax, f):
        f += 1
    while max_abs <= math.ldexp(qmax, f - 1):
        f -= 1
    return f


def output_bounds(fmt: TensorFormat, qclip) -> tuple[int, int]:
    """Saturation to ``fmt`` and a fused integer clamp ``qclip`` as one [lo, hi]:
    clamping after saturating equals clamping once to the overlap."""
    lo, hi = fmt.qmin, fmt.qmax
    if qclip:
        if qclip[0] is not None:
            lo = max(lo, int(qclip[0]))
        if qclip[1] is not None:
            hi = min(hi, int(qclip[1]))
        lo = min(lo, hi)
    return lo, hi
