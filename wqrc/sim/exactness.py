"""One exactness guard for every fast executor, computed once per model.

The NumPy integer kernels are the contract (docs/format.md §3, Appendix A);
a float executor may stand in for them only where every value it forms is an
exactly representable integer (or an integer times a power of two): below
2**24 in float32, below 2**53 in float64. :func:`node_bounds` gives, for every
node, the largest magnitude of the sums it forms (accumulator plus rounding
half, pooled window sums, aligned add terms) and of the products after an
average pool's multiplier; each executor compares them with its own limits.
"""
from __future__ import annotations

from dataclasses import dataclass

from wqrc.ops import op_def
from wqrc.quant.qmodel import QModel


@dataclass(frozen=True)
class NodeBound:
    sum: int       # largest |value| of the sums the node forms, rounding halves included
    product: int   # largest |value| after an average pool's multiplier R (+ half); = sum elsewhere


def node_bounds(qm: QModel) -> dict[str, NodeBound]:
    """Each node's (sum, product) bound from its op definition (wqrc.ops), widened to the values
    stored in its input and output formats."""
    cached = qm.runtime_cache.get("node_bounds")
    if cached is not None:
        return cached
    out = {}
    for n in qm.nodes:
        s, p = op_def(n).bounds(qm, n)
        stored = max(qm.formats[n.output].max_abs_q, qm.formats[n.inputs[0]].max_abs_q)
        out[n.name] = NodeBound(max(s, stored), max(p, s, stored))
    qm.runtime_cache["node_bounds"] = out
    return out


def scales_fold(qm: QModel, min_shift: int = -19) -> bool:
    """Whether every power-of-two scale a float executor folds into its constants stays a normal
    float32: 2**-shift of a layer (min_shift <= shift <= 60) and 2**-s of an add/concat alignment
    (|s| <= 20)."""
    if not all(min_shift <= l.aligned().shift <= 60 for l in qm.layers.values()):
        return False
    return not any(abs(s) > 20 for n in qm.nodes for s in n.attrs.get("shifts", ()))


def exact_within(qm: QModel, sum_limit: int, product_limit: int) -> bool:
    """Whether every sum stays below ``sum_limit`` and every pooled product below ``product_limit``,
    and every folded scale stays a normal float32 (:func:`scales_fold`)."""
    if not scales_fold(qm):
        return False
    return all(b.sum < sum_limit and b.product < product_limit for b in node_bounds(qm).values())
