"""Integer kernels of docs/format.md §3 on NumPy batches (N, C, H, W) / (N, F).

Activations are int64 arrays. Accumulation is exact: a float32 or float64
BLAS product is used only when the layer's accumulator bound proves every
partial sum below 2**24 resp. 2**53 (so each is an exactly representable
integer whatever order BLAS adds in); otherwise int64 (bound < 2**63) or
Python integers (wider, e.g. Po2 b >= 7).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from wqrc.contract.geometry import explicit_pads
from wqrc.contract.arith import ROUNDERS, as_pyint, avgpool_divisor, rshift_round, saturate
from wqrc.contract.formats import TensorFormat

PATHS = ("auto", "float32", "float64", "int64", "object")


def choose_path(bound: int, requested: str = "auto") -> str:
    """The cheapest exact dtype for products whose partial sums stay within ``bound``."""
    exact = "float32" if bound < 2**24 else "float64" if bound < 2**53 else "int64" if bound < 2**63 else "object"
    order = PATHS[1:]
    if requested == "auto":
        return exact
    if order.index(requested) < order.index(exact):
        raise ValueError(f"path {requested} is not exact for bound {bound}")
    return requested


def _as(a: np.ndarray, path: str) -> np.ndarray:
    if path == "object":
        return as_pyint(a)
    return a.astype(getattr(np, path))


def _to_int(acc: np.ndarray, path: str) -> np.ndarray:
    if path == "object":
        return acc
    return acc.astype(np.int64) if acc.dtype != np.int64 else acc


def lookup(x, table, qmin: int) -> np.ndarray:
    """A lookup-table activation (docs/format.md §3d): table[q - qmin] for every input code q."""
    return np.asarray(table, np.int64)[np.asarray(x).astype(np.int64) - qmin]


def requantize(acc, shift, fmt: TensorFormat, qclip, rounding: str = "half_up") -> np.ndarray:
    """y = clamp(sat(rshift_round(acc, sh))) as int64 (docs/format.md §3); ``shift`` is an int, or
    one per output channel (axis 1 of ``acc``) for per-channel exponents (§1c); ``rounding``
    names the tie rule (``arith.ROUNDERS``: the contract's half up, or an imported half even)."""
    if np.ndim(shift):
        out = np.empty(acc.shape, np.int64)
        for s in np.unique(shift):
            idx = np.flatnonzero(shift == s)
            out[:, idx] = requantize(acc[:, idx], int(s), fmt, qclip, rounding)
        return out
    if shift < 0 and acc.dtype != object:  # pre-clamp: keeps the left shift in int64; sat() is unchanged by it
        k = -shift
        acc = np.clip(acc, -(-fmt.qmin >> k) - 1, (fmt.qmax >> k) + 1)
    y = saturate(ROUNDERS[rounding](acc, shift), fmt.qmin, fmt.qmax)
    if qclip:
        lo, hi = qclip
        if lo is not None:
            y = np.maximum(y, lo)
        if hi is not None:
            y = np.minimum(y, hi)
    return y.astype(np.int64)


def _windows(x: np.ndarray, kernel, strides, pads, dilations, pad_value) -> np.ndarray:
    """(N, C, Ho, Wo, kh, kw) view of the padded input."""
    pt, pl, pb, pr = pads
    if any(pads):  # by hand: np.pad would put NumPy scalars into an object array
        n, c, h, w = x.shape
        padded = np.full((n, c, h + pt + pb, w + pl + pr), pad_value, dtype=x.dtype)
        padded[:, :, pt:pt + h, pl:pl + w] = x
        x = padded
    kh, kw = kernel
    dh, dw = dilations
    win = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return win[:, :, ::strides[0], ::strides[1], ::dh, ::dw]


def conv(x: np.ndarray, mult: np.ndarray, bias: np.ndarray, attrs: dict, bound: int, path: str):
    """Exact integer convolution; returns the accumulator incl. bias."""
    o, cg, kh, kw = mult.shape
    g = attrs["group"]
    n, c = x.shape[:2]
    p = choose_path(bound, path)
    win = _windows(_as(x, p), (kh, kw), attrs["strides"], attrs["pads"], attrs["dilations"], 0)
    ho, wo = win.shape[2:4]
    if g == 1:
        # (N, Ho, Wo, C, kh, kw) @ (C*kh*kw, O)
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
        acc = cols @ _as(mult.reshape(o, -1).T, p)
        acc = acc.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
    else:
        og = o // g
        cols = win.reshape(n, g, cg, ho, wo, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = cols.reshape(g, n * ho * wo, cg * kh * kw)
        wg = _as(mult.reshape(g, og, cg * kh * kw).transpose(0, 2, 1), p)
        acc = np.matmul(cols, wg)  # (G, M, Og)
        acc = acc.reshape(g, n, ho, wo, og).transpose(1, 0, 4, 2, 3).reshape(n, o, ho, wo)
    acc = _to_int(acc, p)
    return acc + bias.reshape(1, -1, 1, 1)


def dense(x: np.ndarray, mult: np.ndarray, bias: np.ndarray, bound: int, path: str):
    p = choose_path(bound, path)
    acc = _to_int(_as(x, p) @ _as(mult.T, p), p)
    return acc + bias.reshape(1, -1)


def maxpool(x: np.ndarray, attrs: dict, fmt: TensorFormat) -> np.ndarray:
    kernel, strides = attrs["kernel"], attrs["strides"]
    dil = attrs.get("dilations", (1, 1))
    win = _windows(x, kernel, strides, maxpool_pads(x.shape, attrs), dil, fmt.qmin - 1)
    return win.max(axis=(4, 5))


def maxpool_pads(shape, attrs: dict) -> list[int]:
    """Explicit pads of a max pool on an (N, C, H, W) batch (the registry's rule, ceil_mode included)."""
    return list(explicit_pads(shape[1:], attrs))


def avgpool(x: np.ndarray, attrs: dict, fmt: TensorFormat) -> np.ndarray:
    kernel, strides, pads = attrs["kernel"], attrs["strides"], attrs["pads"]
    total = _windows(x, kernel, strides, pads, (1, 1), 0).sum(axis=(4, 5))
    kh, kw = kernel
    if attrs.get("count_include_pad") or not any(pads):
        counts = np.full(total.shape[2:], kh * kw)
    else:
        ones = np.ones((1, 1) + x.shape[2:], np.int64)
        counts = _windows(ones, kernel, strides, pads, (1, 1), 0).sum(axis=(4, 5))[0, 0]
    return saturate(_divide(total, counts), fmt.qmin, fmt.qmax).astype(np.int64)


def _divide(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rounded division of window sums by their element counts (docs/format.md §3)."""
    out = np.empty_like(total)
    for n in np.unique(counts):
        r, s = avgpool_divisor(int(n))
        mask = counts == n
        out[..., mask] = rshift_round(total[..., mask] * r, s) if s > 0 else total[..., mask] * r
    return out


def global_avgpool(x: np.ndarray, fmt: TensorFormat) -> np.ndarray:
    n = x.shape[2] * x.shape[3]
    r, s = avgpool_divisor(n)
    total = x.sum(axis=(2, 3), keepdims=True) * r
    return saturate(rshift_round(total, s) if s > 0 else total, fmt.qmin, fmt.qmax).astype(np.int64)


def shift_to(q: np.ndarray, sh: int) -> np.ndarray:
    """Move q from format f to f + sh exactly as docs/format.md §3's add does."""
    return rshift_round(q, sh)


def add(xs: list[np.ndarray], shifts: list[int], fmt: TensorFormat, qclip) -> np.ndarray:
    total = shift_to(xs[0], shifts[0])
    for x, sh in zip(xs[1:], shifts[1:]):
        total = total + shift_to(x, sh)
    return requantize(total, 0, fmt, qclip)


def mul(a: np.ndarray, b: np.ndarray, shift: int, fmt: TensorFormat) -> np.ndarray:
    """docs/format.md §3e: the exact product (b broadcast from (N, C, 1, 1)), then requantized."""
    if a.dtype == object or b.dtype == object or \
            (a.size and b.size and int(np.abs(a).max()) * int(np.abs(b).max()) >= 1 << 62):
        a, b = as_pyint(a), as_pyint(b)
    return requantize(a * b, shift, fmt, None)


def concat(xs: list[np.ndarray], shifts: list[int], fmt: TensorFormat) -> np.ndarray:
    parts = [requantize(shift_to(x, sh), 0, fmt, None) for x, sh in zip(xs, shifts)]
    return np.concatenate(parts, axis=1)


def clamp(x: np.ndarray, qclip) -> np.ndarray:
    lo, hi = qclip
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x
