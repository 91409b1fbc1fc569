"""Fine-tuning recipes: the paper's schedule and the controls it is compared with, as presets.

One table: a recipe is what it sets (method, λ1 and λ2 schedules, learning-rate
drops) as a function of the epoch budget E and the base learning rate.

``paper``: Wess et al. train 200 epochs with λ2 = 10·epoch (WQR ramps up), add QR
with λ1 = 100 for the last quarter (from epoch 150) and drop the learning rate by
×0.1 there. Scaled to E epochs, paper epoch p = e·200/E: λ2 = (2000/E)·e, so the
ramp ends where the paper's does; λ1 = 100 and lr × 0.1 from e = ⌊3E/4⌋ (0-based;
at least 1).
``qr``: the paper's QR term alone, on the same ramp (λ1 = (2000/E)·e, λ2 = 0).
``constant``: λ2 = 50, λ1 = 0 throughout (what docs/results.md used before).
``ste``: straight-through fake quantization of the weights.
``float``: the control: the same budget of plain float training, quantized
directly at the end. A fine-tuned model that beats the float baseline but not this control
gained from the extra training, not from the method.
``wqr-ste``: the paper's regularizers (its λ1 and λ2 schedules) on a straight-through
forward pass: STE trains on the quantized weights, WQR pulls the float weights toward
their levels at the same time.
``wqr-then-ste``: WQR alone (its λ2 ramp, no QR) for the first half of the budget, then STE
alone: the regularizer brings the weights near their levels, STE finishes.

Every recipe has the paper's learning-rate drop (×0.1 for the last quarter), so
that methods compared under one budget differ only in what they optimize.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from wqrc.errors import WqrcError

PAPER_EPOCHS = 200
PAPER_LAMBDA2_SLOPE = 10.0  # λ2 = 10·epoch over the paper's 200 epochs
PAPER_LAMBDA1 = 100.0       # QR weight of the last phase
PAPER_LR_DROP = 0.1
CONSTANT_LAMBDA2 = 50.0


@dataclass(frozen=True)
class Recipe:
    method: str
    lambda1: str
    lambda2: str
    lr_drops: list  # [(epoch, lr)]
    ste_from: Optional[int] = None   # method wqr: the 0-based epoch from which the forward pass is STE


def _last_quarter(epochs: int) -> int:
    """0-based epoch where the paper's last phase starts: 150 of 200, at least 1."""
    return max(1, math.floor(0.75 * epochs))


def _half(epochs: int) -> int:
    """0-based epoch where wqr-then-ste switches to STE: half the budget, at least 1."""
    return max(1, epochs // 2)


def _ramp(epochs: int) -> str:
    return f"{PAPER_LAMBDA2_SLOPE * PAPER_EPOCHS / epochs:g}*epoch"


def _drop(epochs: int, lr: float) -> list:
    return [(_last_quarter(epochs), lr * PAPER_LR_DROP)]


RECIPES = {
    "paper": lambda e, lr: Recipe("wqr", f"0 until {_last_quarter(e)} then {PAPER_LAMBDA1:g}", _ramp(e), _drop(e, lr)),
    "qr": lambda e, lr: Recipe("wqr", _ramp(e), "0", _drop(e, lr)),
    "constant": lambda e, lr: Recipe("wqr", "0", f"{CONSTANT_LAMBDA2:g}", _drop(e, lr)),
    "ste": lambda e, lr: Recipe("ste", "0", "0", _drop(e, lr)),
    "float": lambda e, lr: Recipe("float", "0", "0", _drop(e, lr)),
    "wqr-ste": lambda e, lr: Recipe("wqr", f"0 until {_last_quarter(e)} then {PAPER_LAMBDA1:g}", _ramp(e),
                                    _drop(e, lr), ste_from=0),
    "wqr-then-ste": lambda e, lr: Recipe("wqr", "0", f"{_ramp(e)} until {_half(e)} then 0", _drop(e, lr),
                                         ste_from=_half(e)),
}


def recipe(name: str, epochs: int, lr: float) -> Recipe:
    try:
        return RECIPES[name](epochs, lr)
    except KeyError:
        raise WqrcError(f"--recipe: unknown '{name}' (use {', '.join(RECIPES)})") from None


def schedule_lines(cfg, max_rows: int = 40) -> list[str]:
    """The per-epoch learning rate and λs a FinetuneConfig will use, one line an epoch
    (runs of identical lines folded into one range once there are more than ``max_rows``)."""
    from wqrc.train.finetune import lr_at
    from wqrc.train.schedule import parse_schedule

    lam1, lam2 = parse_schedule(cfg.lambda1, "--lambda1"), parse_schedule(cfg.lambda2, "--lambda2")
    rows = [(e + 1, lr_at(cfg, e), lam1(e), lam2(e)) for e in range(cfg.epochs)]
    fold = len(rows) > max_rows
    out, i = [], 0
    while i < len(rows):
        j = i
        while fold and j + 1 < len(rows) and rows[j + 1][1:3] == rows[i][1:3]:
            step = rows[j + 1][3] - rows[j][3]  # constant or linear λ2 folds into one line
            if j > i and not math.isclose(step, rows[j][3] - rows[j - 1][3], rel_tol=1e-9, abs_tol=1e-12):
                break
            j += 1
        ep = f"{rows[i][0]}" if j == i else f"{rows[i][0]}-{rows[j][0]}"
        l2 = f"{rows[i][3]:g}" if rows[j][3] == rows[i][3] else f"{rows[i][3]:g}..{rows[j][3]:g}"
        out.append(f"  epoch {ep:>7}: lr {rows[i][1]:g}  λ1 {rows[i][2]:g}  λ2 {l2}")
        i = j + 1
    return out
