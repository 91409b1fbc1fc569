"""Window geometry of the contract: how long a sliding window's output is, and which pads make
ceil-mode pooling windows floor-mode ones (docs/format.md §3). The op registry's shape rules and
the integer kernels read the same two functions."""
from __future__ import annotations


def window_out(size: int, k: int, s: int, p0: int, p1: int, d: int, ceil: bool) -> int:
    """Output length of a sliding window (conv or pool) along one axis, ONNX/torch rules."""
    span = size + p0 + p1 - d * (k - 1) - 1
    if span < 0:
        return 0
    if ceil:
        out = -(-span // s) + 1
        # ONNX/torch: the last window must start inside the input or left pad
        if (out - 1) * s >= size + p0:
            out -= 1
        return out
    return span // s + 1


def explicit_pads(in_shape, attrs: dict) -> tuple[int, int, int, int]:
    """Pads (top, left, bottom, right) under which floor-mode windows are exactly this pool's windows.

    With ceil_mode the bottom/right pads grow to hold the partial windows; every
    executor pads this way and pools with ceil_mode off, so they all see the
    same windows (the padding value never wins a max and is not counted in a mean).
    """
    _, h, w = in_shape[-3:]
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs["kernel"], attrs["strides"], attrs["pads"]
    dh, dw = attrs.get("dilations", (1, 1))
    ceil = bool(attrs.get("ceil_mode"))
    grown = []
    for size, k, s, p0, p1, d in ((h, kh, sh, pt, pb, dh), (w, kw, sw, pl, pr, dw)):
        out = window_out(size, k, s, p0, p1, d, ceil)
        grown.append(max(p1, (out - 1) * s + d * (k - 1) + 1 - size - p0))
    return (pt, pl, grown[0], grown[1])
