"""Learned layer exponents: Bae et al.'s gradient-trained power-of-two scales ("A Closer Look at
Hardware-Friendly Weight Quantization"), for wqrc's DFP and Po2 level sets.

Each layer n has a real parameter t_n, its top exponent n1 before rounding. The forward pass
quantizes the weights at the integer exponent e_n and trains t_n by a straight-through
estimator, as the authors' QKeras quantizer (`quantized_bits_learnable_po2`) does:

* **Gradient** (TQT/LSQ in the log domain): with s = 2^e the level spacing scales with s, so
  dQ/dt = ln 2 · (Q(W) − W) for a weight inside the level range and ln 2 · Q(W) for one
  clipped at the top level; dQ/dW is 1 inside and 0 where clipped. The value is exactly
  Q(W) at exponent e: the integer graph and every backend are unchanged.
* **Outliers**: t starts at the exponent the MSQE rule (``mse``) picks, not at max|W|, so a
  few large weights do not set the range (the paper's outlier fix for initialization).
* **Convergence**: e is ``floor(t)`` or ``ceil(t)``, whichever quantizes W with the smaller
  squared error ("round to lower MSQE"): t hovering near x.5 no longer flips the scale back
  and forth, since both neighbours are judged by the error they give, not by t's fraction.
* **Stable exponent** (optional, the authors' ``use_stable_scale_exponent``): a running
  average of the integer e (decay 0.99 per step); :meth:`LearnedScales.freeze` fixes every
  layer's e at that average, rounded, for the rest of training, so the last epochs train the
  weights against levels that no longer move (``--scale-stable``: from which fraction of the
  budget on).

Every artefact holds the integer e: fine-tuning pins it in ``OUT.plan.json``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from wqrc.quant.plan import LayerSpec
from wqrc.quant.schemes import SCHEMES
from wqrc.train.regularizers import quantize_tensor

LN2 = math.log(2.0)
EMA_DECAY = 0.99   # the stable exponent's running average, per training step (the authors' default)


class LearnedScales(nn.Module):
    """One real exponent per layer; ``exponent(name, w)`` is the integer the forward pass uses."""

    def __init__(self, plan: dict[str, LayerSpec]):
        super().__init__()
        self.names = list(plan)
        self.specs = {n: LayerSpec(s.scheme, s.bits) for n, s in plan.items()}
        self.t = nn.ParameterDict({_key(i): nn.Parameter(torch.tensor(float(plan[n].n1), dtype=torch.float64))
                                   for i, n in enumerate(self.names)})
        self.ema = {n: float(plan[n].n1) for n in self.names}   # the running average of the integer e
        self.frozen: dict[str, int] = {}                          # after freeze(): e per layer, fixed

    def freeze(self) -> None:
        """Fix every layer's exponent at its running average, rounded half up (the stable exponent)."""
        self.frozen = {n: math.floor(v + 0.5) for n, v in self.ema.items()}

    def param(self, name: str) -> nn.Parameter:
        return self.t[_key(self.names.index(name))]

    def exponent(self, name: str, w: torch.Tensor) -> int:
        """floor(t) or ceil(t): the one with the smaller squared quantization error of ``w``; once
        frozen, the stable exponent."""
        if self.frozen:
            return self.frozen[name]
        t = float(self.param(name).detach())
        lo, hi = math.floor(t), math.ceil(t)
        if lo == hi:
            return lo
        errs = [float(((w.detach() - quantize_tensor(w, self.pinned(name, e), "mse", name)[0]) ** 2).sum())
                for e in (lo, hi)]
        return lo if errs[0] < errs[1] else hi

    def pinned(self, name: str, e: int) -> LayerSpec:
        s = self.specs[name]
        return LayerSpec(s.scheme, s.bits, int(e))

    def plan(self, weights: dict[str, torch.Tensor]) -> dict[str, LayerSpec]:
        """The integer exponents now, as a pinned plan."""
        return {n: self.pinned(n, self.exponent(n, weights[n])) for n in self.names}

    def fake_quantized(self, name: str, w: torch.Tensor) -> torch.Tensor:
        """Q(w) at the rounded exponent, with the straight-through gradients above for w and t."""
        t = self.param(name)
        e = self.exponent(name, w)
        if not self.frozen:
            self.ema[name] = EMA_DECAY * self.ema[name] + (1.0 - EMA_DECAY) * e
        spec = self.pinned(name, e)
        q, top = quantize_tensor(w, spec, "mse", name)
        clipped = w.detach().abs() > _clip_threshold(spec, top)
        value = torch.where(clipped, q, w + (q - w).detach())
        # zero in value; d/dt = ln 2 · dQ/d(log s) per the estimator above
        lever = (t - t.detach()).to(w.dtype) * LN2
        return value + lever * torch.where(clipped, q, q - w.detach()).detach()


def _clip_threshold(spec: LayerSpec, top: float) -> float:
    """Magnitude above which a weight is clipped: half a spacing above the top level (DFP), or
    above the midpoint 1.5·top to the next power of two, which the level set lacks (Po2)."""
    if spec.scheme == "dfp":
        return top + 0.5 * math.ldexp(1.0, SCHEMES["dfp"].exponent(spec.n1, spec.bits))
    return top * 1.5


def _key(i: int) -> str:
    return f"layer{i}"


def scales_state(scales: LearnedScales) -> dict:
    return dict(t={n: float(scales.param(n).detach()) for n in scales.names}, ema=dict(scales.ema),
                frozen=dict(scales.frozen))


def load_scales_state(scales: LearnedScales, state: dict) -> None:
    """Restore t, the running averages and any frozen exponents (a checkpoint written before the
    stable exponent holds t alone)."""
    if "t" not in state:
        state = dict(t=state)
    with torch.no_grad():
        for n, v in state["t"].items():
            scales.param(n).copy_(torch.tensor(np.float64(v)))
    scales.ema.update(state.get("ema", {}))
    scales.frozen = {n: int(v) for n, v in state.get("frozen", {}).items()}
