"""SQNR-based per-layer bit allocation: Lin, Talathi, Annapureddy, "Fixed Point Quantization of Deep
Convolutional Networks" (ICML 2016, arXiv 1511.06393), section 4.

Their model: quantizing layer i's weights adds noise whose effect at the output
behaves as 1/gamma = sum_i 1/gamma_i (gamma: signal-to-quantization-noise
ratio, SQNR). Minimising the model size sum_i rho_i * beta_i (rho_i: the
layer's parameter count, beta_i: its bits) under a fixed total SQNR gives, when
every layer gains the same kappa dB per bit,

    beta_i - beta_j = 10 * log10(rho_j / rho_i) / kappa,

i.e. a layer with twice the parameters gets about 10*log10(2)/6 = 0.5 bit less.

What wqrc does, and where it departs from the paper (each for a reason):

* gamma_i(b) is *measured* for the quantizer wqrc will use, per layer and width:
  the SQNR of the layer's weights quantized with the command's scheme (DFP or
  Po2) and exponent rule, 10*log10(sum w^2 / sum (w - Q(w))^2). The paper
  assumes kappa dB per bit from a Gaussian model and an SQNR-optimal step;
  Po2 levels gain far less than 6 dB per bit at large b (they add range, not
  resolution), and wqrc's exponent rules are not the paper's optimal step, so
  a measured curve is the honest input. Where the curves are straight lines of
  one slope the allocation below gives the paper's closed form (a test checks).
* The allocation minimises sum_i rho_i * b_i + lambda * sum_i 1/gamma_i(b_i) over
  integer widths, which separates per layer: each layer takes the width that
  minimises its own term. Sweeping the Lagrange multiplier lambda traces the
  whole trade-off curve (the paper's continuous optimum rounded instead);
  the user's knob picks a point on it: a total SQNR, a W_mem budget, or (with
  data) the smallest W_mem whose validation accuracy stays within --max-drop,
  found by bisection over the curve (a handful of evaluations, not the greedy
  search's hundreds).
* No evaluation of the network is needed for the first two knobs: the plan
  comes from the weights alone, in milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph
from wqrc.quant.plan import LayerSpec
from wqrc.quant.quantize import quantize_weights
from wqrc.quant.schemes import SCHEMES


@dataclass
class SqnrTable:
    scheme: str
    rule: str
    sizes: dict[str, int]                      # rho_i: parameters per layer
    db: dict[str, dict[int, float]]            # gamma_i(b) in dB, per layer and width

    def total_db(self, bits: dict[str, int]) -> float:
        """The model's output SQNR in dB by 1/gamma = sum_i 1/gamma_i."""
        inv = sum(10 ** (-self.db[n][b] / 10) for n, b in bits.items())
        return math.inf if inv == 0 else -10 * math.log10(inv)

    def w_mem(self, bits: dict[str, int]) -> int:
        return sum(self.sizes[n] * b for n, b in bits.items())


def weight_sqnr_db(w: np.ndarray, scheme: str, bits: int, rule: str, name: str = "layer") -> float:
    """SQNR in dB of ``w`` quantized by wqrc's quantizer (scheme, bits, exponent rule)."""
    sch = SCHEMES[scheme]
    _, exp, codes = quantize_weights(name, w, LayerSpec(scheme, bits), rule)
    q = np.asarray(sch.decode(codes, bits), dtype=np.float64) * 2.0 ** exp
    signal = float(np.sum(np.square(w, dtype=np.float64)))
    noise = float(np.sum(np.square(w.astype(np.float64) - q)))
    if signal == 0.0 or noise == 0.0:
        return 300.0  # exact (or empty): no noise to speak of
    return 10 * math.log10(signal / noise)


def sqnr_table(graph: Graph, scheme: str, rule: str, bit_range) -> SqnrTable:
    """gamma_i(b) of every weighted layer at every width of ``bit_range`` (weights alone)."""
    sch = SCHEMES[scheme]
    widths = [b for b in bit_range if sch.min_bits <= b <= sch.max_bits]
    if not widths:
        raise WqrcError(f"no bit-width in {list(bit_range)} is valid for {scheme} ({sch.min_bits}..{sch.max_bits})")
    db, sizes = {}, {}
    for n in graph.weighted_nodes():
        sizes[n.name] = int(n.weight.size)
        db[n.name] = {b: weight_sqnr_db(n.weight, scheme, b, rule, n.name) for b in widths}
    return SqnrTable(scheme, rule, sizes, db)


def allocate(table: SqnrTable, lam: float) -> dict[str, int]:
    """The widths minimising sum rho_i b_i + lam * sum 1/gamma_i(b_i): per layer, independently
    (ties to the wider width)."""
    out = {}
    for n, curve in table.db.items():
        rho = table.sizes[n]
        out[n] = min(curve, key=lambda b: (rho * b + lam * 10 ** (-curve[b] / 10), -b))
    return out


def trade_off(table: SqnrTable) -> list[dict[str, int]]:
    """Every distinct plan on the Lagrangian curve, from the fewest bits to the most (lambda from
    tiny to huge, on a log grid fine enough to meet each breakpoint of this table)."""
    plans, seen = [], set()
    total = sum(table.sizes.values())
    for e in np.arange(-6.0, 30.0, 0.02):
        bits = allocate(table, total * 10.0 ** e)
        key = tuple(sorted(bits.items()))
        if key not in seen:
            seen.add(key)
            plans.append(bits)
    plans.sort(key=table.w_mem)
    return plans


@dataclass
class SqnrResult:
    table: SqnrTable
    bits: dict[str, int]
    target: str
    curve: list[dict] = field(default_factory=list)
    evaluations: int = 0
    accuracy: Optional[float] = None        # validation accuracy of the plan, where data was given
    float_accuracy: Optional[float] = None

    def plan_json(self, extra: Optional[dict] = None) -> dict:
        """The same file format as the greedy search's plan (compile --bits plan.json reads it)."""
        t = self.table
        return {
            "layers": {n: {"scheme": t.scheme, "bits": b} for n, b in self.bits.items()},
            "search": dict(method="SQNR allocation (Lin et al. 2016, wqrc/search/sqnr.py)", scheme=t.scheme,
                           exponent_rule=t.rule, target=self.target, w_mem=t.w_mem(self.bits),
                           compression_ratio=32 * sum(t.sizes.values()) / t.w_mem(self.bits),
                           total_sqnr_db=t.total_db(self.bits), evaluations=self.evaluations,
                           accuracy=self.accuracy, float_accuracy=self.float_accuracy,
                           layer_sqnr_db={n: t.db[n][b] for n, b in self.bits.items()}, curve=self.curve,
                           **(extra or {})),
        }


def sqnr_search(table: SqnrTable, *, target_db: Optional[float] = None, max_w_mem: Optional[int] = None,
                accuracy: Optional[Callable[[dict], float]] = None, float_acc: Optional[float] = None,
                max_drop: Optional[float] = None) -> SqnrResult:
    """Pick a plan on the trade-off curve: the fewest bits with total SQNR >= target_db, or the most
    SQNR within max_w_mem bits, or (accuracy given) the fewest bits whose validation accuracy
    stays within max_drop of float_acc, by bisection along the curve (which assumes that fitting
    is monotone along it; the plan returned was itself evaluated and fits)."""
    plans = trade_off(table)
    curve = [dict(w_mem=table.w_mem(p), total_sqnr_db=round(table.total_db(p), 3)) for p in plans]
    if target_db is not None:
        ok = [p for p in plans if table.total_db(p) >= target_db]
        if not ok:
            raise WqrcError(f"--target-sqnr {target_db} dB: the widest plan reaches "
                            f"{table.total_db(plans[-1]):.1f} dB")
        return SqnrResult(table, ok[0], f"total SQNR >= {target_db} dB", curve)
    if max_w_mem is not None:
        ok = [p for p in plans if table.w_mem(p) <= max_w_mem]
        if not ok:
            raise WqrcError(f"--max-wmem {max_w_mem}: the narrowest plan needs {table.w_mem(plans[0])} bits")
        return SqnrResult(table, ok[-1], f"W_mem <= {max_w_mem} bits", curve)
    if accuracy is None or max_drop is None or float_acc is None:
        raise WqrcError("the SQNR allocation needs a target: --target-sqnr DB, --max-wmem BITS, "
                        "or --max-drop with --data")
    evals = 0

    def fits(p) -> bool:
        nonlocal evals
        evals += 1
        return float_acc - accuracy(p) <= max_drop + 1e-9

    lo, hi = 0, len(plans) - 1
    if not fits(plans[hi]):
        res = SqnrResult(table, plans[hi], f"validation accuracy within {max_drop} (not reached: widest plan)", curve)
        res.evaluations = evals
        return res
    while lo < hi:  # the first plan that fits, assuming fitting is monotone along the curve
        mid = (lo + hi) // 2
        if fits(plans[mid]):
            hi = mid
        else:
            lo = mid + 1
    res = SqnrResult(table, plans[lo], f"validation accuracy within {max_drop} of float", curve)
    res.evaluations = evals
    return res
