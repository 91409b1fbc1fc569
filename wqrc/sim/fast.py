"""A faster executor of the same integer semantics, in torch floats.

Integers of up to 24 bits are exact in float32 and of up to 53 bits in
float64, and so are their sums, floors and power-of-two scalings. When a
model's bounds prove that every value (accumulators with bias, rounding
offsets, pooled sums) stays inside those limits, this executor runs it with
oneDNN's direct convolution instead of NumPy's im2col, several times faster.
It is an optimisation of :mod:`wqrc.sim.kernels`, not a second contract: the
tests assert that both give the same integers, element for element, and
:func:`eligible` sends anything it cannot prove exact to the NumPy kernels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from wqrc.quant.arith import avgpool_divisor, half
from wqrc.quant.formats import output_bounds
from wqrc.quant.qmodel import QModel
from wqrc.sim.exactness import exact_within, node_bounds
from wqrc.sim.kernels import maxpool_pads

F32_EXACT, F64_EXACT = 2 ** 24, 2 ** 53


def eligible(qm: QModel) -> bool:
    """True when every value the model forms is provably exact in float64 (the shared guard of
    wqrc.sim.exactness), and every power-of-two scale stays a normal float32 (|shift| <= 60)."""
    return all(n.op in RUN for n in qm.nodes) and exact_within(qm, F64_EXACT, F64_EXACT)


def _round_shift(v: torch.Tensor, s: int) -> torch.Tensor:
    """rshift_round on exact float integers: floor((v + 2**(s-1)) / 2**s), or v * 2**-s."""
    if s > 0:
        return torch.floor((v + float(1 << (s - 1))) * (2.0 ** -s))
    return v * float(1 << -s)


def _clamp(v, lo, hi):
    return torch.clamp(v, min=None if lo is None else float(lo), max=None if hi is None else float(hi))


def _saturate_clip(v, fmt, qclip):
    v = torch.clamp(v, float(fmt.qmin), float(fmt.qmax))
    if qclip:
        v = _clamp(v, *qclip)
    return v


def _divide(total: torch.Tensor, counts: np.ndarray) -> torch.Tensor:
    out = torch.empty_like(total)
    for n in np.unique(counts):
        r, s = avgpool_divisor(int(n))
        mask = torch.from_numpy(counts == n)
        out[..., mask] = _round_shift(total[..., mask] * float(r), s)
    return out


class _Layer:
    """A conv/dense layer prepared so requantization is conv(+bias+half) -> scale -> floor -> clamp."""

    def __init__(self, qm: QModel, node, layer, storage):
        exact32 = storage == torch.float32 and node_bounds(qm)[node.name].sum < F32_EXACT
        self.dtype = torch.float32 if exact32 else torch.float64
        # Scaling by 2**-shift is exact in binary floating point (only the exponent
        # moves), so it is folded into weights and bias and the conv yields acc * 2**-sh.
        scale = 2.0 ** (-layer.shift)
        self.weight = torch.from_numpy(np.asarray(layer.multipliers, np.float64) * scale).to(self.dtype)
        self.bias = torch.tensor([float(b + half(layer.shift)) * scale for b in layer.bias], dtype=self.dtype)
        self.scale = 1.0
        if not (torch.isfinite(self.weight).all() and torch.finfo(self.dtype).tiny <= scale):
            raise ValueError("scale out of the float range")
        self.floor = layer.shift > 0
        self.lo, self.hi = map(float, output_bounds(qm.formats[node.output], node.attrs.get("qclip")))
        a = node.attrs
        if node.op == "conv":
            pt, pl, pb, pr = a["pads"]
            self.sym = (pt, pl) if (pt, pl) == (pb, pr) else None
            self.pads = (pl, pr, pt, pb)
            self.stride, self.dil, self.group = tuple(a["strides"]), tuple(a["dilations"]), a["group"]

    def conv(self, x):
        x = x.to(self.dtype)
        if self.sym is not None:
            acc = F.conv2d(x, self.weight, self.bias, self.stride, self.sym, self.dil, self.group)
        else:
            acc = F.conv2d(F.pad(x, self.pads), self.weight, self.bias, self.stride, 0, self.dil, self.group)
        return self.finish(acc)

    def dense(self, x):
        return self.finish(F.linear(x.to(self.dtype), self.weight, self.bias))

    def finish(self, acc):
        if self.scale != 1.0:
            acc.mul_(self.scale)
        if self.floor:
            acc.floor_()
        return acc.clamp_(self.lo, self.hi)


class FastExecutor:
    """Prepared once per model (weights converted), then called per batch."""

    def __init__(self, qm: QModel):
        self.qm = qm
        self.storage = torch.float32 if all(f.bits <= 24 for f in qm.formats.values()) else torch.float64
        self.layers = {node.name: _Layer(qm, node, layer, self.storage) for node, layer in qm.weighted()}

    @torch.no_grad()
    def __call__(self, x: np.ndarray, trace: bool = False):
        qm = self.qm
        env = self.run({qm.input: torch.from_numpy(np.asarray(x)).to(self.storage)})
        if trace:
            return {k: v.numpy().astype(np.int64) for k, v in env.items()}
        return env[qm.output].numpy().astype(np.int64)

    @torch.no_grad()
    def run(self, env: dict, start: int = 0) -> dict:
        """Run nodes[start:] on ``env`` (tensor name -> exact float tensor); returns env.

        The precision search uses ``start`` to reuse the outputs of the layers
        before the one it changed."""
        qm = self.qm
        env = dict(env)
        for node in qm.nodes[start:]:
            env[node.output] = RUN[node.op](self, node, [env[t] for t in node.inputs], qm.formats[node.output])
        return env


# One table per concern: each integer op on exact float tensors, (executor, node,
# inputs, output format) -> tensor; the same computation as wqrc.sim.kernels.
# tests/test_ops.py checks that every integer op of wqrc.ops.OPS is here.

def _maxpool(ex: FastExecutor, node, ins, fmt):
    a = node.attrs
    pads = tuple(maxpool_pads(tuple(ins[0].shape), a))
    pt, pl, pb, pr = pads
    x = F.pad(ins[0], (pl, pr, pt, pb), value=float(fmt.qmin - 1)) if pads != (0,) * 4 else ins[0]
    return F.max_pool2d(x, tuple(a["kernel"]), tuple(a["strides"]), dilation=tuple(a.get("dilations", (1, 1))))


def _avgpool(ex: FastExecutor, node, ins, fmt):
    a = node.attrs
    pt, pl, pb, pr = a["pads"]
    kh, kw = a["kernel"]
    total = F.avg_pool2d(F.pad(ins[0].double(), (pl, pr, pt, pb)), (kh, kw), tuple(a["strides"]), divisor_override=1)
    if a.get("count_include_pad") or not any(a["pads"]):
        counts = np.full(tuple(total.shape[2:]), kh * kw)
    else:
        ones = F.pad(torch.ones((1, 1) + tuple(ins[0].shape[2:]), dtype=torch.float64), (pl, pr, pt, pb))
        counts = F.avg_pool2d(ones, (kh, kw), tuple(a["strides"]), divisor_override=1)[0, 0].numpy().astype(np.int64)
    return _saturate_clip(_divide(total, counts), fmt, None).to(ex.storage)


def _global_avgpool(ex: FastExecutor, node, ins, fmt):
    r, s = avgpool_divisor(ins[0].shape[2] * ins[0].shape[3])
    total = ins[0].double().sum(dim=(2, 3), keepdim=True) * float(r)
    return _saturate_clip(_round_shift(total, s), fmt, None).to(ex.storage)


def _add(ex: FastExecutor, node, ins, fmt):
    y = sum(_round_shift(t.double(), s) for t, s in zip(ins, node.attrs["shifts"]))
    return _saturate_clip(y, fmt, node.attrs.get("qclip")).to(ex.storage)


def _concat(ex: FastExecutor, node, ins, fmt):
    parts = [_saturate_clip(_round_shift(t.double(), s), fmt, None) for t, s in zip(ins, node.attrs["shifts"])]
    return torch.cat(parts, 1).to(ex.storage)


RUN = {
    "conv": lambda ex, node, ins, fmt: ex.layers[node.name].conv(ins[0]),
    "dense": lambda ex, node, ins, fmt: ex.layers[node.name].dense(ins[0]),
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": _global_avgpool,
    "flatten": lambda ex, node, ins, fmt: ins[0].reshape(ins[0].shape[0], -1),
    "add": _add,
    "concat": _concat,
    "relu": lambda ex, node, ins, fmt: _clamp(ins[0], *node.attrs["qclip"]),
    "clip": lambda ex, node, ins, fmt: _clamp(ins[0], *node.attrs["qclip"]),
}
