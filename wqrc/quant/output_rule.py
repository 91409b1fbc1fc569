"""The ``output`` exponent rule: each layer's n1 chosen by the error it causes in the network's output.

``mse`` minimizes the weights' squared error, so every weight counts the same, and a
rule that looks at weights alone cannot tell the few large weights that matter from the
ones that meet small inputs (measured on All-CNN-C: DFP-5 and DFP-6 below DFP-4 under
``mse``, issue 18). The ``output`` rule judges an exponent by what the network does with it:

    n1 = argmin over paper ± 4 of  D( f(x; W) , f(x; W with this layer at Q_n1(W)) )

over 256 calibration samples x, every other layer kept at its float weights, so the choice
for (layer, bits) does not depend on the other layers' widths and a precision search can
cache it (the search uses this). Quantizing a whole plan (quantize, compile, fine-tuning)
then refines it with every layer quantized together: starting from the ``paper``, ``mse``,
layer-by-layer or ``max`` exponents (the first whose divergence is within 5% of the best
of them: smaller differences are noise on 256 samples), coordinate descent over the layers
(two sweeps, a move only for a gain over 5% and over a noise floor), so the plan is never worse on that objective
than any of the three rules by more than 5% (measured on All-CNN-C: layer by layer alone
fell below ``paper`` at DFP-6). D is the Kullback-Leibler divergence of the quantized network's softmax from the
float one's when the output is a vector of logits (N, C), and the squared error of the
output otherwise (an autoencoder's image, a feature map). Ties go to the exponent nearest
``paper``, then to the larger, as for ``mse``. Only the layers from the changed one on are
re-run for each candidate.

Deviation from the issue's wording ("the error of the layer's output"): the layer's own
output error (``||conv(x, W − Q(W))||²``) was measured too and was worse than ``mse`` at 2-4
bits (All-CNN-C DFP-3: 75.95% against 81.90%, 2,000 test images), since it spends the
range on outputs the next ReLU discards and ignores how errors grow downstream.

The rule needs data; the chosen exponents are pinned in the plan (docs/format.md §1), so
the integer graph, the backends and the model file are the same as for any other rule.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from wqrc.ir.graph import Graph
from wqrc.quant.exponent import MSE_SEARCH_RADIUS, n1_paper, values_at
from wqrc.quant.plan import LayerSpec
from wqrc.quant.schemes import SCHEMES

OUTPUT_SAMPLES = 256  # calibration samples the outputs are compared on
WEIGHT_CACHE_VALUES = 64 << 20  # quantized weight values kept between evaluations (256 MB)
# Relative divergence differences below this are noise on 256 samples: the joint refinement
# prefers the weight rules' plans (paper, then mse) within it and moves only for larger gains.
# Measured on All-CNN-C DFP-6: 87.54% without it, 88.09% with it (paper's exponents: 88.18%).
JOINT_TOLERANCE = 0.05
# Below this the divergence cannot tell plans apart, whatever their ratio: a KL divergence of
# 1e-4 nats a sample is class probabilities moved by about 1.4% (KL ~ delta^2 / 2), far from any
# decision; for an output that is not logits, an error 40 dB below the output's energy. Without
# it the refinement chased differences of 1e-6 nats a sample at 8 bits and clipped a layer: on
# digits, DFP-8 at 16-bit activations, output SQNR 30.2 dB against 40.3 dB under ``mse``.
NOISE_KL_PER_SAMPLE = 1e-4
NOISE_SQUARED_RELATIVE = 1e-4
# The default rule (``auto``) takes ``output`` only where search_seconds says it ends within this
# on a 2-core machine; past it ``auto`` is ``mse`` and the model's notes say what ``output`` costs.
# Within it, measured here: every MLPerf Tiny model, All-CNN-C (31 s at DFP-8), MobileNetV1-0.25
# (33 s); past it, MobileNetV2-0.35 at DFP-8 (100 s) and ShuffleNetV2-0.5 at DFP-8 (56 s, 67 predicted).
AUTO_BUDGET_SECONDS = 60.0
# search_seconds' cost of one multiply-accumulate, one activation value written and one node run,
# fitted (least relative squares) on 17 (model, width) runs of the rule on a 2-core machine, from
# digits_cnn (1 s) to MobileNetV2-0.35 at DFP-8 (100 s): predictions within 0.36x-1.27x of measured.
SECONDS_PER_MAC = 6e-12
SECONDS_PER_ACTIVATION = 1.3e-10
SECONDS_PER_NODE = 5e-5


def search_evaluations(plan: dict[str, LayerSpec]) -> int:
    """Network evaluations the nested rule spends on ``plan`` at most (it stops early where a width's
    plan is within the noise floor, which this does not foresee): per width down to the
    narrowest, 9 candidates a free layer, 4 starts, 2 sweeps of 8 candidates a free layer and the
    nested comparison (each a whole inference on the calibration samples, counted generously:
    candidates re-run only the layers from theirs on)."""
    free = [n for n, s in plan.items() if not s.pinned]
    if not free:
        return 0
    widths = max(plan[n].bits - SCHEMES[plan[n].scheme].min_bits + 1 for n in free)
    return widths * (25 * len(free) + 6)


def search_seconds(graph: Graph, plan: dict[str, LayerSpec], samples: int) -> float:
    """The time the nested rule takes on ``plan`` with ``samples`` calibration inputs, estimated
    (on a 2-core machine, within a factor of 3) from the network's size alone, so that the
    same command makes the same choice on every machine."""
    samples = min(samples, OUTPUT_SAMPLES)
    macs = acts = 0
    for node in graph.nodes:
        size = int(np.prod(graph.shapes[node.output], dtype=np.int64))
        acts += size
        if node.is_weighted:
            w = np.asarray(node.weight)
            macs += size // max(1, w.shape[0]) * int(w.size)
    per_eval = samples * (macs * SECONDS_PER_MAC + acts * SECONDS_PER_ACTIVATION) + len(graph.nodes) * SECONDS_PER_NODE
    return search_evaluations(plan) * per_eval


def over_budget(graph: Graph, plan: dict[str, LayerSpec], samples: int) -> Optional[str]:
    """Why the default rule (``auto``) should take ``mse`` here, as the model's note, or None where
    the output rule's estimated time (search_seconds) is within AUTO_BUDGET_SECONDS."""
    cost = search_seconds(graph, plan, samples)
    if cost <= AUTO_BUDGET_SECONDS:
        return None
    return (f"exponent rule auto chose mse: the output rule would take about {cost:.0f} s here "
            f"(on 2 cores; the budget is {AUTO_BUDGET_SECONDS:.0f} s); --exponent output runs it")


class OutputErrorRule:
    """The float network on calibration data, kept to score (layer, bits, n1) candidates."""

    def __init__(self, graph: Graph, x: np.ndarray, samples: int = OUTPUT_SAMPLES,
                 act_grid: Optional[dict] = None):
        """``act_grid`` (qmodel.activation_grid: tensor -> step, lo, hi): candidates are scored with
        every activation rounded to it, against the float network (activations unrounded)."""
        from wqrc.ir.to_torch import GraphModule

        self.graph = graph
        self.module = GraphModule(graph).eval()
        self.index = {n.name: i for i, n in enumerate(graph.nodes)}
        xs = torch.from_numpy(np.ascontiguousarray(x[:samples], np.float32))
        with torch.no_grad():
            self.env = self.module(xs, return_all=True)
            self.ref = self.env[graph.output]
            if act_grid:
                self.module.act_quant = dict(act_grid)
                self.env = self.module(xs, return_all=True)
        self.logits = self.ref.dim() == 2 and self.ref.shape[1] > 1
        self.ref_log_p = F.log_softmax(self.ref, dim=1) if self.logits else None
        # the smallest difference in divergence that counts (NOISE_KL_PER_SAMPLE)
        self.noise = (NOISE_KL_PER_SAMPLE * len(xs) if self.logits
                      else NOISE_SQUARED_RELATIVE * float(torch.sum(self.ref ** 2)))
        self.cache: dict[tuple[str, str, int], int] = {}
        self.weight_cache: dict[tuple, torch.Tensor] = {}

    def divergence(self, out: torch.Tensor) -> float:
        if self.logits:
            return float(F.kl_div(F.log_softmax(out, dim=1), self.ref_log_p, log_target=True, reduction="sum"))
        return float(torch.sum((out - self.ref) ** 2))

    def n1(self, name: str, scheme: str, bits: int) -> int:
        key = (name, scheme, bits)
        if key not in self.cache:
            self.cache[key] = self._choose(name, scheme, bits)
        return self.cache[key]

    def _choose(self, name: str, scheme: str, bits: int) -> int:
        node = self.graph.nodes[self.index[name]]
        sch = SCHEMES[scheme]
        w = np.asarray(node.weight, np.float64)
        s = float(np.max(np.abs(w)))
        if s == 0.0:
            return bits - 1 if scheme == "dfp" else sch.magnitudes(bits) - 1  # exponent 0, as every rule
        base = n1_paper(s)
        best = None
        with torch.no_grad():
            for n1 in range(base - MSE_SEARCH_RADIUS, base + MSE_SEARCH_RADIUS + 1):
                q = values_at(w, sch, bits, n1)
                env = dict(self.env)
                out = self.module.run_from(env, self.index[name], {name: torch.from_numpy(q.astype(np.float32))})
                key = (self.divergence(out), abs(n1 - base), -n1)
                if best is None or key < best[0]:
                    best = (key, n1)
        return best[1]

    def pin(self, plan: dict[str, LayerSpec]) -> dict[str, LayerSpec]:
        """``plan`` with every layer that has no pinned exponent pinned by this rule (layer by layer)."""
        return {name: spec if spec.pinned else LayerSpec(spec.scheme, spec.bits,
                                                                   self.n1(name, spec.scheme, spec.bits))
                for name, spec in plan.items()}

    # -- the whole plan at once ---------------------------------------------------------------
    def _weights(self, plan: dict[str, LayerSpec]) -> dict[str, torch.Tensor]:
        return {name: self._quantized(name, spec) for name, spec in plan.items()}

    def _quantized(self, name: str, spec: LayerSpec) -> torch.Tensor:
        """Layer ``name``'s weights on ``spec``'s grid, kept: the descent asks for the same ones often."""
        key = (name, spec.scheme, spec.levels or spec.bits, spec.n1, spec.channel_n1)
        if key not in self.weight_cache:
            if sum(t.numel() for t in self.weight_cache.values()) > WEIGHT_CACHE_VALUES:
                self.weight_cache.clear()
            w = np.asarray(self.graph.nodes[self.index[name]].weight, np.float64)
            sch, b = SCHEMES[spec.scheme], spec.levels or spec.bits
            q = (values_at(w, sch, b, spec.n1) if spec.channel_n1 is None else   # pinned per channel
                 np.stack([values_at(w[c], sch, b, n1c) for c, n1c in enumerate(spec.channel_n1)]))
            self.weight_cache[key] = torch.from_numpy(q.astype(np.float32))
        return self.weight_cache[key]

    def joint(self, plan: dict[str, LayerSpec]) -> float:
        """The divergence with every layer quantized as ``plan`` pins it."""
        return self._run(plan, self.env, 0)[0]

    def _run(self, plan: dict[str, LayerSpec], env: dict, start: int) -> tuple[float, dict]:
        """The divergence of ``plan`` and every tensor under it, re-running nodes ``start`` onward
        (``env`` holds the tensors before them, as ``plan`` makes them)."""
        env = dict(env)
        with torch.no_grad():
            return self.divergence(self.module.run_from(env, start, self._weights(plan))), env

    def refine(self, plan: dict[str, LayerSpec], starts: list[dict[str, LayerSpec]], passes: int = 2,
               tolerance: float = JOINT_TOLERANCE, quiet: int = 0) -> dict[str, LayerSpec]:
        """A pinned plan by the joint divergence: the first of ``starts`` (fully pinned plans, in
        order of preference) within ``tolerance`` of the best start (``starts[quiet]`` where it is
        within the noise floor of the best: the divergence cannot rank them), then coordinate descent over
        the unpinned layers' exponents (paper ± 4), ``passes`` sweeps in graph order, taking a
        move only when it cuts the divergence by more than ``tolerance`` and by more than the
        noise floor (``self.noise``). So the result is never worse on this objective than any
        start by more than ``tolerance``."""
        free = [n for n, s in plan.items() if not s.pinned]
        vals = [self.joint(s) for s in starts]
        best_val = min(vals)
        if vals[quiet] - best_val <= self.noise:   # the divergence cannot tell them apart
            pick = quiet
        else:
            pick = next(i for i, v in enumerate(vals) if v <= best_val * (1 + tolerance))
        best = starts[pick]
        best_val, best_env = self._run(best, self.env, 0)
        for _ in range(passes):
            moved = False
            for name in free:
                spec = best[name]
                w = np.asarray(self.graph.nodes[self.index[name]].weight, np.float64)
                if not np.any(w):
                    continue
                base = n1_paper(float(np.max(np.abs(w))))
                for n1 in range(base - MSE_SEARCH_RADIUS, base + MSE_SEARCH_RADIUS + 1):
                    if n1 == spec.n1:
                        continue
                    trial = dict(best, **{name: LayerSpec(spec.scheme, spec.bits, n1)})
                    # the layers before this one are as under ``best``: only the rest re-run
                    val, env = self._run(trial, best_env, self.index[name])
                    if val < best_val * (1 - tolerance) and best_val - val > self.noise:
                        best, best_val, best_env, spec, moved = trial, val, env, trial[name], True
            if not moved:
                break
        return best


def pin_by_output_error(graph: Graph, plan: dict[str, LayerSpec], x: np.ndarray, joint: bool = True,
                        nested: bool = True, act_grid: Optional[dict] = None) -> dict[str, LayerSpec]:
    """``plan`` with every unpinned layer's exponent chosen by the output-error rule on ``x``.

    Layer by layer first; with ``joint`` (the default, what quantize and compile use) the
    plan is then refined with all layers quantized together, starting from the ``paper``,
    ``mse``, layer-by-layer or ``max`` exponents (the first within JOINT_TOLERANCE of the
    best), so that on the calibration objective the result is never worse than any of
    them by more than that tolerance.

    With ``nested`` (the default) one more bit is never worse on that objective by more than
    the noise floor (NOISE_KL_PER_SAMPLE; within it the wider plan's own weights are kept): the plan one
    bit narrower (every unpinned layer at bits - 1, chosen the same way, down to the
    narrowest width) competes, its weights kept as they are (``LayerSpec.levels``: a b-bit
    DFP or Po2 level set at the same top exponent holds the (b-1)-bit one, so they are b-bit
    codes). Exponents alone cannot give this: on digits, Po2-3's exponents at 4 bits move the
    output further from float than at 3 (KL 9.3 against 5.0, docs/results.md), and the
    accuracy fell from 4 to 5 Po2 bits on digits and Fashion-MNIST. Cost: one refinement per
    narrower width (b - 2 more for b-bit layers), stopping at a plan whose divergence is within
    the noise floor, which no narrower plan can beat by more than it (divergences are >= 0); its
    mse start is taken as it is there, as the refinement would keep it. The same plans as without
    the stop, and at high widths with wide activations a fraction of the time (digits at DFP-16,
    16-bit activations: 23 s to 0.3 s, on a loaded machine); with 8-bit activations their own
    rounding keeps the divergence above the floor, and every width is refined."""
    rule = OutputErrorRule(graph, x, act_grid=act_grid)
    if not joint:
        return rule.pin(plan)
    return _nested(rule, graph, plan) if nested else _refined(rule, graph, plan)


def activation_grid_at(graph: Graph, plan: dict[str, LayerSpec], ranges: dict, act_bits: int) -> dict:
    """The activation grid the integer graph will have (qmodel.activation_grid), for scoring the
    rule's candidates with activations rounded: activation formats come from the calibrated
    ranges and the width alone, so any weight exponents (here ``mse``'s) give the same grid."""
    from wqrc.quant.qmodel import activation_grid
    from wqrc.quant.quantize import quantize_graph

    return activation_grid(quantize_graph(graph, plan, rule="mse", act_bits=act_bits, ranges=ranges))


def _nested(rule: OutputErrorRule, graph: Graph, plan: dict[str, LayerSpec]) -> dict[str, LayerSpec]:
    """The refined plan, or the narrower plan's weights where they are nearer float by more than the noise floor."""
    own = _refined(rule, graph, plan)
    own_val = rule.joint(own)
    if own_val <= rule.noise:   # divergences are >= 0: no narrower plan can beat it by the noise floor
        return own
    narrower = {n: LayerSpec(s.scheme, s.bits - 1) if not s.pinned
                and s.bits > SCHEMES[s.scheme].min_bits else s for n, s in plan.items()}
    if narrower == plan:
        return own
    below = _nested(rule, graph, narrower)
    kept = {n: LayerSpec(s.scheme, s.bits, below[n].n1, levels=below[n].levels or below[n].bits)
            if narrower[n] is not s else below[n] for n, s in plan.items()}
    return kept if rule.joint(kept) < own_val - rule.noise else own


def _refined(rule: OutputErrorRule, graph: Graph, plan: dict[str, LayerSpec]) -> dict[str, LayerSpec]:
    """The joint refinement from the weight rules' plans and the layer-by-layer one."""
    from wqrc.quant.quantize import quantize_weights

    def by(other: str) -> dict[str, LayerSpec]:
        return {n: s if s.pinned else LayerSpec(
            s.scheme, s.bits, quantize_weights(n, graph.nodes[rule.index[n]].weight, s, other)[0])
            for n, s in plan.items()}
    # where the output cannot rank the starts (high widths), the one of least weight error: mse
    mse = by("mse")
    if rule.joint(mse) <= rule.noise:   # what refine would keep: within the noise floor of any start
        return mse                      # (divergences are >= 0), and no move can gain more than it
    return rule.refine(plan, [by("paper"), mse, rule.pin(plan), by("max")], quiet=1)
