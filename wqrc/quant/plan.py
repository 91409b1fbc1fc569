"""A quantization plan: scheme and bit-width for every weighted layer.

Built from one value for all layers, a comma list in graph order, or a plan
JSON file (``{"layers": {"name": {"scheme": "po2", "bits": 4}, ...}}``, which is
also what the precision search writes). Errors name the layers involved.

A layer may also pin its top exponent (``"n1": -1``): then its level set Q_n
is fixed and the exponent rule is not consulted. With a pinned n1 it may also
name ``"levels": k`` (k < bits): its weights round onto the k-bit level set of
that top exponent, which the b-bit one holds, so they are stored as b-bit codes
(the ``output`` rule does this where the narrower width's weights put the
network's output nearer float: docs/results.md). Fine-tuning writes such a plan
(``OUT.plan.json``), because the paper's Algorithm 2 takes Q_n as an input:
the levels a model was trained towards are the levels it is compiled to.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph
from wqrc.quant.schemes import SCHEMES


N1_LIMIT = 120  # a pinned exponent beyond this is a typo, not a format (float32 weights span about +-126)
# --scheme mixed: each layer's scheme by its width, Po2 at MIXED_PO2_MAX_BITS or fewer and DFP above.
# Measured (docs/results.md, Table V at a8, STE, 6 epochs): Po2-3 beats DFP-3 at equal widths (92.69
# against 91.97%) and DFP-4 beats Po2-4 (92.58 against 92.13%); at 2 bits both are the same ternary set
MIXED = "mixed"
MIXED_PO2_MAX_BITS = 3
PLAN_SCHEMES = tuple(SCHEMES) + (MIXED,)


def layer_scheme(scheme: str, bits: int) -> str:
    """A layer's scheme under ``--scheme`` (dfp, po2, or mixed: by its width)."""
    if scheme == MIXED:
        return "po2" if bits <= MIXED_PO2_MAX_BITS else "dfp"
    return scheme


@dataclass(frozen=True)
class LayerSpec:
    scheme: str
    bits: int
    n1: Optional[int] = None  # pinned top exponent (the level set); None: the exponent rule chooses
    # pinned top exponent per output channel (a model's own per-channel quantizer, QONNX)
    channel_n1: Optional[tuple[int, ...]] = None
    # with n1: the weights round onto the level set of this narrower width (held by the bits' one)
    levels: Optional[int] = None

    @property
    def pinned(self) -> bool:
        """Its exponents are fixed, one for the layer (n1) or one per output channel (channel_n1):
        no exponent rule may choose them again."""
        return self.n1 is not None or self.channel_n1 is not None


def check_spec(layer: str, spec: LayerSpec) -> LayerSpec:
    if spec.scheme not in SCHEMES:
        raise WqrcError(f"layer '{layer}': unknown scheme '{spec.scheme}' (use dfp or po2)")
    sch = SCHEMES[spec.scheme]
    if not sch.min_bits <= spec.bits <= sch.max_bits:
        raise WqrcError(
            f"layer '{layer}': {spec.scheme} bit-width {spec.bits} is out of range "
            f"({sch.min_bits}..{sch.max_bits})"
        )
    if spec.levels is not None and (spec.n1 is None or not sch.min_bits <= spec.levels < spec.bits):
        raise WqrcError(f"layer '{layer}': levels {spec.levels} needs a pinned n1 and a width in "
                        f"{sch.min_bits}..{spec.bits - 1} (the narrower level set its {spec.bits}-bit codes hold)")
    return spec


def parse_bits(text) -> list[int] | str | dict:
    """'4' -> [4]; '8,4,4' -> [8, 4, 4]; a path to a .json plan, or a plan document, is returned as is."""
    if isinstance(text, dict):
        return text
    text = str(text).strip()
    if text.endswith(".json"):
        return text
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise WqrcError(f"--bits: '{text}' is not a bit-width, a comma list of them, or a plan .json") from None
    return vals


def check_bits_option(text, scheme: str, allow_auto: bool = False, option: str = "--bits") -> None:
    """--bits checked against the scheme before any model is loaded: every width in its range,
    a plan file that exists, ``auto`` only where a search can run (compile)."""
    if isinstance(text, dict):
        return
    if str(text).strip() == "auto":
        if not allow_auto:
            raise WqrcError(f"{option} auto: only wqrc compile searches (with --data and --max-drop); "
                            "here give a bit-width, a comma list or a plan .json from wqrc lps")
        return
    try:
        bits = parse_bits(text)
    except WqrcError:
        raise WqrcError(f"{option}: '{text}' is not a bit-width, a comma list of them, or a plan .json") from None
    if isinstance(bits, str):
        if not os.path.isfile(bits):
            raise WqrcError(f"{option}: {bits}: no such plan file")
        return
    for b in bits:
        sch = SCHEMES.get(layer_scheme(scheme, b))
        if sch is None:
            raise WqrcError(f"--scheme: unknown '{scheme}' (use {', '.join(PLAN_SCHEMES)})")
        if not sch.min_bits <= b <= sch.max_bits:
            raise WqrcError(f"{option}: {b} is out of range for {scheme} ({sch.min_bits}..{sch.max_bits})")


def make_plan(graph: Graph, scheme: str, bits) -> dict[str, LayerSpec]:
    """Plan for ``graph``'s weighted layers; ``bits`` is an int, a list, a plan file path or a plan document.
    Layers whose weights the model quantized itself (QONNX) keep the model's level sets."""
    return model_pins(graph, _requested_plan(graph, scheme, bits))


def model_pins(graph: Graph, plan: dict[str, LayerSpec]) -> dict[str, LayerSpec]:
    """``plan`` with every layer of ``graph.weight_formats`` replaced by the model's own level set:
    scheme, bits and exponent(s), so its quantized weights are stored exactly (frontend/qonnx.py)."""
    out = dict(plan)
    for layer, pin in graph.weight_formats.items():
        if pin.get("regrid"):   # no exact level set: the format that holds the weights best (quant/regrid.py)
            if pin["scheme"] != "dfp":
                out[layer] = check_spec(layer, LayerSpec(pin["scheme"], int(pin["bits"])))
                continue
            if "exponents" not in pin:
                from wqrc.quant.regrid import regrid
                node = next(n for n in graph.nodes if n.name == layer)
                pin = {**pin, **regrid(np.asarray(node.params["weight"]), int(pin["bits"]),
                                       bool(pin.get("per_channel")))}
        sch = SCHEMES[pin["scheme"]]
        b = int(pin["bits"])
        n1s = [int(e) - sch.exponent(0, b) for e in pin["exponents"]]
        spec = LayerSpec(pin["scheme"], b, n1s[0]) if len(set(n1s)) == 1 else \
            LayerSpec(pin["scheme"], b, None, tuple(n1s))
        out[layer] = check_spec(layer, spec)
    return out


def _requested_plan(graph: Graph, scheme: str, bits) -> dict[str, LayerSpec]:
    layers = [n.name for n in graph.weighted_nodes()]
    if isinstance(bits, str):
        return load_plan(bits, layers)
    if isinstance(bits, dict):
        return plan_from_doc(bits, layers, "the plan")
    if isinstance(bits, int):
        bits = [bits]
    if len(bits) == 1:
        bits = bits * len(layers)
    if len(bits) != len(layers):
        raise WqrcError(
            f"--bits lists {len(bits)} bit-widths but the model has {len(layers)} weighted layers: "
            + ", ".join(layers)
        )
    return {name: check_spec(name, LayerSpec(layer_scheme(scheme, int(b)), int(b))) for name, b in zip(layers, bits)}


def load_plan(path: str, layers: list[str]) -> dict[str, LayerSpec]:
    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such plan file")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WqrcError(f"{path}: not a wqrc plan file (not JSON: {type(exc).__name__})") from None
    return plan_from_doc(doc, layers, path)


def plan_from_doc(doc, layers: list[str], path: str) -> dict[str, LayerSpec]:
    """Check a plan document strictly: bits must be JSON integers, schemes known names."""
    entries = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise WqrcError(f"{path}: not a wqrc plan file (no 'layers' object)")
    plan = {}
    for name, e in entries.items():
        if not isinstance(e, dict) or not isinstance(e.get("scheme"), str):
            raise WqrcError(f"{path}: layer '{name}': needs a 'scheme' string and a 'bits' integer")
        bits = e.get("bits")
        if isinstance(bits, bool) or not isinstance(bits, int):
            raise WqrcError(f"{path}: layer '{name}': bits {bits!r} is not an integer")
        n1 = e.get("n1")
        if n1 is not None and (isinstance(n1, bool) or not isinstance(n1, int) or abs(n1) > N1_LIMIT):
            raise WqrcError(f"{path}: layer '{name}': n1 {n1!r} is not an integer in -{N1_LIMIT}..{N1_LIMIT}")
        levels = e.get("levels")
        if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int)):
            raise WqrcError(f"{path}: layer '{name}': levels {levels!r} is not an integer")
        chan = e.get("channel_n1")
        if chan is not None:
            if not isinstance(chan, list) or not chan or any(
                    isinstance(v, bool) or not isinstance(v, int) or abs(v) > N1_LIMIT for v in chan):
                raise WqrcError(f"{path}: layer '{name}': channel_n1 must be a list of integers in "
                                f"-{N1_LIMIT}..{N1_LIMIT}, one per output channel")
            if n1 is not None or levels is not None:
                raise WqrcError(f"{path}: layer '{name}': channel_n1 pins each channel's exponent; drop n1 and levels")
            chan = tuple(chan)
        plan[name] = LayerSpec(e["scheme"], bits, n1, chan, levels)
    missing = [n for n in layers if n not in plan]
    extra = [n for n in plan if n not in layers]
    if missing or extra:
        raise WqrcError(
            f"{path}: plan does not match the model (missing: {missing or 'none'}, unknown: {extra or 'none'}); "
            f"model layers: {', '.join(layers)}"
        )
    return {n: check_spec(n, plan[n]) for n in layers}


def plan_to_json(plan: dict[str, LayerSpec]) -> dict:
    def entry(s: LayerSpec) -> dict:
        return {"scheme": s.scheme, "bits": s.bits, **({} if s.n1 is None else {"n1": s.n1}),
                **({} if s.channel_n1 is None else {"channel_n1": [int(v) for v in s.channel_n1]}),
                **({} if s.levels is None else {"levels": s.levels})}
    return {"layers": {n: entry(s) for n, s in plan.items()}}
