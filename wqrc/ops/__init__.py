"""The op registry: one definition per IR op (attributes, defaults, validation, shapes).

``OPS`` maps an op name to its :class:`OpDef`; the graph, the frontends and the
model-file loader reach op knowledge only through it. Adding an op means a new
OpDef here (see docs/architecture.md) plus its kernels.
"""
from __future__ import annotations

from typing import Optional

from wqrc.errors import WqrcError
from wqrc.ops.base import MAX_ELEMENTS, Attr, OpDef, window_out
from wqrc.ops.elementwise import Add, Clip, Concat, Mul, Relu
from wqrc.ops.layers import Conv, Dense
from wqrc.ops.lookup import LOOKUP_OPS
from wqrc.ops.pad import Pad
from wqrc.ops.resize import UPSAMPLE_OPS
from wqrc.ops.pools import AvgPool, GlobalAvgPool, MaxPool
from wqrc.ops.structural import BatchNorm, Flatten, Identity, Reshape, SelectChannels, Softmax

OPS: dict[str, OpDef] = {d.name: d for d in (
    Conv(), Dense(), BatchNorm(), Relu(), Clip(), MaxPool(), AvgPool(), GlobalAvgPool(), Flatten(), Reshape(), Add(),
    Concat(), Mul(), Identity(), Softmax(), *(op() for op in LOOKUP_OPS), *(op() for op in UPSAMPLE_OPS),
    Pad(), SelectChannels(),
)}
WEIGHTED_OPS = tuple(name for name, d in OPS.items() if d.weighted)
# the hw/ kernel families the code backends emit (OpDef.kernel); each backend has one step per family
KERNEL_FAMILIES = tuple(sorted({d.kernel for d in OPS.values() if d.integer}))


def op_table(concern: str, families: dict, ops: Optional[dict] = None) -> dict:
    """One concern's table over every integer op (an executor's builders, say): an op's own entry
    in ``ops``, else its kernel family's in ``families``. Keyed by family, a new op of an
    existing family needs its registry entry only; an op covered by neither fails at import."""
    ops = ops or {}
    table = {}
    for name, d in OPS.items():
        if d.integer:
            table[name] = ops.get(name, families.get(d.kernel))
            assert table[name] is not None, f"{concern}: no entry for op '{name}' (kernel family '{d.kernel}')"
    return table


def op_def(node) -> OpDef:
    try:
        return OPS[node.op]
    except KeyError:
        raise WqrcError(f"node '{node.name}': unknown op '{node.op}'") from None


def infer_node_shape(node, in_shapes) -> tuple[int, ...]:
    """Validate ``node`` against its op definition and return its output shape (batch excluded)."""
    return op_def(node).check(node, [tuple(s) for s in in_shapes])


__all__ = ["KERNEL_FAMILIES", "MAX_ELEMENTS", "OPS", "WEIGHTED_OPS", "Attr", "OpDef", "infer_node_shape", "op_def", "window_out"]
