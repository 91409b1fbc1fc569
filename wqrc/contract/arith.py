"""The integer arithmetic of docs/format.md §1-§3, defined once.

The quantizer, the simulator and (by way of the constants they are handed)
the C and HLS backends all use these definitions, so a rounding rule lives in
exactly one place. Functions accept NumPy int64 arrays, object arrays of
Python ints (for accumulators wider than 64 bits) and plain ints.
"""
from __future__ import annotations

import math

import numpy as np


def round_half_away(x):
    """round() of docs/format.md §1: halves go away from zero (not NumPy's to-even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def floor_log2(x: float) -> int:
    """Exact floor(log2(x)) for x > 0 (frexp avoids log2's rounding)."""
    m, e = math.frexp(x)
    return e - 1


def ceil_log2(x: float) -> int:
    m, e = math.frexp(x)
    return e - 1 if m == 0.5 else e


def half(s: int) -> int:
    """The rounding offset 2**(s-1) of a right shift by ``s`` (docs/format.md §3); 0 for a left shift.
    The float executors add it before flooring; the exactness guard counts it in every sum."""
    return 1 << (s - 1) if s > 0 else 0


def rshift_round(v, s):
    """docs/format.md §3: ``(v + 2**(s-1)) >> s`` for s > 0 (floor shift), ``v << -s`` otherwise.

    Total over every shift and every int64 value: the right shift is computed as
    ``t = v >> (s-1)``, ``(t >> 1) + (t & 1)`` (the same value, and no intermediate
    leaves v's range; the C and HLS kernels use the same form), and a left shift
    that could leave int64 is done in Python integers. ``s`` may also be a positive
    int64 array (per-position average pooling).
    """
    fixed = isinstance(v, np.ndarray) and v.dtype.kind in "iu"
    if np.ndim(s) == 0:
        s = int(s)
        if s > 0:
            t = v >> (min(s - 1, 63) if fixed else s - 1)
            return (t >> 1) + (t & 1)
        if fixed and _left_shift_overflows(v, -s):
            return as_pyint(v) << (-s)
        return v << (-s)
    s = np.asarray(s, dtype=np.int64)
    if np.any(s <= 0) or np.any(s > 63):
        raise ValueError("array shifts must be in 1..63")
    t = v >> (s - 1)
    return (t >> 1) + (t & 1)


def rshift_round_even(v, s):
    """docs/format.md §3, ties to even (a layer whose imported quantizer rounds so, e.g. Brevitas's
    ``ROUND``): ``rshift_round(v - 1 + bit_s(v), s)`` for s > 0, ``bit_s(v) = (v >> s) & 1``.

    Only an exact tie ``v = (2k+1) * 2**(s-1)`` moves: ``v - 1`` takes it down to k, and the bit
    (k's parity) takes an odd k back up to k + 1; any other v keeps its half-up result. So every
    language reuses its ``rshift_round`` and adds one shift, one AND and two adds. The shift by s
    is capped at 63 for int64 (v >> 63 is v's sign, which is then the right bit: every such v
    rounds to 0 either way). The accumulator bound keeps ``v - 1`` inside v's type.
    """
    if np.ndim(s) != 0:
        raise ValueError("ties-to-even requantization takes one shift")
    s = int(s)
    if s <= 0:
        return rshift_round(v, s)
    fixed = isinstance(v, np.ndarray) and v.dtype.kind in "iu"
    bit = (v >> (min(s, 63) if fixed else s)) & 1
    return rshift_round(v - 1 + bit, s)


# §3's rounding of a layer's requantization, by name: the contract's ties-up, or ties to even
ROUNDERS = {"half_up": rshift_round, "half_even": rshift_round_even}
ROUNDINGS = tuple(ROUNDERS)


def _left_shift_overflows(v: np.ndarray, k: int) -> bool:
    if v.size == 0 or k == 0:
        return False
    return k >= 63 or max(abs(int(v.max())), abs(int(v.min()))) >= 1 << (63 - k)


def saturate(v, lo: int, hi: int):
    return np.minimum(np.maximum(v, lo), hi)


def avgpool_divisor(n: int) -> tuple[int, int]:
    """(R, S) such that avg = rshift_round(sum * R, S) (docs/format.md §3); R = 1 for powers of two."""
    if n <= 0:
        raise ValueError("empty pooling window")
    if n & (n - 1) == 0:
        return 1, n.bit_length() - 1
    s = 16 + ceil_log2(n)
    return int(math.floor((1 << s) / n + 0.5)), s


def bits_for_signed(bound: int) -> int:
    """Smallest two's-complement width holding every value in [-bound, bound]."""
    return max(int(bound).bit_length() + 1, 2)


def accumulator_ctype(bound: int) -> str:
    """The C integer type docs/format.md §3 asks for: int32 where it fits, else int64, else wider."""
    bits = bits_for_signed(bound)
    if bits <= 32:
        return "int32"
    if bits <= 64:
        return "int64"
    return f"int{bits}"


def as_pyint(a) -> np.ndarray:
    """An object array of Python ints (``astype(object)`` keeps NumPy int64 scalars,
    which overflow when multiplied by a wide multiplier)."""
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object)
    flat = out.reshape(-1)
    flat[:] = [int(v) for v in a.reshape(-1)]
    return out
