"""Quantization regularizers QR and WQR (docs/format.md §6; the paper's eqs. 9, 11, 12).

    QR  = Σ_n 1/(max|Q_n| · card(W_n))    · Σ_i |W_ni − Wq_ni|
    WQR = Σ_n 1/(max|Q_n|² · card(W_n))   · Σ_i |W_ni − Wq_ni| · |W_ni|

Wq = Q(W) is recomputed every mini-batch with the compiler's own quantizer
(same scheme, bits and exponent rule, so training pulls the weights to the
levels the hardware will store) and held constant for the gradient.

The |W| factor of WQR can be differentiated (``wqr_weight="full"``, eq. 11 as
written: the gradient also shrinks large weights) or held constant
(``"detached"``: |W| only weighs the pull towards the level).
"""
from __future__ import annotations


import numpy as np
import torch

from wqrc.errors import WqrcError
from wqrc.quant.plan import LayerSpec
from wqrc.quant.quantize import quantize_pinned_channels, quantize_weights
from wqrc.quant.schemes import SCHEMES
from wqrc.train.schedule import Schedule, parse_schedule


def quantize_tensor(w: torch.Tensor, spec: LayerSpec, rule: str, name: str = "layer") -> tuple[torch.Tensor, float]:
    """(Q(W) as a constant tensor, max|Q| = the largest level magnitude, over the channels where
    ``spec.channel_n1`` gives each output channel its own level set)."""
    arr = w.detach().cpu().numpy().astype(np.float64)
    sch = SCHEMES[spec.scheme]
    if spec.channel_n1 is not None:
        codes, exps = quantize_pinned_channels(name, arr, spec, rule)
        n1, exp = max(spec.channel_n1), exps.reshape((-1,) + (1,) * (arr.ndim - 1))
    else:
        n1, exp, codes = quantize_weights(name, arr, spec, rule)
    q = np.ldexp(sch.decode(codes, spec.bits).astype(np.float64), exp)
    return torch.as_tensor(q, dtype=w.dtype, device=w.device), float(sch.max_level(n1, spec.bits))


WQR_WEIGHTS = ("full", "detached")


def qr_terms(weights: list[torch.Tensor], quantized: list[torch.Tensor], max_levels: list[float],
             wqr_weight: str = "full"):
    """(QR, WQR) for lists of weights, their (constant) quantized values and max|Q_n|."""
    qr = weights[0].new_zeros(())
    wqr = weights[0].new_zeros(())
    for w, q, m in zip(weights, quantized, max_levels):
        if m == 0:
            continue
        dist = (w - q).abs()
        qr = qr + dist.sum() / (m * w.numel())
        size = w.abs() if wqr_weight == "full" else w.detach().abs()
        wqr = wqr + (dist * size).sum() / (m * m * w.numel())
    return qr, wqr


class QuantRegularizer:
    """``reg = QuantRegularizer(module, plan)``; in the loop ``loss = task + reg(epoch)``.

    ``module`` is a :class:`wqrc.ir.to_torch.GraphModule` (or any object with a
    ``named_weights()`` iterable of (layer name, parameter)); ``plan`` maps
    layer names to :class:`LayerSpec`. ``lambda1``/``lambda2`` are numbers or
    schedule expressions (see :mod:`wqrc.train.schedule`).
    """

    def __init__(self, module, plan: dict[str, LayerSpec], *, lambda1="0", lambda2="0", rule: str = "mse",
                 wqr_weight: str = "full"):
        if wqr_weight not in WQR_WEIGHTS:
            raise WqrcError(f"--wqr-weight: unknown '{wqr_weight}' (use {' or '.join(WQR_WEIGHTS)})")
        self.wqr_weight = wqr_weight
        self.params = list(_named_weights(module))
        missing = [n for n, _ in self.params if n not in plan]
        if missing:
            raise WqrcError(f"the plan has no entry for layers {missing}")
        self.plan, self.rule = plan, rule
        self.lambda1: Schedule = parse_schedule(lambda1, "--lambda1")
        self.lambda2: Schedule = parse_schedule(lambda2, "--lambda2")
        self.last_qr = self.last_wqr = 0.0

    def terms(self):
        ws, qs, ms = [], [], []
        for name, w in self.params:
            q, m = quantize_tensor(w, self.plan[name], self.rule, name)
            ws.append(w)
            qs.append(q)
            ms.append(m)
        return qr_terms(ws, qs, ms, self.wqr_weight)

    def __call__(self, epoch: int) -> torch.Tensor:
        l1, l2 = self.lambda1(epoch), self.lambda2(epoch)
        qr, wqr = self.terms()
        self.last_qr, self.last_wqr = float(qr.detach()), float(wqr.detach())
        return l1 * qr + l2 * wqr

    def mean_distance(self) -> float:
        """Mean |W - Q(W)| over all weights: how far training still is from the levels."""
        total, count = 0.0, 0
        with torch.no_grad():
            for name, w in self.params:
                q, _ = quantize_tensor(w, self.plan[name], self.rule, name)
                total += float((w - q).abs().sum())
                count += w.numel()
        return total / max(count, 1)


def _named_weights(module):
    if hasattr(module, "layer_keys"):
        for name in module.layer_keys:
            yield name, module.weight_of(name)
    else:
        yield from module.named_weights()


def ste_weights(module, plan: dict[str, LayerSpec], rule: str) -> dict[str, torch.Tensor]:
    """Straight-through fake quantization: forward uses Q(W), backward passes the gradient to W."""
    out = {}
    for name, w in _named_weights(module):
        q, _ = quantize_tensor(w, plan[name], rule, name)
        out[name] = w + (q - w).detach()
    return out
