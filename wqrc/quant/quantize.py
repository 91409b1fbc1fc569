"""Graph + Plan + tensor ranges -> QModel (docs/format.md §1-§3).

Every number the integer graph needs (weight codes, exponents, activation
formats, bias integers, shifts, clamp bounds, accumulator bounds) is computed
here once; the simulator and the backends only read them.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph, Node
from wqrc.ops import op_def
from wqrc.contract.arith import round_half_away
from wqrc.quant.exponent import GRANULARITIES, MAX_CHANNEL_SPREAD, RULES, choose_n1, values_at
from wqrc.contract.formats import MAX_ACT_BITS, MIN_ACT_BITS, TensorFormat, choose_frac
from wqrc.quant.plan import LayerSpec
from wqrc.quant.qmodel import QLayer, QModel, QNode
from wqrc.quant.schemes import SCHEMES

# ops whose output keeps the input's format unchanged


def quantize_weights(name: str, w: np.ndarray, spec: LayerSpec, rule: str) -> tuple[int, int, np.ndarray]:
    """(n1, exponent, code words) for one layer; a pinned ``spec.n1`` overrides the exponent rule."""
    if not np.all(np.isfinite(w)):
        raise WqrcError(f"layer '{name}': weights contain NaN or infinity")
    sch = SCHEMES[spec.scheme]
    b = spec.bits
    if spec.n1 is not None:
        n1 = spec.n1
    elif float(np.max(np.abs(w))) == 0.0:
        n1 = b - 1 if spec.scheme == "dfp" else sch.magnitudes(b) - 1  # exponent 0 (docs/format.md §1)
        return n1, 0, np.zeros(w.shape, np.uint32)
    else:
        n1 = choose_n1(w, sch, b, rule)
    if spec.levels is not None:   # the narrower level set's values, exact on the b-bit grid (plan.py)
        w = values_at(w, sch, spec.levels, n1)
    exp = sch.exponent(n1, b)
    if spec.scheme == "dfp":
        codes = sch.encode(sch.multipliers(w, n1, b), b)
    else:
        codes = sch.encode(w, n1, b)
    return n1, exp, codes


def quantize_channels(name: str, w: np.ndarray, spec: LayerSpec, rule: str) -> tuple[list[int], np.ndarray]:
    """(n1 per output channel, code words): each channel's exponent by ``rule`` on its own weights
    (docs/format.md §1c). An all-zero channel takes the whole layer's exponent, so that it never
    widens the spread of shifts."""
    if spec.n1 is not None:
        raise WqrcError(f"layer '{name}': a pinned n1 is one exponent for the layer; --granularity channel "
                        f"chooses one per channel (drop n1 from the plan, or use --granularity layer)")
    if rule == "output":
        raise WqrcError("--exponent output chooses one exponent per layer by the network's output error; "
                        "with --granularity channel use mse, paper or max")
    layer_n1, _, _ = quantize_weights(name, w, spec, rule)
    n1s, codes = [], np.zeros(w.shape, np.uint32)
    for c in range(w.shape[0]):
        if float(np.max(np.abs(w[c]))) == 0.0:
            n1s.append(layer_n1)
            continue
        n1, _, codes[c] = quantize_weights(name, w[c], spec, rule)
        n1s.append(n1)
    floor = max(n1s) - MAX_CHANNEL_SPREAD
    for c in range(w.shape[0]):
        if n1s[c] < floor:  # a channel of all but zero weights: at the spread's limit
            n1s[c], _, codes[c] = quantize_weights(name, w[c], LayerSpec(spec.scheme, spec.bits, floor), rule)
    return n1s, codes


def quantize_pinned_channels(name: str, w: np.ndarray, spec: LayerSpec, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """(code words, each channel's exponent) for ``w`` under ``spec.channel_n1``, each output channel
    on its own pinned level set (docs/format.md §1c): the compiler's and fine-tuning's one reading
    of such a plan."""
    chan = list(spec.channel_n1)
    if len(chan) != w.shape[0] or max(chan) - min(chan) > MAX_CHANNEL_SPREAD:
        raise WqrcError(f"layer '{name}': {len(chan)} channel exponents spread over "
                        f"{max(chan) - min(chan)}; wqrc takes one per output channel "
                        f"({w.shape[0]}) within {MAX_CHANNEL_SPREAD}")
    codes = np.zeros(w.shape, np.uint32)
    for c, n1c in enumerate(chan):
        codes[c] = quantize_weights(name, w[c], LayerSpec(spec.scheme, spec.bits, n1c), rule)[2]
    return codes, np.array([SCHEMES[spec.scheme].exponent(v, spec.bits) for v in chan], np.int64)


def quantize_layer(n: Node, spec: LayerSpec, rule: str, in_fmt: TensorFormat, out_fmt: TensorFormat,
                   granularity: str = "layer") -> QLayer:
    """One conv/dense layer: codes, exponent(s), bias integers, shift and accumulator bound."""
    channel_n1 = None
    if spec.channel_n1 is not None:  # pinned per channel: a model's own quantizer (QONNX), or fine-tuning's
        channel_n1 = list(spec.channel_n1)
        codes, exps = quantize_pinned_channels(n.name, n.weight, spec, rule)
        n1 = max(channel_n1)
        exp = SCHEMES[spec.scheme].exponent(n1, spec.bits)
    elif granularity == "channel":
        channel_n1, codes = quantize_channels(n.name, n.weight, spec, rule)
        n1 = max(channel_n1)
        exp = SCHEMES[spec.scheme].exponent(n1, spec.bits)
        exps = np.array([SCHEMES[spec.scheme].exponent(v, spec.bits) for v in channel_n1], np.int64)
    else:
        n1, exp, codes = quantize_weights(n.name, n.weight, spec, rule)
        exps = np.full(n.weight.shape[0], exp, np.int64)
    fx = in_fmt.frac
    bias = [int(v) for v in round_half_away(np.ldexp(n.bias.astype(np.float64), -(fx + exps)))]
    layer = QLayer(name=n.name, scheme=spec.scheme, bits=spec.bits, n1=n1, exponent=exp, rule=rule,
                   codes=codes, bias=bias, shift=out_fmt.frac - (fx + exp), acc_bound=0, channel_n1=channel_n1)
    fan_in = int(np.prod(n.weight.shape[1:]))
    layer.acc_bound = fan_in * in_fmt.max_abs_q * layer.max_abs_mult + max(abs(b) for b in bias)
    return layer


def _clamp_to_q(clip, fmt: TensorFormat) -> Optional[list]:
    """Integer clamp bounds in the output format: round(bound / 2**f), kept inside the format."""
    if not clip:
        return None
    out = []
    for v in clip:
        if v is None:
            out.append(None)
        else:
            q = int(round_half_away(np.ldexp(float(v), -fmt.frac)))
            out.append(min(max(q, fmt.qmin), fmt.qmax))
    return out


def quantize_graph(graph: Graph, plan: dict[str, LayerSpec], *, rule: str, act_bits: int,
                   ranges: dict[str, tuple[float, float]], meta: Optional[dict] = None,
                   granularity: str = "layer") -> QModel:
    """Quantize a canonical graph. ``ranges`` come from calibration or static analysis;
    ``granularity`` is one exponent per layer (the paper) or per output channel."""
    if granularity not in GRANULARITIES:
        raise WqrcError(f"--granularity: unknown value '{granularity}' (use {', '.join(GRANULARITIES)})")
    if rule not in RULES:
        raise WqrcError(f"--exponent: unknown rule '{rule}' (use {', '.join(RULES)})")
    if not MIN_ACT_BITS <= act_bits <= MAX_ACT_BITS:
        raise WqrcError(f"--act-bits: {act_bits} is out of range ({MIN_ACT_BITS}..{MAX_ACT_BITS})")
    missing = [n.name for n in graph.weighted_nodes() if n.name not in plan]
    if missing:
        raise WqrcError(f"the plan has no entry for layers {missing}")

    def fmt_for(tensor: str, signed: bool) -> TensorFormat:
        if tensor in graph.act_formats:  # the model's own quantizer (QONNX)
            return TensorFormat(*graph.act_formats[tensor])
        lo, hi = ranges[tensor]
        return TensorFormat(signed, act_bits, choose_frac(max(abs(lo), abs(hi)), signed, act_bits))

    def check_pin(n: Node, fmt: TensorFormat) -> None:
        pin = graph.act_formats.get(n.output)
        if pin is not None and TensorFormat(*pin) != fmt:
            raise WqrcError(f"node '{n.name}' ({n.op}): the model quantizes its output to "
                            f"{TensorFormat(*pin).describe()}, but {n.op} keeps {fmt.describe()} (docs/format.md §2); "
                            f"quantize before it instead")

    formats = {graph.input: fmt_for(graph.input, ranges[graph.input][0] < 0)}
    nodes, layers, notes = [], {}, list(graph.notes)
    for n in graph.nodes:
        in_fmts = [formats[t] for t in n.inputs]
        attrs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in n.attrs.items()}
        op = op_def(n)
        if op.keeps_format:
            out_fmt = in_fmts[0]
            check_pin(n, out_fmt)
        elif op.clamps:
            out_fmt = TensorFormat(not op.unsigned_output(n, in_fmts), act_bits, in_fmts[0].frac)
            if n.output in graph.act_formats and TensorFormat(*graph.act_formats[n.output]).frac == out_fmt.frac:
                out_fmt = TensorFormat(*graph.act_formats[n.output])
            check_pin(n, out_fmt)
            attrs["qclip"] = _clamp_to_q(op.output_clamp(n), out_fmt)
        elif op.joins_inputs and len(set(in_fmts)) == 1 and n.output not in graph.act_formats:
            out_fmt = in_fmts[0]   # its values are its inputs': a format of its own could only round them again
        else:
            out_fmt = fmt_for(n.output, not op.unsigned_output(n, in_fmts))
            attrs["qclip"] = _clamp_to_q(op.output_clamp(n), out_fmt)
        if op.aligns_inputs:
            attrs["shifts"] = [out_fmt.frac - f.frac for f in in_fmts]
        attrs.update(op.derived_attrs(n, in_fmts, out_fmt))
        if n.is_weighted:
            layers[n.name] = quantize_layer(n, plan[n.name], rule, in_fmts[0], out_fmt, granularity)
            layers[n.name].rounding = graph.act_rounding.get(n.output, "half_up")
        elif n.output in graph.act_rounding and not (op.keeps_format or op.clamps) \
                and not (op.aligns_inputs and max(attrs["shifts"]) <= 0):  # these never round
            notes.append(f"node '{n.name}' ({n.op}): the model's quantizer of '{n.output}' rounds ties to even; "
                         f"wqrc rounds ties to even only at conv/dense layers and half up here (docs/format.md §3), "
                         f"so results can differ on exact ties")
        formats[n.output] = out_fmt
        nodes.append(QNode(n.op, n.name, list(n.inputs), n.output, attrs))
    narrow: dict[tuple[int, int], list[str]] = {}
    for name, spec in plan.items():
        if spec.levels is not None:
            narrow.setdefault((spec.levels, spec.bits), []).append(name)
    for (k, b), names in narrow.items():   # the plan's levels (the output rule's nested choice, plan.py)
        notes.append(f"{', '.join(names)} keep the {k}-bit levels in their {b}-bit codes (the plan's levels; "
                     f"the output rule sets them where they put the output nearer float than {b}-bit levels)")
    even = [name for name, layer in layers.items() if layer.rounding == "half_even"]
    if even:
        notes.append(f"layers {', '.join(even)} round ties to even, as the model's ROUND quantizers do "
                     f"(docs/format.md §3)")
    return QModel(nodes=nodes, layers=layers, formats=formats, shapes=dict(graph.shapes),
                  input=graph.input, output=graph.output, extra_outputs=list(graph.extra_outputs),
                  notes=notes,
                  meta=dict(meta or {}, act_bits=act_bits, exponent_rule=rule,
                            **({"granularity": granularity} if granularity != "layer" else {}),
                            **({"input_layout": graph.input_layout} if graph.input_layout != "nchw" else {})))
