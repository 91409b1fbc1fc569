"""λ and learning-rate schedules as small expressions of the epoch.

Accepted forms (the paper's included):
  ``0.5``                      a constant
  ``10*epoch``, ``epoch*0.1``  proportional to the epoch (0-based)
  ``0 until 150 then 100``     piecewise: the first value before epoch 150, the second from it on
  ``0 until 10 then 5*epoch``  pieces may themselves be proportional
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from wqrc.errors import WqrcError

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass(frozen=True)
class Schedule:
    text: str
    pieces: tuple  # ((start_epoch, constant, slope), ...) sorted by start

    def __call__(self, epoch: int) -> float:
        value = 0.0
        for start, const, slope in self.pieces:
            if epoch >= start:
                value = const + slope * epoch
        return value


def _term(text: str, what: str, full: str) -> tuple[float, float]:
    """(constant, slope per epoch) of one piece; λ is a weight, so both must be >= 0."""
    t = text.replace(" ", "")
    c = s = None
    if re.fullmatch(_NUM, t):
        c, s = float(t), 0.0
    elif m := re.fullmatch(rf"({_NUM})\*epoch|epoch\*({_NUM})|epoch", t):
        c, s = 0.0, float(m.group(1) or m.group(2) or "1")
    if c is not None and c >= 0 and s >= 0:
        return c, s
    raise WqrcError(f"{what}: cannot read '{full}' (use a number >= 0, 'k*epoch' with k >= 0, "
                    f"or 'A until N then B')")


def parse_schedule(text, what: str = "schedule") -> Schedule:
    full = str(text).strip()
    parts = re.split(r"\s+until\s+", full)
    pieces = []
    start = 0
    c, s = _term(parts[0], what, full)
    pieces.append((0, c, s))
    for part in parts[1:]:
        m = re.fullmatch(r"(\d+)\s+then\s+(.+)", part.strip())
        if not m:
            raise WqrcError(f"{what}: cannot read '{full}' (use a number, 'k*epoch', or 'A until N then B')")
        nxt = int(m.group(1))
        if nxt <= start:
            raise WqrcError(f"{what}: epochs in '{full}' must increase")
        start = nxt
        c, s = _term(m.group(2), what, full)
        pieces.append((start, c, s))
    return Schedule(full, tuple(pieces))
