"""The float graph IR: a short, typed list of nodes in topological order.

The IR is deliberately small: a single-input, single-output dataflow graph of
the operators a quantized CNN accelerator implements. Frontends normalise
whatever ONNX or torch emits into these ops, passes rewrite it, and the
quantizer turns it into integers. Shapes exclude the batch dimension because
every op here is batch-independent, which is what lets a dynamic batch through
while any other dynamic dimension is rejected at load time.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from wqrc.errors import WqrcError

# op name -> short description (used in error messages and docs)
OPS = {
    "conv": "2-D convolution (groups, stride, padding, dilation)",
    "dense": "fully connected layer, y = x W^T + b",
    "batchnorm": "batch normalisation (folded into the layer before it)",
    "relu": "max(x, 0)",
    "clip": "clamp to [min, max] (ReLU6 and friends)",
    "maxpool": "2-D max pooling",
    "avgpool": "2-D average pooling",
    "global_avgpool": "mean over H and W, keeping a 1x1 map",
    "flatten": "(C, H, W) -> (C*H*W)",
    "add": "element-wise sum of equally shaped tensors (residuals)",
    "concat": "concatenation along channels",
    "identity": "no-op (Identity, Dropout); removed",
    "softmax": "trailing softmax; dropped from the integer graph",
}

WEIGHTED_OPS = ("conv", "dense")


@dataclass
class Node:
    """One operator. ``attrs`` hold ints/floats/tuples, ``params`` float arrays.

    A conv or dense node may carry a fused output clamp in ``attrs['clip']``
    as ``(lo, hi)`` with ``None`` for an open side: ReLU is ``(0, None)``,
    ReLU6 ``(0, 6)``. The clamp is part of the layer because the hardware
    applies it in the same requantization step.
    """

    op: str
    name: str
    inputs: list[str]
    output: str
    attrs: dict = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def is_weighted(self) -> bool:
        return self.op in WEIGHTED_OPS

    @property
    def weight(self) -> np.ndarray:
        return self.params["weight"]

    @property
    def bias(self) -> np.ndarray:
        return self.params["bias"]


@dataclass
class Graph:
    nodes: list[Node]
    input: str
    input_shape: tuple[int, ...]
    output: str
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    source: str = ""

    def copy(self) -> "Graph":
        return copy.deepcopy(self)

    def producer(self, tensor: str) -> Optional[Node]:
        for n in self.nodes:
            if n.output == tensor:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        found = [n for n in self.nodes if tensor in n.inputs]
        return found

    def weighted_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_weighted]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def rename_tensor(self, old: str, new: str) -> None:
        """Make every reader of ``old`` read ``new`` instead."""
        for n in self.nodes:
            n.inputs = [new if t == old else t for t in n.inputs]
        if self.output == old:
            self.output = new


def _pool_out(size: int, k: int, s: int, p0: int, p1: int, d: int, ceil: bool) -> int:
    span = size + p0 + p1 - d * (k - 1) - 1
    if ceil:
        out = -(-span // s) + 1
        # ONNX/torch: the last window must start inside the input or left pad
        if (out - 1) * s >= size + p0:
            out -= 1
        return out
    return span // s + 1


def infer_node_shape(node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape (batch excluded) of one node, with a clear error on a mismatch."""
    op, a = node.op, node.attrs
    x = in_shapes[0]

    def need_rank(r: int) -> None:
        if len(x) != r:
            raise WqrcError(
                f"node '{node.name}' ({op}): expects a {r}-D input (batch excluded), got shape {x}"
            )

    if op == "conv":
        need_rank(3)
        c, h, w = x
        o, ig, kh, kw = node.weight.shape
        g = a["group"]
        if c != ig * g:
            raise WqrcError(
                f"node '{node.name}' (conv): {c} input channels do not match weight "
                f"{node.weight.shape} with group={g}"
            )
        sh, sw = a["strides"]
        pt, pl, pb, pr = a["pads"]
        dh, dw = a["dilations"]
        ho = _pool_out(h, kh, sh, pt, pb, dh, False)
        wo = _pool_out(w, kw, sw, pl, pr, dw, False)
        if ho < 1 or wo < 1:
            raise WqrcError(f"node '{node.name}' (conv): output would be empty for input {x}")
        return (o, ho, wo)
    if op == "dense":
        need_rank(1)
        o, i = node.weight.shape
        if x[0] != i:
            raise WqrcError(
                f"node '{node.name}' (dense): input has {x[0]} features, weight expects {i}"
            )
        return (o,)
    if op in ("maxpool", "avgpool"):
        need_rank(3)
        c, h, w = x
        kh, kw = a["kernel"]
        sh, sw = a["strides"]
        pt, pl, pb, pr = a["pads"]
        dh, dw = a.get("dilations", (1, 1))
        ceil = bool(a.get("ceil_mode", 0))
        return (c, _pool_out(h, kh, sh, pt, pb, dh, ceil), _pool_out(w, kw, sw, pl, pr, dw, ceil))
    if op == "global_avgpool":
        need_rank(3)
        return (x[0], 1, 1)
    if op == "flatten":
        return (int(np.prod(x)),)
    if op == "add":
        for s in in_shapes[1:]:
            if s != x:
                raise WqrcError(
                    f"node '{node.name}' (add): input shapes {in_shapes} differ; "
                    "broadcasting adds are not supported"
                )
        return x
    if op == "concat":
        for s in in_shapes[1:]:
            if len(s) != len(x) or s[1:] != x[1:]:
                raise WqrcError(
                    f"node '{node.name}' (concat): shapes {in_shapes} cannot be joined on channels"
                )
        return (sum(s[0] for s in in_shapes),) + tuple(x[1:])
    if op in ("relu", "clip", "batchnorm", "identity", "softmax"):
        if op == "batchnorm" and node.params["scale"].shape[0] != x[0]:
            raise WqrcError(f"node '{node.name}' (batchnorm): channel count does not match input {x}")
        return x
    raise WqrcError(f"node '{node.name}': unknown op '{op}'")


def infer_shapes(graph: Graph) -> Graph:
    """Fill ``graph.shapes`` by walking the nodes in order (they are topological)."""
    shapes = {graph.input: tuple(graph.input_shape)}
    for n in graph.nodes:
        for t in n.inputs:
            if t not in shapes:
                raise WqrcError(f"node '{n.name}' reads tensor '{t}' that no earlier node produces")
        if n.output in shapes:
            raise WqrcError(f"node '{n.name}' writes tensor '{n.output}', which is already written "
                            f"(every tensor must have one producer)")
        shapes[n.output] = infer_node_shape(n, [shapes[t] for t in n.inputs])
    if graph.output not in shapes:
        raise WqrcError(f"graph output '{graph.output}' is not produced by any node")
    graph.shapes = shapes
    return graph
