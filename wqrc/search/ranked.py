"""A precision search that scales to 50-layer networks (issue 18): the SQNR start, layers ranked by
a cheap sensitivity, a few verified evaluations with early stopping.

The greedy search (lps.py, the paper's Algorithm 1) evaluates every layer at every step:
O(L^2 * bits) evaluations. This search spends its evaluations on verification instead:

1. Start from Lin et al.'s SQNR plan, bisected along its trade-off curve on the validation
   split (sqnr.py: about log2 of the curve's length evaluations).
2. Each round ranks the layers that can lose a bit by the SQNR cost of that bit per weight
   saved, (1/gamma_i(b-1) - 1/gamma_i(b)) / rho_i, from the weights alone (no evaluation).
3. The longest prefix of the ranking whose plan stays within the budget is found by
   bisection: about log2(L) evaluations. Each is a pass/fail check with early stopping: the
   validation samples run in chunks, and a trial stops once its wrong answers exceed what the
   budget allows (a failing plan usually costs one or two chunks).
4. When no prefix fits, every candidate is screened alone (a pass/fail check with early
   stopping each, so failures are cheap), and the longest prefix of those that fit alone that
   also fits together is found by bisection and taken: one round accepts many layers, where
   the greedy search accepts one. A layer that fails alone is frozen at its width from then
   on (lowering other layers only takes accuracy away, as the greedy search also assumes when
   it stops); when nothing is left to try, the frozen layers are tried once more (a layer that
   failed next to wider neighbours may fit once the ranking has moved on). The search ends when
   a round with nothing frozen finds no candidate that fits alone.

Every accepted plan passed a check on the whole validation split (the chunks cover it, and
every executor is exact), so the plan returned is within the budget there. Bisection assumes accuracy falls as more layers lose a
bit; where it does not, the search takes a shorter prefix than it might have (never a plan
outside the budget).
"""
from __future__ import annotations

from typing import Callable, Optional

from wqrc.search.evaluator import PlanEvaluator
from wqrc.search.lps import TOLERANCE, SearchResult, Step
from wqrc.search.sqnr import SqnrTable

def _noise(table: SqnrTable, name: str, bits: int) -> float:
    return 10 ** (-table.db[name][bits] / 10)


def _longest_fitting_prefix(ev: PlanEvaluator, lowered, order: list[str], min_acc: float, known: int = 0) -> int:
    """The largest k (known <= k <= len(order)) whose plan with order[:k] lowered fits, by bisection
    (``known`` is a k already known to fit)."""
    lo, hi = known, len(order)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ev.passes(lowered(order[:mid]), min_acc):
            lo = mid
        else:
            hi = mid - 1
    return lo


def ranked_search(ev: PlanEvaluator, table: SqnrTable, *, max_drop: float, start_bits: dict[str, int],
                  min_bits: int = 2, progress: Optional[Callable[[Step, int], None]] = None) -> SearchResult:
    total = sum(ev.sizes.values())
    bits = dict(start_bits)
    res = SearchResult(ev.scheme, max_drop, "ranked (SQNR cost per bit saved)", ev.float_acc)
    min_acc = ev.float_acc - max_drop - TOLERANCE

    def record(changed, acc):
        w = ev.w_mem(bits)
        res.steps.append(Step(dict(bits), changed, w, 32 * total / w, acc, ev.float_acc - acc))
        if progress:
            progress(res.steps[-1], ev.evaluations)

    def lowered(names) -> dict[str, int]:
        return dict(bits, **{n: bits[n] - 1 for n in names})

    frozen: set[str] = set()   # failed alone once: kept at their width
    retried = False            # the frozen layers were given their second chance since the last step
    acc = ev.commit(bits)
    record(None, acc)
    if acc < min_acc:
        res.stopped_because = (f"the start plan already loses {ev.float_acc - acc:.4f} > max drop {max_drop}; "
                               "the plan is the start plan")
    while not res.stopped_because:
        cands = [n for n in ev.layers if bits[n] > min_bits and bits[n] - 1 in table.db[n] and n not in frozen]
        if not cands and frozen and not retried:
            frozen.clear()
            retried = True
            continue
        if not cands:
            res.stopped_because = (f"every layer is at --min-bits {min_bits}" if not frozen else
                                   f"no layer can lose a bit within max drop {max_drop}")
            break
        order = sorted(cands, key=lambda n: ((_noise(table, n, bits[n] - 1) - _noise(table, n, bits[n]))
                                             / table.sizes[n], -table.sizes[n], ev.layers.index(n)))
        chosen = order[:_longest_fitting_prefix(ev, lowered, order, min_acc)]
        if not chosen:  # screen every candidate alone, then join those that fit alone
            frozen.add(order[0])   # the bisection's last check: order[0] alone failed
            alone = []
            for n in order[1:]:
                (alone.append if ev.passes(lowered([n]), min_acc) else frozen.add)(n)
            if not alone:  # all frozen now: the next round retries them, or stops
                continue
            chosen = alone[:_longest_fitting_prefix(ev, lowered, alone, min_acc, known=1)]
        bits = lowered(chosen)   # passed a check: the chunks are the whole split, run exactly
        record(",".join(chosen), ev.commit(bits))
        retried = False
    res.evaluations = ev.evaluations
    return res
