"""Accuracy of a bit-width plan on a validation split, fast enough for a greedy search.

A search step changes one layer, so (1) each layer's quantized weights are
cached per (scheme, bits): formats come from float calibration and do not
depend on the plan; (2) the integer tensors of the current plan are kept, and
a trial that changes layer k re-runs only the nodes from k on.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from wqrc.ir.graph import Graph
from wqrc.ir.to_torch import run_float
from wqrc.quant.plan import LayerSpec, check_spec
from wqrc.quant.qmodel import QModel
from wqrc.quant.quantize import quantize_graph, quantize_layer
from wqrc.sim import fast, simulate


class PlanEvaluator:
    def __init__(self, graph: Graph, scheme: str, x_val: np.ndarray, y_val: np.ndarray, *,
                 ranges: dict, act_bits: int = 8, exponent: str = "mse", start_bits: int = 8):
        self.graph, self.scheme, self.rule = graph, scheme, exponent
        self.layers = [n.name for n in graph.weighted_nodes()]
        self.nodes = {n.name: n for n in graph.weighted_nodes()}
        self.sizes = {n.name: int(n.weight.size) for n in graph.weighted_nodes()}
        self._output_rule = None
        if exponent == "output":  # exponents by the network's output error (quant/output_rule.py)
            from wqrc.quant.output_rule import OutputErrorRule
            self._output_rule = OutputErrorRule(graph, x_val)
        plan = {n: self.spec(n, start_bits) for n in self.layers}
        self.base = quantize_graph(graph, plan, rule=exponent, act_bits=act_bits, ranges=ranges)
        self.index = {n.name: i for i, n in enumerate(self.base.nodes)}
        self.cache: dict[tuple[str, int], object] = {}
        self.y_val = y_val
        self.x_q = self.base.quantize_input(x_val)
        self.float_acc = float(np.mean(np.argmax(run_float(graph, x_val), axis=1) == y_val))
        self.evaluations = 0
        self.samples_run = 0      # validation images simulated, over every evaluation (the search's cost)
        self._env: Optional[dict] = None

    def layer(self, name: str, bits: int):
        key = (name, bits)
        if key not in self.cache:
            node = self.graph.node(name)
            qn = self.base.nodes[self.index[name]]
            self.cache[key] = quantize_layer(node, self.spec(name, bits), self.rule,
                                             self.base.formats[qn.inputs[0]], self.base.formats[qn.output])
        return self.cache[key]

    def spec(self, name: str, bits: int) -> LayerSpec:
        """The layer's spec at ``bits``; under the output-error rule with its exponent pinned."""
        spec = check_spec(name, LayerSpec(self.scheme, bits))
        if self._output_rule is None:
            return spec
        return LayerSpec(self.scheme, bits, self._output_rule.n1(name, self.scheme, bits))

    def qmodel(self, bits: dict[str, int]) -> QModel:
        qm = self.base
        return QModel(nodes=qm.nodes, layers={n: self.layer(n, bits[n]) for n in self.layers}, formats=qm.formats,
                      shapes=qm.shapes, input=qm.input, output=qm.output, notes=qm.notes, meta=qm.meta)

    def w_mem(self, bits: dict[str, int]) -> int:
        return sum(self.sizes[n] * bits[n] for n in self.layers)

    def _accuracy_of(self, out: np.ndarray) -> float:
        return float(np.mean(np.argmax(out.reshape(len(out), -1), axis=1) == self.y_val))

    def _run(self, qm: QModel, start: Optional[str] = None):
        """(integer tensors to keep, or None, and the output) of the validation set."""
        if not fast.eligible(qm):
            return None, simulate(qm, self.x_q)
        runner = fast.FastExecutor(qm)
        if start is None or self._env is None:
            env = runner.run({qm.input: torch.from_numpy(self.x_q).to(runner.storage)})
        else:
            env = runner.run(self._env, start=self.index[start])
        return env, env[qm.output].numpy()

    def passes(self, bits: dict[str, int], min_acc: float, chunk: int = 256) -> bool:
        """Whether ``bits`` keeps validation accuracy >= ``min_acc``, with early stopping: the samples
        run in chunks and the check ends once the wrong answers exceed what ``min_acc`` allows."""
        self.evaluations += 1
        qm = self.qmodel(bits)
        n = len(self.y_val)
        allowed = n - math.ceil(min_acc * n - 1e-9)
        runner = fast.FastExecutor(qm) if fast.eligible(qm) else None
        wrong = 0
        for s in range(0, n, chunk):
            xq = self.x_q[s:s + chunk]
            if runner is not None:
                out = runner.run({qm.input: torch.from_numpy(xq).to(runner.storage)})[qm.output].numpy()
            else:
                out = simulate(qm, xq)
            self.samples_run += len(xq)
            wrong += int(np.sum(np.argmax(out.reshape(len(out), -1), axis=1) != self.y_val[s:s + chunk]))
            if wrong > allowed:
                return False
        return True

    def accuracy(self, bits: dict[str, int], changed: Optional[str] = None) -> float:
        """Validation accuracy of ``bits``; ``changed`` names the one layer that differs from
        the plan last passed to :meth:`commit`, so the layers before it are reused."""
        self.evaluations += 1
        self.samples_run += len(self.y_val)
        return self._accuracy_of(self._run(self.qmodel(bits), changed)[1])

    def commit(self, bits: dict[str, int]) -> float:
        """Make ``bits`` the current plan (its tensors are kept for later trials); returns its accuracy."""
        self.evaluations += 1
        self.samples_run += len(self.y_val)
        self._env, out = self._run(self.qmodel(bits))
        return self._accuracy_of(out)
