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
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.ops import OPS, WEIGHTED_OPS, infer_node_shape  # noqa: F401 (re-exported: the IR's op set)


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
    # "nhwc": the exported model took channels-last samples (N, H, W, C) and transposed them
    # first; wqrc runs (C, H, W) and takes samples in either layout (fit_input)
    input_layout: str = "nchw"
    # formats the model itself fixes (QONNX quantizers, frontend/qonnx.py): tensor -> (signed, bits,
    # frac) of an activation, layer -> {"scheme", "bits", "exponents" (one per output channel)}
    act_formats: dict[str, tuple[bool, int, int]] = field(default_factory=dict)
    weight_formats: dict[str, dict] = field(default_factory=dict)
    # tensors whose quantizer rounds ties to even (QONNX ROUND): tensor -> "half_even"
    act_rounding: dict[str, str] = field(default_factory=dict)
    # the model's further outputs, after ``output`` (the first, which accuracy and fine-tuning read)
    extra_outputs: list[str] = field(default_factory=list)
    # how the model's own weight quantizers were grouped where wqrc quantizes the weights again
    # (a TFLite int8 model's per-channel scales): "channel" makes that --granularity's default
    weight_granularity: str = "layer"

    @property
    def outputs(self) -> list[str]:
        return [self.output] + list(self.extra_outputs)

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
        """Make every reader of ``old`` read ``new`` instead (a format fixed on ``old`` moves too)."""
        self.rename_tensors({old: new})

    def rename_tensors(self, renames: dict[str, str]) -> None:
        """Apply many renames in one sweep over the nodes (each ``old`` straight to its final name)."""
        for old, new in renames.items():
            if old in self.act_formats:
                pin = self.act_formats.pop(old)
                if self.act_formats.setdefault(new, pin) != pin:
                    raise WqrcError(f"tensor '{old}': quantized to {_describe(pin)} right after '{new}' was quantized "
                                    f"to {_describe(self.act_formats[new])}; wqrc requantizes once per layer output")
            if old in self.act_rounding:
                self.act_rounding.setdefault(new, self.act_rounding.pop(old))
        for n in self.nodes:
            n.inputs = [renames.get(t, t) for t in n.inputs]
        self.output = renames.get(self.output, self.output)
        self.extra_outputs = [renames.get(t, t) for t in self.extra_outputs]


class Splicer:
    """Remove or replace many nodes of a graph in one pass, rerouting their readers.

    A pass that looked up producers, counted readers and renamed tensors by scanning the
    whole graph for each node it removed took time quadratic in the depth (8,000 chained
    ReLUs: a minute). This keeps a producer map, reader counts and the pending renames, and
    writes the node list and the renames once, in :meth:`finish`.
    """

    def __init__(self, graph: "Graph"):
        self.graph = graph
        self.producers = {n.output: n for n in graph.nodes}
        self.readers_of: Counter = Counter(t for n in graph.nodes for t in n.inputs)
        self.renames: dict[str, str] = {}
        self.replaced: dict[int, list[Node]] = {}   # id(node) -> its replacement ([] removes it)

    def resolve(self, tensor: str) -> str:
        while tensor in self.renames:
            tensor = self.renames[tensor]
        return tensor

    def producer(self, tensor: str) -> Optional[Node]:
        return self.producers.get(self.resolve(tensor))

    def readers(self, tensor: str) -> int:
        return self.readers_of[self.resolve(tensor)]

    def is_output(self, tensor: str) -> bool:
        return self.resolve(tensor) in {self.resolve(t) for t in self.graph.outputs}

    def bypass(self, node: Node, new: str) -> None:
        """Remove ``node``; whatever read its output reads ``new``."""
        for t in node.inputs:
            self.readers_of[self.resolve(t)] -= 1
        new = self.resolve(new)
        self.readers_of[new] += self.readers_of.pop(node.output, 0)
        self.renames[node.output] = new
        self.producers.pop(node.output, None)
        self.replaced[id(node)] = []

    def replace(self, node: Node, nodes: list[Node]) -> None:
        """Put ``nodes`` (which write ``node``'s output) where ``node`` was."""
        for t in node.inputs:
            self.readers_of[self.resolve(t)] -= 1
        for n in nodes:
            for t in n.inputs:
                self.readers_of[self.resolve(t)] += 1
            self.producers[n.output] = n
        self.replaced[id(node)] = nodes

    def finish(self) -> "Graph":
        g = self.graph
        g.nodes = [m for n in g.nodes for m in self.replaced.get(id(n), [n])]
        g.rename_tensors({old: self.resolve(old) for old in self.renames})
        return g


def _describe(pin) -> str:
    signed, bits, frac = pin
    return f"{'s' if signed else 'u'}{bits} scale 2**{frac}"


def fit_input(x, input_shape, layout: str = "nchw"):
    """Samples for a model with input ``input_shape`` (C, H, W), also in the layout its exporter
    saw: a 1-D model's (N, C, L) samples (the frontend runs 1-D models at height 1), and a
    channels-last model's (N, H, W, C) ones (``layout`` "nhwc"; samples already (N, C, H, W)
    are taken as they are). Anything else is returned unchanged, for the caller's shape check."""
    shape = tuple(input_shape)
    if len(shape) == 3 and shape[1] == 1 and x.ndim == 3 and tuple(x.shape[1:]) == (shape[0], shape[2]):
        return x.reshape(len(x), shape[0], 1, shape[2])
    if layout == "nhwc" and x.ndim == 4 and tuple(x.shape[1:]) == (shape[1], shape[2], shape[0]) \
            and tuple(x.shape[1:]) != shape:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


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
    for out in graph.outputs:
        if out not in shapes:
            raise WqrcError(f"graph output '{out}' is not produced by any node")
    graph.shapes = shapes
    return graph
