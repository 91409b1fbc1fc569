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

from wqrc.quant.arith import avgpool_divisor
from wqrc.quant.qmodel import QModel


@dataclass(frozen=True)
class NodeBound:
    sum: int       # largest |value| of the sums the node forms, rounding halves included
    product: int   # largest |value| after an average pool's multiplier R (+ half); = sum elsewhere


def _half(s: int) -> int:
    return 1 << (s - 1) if s > 0 else 0


def _divided(total: int, n: int) -> int:
    r, s = avgpool_divisor(n)
    return total * r + _half(s)


def node_bounds(qm: QModel) -> dict[str, NodeBound]:
    cached = qm.runtime_cache.get("node_bounds")
    if cached is not None:
        return cached
    out = {}
    for n in qm.nodes:
        fmts = [qm.formats[t] for t in n.inputs]
        stored = qm.formats[n.output].max_abs_q
        m = fmts[0].max_abs_q
        if n.op in ("conv", "dense"):
            layer = qm.layers[n.name]
            s = layer.acc_bound + _half(layer.shift)
            p = s
        elif n.op == "avgpool":
            kh, kw = n.attrs["kernel"]
            s = kh * kw * m
            p = max(_divided(k * m, k) for k in range(1, kh * kw + 1))
        elif n.op == "global_avgpool":
            _, h, w = qm.shapes[n.inputs[0]]
            s = h * w * m
            p = _divided(s, h * w)
        elif n.op in ("add", "concat"):
            terms = [f.max_abs_q * (1 << max(0, -sh)) + _half(sh) for f, sh in zip(fmts, n.attrs["shifts"])]
            s = sum(terms) if n.op == "add" else max(terms)
            p = s
        else:  # relu, clip, maxpool, flatten: values of the input's format
            s = p = m
        out[n.name] = NodeBound(max(s, stored, m), max(p, s, stored))
    qm.runtime_cache["node_bounds"] = out
    return out


def exact_within(qm: QModel, sum_limit: int, product_limit: int) -> bool:
    """Whether every sum stays below ``sum_limit`` and every pooled product below ``product_limit``,
    and every power-of-two scale a float executor folds into its constants (2**-shift of a layer,
    2**-s of an add/concat alignment) stays a normal float32."""
    if not all(-20 < l.shift <= 60 for l in qm.layers.values()):
        return False
    if any(abs(s) > 20 for n in qm.nodes if n.op in ("add", "concat") for s in n.attrs["shifts"]):
        return False
    return all(b.sum < sum_limit and b.product < product_limit for b in node_bounds(qm).values())
