"""Graph <-> torch.nn.Module.

The float graph runs in torch for three jobs: calibration (every tensor's
range), float accuracy, and fine-tuning (whose trained weights are written
back with :meth:`GraphModule.to_graph`). It executes the IR's own semantics,
so a pass that changed the graph is checked by running it.
"""
from __future__ import annotations

import re
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wqrc.ir.graph import Graph, Node, fit_input
from wqrc.ops.lookup import LOOKUP_OPS
from wqrc.ops.pad import torch_pads
from wqrc.contract.geometry import explicit_pads


def _key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _clamp(x: torch.Tensor, clip) -> torch.Tensor:
    if not clip:
        return x
    lo, hi = clip
    if lo == 0 and hi is None:
        return F.relu(x)  # the common fused ReLU: a cheaper backward than clamp's
    return torch.clamp(x, min=lo, max=hi)


class _FakeQuant(torch.autograd.Function):
    """Forward: x on the grid; backward: the gradient where x was inside [lo, hi], zero elsewhere.
    One function with in-place arithmetic: a fifth of the memory traffic of the composed ops
    (activation-aware fine-tuning runs it on every tensor of every step)."""

    @staticmethod
    def forward(ctx, x, step, lo, hi):
        inside = (x >= lo) & (x <= hi)
        ctx.save_for_backward(inside)
        with torch.no_grad():
            return x.mul(1.0 / step).add_(0.5).floor_().mul_(step).clamp_(lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None


def fake_quant(x: torch.Tensor, step: float, lo: float, hi: float) -> torch.Tensor:
    """x on the grid ``k*step`` in [lo, hi], rounding half up as the integer requantization does
    (docs/format.md §3); the gradient passes straight through inside [lo, hi] and is zero outside.
    ``step`` is a power of two, so ``x * (1/step)`` is exact and the grid points are exact."""
    if not x.requires_grad:
        with torch.no_grad():
            return x.mul(1.0 / step).add_(0.5).floor_().mul_(step).clamp_(lo, hi)
    return _FakeQuant.apply(x, step, lo, hi)


class GraphModule(nn.Module):
    """Runs a (canonical or raw) Graph on NCHW float batches.

    ``act_quant`` (tensor name -> (step, lo, hi)) fake-quantizes those tensors in
    the forward pass: activation-aware fine-tuning sets it from the integer
    graph's activation formats so that training sees what the simulator runs.
    """

    def __init__(self, graph: Graph):
        super().__init__()
        self.act_quant: dict[str, tuple[float, float, float]] = {}
        self.graph = graph.copy()
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self.layer_keys: dict[str, str] = {}
        for n in self.graph.nodes:
            if n.is_weighted:
                k = _key(n.name)
                while k in self.weights:
                    k += "_"
                self.layer_keys[n.name] = k
                self.weights[k] = nn.Parameter(torch.from_numpy(np.array(n.weight, np.float32)))
                self.biases[k] = nn.Parameter(torch.from_numpy(np.array(n.bias, np.float32)))

    def weight_of(self, layer: str) -> nn.Parameter:
        return self.weights[self.layer_keys[layer]]

    def _node(self, n: Node, xs: list[torch.Tensor], weights: Optional[dict] = None) -> torch.Tensor:
        try:
            forward = FORWARD[n.op]
        except KeyError:
            raise NotImplementedError(f"no torch forward for op {n.op}") from None
        return forward(self, n, xs, weights)

    def forward(self, x: torch.Tensor, return_all: bool = False, weights: Optional[dict] = None):
        """``weights`` (layer name -> tensor) replaces layers' weights for this call (fake quantization)."""
        aq = self.act_quant
        env = {self.graph.input: fake_quant(x, *aq[self.graph.input]) if self.graph.input in aq else x}
        self.run_from(env, 0, weights)
        return env if return_all else env[self.graph.output]

    def run_from(self, env: dict, start: int, weights: Optional[dict] = None) -> torch.Tensor:
        """Run nodes ``start`` onward into ``env`` (which holds every tensor they read); the output.
        Lets a caller that changes one layer re-run only the layers from it on."""
        aq = self.act_quant
        for n in self.graph.nodes[start:]:
            y = self._node(n, [env[t] for t in n.inputs], weights)
            env[n.output] = fake_quant(y, *aq[n.output]) if n.output in aq else y
        return env[self.graph.output]

    def to_graph(self) -> Graph:
        """The graph with this module's (possibly trained) weights."""
        g = self.graph.copy()
        for n in g.nodes:
            if n.is_weighted:
                k = self.layer_keys[n.name]
                n.params["weight"] = self.weights[k].detach().cpu().numpy().astype(np.float32).copy()
                n.params["bias"] = self.biases[k].detach().cpu().numpy().astype(np.float32).copy()
        return g


# One table per concern: how each registered op runs in float torch, (module, node, inputs,
# weight overrides) -> tensor. tests/test_ops.py checks that every op of wqrc.ops.OPS is here.

def _weighted(m: GraphModule, n: Node, xs, weights):
    k = m.layer_keys[n.name]
    w = weights[n.name] if weights and n.name in weights else m.weights[k]
    a, x = n.attrs, xs[0]
    if n.op == "dense":
        return _clamp(F.linear(x, w, m.biases[k]), a.get("clip"))
    pt, pl, pb, pr = a["pads"]
    padding = (pt, pl)
    if (pt, pl) != (pb, pr):  # conv2d pads symmetrically itself (cheaper); otherwise pad first
        x, padding = F.pad(x, (pl, pr, pt, pb)), 0
    y = F.conv2d(x, w, m.biases[k], stride=tuple(a["strides"]), padding=padding, dilation=tuple(a["dilations"]),
                 groups=a["group"])
    return _clamp(y, a.get("clip"))


def _add(m, n, xs, weights):
    y = xs[0]
    for other in xs[1:]:
        y = y + other
    return _clamp(y, n.attrs.get("clip"))


def _maxpool(m, n, xs, weights):
    # the registry's explicit pads: the same windows as the integer graph (ceil_mode included)
    a, x = n.attrs, xs[0]
    pt, pl, pb, pr = explicit_pads(tuple(x.shape[1:]), a)
    x = F.pad(x, (pl, pr, pt, pb), value=float("-inf"))
    return F.max_pool2d(x, a["kernel"], a["strides"], dilation=a.get("dilations", (1, 1)))


def _avgpool(m, n, xs, weights):
    a, x = n.attrs, xs[0]
    pt, pl, pb, pr = a["pads"]
    kh, kw = a["kernel"]
    total = F.avg_pool2d(F.pad(x, (pl, pr, pt, pb)), a["kernel"], a["strides"]) * (kh * kw)
    if a.get("count_include_pad", 0):
        return total / (kh * kw)
    ones = F.pad(torch.ones_like(x[:1, :1]), (pl, pr, pt, pb))
    count = F.avg_pool2d(ones, a["kernel"], a["strides"]) * (kh * kw)
    return total / count


def _batchnorm(m, n, xs, weights):
    p, x = n.params, xs[0]
    t = lambda v: torch.as_tensor(v, dtype=x.dtype, device=x.device)  # noqa: E731
    return F.batch_norm(x, t(p["mean"]), t(p["var"]), t(p["scale"]), t(p["bias"]), False, 0.0, n.attrs["epsilon"])


def upsample(x: torch.Tensor, scales, zeros: bool) -> torch.Tensor:
    """Nearest-neighbour repeats, or zeros between the elements (wqrc/ops/resize.py); also the
    fast executor's, as both only move values."""
    sh, sw = scales
    if not zeros:
        return x.repeat_interleave(sh, dim=2).repeat_interleave(sw, dim=3)
    n, c, h, w = x.shape
    y = x.new_zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1))
    y[:, :, ::sh, ::sw] = x
    return y


FORWARD = {
    "conv": _weighted,
    "dense": _weighted,
    "add": _add,
    "relu": lambda m, n, xs, w: F.relu(xs[0]),
    "clip": lambda m, n, xs, w: _clamp(xs[0], (n.attrs.get("min"), n.attrs.get("max"))),
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": lambda m, n, xs, w: xs[0].mean(dim=(2, 3), keepdim=True),
    "flatten": lambda m, n, xs, w: xs[0].flatten(1),
    "reshape": lambda m, n, xs, w: xs[0].reshape((xs[0].shape[0],) + tuple(n.attrs["shape"])),
    "concat": lambda m, n, xs, w: torch.cat(xs, dim=1),
    "select_channels": lambda m, n, xs, w: xs[0][:, list(n.attrs["channels"])],
    "mul": lambda m, n, xs, w: xs[0] * xs[1],
    "upsample": lambda m, n, xs, w: upsample(xs[0], n.attrs["scales"], zeros=False),
    "zero_insert": lambda m, n, xs, w: upsample(xs[0], n.attrs["scales"], zeros=True),
    "pad": lambda m, n, xs, w: torch.nn.functional.pad(
        xs[0], torch_pads(n.attrs["pads"]), value=float(n.attrs["value"])),
    "batchnorm": _batchnorm,
    "identity": lambda m, n, xs, w: xs[0],
    "softmax": lambda m, n, xs, w: torch.softmax(xs[0], dim=1),
    # lookup-table activations: their float function (the quantizer tabulates the same one)
    **{op.name: (lambda op: lambda m, n, xs, w: op.f(xs[0], n.attrs, torch))(op()) for op in LOOKUP_OPS},
}


def to_torch(graph: Graph) -> GraphModule:
    return GraphModule(graph)


@torch.no_grad()
def run_float(graph: Graph, x: np.ndarray, batch: int = 512, return_all: bool = False):
    """Float forward pass in batches; with ``return_all`` a dict of every tensor."""
    module = GraphModule(graph).eval()
    x = fit_input(np.asarray(x), graph.input_shape, graph.input_layout)
    outs: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(x), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[start:start + batch], dtype=np.float32))
        res = module(xb, return_all=True)
        keys = res.keys() if return_all else [graph.output]
        for k in keys:
            outs.setdefault(k, []).append(res[k].numpy())
    merged = {k: np.concatenate(v) for k, v in outs.items()}
    return merged if return_all else merged[graph.output]
