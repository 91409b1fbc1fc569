"""Quantization health: how far the integer model's tensors are from the float model's, on data.

Deep mobile networks can lose their signal at 8-bit activations without any error: every
kernel is exact, the formats are simply too coarse somewhere. With calibration data the
compile measures, for every tensor the integer graph computes, its SQNR against the float
graph's same tensor (10 log10 of signal power over error power, in dB; the error accumulates
from the input), and where the SQNR falls most from the node's inputs to its output: that node
loses the most. Below :data:`WARN_DB` at the output it warns in one line, naming that node and
the option that helps, unless the model is a classifier whose top-1 class agrees with the
float model's on at least :data:`AGREE_OK` of the samples: a classifier's logits may be far
from float in SQNR while its decisions stand (digits at DFP-3 weights: 13 dB, 64 of 64
decisions the float model's), and a warning there would teach users to ignore warnings. The
README's first command (Po2-4 on digits: 11 dB, 60 of 64) warns, rightly: it loses 6 points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from wqrc.ir.graph import Graph
from wqrc.ir.to_torch import run_float
from wqrc.quant.qmodel import QModel

# An output SQNR of 20 dB is an RMS error of a tenth of the output's RMS: past that, top-1 agreement
# with the float model starts to suffer on the networks we measured (benchmarks/quant_health.py).
WARN_DB = 20.0
SAMPLES = 64          # inputs the check runs (the first of the calibration data)
# A classifier (one vector of two or more scores a sample) below WARN_DB is still healthy where its
# top-1 class is the float model's on this share of the samples: 63 of 64.
AGREE_OK = 0.98


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - got)^2); +inf when equal, -inf for a zero reference."""
    ref = ref.astype(np.float64).reshape(-1)
    err = float(np.sum((ref - got.astype(np.float64).reshape(-1)) ** 2))
    sig = float(np.sum(ref ** 2))
    if err == 0.0:
        return math.inf
    return -math.inf if sig == 0.0 else 10.0 * math.log10(sig / err)


class QuantizationHealthWarning(UserWarning):
    """The integer model's output is far from the float model's on the calibration data."""


@dataclass
class Health:
    """Per-node SQNR (dB) against float, the output's, and the node that loses the most."""
    rows: list[dict] = field(default_factory=list)   # name, op, tensor, format, sqnr_db, drop_db
    output_db: float = math.inf
    samples: int = 0
    worst: Optional[dict] = None
    advice: str = ""
    relative_error: Optional[float] = None   # ||got - ref|| / ||ref|| of the output (against_qonnx)
    top1_agreement: Optional[float] = None   # a classifier's: the share of samples whose argmax is float's

    @property
    def ok(self) -> bool:
        return self.output_db >= WARN_DB or (self.top1_agreement is not None and self.top1_agreement >= AGREE_OK)

    def warning(self) -> Optional[str]:
        """One line when the output SQNR is below the threshold, else None."""
        if self.ok:
            return None
        where = f"; node '{self.worst['name']}' ({self.worst['op']}) loses the most ({self.worst['drop_db']:.1f} dB)" \
            if self.worst else ""
        agree = "" if self.top1_agreement is None else \
            f" and its top-1 class agrees with the float model's on {self.top1_agreement:.0%} of them"
        return (f"quantization health: the output's SQNR against the float model is {self.output_db:.1f} dB on "
                f"{self.samples} calibration samples, below {WARN_DB:.0f} dB{agree}{where}; {self.advice}")

    def as_json(self) -> dict:
        def num(v):
            return None if not math.isfinite(v) else round(v, 2)
        return dict(output_sqnr_db=num(self.output_db), threshold_db=WARN_DB, samples=self.samples, ok=self.ok,
                    **({} if self.top1_agreement is None else {"top1_agreement": round(self.top1_agreement, 4),
                                                               "agreement_ok": AGREE_OK}),
                    **({} if self.relative_error is None else {"output_relative_error": round(self.relative_error, 5)}),
                    worst=self.worst and {k: (num(v) if isinstance(v, float) else v) for k, v in self.worst.items()},
                    advice=self.advice or None,
                    nodes=[{k: (num(v) if isinstance(v, float) else v) for k, v in r.items()} for r in self.rows])


def measure(graph: Graph, qm: QModel, x: np.ndarray, samples: int = SAMPLES) -> Health:
    """Run ``samples`` of ``x`` (float inputs) through the float graph and the integer model and
    compare every tensor both compute."""
    from wqrc.sim import simulate

    from wqrc.ir.graph import fit_input
    x = fit_input(np.asarray(x[:samples], np.float32), graph.input_shape, graph.input_layout)
    ref = run_float(graph, x, return_all=True)
    env = simulate(qm, qm.quantize_input(x), trace=True)   # every tensor's codes
    h = Health(samples=len(x))
    xq = qm.quantize_input(x)
    level = {qm.input: sqnr_db(x, np.ldexp(xq.astype(np.float64), qm.input_format.frac))}
    for n in qm.nodes:
        t = n.output
        before = min((level.get(i, math.inf) for i in n.inputs), default=math.inf)
        if t not in ref or t not in env:
            level[t] = before
            continue
        fmt = qm.formats[t]
        db = sqnr_db(ref[t], np.ldexp(env[t].astype(np.float64), fmt.frac))
        level[t] = db
        drop = before - db if math.isfinite(before) else -db   # an exact input (integers): from 0 dB
        h.rows.append(dict(name=n.name, op=n.op, tensor=t, format=fmt.describe(), sqnr_db=db, drop_db=drop))
    outs = [qm.output] + [o for o in qm.outputs if o != qm.output]
    h.output_db = min(level.get(o, math.inf) for o in outs)
    h.top1_agreement = _agreement(qm, ref, env)
    if h.rows:
        h.worst = max(h.rows, key=lambda r: r["drop_db"])
        h.advice = _advice(graph, qm, h.worst, x, ref[graph.output], h.output_db)
    return h


def _agreement(qm: QModel, ref: dict, env: dict) -> Optional[float]:
    """The share of samples whose largest score is the float model's, for a model with one output
    that is a vector of two or more scores ((K,) or (K, 1, 1)); None for any other model."""
    t = qm.output
    shape = tuple(qm.shapes[t])
    if len(qm.outputs) > 1 or t not in ref or t not in env or math.prod(shape) < 2 or \
            math.prod(shape) != shape[0]:
        return None
    n = len(env[t])
    return float(np.mean(np.argmax(np.asarray(ref[t]).reshape(n, -1), 1) == np.argmax(env[t].reshape(n, -1), 1)))


def _with_quantized_weights(graph: Graph, qm: QModel) -> Graph:
    """The float graph with every layer's weights replaced by the levels they were given."""
    g = graph.copy()
    for n in g.nodes:
        layer, w = qm.layers.get(n.name), n.params.get("weight")
        if layer is not None and w is not None and np.shape(w) == layer.codes.shape:
            n.params["weight"] = layer.dequantized().astype(np.float32)
    return g


def _advice(graph: Graph, qm: QModel, worst: dict, x: np.ndarray, ref_out: np.ndarray, output_db: float) -> str:
    """The option that helps, by measurement: the float graph run with the quantized weights and
    float activations tells whether the weights or the activation formats lose the signal (where
    the weights alone come within 3 dB of the whole loss, more activation bits cannot help); the
    scheme and granularity of the node that loses the most tell which weight option is left."""
    weights_db = sqnr_db(ref_out, run_float(_with_quantized_weights(graph, qm), x))
    act_bits = max(f.bits for f in qm.formats.values())
    if weights_db > output_db + 3.0 and act_bits < 16:
        return f"the quantized weights alone keep {weights_db:.1f} dB: the activation formats are the cause; " \
               f"try --act-bits 16"
    layer = qm.layers.get(worst["name"])
    if layer is not None and layer.scheme == "po2":   # more bits add range, not resolution, to Po2 levels
        rule = "" if qm.meta.get("exponent_rule") == "output" else "--exponent output, "
        return f"the quantized weights alone reach {weights_db:.1f} dB: try {rule}fine-tuning for the " \
               f"power-of-two levels (wqrc finetune), or --scheme dfp"
    if layer is not None and not layer.per_channel:
        return f"the quantized weights alone reach {weights_db:.1f} dB: try --granularity channel, more --bits, or " \
               f"fine-tuning (wqrc finetune)"
    return f"the quantized weights alone reach {weights_db:.1f} dB: try more --bits (a plan file, or --bits auto), or " \
           f"fine-tuning (wqrc finetune)"


QONNX_SAMPLES = 16    # qonnx's executor runs one sample at a time, in Python: a few suffice
FUSED = ("Relu", "Clip", "BatchNormalization", "Identity", "Dropout")   # folded or fused by wqrc.passes


def against_qonnx(path: str, qm: QModel, x: np.ndarray, samples: int = QONNX_SAMPLES) -> Optional[Health]:
    """The integer model against the QONNX model's own values (qonnx's executor, the reference
    Brevitas and FINN use): every quantized activation (a Quant's output, matched to the wqrc
    tensor it quantizes) and the output. None where qonnx is not installed (``pip install qonnx``)."""
    try:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes
    except ImportError:
        return None
    import onnx

    from wqrc.ir.graph import fit_input
    from wqrc.sim import simulate

    model = onnx.load(path)
    consts = {i.name for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def wqrc_tensor(t: str) -> str:
        """The wqrc tensor a QONNX tensor is: through the ops the passes fuse into the layer before."""
        while t not in qm.formats and t in producer and producer[t].op_type in FUSED:
            t = producer[t].input[0]
        return t

    quant_of = {n.output[0]: wqrc_tensor(n.input[0]) for n in model.graph.node
                if n.op_type == "Quant" and n.input and n.input[0] not in consts}
    mw = ModelWrapper(model).transform(InferShapes())
    name_in, name_out = mw.graph.input[0].name, mw.graph.output[0].name
    x = fit_input(np.asarray(x[:samples], np.float32), qm.input_shape, qm.input_layout)
    contexts = [execute_onnx(mw, {name_in: x[i:i + 1]}, return_full_exec_context=True) for i in range(len(x))]
    env = simulate(qm, qm.quantize_input(x), trace=True)
    h = Health(samples=len(x))

    def theirs(name):
        return np.concatenate([np.asarray(c[name], np.float64).reshape(1, -1) for c in contexts])

    def ours(t):
        return np.ldexp(env[t].astype(np.float64), qm.formats[t].frac).reshape(len(x), -1)

    nodes = {n.output: n for n in qm.nodes}
    for q_out, t in quant_of.items():
        if t in env and t in nodes and t in qm.formats:
            n = nodes[t]
            db = sqnr_db(theirs(q_out), ours(t))
            h.rows.append(dict(name=n.name, op=n.op, tensor=t, format=qm.formats[t].describe(), sqnr_db=db,
                               drop_db=0.0))
    ref, got = theirs(name_out), ours(qm.output)
    h.output_db = sqnr_db(ref, got)
    h.relative_error = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))
    if h.rows:
        h.worst = min(h.rows, key=lambda r: r["sqnr_db"])
    return h


def against_litert(path: str, qm: QModel, x: np.ndarray, samples: int = QONNX_SAMPLES) -> Optional[Health]:
    """The integer model against LiteRT's own interpreter running a ``.tflite`` model's integers
    (reference kernels, no delegate): the output wqrc computes (the logits where the model ends in
    SOFTMAX, which wqrc drops) against the same tensor there, dequantized. None where LiteRT is
    not installed (``pip install ai-edge-litert``)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        return None
    import tflite

    from wqrc.ir.graph import fit_input
    from wqrc.sim import simulate_float

    with open(path, "rb") as fh:
        model = tflite.Model.GetRootAsModel(fh.read(), 0)
    g = model.Subgraphs(0)
    target = int(g.Outputs(0))
    for k in range(g.OperatorsLength()):   # the logits: the input of a final SOFTMAX
        op = g.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        if int(op.Outputs(0)) == target and max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == \
                tflite.BuiltinOperator.SOFTMAX:
            target = int(op.Inputs(0))
    it = Interpreter(model_path=path, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    out = next(d for d in it.get_tensor_details() if d["index"] == target)
    x = np.asarray(x[:samples], np.float32)
    theirs = []
    for i in range(len(x)):
        xi = x[i:i + 1].reshape(inp["shape"])
        if inp["dtype"] != np.float32:
            s, z = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            xi = np.clip(np.round(xi / s) + z, info.min, info.max).astype(inp["dtype"])
        it.set_tensor(inp["index"], xi)
        it.invoke()
        v = it.get_tensor(out["index"]).astype(np.float64)
        if out["dtype"] != np.float32:
            s, z = out["quantization"]
            v = (v - z) * s
        theirs.append(v.reshape(1, -1))
    ref = np.concatenate(theirs)
    got = simulate_float(qm, fit_input(x, qm.input_shape, qm.input_layout)).astype(np.float64).reshape(len(x), -1)
    h = Health(samples=len(x))
    h.output_db = sqnr_db(ref, got)
    h.relative_error = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))
    return h
