"""A faster executor of the same integer semantics, in torch floats.

Integers of up to 24 bits are exact in float32 and of up to 53 bits in
float64, and so are their sums, floors and power-of-two scalings. A conv or
dense layer whose bound proves every partial sum (accumulator with bias and
rounding offset) below 2**24 runs as one float32 convolution (oneDNN,
channels-last, with the requantizing scale folded into the weights); above
that, its operands are split into limbs, x = sum_j x_j * 2**(kx*j) and
w = sum_i w_i * 2**(kw*i), so small that each partial convolution of a limb
pair is exact again in float32 (or float64), and the partial results are
recombined exactly: in float64 below 2**53, in int64 below 2**63, and beyond
that twice, modulo 2**64 and approximately in float64, which together fix the
accumulator exactly (:meth:`_Layer._wide`; up to WIDE_EXACT). A plan per
layer picks the cheapest of these by the number and kind of convolutions
(a float64 convolution counts as five float32 ones: oneDNN's float32 path is
8-27x faster here, but a plan of many float32 limbs pays about as much again
in copies and recombination, and five measured fastest; docs/targets.md). Beyond
WIDE_EXACT the layer is not eligible and the NumPy kernels run the model.

It is an optimisation of :mod:`wqrc.contract.kernels`, not a second contract: the
tests assert that both give the same integers, element for element, and
:func:`eligible` sends anything it cannot prove exact to the NumPy kernels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from wqrc.ir.to_torch import upsample
from wqrc.ops.lookup import LOOKUP_OPS
from wqrc.ops.pad import torch_pads
from wqrc.contract.arith import avgpool_divisor, half
from wqrc.contract.formats import output_bounds
from wqrc.quant.qmodel import QModel
from wqrc.sim.exactness import node_bounds, scales_fold
from wqrc.contract.kernels import maxpool_pads

F32_EXACT, F64_EXACT, I64_EXACT = 2 ** 24, 2 ** 53, 2 ** 63
# the widest accumulator _Layer._wide recovers: its float64 estimate then errs by less than
# (partials)^2 * 2**(96 - 53), far below the 2**63 that the residue modulo 2**64 leaves open
WIDE_EXACT = 2 ** 96
WIDE_OUT = 2 ** 60  # and its outputs (the layer's clamp bounds) stay well inside int64
COST = {torch.float32: 1.0, torch.float64: 5.0}   # relative cost of one convolution
LIMB_COST = 0.3                                    # splitting the input / recombining, per limb or partial
CL = torch.channels_last


def eligible(qm: QModel) -> bool:
    """True when every op has a torch form and every value is provably exact: each weighted
    layer's sums below 2**63 (limbs and int64 recombination), every other sum and product
    below 2**53 (float64), and every power-of-two scale a normal float (|shift| <= 60)."""
    if not all(n.op in RUN for n in qm.nodes):
        return False
    if any(l.rounding != "half_up" for l in qm.layers.values()):
        return False  # its limb plans fold the half-up offset (ties to even runs on the other paths)
    if not scales_fold(qm, min_shift=-60):
        return False
    if any(l.aligned().multipliers.dtype == object for l in qm.layers.values()):
        return False
    bounds = node_bounds(qm)
    for n in qm.nodes:
        b = bounds[n.name]
        if n.name in qm.layers:
            if b.sum >= WIDE_EXACT:
                return False
            if b.sum >= I64_EXACT and max(map(abs, output_bounds(qm.formats[n.output], n.attrs.get("qclip")))) >= WIDE_OUT:
                return False
        elif b.sum >= F64_EXACT or b.product >= F64_EXACT:
            return False
    return True


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


def _limbs(bits: int, k: int) -> int:
    return -(-bits // k)


def _plan(x_max: int, x_signed: bool, w: np.ndarray, acc: int):
    """The cheapest exact way to compute a layer: (cost, dtype, kx, kw), kx/kw the limb widths
    of input and weights (0: not split). ``acc``: the bound on every partial sum of the whole
    product (bias and rounding offset included)."""
    if acc < F32_EXACT:
        return (COST[torch.float32], torch.float32, 0, 0)
    rows = np.abs(w.reshape(len(w), -1)).sum(axis=1).max()
    x_bits = int(x_max).bit_length()
    w_bits = int(np.abs(w).max()).bit_length()
    k = (x_bits + 1) // 2
    if x_bits <= 24 and rows * (1 << k) + (1 << k) < F32_EXACT and rows * ((1 << (x_bits - k)) + 1) + acc // (1 << k) < F32_EXACT \
            and acc + (1 << k) < F32_EXACT * (1 << k):
        # two input limbs, float32 throughout (_Layer._two_limbs): two convolutions, no copies
        return (2 * COST[torch.float32] + LIMB_COST, torch.float32, k, -1)
    best = (COST[torch.float64], torch.float64, 0, 0) if acc < F64_EXACT else None
    for dtype, limit in ((torch.float32, F32_EXACT), (torch.float64, F64_EXACT)):
        for kw in [0] + list(range(1, w_bits)):
            # the largest weight-limb row sum: all of w, or (2**kw - 1) per element (the top limb's
            # magnitude is at most 2**(w_bits - kw*(lw-1)) <= 2**kw too)
            w_row = rows if kw == 0 else min(rows, (w[0].size) * ((1 << kw) - 1))
            lw = 1 if kw == 0 else _limbs(w_bits + 1, kw)
            for kx in range(1, x_bits + 1):
                lx = _limbs(x_bits + (1 if x_signed else 0), kx)
                if lx == 1 and lw == 1:
                    continue
                if w_row * (1 << kx) >= limit:
                    break
                cost = lx * lw * COST[dtype] + LIMB_COST * (lx + lx * lw)
                if best is None or cost < best[0]:
                    best = (cost, dtype, kx, kw)
    return best


class _Layer:
    """A conv/dense layer with its plan: direct (scale folded into the weights: conv, then floor
    and clamp) or by limbs (partial convolutions recombined exactly, then the requantization)."""

    def __init__(self, qm: QModel, node, qlayer, storage):
        a = node.attrs
        layer = qlayer.aligned()  # one shift for every channel (per-channel exponents, docs/format.md §1c)
        b = node_bounds(qm)[node.name].sum
        w = np.asarray(layer.multipliers, np.int64)
        in_fmt = qm.formats[node.inputs[0]]
        self.cost, self.dtype, self.kx, self.kw = _plan(in_fmt.max_abs_q, in_fmt.qmin < 0, w, b)
        self.storage, self.shift = storage, layer.shift
        self.wide = b >= I64_EXACT  # recombined modulo 2**64 beside a float64 estimate (_wide)
        self.lo, self.hi = output_bounds(qm.formats[node.output], a.get("qclip"))
        self.is_conv = node.op == "conv"
        if self.is_conv:
            pt, pl, pb, pr = a["pads"]
            self.sym = (pt, pl) if (pt, pl) == (pb, pr) else None
            self.pads = (pl, pr, pt, pb)
            self.stride, self.dil, self.group = tuple(a["strides"]), tuple(a["dilations"]), a["group"]
        # oneDNN convolves a one-channel float32 input (a grayscale image) on a slow path, 3-10x
        # slower than the same layer given three more input channels of zeros (measured on 28x28
        # and 12x12 maps; a few tenths of a millisecond worse on some small ones; float64 has no
        # oneDNN path and only loses): zeros add nothing
        self.cpad = 3 if self.is_conv and self.group == 1 and w.shape[1] == 1 and self.dtype == torch.float32 else 0
        if self.kx == 0:
            # Scaling by 2**-shift is exact in binary floating point (only the exponent moves),
            # so it is folded into weights and bias and the conv yields acc * 2**-sh.
            scale = 2.0 ** (-layer.shift)
            self.weights = [self._prep(torch.from_numpy(w.astype(np.float64) * scale).to(self.dtype))]
            self.bias = torch.tensor([float(v + half(layer.shift)) * scale for v in layer.bias], dtype=self.dtype)
            if not (torch.isfinite(self.weights[0]).all() and torch.finfo(self.dtype).tiny <= scale):
                raise ValueError("scale out of the float range")
            return
        if self.kw == -1:  # two float32 input limbs; the bias c = bias + half split the same way
            k = self.kx
            c = [int(v) + half(layer.shift) for v in layer.bias]
            self.weights = [self._prep(torch.from_numpy(w.astype(np.float32)))]
            self.bias_hi = torch.tensor([float(v >> k) for v in c], dtype=torch.float32)
            self.bias_lo = torch.tensor([float(v - ((v >> k) << k)) for v in c], dtype=torch.float32)
            return
        # limbs: weight limbs w_i (unsigned below the top one, which keeps the sign)
        self.exact_i64 = b >= F64_EXACT
        limbs = [w] if self.kw == 0 else []
        if self.kw:
            rest, top = w, 1 << (self.kw - 1)
            while not np.all((rest >= -top) & (rest < top)):  # until the rest fits one signed limb
                limbs.append(rest & ((1 << self.kw) - 1))
                rest = rest >> self.kw
            limbs.append(rest)  # the top limb keeps the sign (below it: kw unsigned bits each)
        self.weights = [self._prep(torch.from_numpy(l.astype(np.float64)).to(self.dtype)) for l in limbs]
        self.bias_int = [int(v) + half(layer.shift) for v in layer.bias]

    def _prep(self, t: torch.Tensor) -> torch.Tensor:
        if t.dim() != 4:
            return t
        return F.pad(t, (0, 0, 0, 0, 0, self.cpad)).contiguous(memory_format=CL)

    def _op(self, x: torch.Tensor, w: torch.Tensor, bias=None) -> torch.Tensor:
        if not self.is_conv:
            return F.linear(x, w, bias)
        if self.cpad:
            x = F.pad(x, (0, 0, 0, 0, 0, self.cpad)).contiguous(memory_format=CL)
        if self.sym is not None:
            y = F.conv2d(x, w, bias, self.stride, self.sym, self.dil, self.group)
        else:
            y = F.conv2d(F.pad(x, self.pads), w, bias, self.stride, 0, self.dil, self.group)
        return y if y.is_contiguous(memory_format=CL) else y.contiguous(memory_format=CL)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.kx == 0:
            acc = self._op(x.to(self.dtype), self.weights[0], self.bias)
            if self.shift > 0:
                acc.floor_()
            return acc.clamp_(float(self.lo), float(self.hi)).to(self.storage)
        if self.kw == -1:
            return self._two_limbs(x)
        return self._by_limbs(x)

    def _two_limbs(self, x: torch.Tensor) -> torch.Tensor:
        """x = 2**k * xh + xl (0 <= xl < 2**k), c = 2**k * ch + cl: A = conv(xh) + ch and
        B = conv(xl) + cl are exact float32 integers (the plan's bounds), acc + c = 2**k A + B,
        and floor((2**k A + B) / 2**s) = floor((A + floor(B / 2**k)) / 2**(s-k)) for s >= k
        (adding B / 2**k's fraction to an integer cannot cross a multiple of 2**(s-k)), or
        2**(k-s) A + floor(B / 2**s) for s < k. Every step is an exact float32 operation, bar
        values already beyond 2**24 > the clamp bounds, which stay beyond them."""
        k, s = self.kx, self.shift
        x = x.to(torch.float32)
        xh = torch.floor(x * (1.0 / (1 << k)))
        xl = x - xh * float(1 << k)
        a = self._op(xh, self.weights[0], self.bias_hi)
        b = self._op(xl, self.weights[0], self.bias_lo)
        if s >= k:
            a.add_(b.mul_(1.0 / (1 << k)).floor_())
            if s > k:
                a.mul_(2.0 ** (k - s)).floor_()
        else:
            a.mul_(float(1 << (k - s))).add_(b.mul_(2.0 ** -s).floor_() if s > 0 else b.mul_(float(1 << -s)))
        return a.clamp_(float(self.lo), float(self.hi)).to(self.storage)

    def _by_limbs(self, x: torch.Tensor) -> torch.Tensor:
        # the input's limbs: exact in the storage type (integers, power-of-two scalings, floors)
        xs, rest, step, top = [], x, float(1 << self.kx), float(1 << (self.kx - 1))
        while not bool(((rest >= -top) & (rest < top)).all()):  # as the weights: a signed top limb
            hi = torch.floor(rest * (1.0 / step))
            xs.append(rest - hi * step)
            rest = hi
        xs.append(rest)
        parts = ((self._op(xj.to(self.dtype), wi), self.kx * j + self.kw * i)
                 for j, xj in enumerate(xs) if bool(xj.any()) for i, wi in enumerate(self.weights))
        if self.wide:
            return self._wide(parts, x)
        acc = None
        for part, sh in parts:
            if self.exact_i64:
                part = part.to(torch.int64).bitwise_left_shift_(sh)
            else:
                part = part.to(torch.float64).mul_(float(2 ** sh))
            acc = part if acc is None else acc.add_(part)
        if acc is None:  # an all-zero input
            acc = self._zeros(x, torch.int64 if self.exact_i64 else torch.float64)
        bias = torch.tensor(self.bias_int, dtype=acc.dtype).reshape((1, -1) + (1,) * (acc.dim() - 2))
        acc = acc.add_(bias)
        s, lo, hi = self.shift, int(self.lo), int(self.hi)
        if self.exact_i64:
            if s > 0:
                acc = acc.bitwise_right_shift_(s)  # floor: the rounding offset is in the bias
            elif s < 0:  # clamp first so that the left shift cannot overflow, then exactly
                acc = acc.clamp_(-(-lo >> -s) - 1, (hi >> -s) + 1).bitwise_left_shift_(-s)
            return acc.clamp_(lo, hi).to(self.storage)
        if s > 0:
            acc = acc.mul_(2.0 ** -s).floor_()
        elif s < 0:
            acc = acc.mul_(float(1 << -s))
        return acc.clamp_(float(lo), float(hi)).to(self.storage)

    def _zeros(self, x: torch.Tensor, dtype) -> torch.Tensor:
        """The layer's output shape for ``x``, all zeros (the accumulator of an all-zero input)."""
        shape_src = self._op(torch.zeros_like(x[:1]).to(self.dtype), self.weights[0])
        acc = torch.zeros((len(x),) + tuple(shape_src.shape[1:]), dtype=dtype)
        return acc.contiguous(memory_format=CL) if acc.dim() == 4 else acc

    def _wide(self, parts, x: torch.Tensor) -> torch.Tensor:
        """An accumulator beyond 2**63 (a 6-bit Po2 layer at 32-bit activations reaches 2**73),
        without Python integers. It is kept twice: exactly modulo 2**64 (U, uint64, whose
        wrapping NumPy defines) and approximately in float64 (E; every partial and 2**sh exact,
        only the sums round, by far less than 2**62 below WIDE_EXACT). Then acc = K * 2**64 + U
        with K = round((E - L) / 2**64), L = U read as int64, minus one where L < 0. The
        requantization floor(acc / 2**s), 0 < s <= 60, is K * 2**(64-s) + (U >> s): computed
        modulo 2**64 it is exact wherever the float64 estimate of it is below 2**61 in
        magnitude, and beyond that it saturates (the clamp bounds are below WIDE_OUT). For
        s <= 0, acc is L itself where it fits int64 (K·2**64 + U with K + (L < 0) == 0), and
        saturates where it does not."""
        u = e = None
        for part, sh in parts:
            p = part.to(torch.float64)
            ep = p * float(2 ** sh)
            e = ep if e is None else e.add_(ep)
            if sh >= 64:  # a multiple of 2**64: nothing modulo 2**64 (and NumPy's shift would wrap the count)
                continue
            up = p.numpy().astype(np.int64).view(np.uint64) << np.uint64(sh)
            u = up if u is None else u + up
        if e is None:
            e = self._zeros(x, torch.float64)
        if u is None:
            u = np.zeros(tuple(e.shape), np.uint64)
        shape = (1, -1) + (1,) * (e.dim() - 2)
        e = e.add_(torch.tensor([float(v) for v in self.bias_int], dtype=torch.float64).reshape(shape)).numpy()
        u = u + np.array([v % (1 << 64) for v in self.bias_int], np.uint64).reshape(shape)
        low = u.view(np.int64)
        kk = np.rint((e - low.astype(np.float64)) * 2.0 ** -64).astype(np.int64)  # acc = kk * 2**64 + low
        s, lo, hi = self.shift, int(self.lo), int(self.hi)
        if s > 0:
            k = kk - (low < 0)
            approx = k.astype(np.float64) * 2.0 ** (64 - s) + (u >> np.uint64(s)).astype(np.float64)
            exact = ((k.view(np.uint64) << np.uint64(64 - s)) + (u >> np.uint64(s))).view(np.int64)
            q = np.where(approx >= 2.0 ** 61, hi, np.where(approx <= -2.0 ** 61, lo, np.clip(exact, lo, hi)))
        else:  # acc * 2**-s: acc is low itself where kk is 0 (clamped first, as _by_limbs does), else saturated
            exact = np.clip(low, -(-lo >> -s) - 1, (hi >> -s) + 1) << np.int64(-s)
            q = np.where(kk > 0, hi, np.where(kk < 0, lo, np.clip(exact, lo, hi)))
        out = torch.from_numpy(np.ascontiguousarray(q)).to(self.storage)
        return out.contiguous(memory_format=CL) if out.dim() == 4 else out

    @property
    def kind(self) -> str:
        name = str(self.dtype).replace("torch.", "")
        if self.kx == 0:
            return name
        if self.wide:
            return f"{name} limbs, mod 2^64"
        return f"{name} 2 limbs" if self.kw == -1 else f"{name} limbs"


class FastExecutor:
    """Prepared once per model (weights converted), then called per batch."""

    def __init__(self, qm: QModel):
        self.qm = qm
        self.storage = torch.float32 if all(f.bits <= 24 for f in qm.formats.values()) else torch.float64
        self.layers = {node.name: _Layer(qm, node, layer, self.storage) for node, layer in qm.weighted()}

    @torch.no_grad()
    def __call__(self, x: np.ndarray, trace: bool = False):
        qm = self.qm
        x = np.asarray(x)
        if x.dtype not in (np.int8, np.uint8, np.int16, np.int32, np.int64):  # what torch takes from NumPy
            x = x.astype(np.int64)
        x = torch.from_numpy(x).to(self.storage)
        env = self.run({qm.input: x.contiguous(memory_format=CL) if x.dim() == 4 else x})
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
        # NNPACK (torch's convolution where oneDNN is absent or off, batches of 16 and more)
        # computes by fast transforms that round even integer operands: off, so that a build
        # without oneDNN falls to the direct im2col-and-GEMM convolution, exact like oneDNN's
        with torch.backends.nnpack.flags(enabled=False):
            for node in qm.nodes[start:]:
                env[node.output] = RUN[node.op](self, node, [env[t] for t in node.inputs], qm.formats[node.output])
        return env


# One table per concern: each integer op on exact float tensors, (executor, node,
# inputs, output format) -> tensor; the same computation as wqrc.contract.kernels.
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


def _select_channels(ex, node, ins, fmt):
    y = ins[0][:, list(node.attrs["channels"])]
    return y.contiguous(memory_format=CL) if y.dim() == 4 else y.contiguous()


def _mul(ex, node, ins, fmt):
    """The exact product in float64 (below 2**53 by the guard), requantized."""
    y = _round_shift(ins[0].double() * ins[1].double(), node.attrs["shift"])
    return _saturate_clip(y, fmt, None).to(ex.storage)


def _lookup(ex, node, ins, fmt):
    """A lookup-table activation: table[q - qmin] (exact: codes and table entries below 2**24)."""
    table = torch.tensor(node.attrs["table"], dtype=ins[0].dtype)
    qmin = ex.qm.formats[node.inputs[0]].qmin
    return torch.take(table, (ins[0] - qmin).long())


RUN = {
    "conv": lambda ex, node, ins, fmt: ex.layers[node.name](ins[0]),
    "dense": lambda ex, node, ins, fmt: ex.layers[node.name](ins[0]),
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": _global_avgpool,
    "flatten": lambda ex, node, ins, fmt: ins[0].reshape(ins[0].shape[0], -1),
    "reshape": lambda ex, node, ins, fmt: ins[0].reshape((ins[0].shape[0],) + tuple(node.attrs["shape"])),
    "add": _add,
    "concat": _concat,
    "select_channels": _select_channels,
    "relu": lambda ex, node, ins, fmt: _clamp(ins[0], *node.attrs["qclip"]),
    "clip": lambda ex, node, ins, fmt: _clamp(ins[0], *node.attrs["qclip"]),
    "mul": _mul,
    "upsample": lambda ex, node, ins, fmt: upsample(ins[0], node.attrs["scales"], zeros=False),
    "zero_insert": lambda ex, node, ins, fmt: upsample(ins[0], node.attrs["scales"], zeros=True),
    "pad": lambda ex, node, ins, fmt: torch.nn.functional.pad(
        ins[0], torch_pads(node.attrs["pads"]), value=float(node.attrs["code"])).contiguous(memory_format=CL),
    **{op.name: _lookup for op in LOOKUP_OPS},
}
