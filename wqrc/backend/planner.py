"""Static activation buffers: liveness-based placement into one arena per element width.

A tensor lives from the node that writes it to the last node that reads it;
tensors whose lives do not overlap share memory (first fit, in graph order).
Flatten is free: its output is its input's buffer. The network input stays in
the caller's buffer and is never copied.
"""
from __future__ import annotations

from dataclasses import dataclass

from wqrc.ops import op_def
from wqrc.quant.qmodel import QModel

WIDTHS = (8, 16, 32)


def storage_bits(bits: int) -> int:
    return next(w for w in WIDTHS if bits <= w)


@dataclass
class Placement:
    width: int      # arena element width in bits
    offset: int     # in elements
    size: int       # elements


def plan_buffers(qm: QModel) -> tuple[dict[str, str], dict[str, Placement], dict[int, int]]:
    """Returns (alias: tensor -> root tensor, placement of each root, arena sizes per width)."""
    alias = {qm.input: qm.input}
    for n in qm.nodes:
        alias[n.output] = alias[n.inputs[0]] if op_def(n).aliases_input else n.output
    order = {qm.input: -1}
    last_use: dict[str, int] = {}
    for i, n in enumerate(qm.nodes):
        order.setdefault(alias[n.output], i)
        for t in n.inputs:
            last_use[alias[t]] = i
    last_use[alias[qm.output]] = len(qm.nodes)
    placements: dict[str, Placement] = {}
    live: list[tuple[str, Placement]] = []
    sizes = {w: 0 for w in WIDTHS}
    for i, n in enumerate(qm.nodes):
        live = [(t, p) for t, p in live if last_use.get(t, -1) >= i]
        root = alias[n.output]
        if root != n.output or root == qm.input:
            continue
        width = storage_bits(qm.formats[root].bits)
        size = 1
        for d in qm.shapes[root]:
            size *= d
        taken = sorted((p.offset, p.offset + p.size) for _, p in live if p.width == width)
        offset = 0
        for start, end in taken:
            if offset + size <= start:
                break
            offset = max(offset, end)
        p = Placement(width, offset, size)
        placements[root] = p
        live.append((root, p))
        sizes[width] = max(sizes[width], offset + size)
    return alias, placements, sizes
