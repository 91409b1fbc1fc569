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


def exact_within(qm: QModel, sum_limit: int, product_limit: int, nodes=None) -> bool:
    """Whether every sum stays below ``sum_limit`` and every pooled product below ``product_limit``
    (in ``nodes``, default all: an executor may run some nodes another way, under a guard of
    their own), and every folded scale stays a normal float32 (:func:`scales_fold`)."""
    if not scales_fold(qm):
        return False
    bounds = node_bounds(qm)
    return all(bounds[n.name].sum < sum_limit and bounds[n.name].product < product_limit
               for n in (qm.nodes if nodes is None else nodes))
