"""Per-layer bit-width plans, by any of the four searches, as the plan file `wqrc lps` writes.

`api.precision_search` and `api.sqnr_allocation` run one search on a graph; this module is the
job around them that the CLI and a Python user share: which options a method takes (checked
here, once, each refusal one line naming the option), the hybrid search's SQNR start, the
equal-bit-width curve beside a greedy or ranked result, and the plan document with its summary.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from wqrc.errors import WqrcError
from wqrc.quant.exponent import AUTO, resolve_rule
from wqrc.quant.plan import MIXED

METHODS = ("greedy", "sqnr", "hybrid", "ranked")


@dataclass
class PlanOutcome:
    """A search's plan document (the .json `wqrc compile --bits` reads) and what to tell the user."""
    doc: dict
    summary: list[str] = field(default_factory=list)
    result: object = None             # the SearchResult of greedy/hybrid/ranked (for --plot)
    equal: list = field(default_factory=list)   # the equal-bit-width steps beside it


def _one_width(start_bits: str, what: str) -> int:
    if not str(start_bits).isdigit():
        raise WqrcError(f"--start-bits: '{start_bits}': {what} takes one width, the widest it may use")
    return int(start_bits)


def load_checked(data: str, graph):
    from wqrc.data import check_fits, load_dataset
    ds = load_dataset(data)
    check_fits(ds, graph.input_shape, layout=graph.input_layout)
    return ds


def check_search(method: str, max_drop: Optional[float], min_cr: Optional[float], scheme: str = "dfp") -> None:
    """Refuse what a search cannot take, before any work starts: a --min-cr beside --max-drop or
    for another search than greedy, and --scheme mixed (a search compares widths of one scheme)."""
    if scheme == MIXED:
        raise WqrcError(f"--scheme {MIXED}: the search compares widths of one scheme; search with dfp, then give "
                        f"its widths with --scheme {MIXED} (wqrc finetune --scheme {MIXED} --bits 7,4,...)")
    if min_cr is None:
        return
    if max_drop is not None:
        raise WqrcError("give one budget: --max-drop (accuracy) or --min-cr (memory), not both")
    if method != "greedy":
        raise WqrcError(f"--min-cr: the {method} search takes --max-drop; --min-cr follows the greedy search's path")


def search_plan(graph, data: Optional[str] = None, *, method: str = "greedy", max_drop: Optional[float] = None,
                target_sqnr: Optional[float] = None, max_wmem: Optional[int] = None, start_bits: str = "8",
                min_bits: int = 2, criterion: str = "paper", val_split: float = 0.2,
                val_samples: Optional[int] = None, scheme: str = "dfp", act_bits: int = 8, exponent: str = AUTO,
                calib_samples: int = 512, progress: Optional[Callable] = None,
                on_note: Callable[[str], None] = lambda line: None, min_cr: Optional[float] = None) -> PlanOutcome:
    """Run ``method`` (greedy, sqnr, hybrid, ranked) on ``graph`` and return its plan document.

    ``data`` names a dataset whose training split is searched on (a validation slice held out);
    ``progress(step, evaluations)`` follows a greedy or ranked search; ``on_note`` hears what the
    hybrid search learns before it starts. ``min_cr`` (greedy only) replaces ``max_drop``: the
    budget is then a compression ratio, and the plan the most accurate the path finds within it."""
    if method not in METHODS:
        raise WqrcError(f"lps --method {method}: use one of {', '.join(METHODS)}")
    exponent = resolve_rule(exponent, calibrated=False)   # a search quantizes per candidate: auto is mse
    check_search(method, max_drop, min_cr, scheme)
    if method == "sqnr":
        return _sqnr(graph, data, max_drop, target_sqnr, max_wmem, start_bits, min_bits, val_split, val_samples,
                     scheme, act_bits, exponent, calib_samples)
    from wqrc import api
    from wqrc.quant.plan import parse_bits
    from wqrc.quant.schemes import SCHEMES
    from wqrc.search import best_equal_at_cr, best_equal_within, equal_bitwidth_curve

    if target_sqnr is not None or max_wmem is not None:
        raise WqrcError("--target-sqnr and --max-wmem belong to --method sqnr")
    if data is None:
        raise WqrcError(f"lps --method {method} needs --data (its training split is searched on)")
    if max_drop is None and min_cr is None:
        raise WqrcError("lps needs --max-drop (the accuracy budget, e.g. 0.005) or --min-cr (a memory budget, "
                        "e.g. 10.67)")
    ds = load_checked(data, graph)
    start_info = {}
    if method == "hybrid":  # the SQNR curve bisected on the validation split, then the greedy search from there
        sq = api.sqnr_allocation(graph, scheme=scheme, exponent=exponent,
                                 start_bits=_one_width(start_bits, "the hybrid search"), min_bits=min_bits,
                                 dataset=ds, max_drop=max_drop, act_bits=act_bits, val_split=val_split,
                                 val_samples=val_samples, calib_samples=calib_samples)
        start_bits = ",".join(str(sq.bits[n.name]) for n in graph.weighted_nodes())
        start_info = dict(hybrid_start=dict(sq.bits), hybrid_start_evaluations=sq.evaluations + 1)
        on_note(f"SQNR start plan: {sq.bits} ({sq.evaluations + 1} evaluations)")
    result, ev = api.precision_search(graph, ds, scheme=scheme, max_drop=1.0 if max_drop is None else max_drop,
                                      start_bits=parse_bits(start_bits), min_bits=min_bits, criterion=criterion,
                                      act_bits=act_bits, exponent=exponent, val_split=val_split,
                                      val_samples=val_samples, calib_samples=calib_samples, progress=progress,
                                      method="ranked" if method == "ranked" else "greedy", min_cr=min_cr)
    top = max(result.steps[0].bits.values())
    equal = equal_bitwidth_curve(ev, range(top, max(min_bits, SCHEMES[scheme].min_bits) - 1, -1))
    best_eq = best_equal_within(equal, max_drop) if min_cr is None else best_equal_at_cr(equal, min_cr)
    doc = result.plan_json(dict(
        equal_bitwidths=[dict(bits=next(iter(s.bits.values())), compression_ratio=s.compression_ratio,
                              accuracy=s.accuracy, delta_acc=s.delta_acc) for s in equal],
        data=data, val_split=val_split, act_bits=act_bits, exponent_rule=exponent, **start_info))
    f = result.final
    summary = [f"float validation accuracy {result.float_accuracy:.2%}; search: {len(result.steps) - 1} steps, "
               f"{result.evaluations} evaluations; stopped: {result.stopped_because}",
               f"plan: bits {f.bits}, W_mem {f.w_mem} bits, CR {f.compression_ratio:.2f}, "
               f"accuracy {f.accuracy:.2%} (dacc {f.delta_acc:+.4f})",
               f"best equal bit-width within the budget: {next(iter(best_eq.bits.values()))} bits, "
               f"CR {best_eq.compression_ratio:.2f}, accuracy {best_eq.accuracy:.2%} (dacc {best_eq.delta_acc:+.4f})"
               if best_eq else "no equal bit-width stays within the budget"]
    return PlanOutcome(doc, summary, result, equal)


def _sqnr(graph, data, max_drop, target_sqnr, max_wmem, start_bits, min_bits, val_split, val_samples, scheme,
          act_bits, exponent, calib_samples) -> PlanOutcome:
    """Lin et al.'s allocation, from the weights or bisected on validation data."""
    from wqrc import api

    knobs = [k for k, v in (("--target-sqnr", target_sqnr), ("--max-wmem", max_wmem), ("--max-drop", max_drop))
             if v is not None]
    if len(knobs) != 1:
        raise WqrcError("lps --method sqnr needs exactly one of --target-sqnr DB, --max-wmem BITS, --max-drop "
                        f"(with --data); got {', '.join(knobs) or 'none'}")
    width = _one_width(start_bits, "the SQNR allocation")
    ds = None
    if max_drop is not None:
        if data is None:
            raise WqrcError("lps --method sqnr --max-drop needs --data (its validation split is evaluated)")
        ds = load_checked(data, graph)
    t0 = time.perf_counter()
    res = api.sqnr_allocation(graph, scheme=scheme, exponent=exponent, start_bits=width, min_bits=min_bits,
                              target_db=target_sqnr, max_w_mem=max_wmem, dataset=ds, max_drop=max_drop,
                              act_bits=act_bits, val_split=val_split, val_samples=val_samples,
                              calib_samples=calib_samples)
    seconds = time.perf_counter() - t0
    doc = res.plan_json(dict(seconds=round(seconds, 3), data=data, val_split=val_split if ds else None,
                             act_bits=act_bits))
    s = doc["search"]
    summary = [f"SQNR allocation ({res.target}): bits {res.bits}, W_mem {s['w_mem']} bits, "
               f"CR {s['compression_ratio']:.2f}, total weight SQNR {s['total_sqnr_db']:.1f} dB; "
               f"{res.evaluations} evaluations, {seconds:.2f} s"]
    if res.accuracy is not None:
        summary.append(f"validation accuracy {res.accuracy:.2%} (float {res.float_accuracy:.2%}, "
                       f"dacc {res.float_accuracy - res.accuracy:+.4f})")
    return PlanOutcome(doc, summary)
