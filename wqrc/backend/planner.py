"""Static buffers: every activation tensor and every layer's scratch in one arena, placed by liveness.

A tensor lives from the node that writes it to the last node that reads it; a
layer's scratch (a padded copy of its input, decoded weight rows, gathered
columns, sums) lives only while that layer runs, beside its input and output.
Items whose lives do not overlap share memory (first fit, in graph order), so
the arena is the largest set of simultaneously live items, not their sum.
Flatten is free: its output is its input's buffer. For a target that can address
a tensor inside another's buffer (``views=True``: C, Cortex-M), so is every op
whose output is a contiguous part of its input (``OpDef.view``: a channel
split's part): the tensor is its root's buffer at an element offset. The network
input stays in the caller's buffer and is never copied. Offsets are in bytes, each item
aligned to ALIGN.
"""
from __future__ import annotations

from dataclasses import dataclass

from wqrc.ops import op_def
from wqrc.quant.qmodel import QModel

WIDTHS = (8, 16, 32)
ALIGN = 8


def storage_bits(bits: int) -> int:
    return next(w for w in WIDTHS if bits <= w)


@dataclass
class Placement:
    width: int      # element width in bits (scratch: 8)
    offset: int     # in bytes from the arena's start
    size: int       # in bytes


@dataclass
class Arena:
    alias: dict[str, str]                     # tensor -> the tensor whose buffer it shares
    view: dict[str, int]                      # tensor -> its first element's index in that buffer
    tensors: dict[str, Placement]             # each root tensor's place
    scratch: dict[tuple[str, str], Placement]  # (node, field) -> place
    size: int                                 # bytes


def _first_fit(live: list[Placement], size: int) -> int:
    offset = 0
    for start, end in sorted((p.offset, p.offset + p.size) for p in live):
        if offset + size <= start:
            break
        offset = max(offset, -(-end // ALIGN) * ALIGN)
    return offset


def plan_arena(qm: QModel, scratch: dict[str, list[tuple[str, int]]] | None = None, views: bool = False) -> Arena:
    """Place every root tensor and each node's scratch (node name -> [(field, bytes)]) in one arena;
    ``views``: the target addresses parts of buffers, so contiguous selections copy nothing."""
    scratch = scratch or {}
    alias, view = {qm.input: qm.input}, {qm.input: 0}
    for n in qm.nodes:
        op, x = op_def(n), n.inputs[0]
        at = op.view(n, qm.shapes[x]) if views or op.aliases_input else None
        if at is not None and not op.aliases_input and qm.formats[n.output] != qm.formats[x]:
            at = None   # a copy that changes the format is a copy
        alias[n.output], view[n.output] = (alias[x], view[x] + at) if at is not None else (n.output, 0)
    last_use: dict[str, int] = {}
    for i, n in enumerate(qm.nodes):
        for t in n.inputs:
            last_use[alias[t]] = i
    for out in qm.outputs:  # every graph output is read after the last step
        last_use[alias[out]] = len(qm.nodes)
    tensors: dict[str, Placement] = {}
    places: dict[tuple[str, str], Placement] = {}
    live: list[tuple[str, Placement]] = []
    total = 0
    for i, n in enumerate(qm.nodes):
        live = [(t, p) for t, p in live if last_use.get(t, -1) >= i]
        root = alias[n.output]
        if root == n.output and root != qm.input:
            width = storage_bits(qm.formats[root].bits)
            size = width // 8
            for d in qm.shapes[root]:
                size *= d
            p = Placement(width, _first_fit([q for _, q in live], size), size)
            tensors[root] = p
            live.append((root, p))
            total = max(total, p.offset + p.size)
        # the layer's scratch, live with its inputs and output during this node only
        here = []
        for field, size in scratch.get(n.name, []):
            if size <= 0:
                continue
            p = Placement(8, _first_fit([q for _, q in live] + here, size), size)
            places[(n.name, field)] = p
            here.append(p)
            total = max(total, p.offset + p.size)
    return Arena(alias, view, tensors, places, -(-total // ALIGN) * ALIGN)
