"""The ``.wqrc.npz`` schema, checked when a file is loaded (docs/format.md, Appendix B).

A model file can come from anywhere, so nothing in it is trusted: the JSON
structure is checked field by field (types, ranges), the graph must be a
topologically ordered single-assignment graph, and every integer constant the
quantizer derives (shifts, accumulator bounds, Add/Concat alignments, clamp
bounds, exponents, shapes) must equal what the quantizer would derive from the
file's own formats and codes. A file that fails is a one-line error naming the
file and the field; a file that passes is exactly a model wqrc could have
written, so every executor and backend can run it.
"""
from __future__ import annotations

import json
import math

import numpy as np

from wqrc.errors import WqrcError
from wqrc.contract.arith import ROUNDINGS
from wqrc.quant.exponent import MAX_CHANNEL_SPREAD, RULES
from wqrc.contract.formats import TensorFormat
from wqrc.quant.schemes import SCHEMES

MAX_ELEMENTS = 1 << 26     # per tensor, batch excluded: the op registry's (wqrc.ops.MAX_ELEMENTS; a test ties them)

FILE_FORMAT = "wqrc-qmodel"
FILE_VERSION = 1
MAX_EXPONENT = 1 << 10     # |f|, |n1|, |exponent|: far beyond any real format
MAX_JSON_BYTES = 64 << 20  # the model document (a ResNet-18's is under 1 MB)
MAX_WEIGHTS = 1 << 26      # codes in all layers together: 67 M weights, beyond any model wqrc targets


def read_bounded(path: str) -> tuple:
    """The document and the code arrays of a model file, each array's size checked against what the
    document declares for it before it is decompressed (a small file can declare a huge array)."""
    from wqrc.untrusted import load_npz, npz_members

    raw = load_npz(path, limit=lambda k: MAX_JSON_BYTES, names=lambda k: k == "model_json").get("model_json")
    if raw is None:
        raise WqrcError(f"{path}: not a wqrc quantized model (no model_json)")
    try:
        doc = json.loads(bytes(raw.astype(np.uint8, copy=False).reshape(-1)).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WqrcError(f"{path}: not a wqrc quantized model ({type(exc).__name__})") from None
    expected = {}  # codes_<index> -> (layer, element count its document declares; checked in full later)
    layers = doc.get("layers") if isinstance(doc, dict) else None
    for name, d in (layers.items() if isinstance(layers, dict) else ()):
        shape = d.get("shape") if isinstance(d, dict) else None
        if isinstance(d.get("index"), int) and isinstance(shape, list) and all(type(v) is int and v > 0 for v in shape):
            expected[f"codes_{d['index']}"] = (name, math.prod(shape))
    if sum(n for _, n in expected.values()) > MAX_WEIGHTS:
        raise WqrcError(f"{path}: not a valid wqrc model: layers: {sum(n for _, n in expected.values())} weights "
                        f"in all, more than wqrc handles ({MAX_WEIGHTS})")
    for key, (shape, dtype, _) in npz_members(path).items():
        if key in expected and math.prod(shape) != expected[key][1]:
            name, n = expected[key]
            raise WqrcError(f"{path}: not a valid wqrc model: layers[{name!r}]: {key} holds {math.prod(shape)} "
                            f"codes, its shape declares {n}")
    codes = load_npz(path, limit=lambda k: expected[k][1], names=lambda k: k in expected)
    return doc, codes


def integer_ops() -> list[str]:
    """The ops of an integer graph: the registry's, less those the passes remove."""
    from wqrc.ops import OPS
    return [name for name, d in OPS.items() if d.integer]


class _Checker:
    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, msg: str):
        raise WqrcError(f"{self.path}: not a valid wqrc model: {where}: {msg}")

    def int_(self, v, where: str, lo=None, hi=None) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(where, f"{v!r} is not an integer")
        if lo is not None and v < lo or hi is not None and v > hi:
            self.fail(where, f"{v} is outside [{lo}, {hi}]")
        return v

    def str_(self, v, where: str) -> str:
        if not isinstance(v, str):
            self.fail(where, f"{v!r} is not a string")
        return v

    def dict_(self, v, where: str) -> dict:
        if not isinstance(v, dict):
            self.fail(where, "is not an object")
        return v

    def list_(self, v, where: str, n=None) -> list:
        if not isinstance(v, list) or n is not None and len(v) != n:
            self.fail(where, f"{v!r} is not a list" + (f" of {n} items" if n is not None else ""))
        return v

    def ints(self, v, where: str, n: int, lo=None, hi=None) -> list[int]:
        return [self.int_(x, f"{where}[{i}]", lo, hi) for i, x in enumerate(self.list_(v, where, n))]

    def shape(self, v, where: str) -> tuple[int, ...]:
        dims = self.list_(v, where)
        if not 1 <= len(dims) <= 4:
            self.fail(where, f"{v!r} is not a shape of rank 1 to 4")
        out = tuple(self.int_(d, where, 1, MAX_ELEMENTS) for d in dims)   # the op registry's limit
        if math.prod(out) > MAX_ELEMENTS:
            self.fail(where, f"{out} has more than {MAX_ELEMENTS} elements")
        return out


def check_document(doc, codes: dict, path: str) -> None:
    """Structure and types of the JSON document and the code arrays."""
    from wqrc.ops import OPS  # here, not at the top: wqrc.ops imports wqrc.quant
    c = _Checker(path)
    c.dict_(doc, "model_json")
    if doc.get("format") != FILE_FORMAT or doc.get("version") != FILE_VERSION:
        raise WqrcError(f"{path}: not a wqrc quantized model of version {FILE_VERSION}")
    inp, out = c.str_(doc.get("input"), "input"), c.str_(doc.get("output"), "output")
    shapes = {c.str_(k, "shapes"): c.shape(v, f"shapes[{k!r}]") for k, v in c.dict_(doc.get("shapes"), "shapes").items()}
    for k, v in c.dict_(doc.get("formats"), "formats").items():
        c.dict_(v, f"formats[{k!r}]")
        if not isinstance(v.get("signed"), bool):
            c.fail(f"formats[{k!r}].signed", "is not true or false")
        c.int_(v.get("bits"), f"formats[{k!r}].bits", 2, 32)
        c.int_(v.get("frac"), f"formats[{k!r}].frac", -MAX_EXPONENT, MAX_EXPONENT)
    formats = doc["formats"]
    nodes = c.list_(doc.get("nodes"), "nodes")
    if not nodes:
        c.fail("nodes", "the graph has no node")
    defined = {inp}
    names = set()
    for i, n in enumerate(nodes):
        where = f"nodes[{i}]"
        c.dict_(n, where)
        op = n.get("op")
        if op not in integer_ops():
            c.fail(f"{where}.op", f"unknown op {op!r}")
        name = c.str_(n.get("name"), f"{where}.name")
        if name in names:
            c.fail(f"{where}.name", f"node name {name!r} is used twice")
        names.add(name)
        ins = [c.str_(t, f"{where}.inputs") for t in c.list_(n.get("inputs"), f"{where}.inputs")]
        lo, hi = OPS[op].inputs
        if not lo <= len(ins) <= (hi or len(ins)):
            c.fail(f"{where}.inputs", f"{op} takes {lo}{'' if hi == lo else '..' + str(hi) if hi else ' or more'} "
                                      f"inputs, got {len(ins)}")
        for t in ins:
            if t not in defined:
                c.fail(f"node {name!r}", f"reads tensor {t!r} before any node writes it")
        o = c.str_(n.get("output"), f"{where}.output")
        if o in defined:
            c.fail(f"node {name!r}", f"writes tensor {o!r}, which is already written")
        defined.add(o)
        c.dict_(n.get("attrs"), f"{where}.attrs")
    if out not in defined:
        c.fail("output", f"tensor {out!r} is not written by any node")
    extra = [c.str_(t, "extra_outputs") for t in c.list_(doc.get("extra_outputs", []), "extra_outputs")]
    for t in extra:
        if t not in defined or t == out or extra.count(t) > 1:
            c.fail("extra_outputs", f"tensor {t!r} is not written by any node, or is named twice")
    for t in defined:
        if t not in shapes or t not in formats:
            c.fail(f"tensor {t!r}", "has no shape or no format")
    weighted = {n["name"] for n in nodes if n["op"] in ("conv", "dense")}
    layers = c.dict_(doc.get("layers"), "layers")
    if set(layers) != weighted:
        c.fail("layers", f"layer entries {sorted(layers)} do not match the conv/dense nodes {sorted(weighted)}")
    indices = []
    for name, d in layers.items():
        where = f"layers[{name!r}]"
        c.dict_(d, where)
        if d.get("scheme") not in SCHEMES:
            c.fail(f"{where}.scheme", f"unknown scheme {d.get('scheme')!r}")
        sch = SCHEMES[d["scheme"]]
        bits = c.int_(d.get("bits"), f"{where}.bits", sch.min_bits, sch.max_bits)
        if d.get("rule") not in RULES:
            c.fail(f"{where}.rule", f"unknown exponent rule {d.get('rule')!r}")
        for k in ("n1", "exponent", "shift"):
            c.int_(d.get(k), f"{where}.{k}", -MAX_EXPONENT, MAX_EXPONENT)
        c.int_(d.get("acc_bound"), f"{where}.acc_bound", 0)
        shape = c.shape(d.get("shape"), f"{where}.shape")
        bias = c.list_(d.get("bias"), f"{where}.bias", shape[0])
        for j, b in enumerate(bias):
            c.int_(b, f"{where}.bias[{j}]")
        indices.append(c.int_(d.get("index"), f"{where}.index", 0, len(layers) - 1))
        arr = codes.get(f"codes_{d['index']}")
        if arr is None:
            c.fail(where, f"codes_{d['index']} is missing")
        if arr.dtype.kind not in "iu" or arr.size != math.prod(shape):
            c.fail(f"codes_{d['index']}", f"{arr.dtype} array of {arr.size} codes, expected {math.prod(shape)} integers")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= 1 << bits):
            c.fail(f"codes_{d['index']}", f"codes outside 0..{(1 << bits) - 1} for {bits} bits")
        if sch.exponent(d["n1"], bits) != d["exponent"]:
            c.fail(f"{where}.exponent", f"{d['exponent']} does not follow from n1 {d['n1']} and {bits} bits")
        if d.get("channel_n1") is not None:  # docs/format.md §1c
            chan = c.list_(d["channel_n1"], f"{where}.channel_n1", shape[0])
            for j, v in enumerate(chan):
                c.int_(v, f"{where}.channel_n1[{j}]", -MAX_EXPONENT, MAX_EXPONENT)
            if max(chan) != d["n1"]:
                c.fail(f"{where}.n1", f"{d['n1']} is not the largest of channel_n1 ({max(chan)})")
            if max(chan) - min(chan) > MAX_CHANNEL_SPREAD:
                c.fail(f"{where}.channel_n1", f"spans {max(chan) - min(chan)} > {MAX_CHANNEL_SPREAD} exponents")
        if d.get("rounding", "half_up") not in ROUNDINGS:  # docs/format.md §3
            c.fail(f"{where}.rounding", f"unknown rounding {d.get('rounding')!r} (one of {', '.join(ROUNDINGS)})")
    if sorted(indices) != list(range(len(layers))):
        c.fail("layers", "indices are not 0..n-1")


def check_model(qm, path: str) -> None:
    """Every derived constant equals what the quantizer derives (docs/format.md §2-§3)."""
    from wqrc.ir.graph import Node
    from wqrc.ops import infer_node_shape, op_def
    from wqrc.contract.formats import output_bounds

    c = _Checker(path)
    if len(qm.input_shape) not in (1, 3):
        c.fail("input", f"shape {qm.input_shape} is neither (C, H, W) nor (F,)")
    for n in qm.nodes:
        where = f"node {n.name!r} ({n.op})"
        a = n.attrs
        in_fmts = [qm.formats[t] for t in n.inputs]
        out_fmt: TensorFormat = qm.formats[n.output]
        params = {}
        op = op_def(n)
        if op.weighted:  # the registry checks the weight's shape against the op
            layer = qm.layers[n.name]
            params["weight"] = np.broadcast_to(np.float32(0), layer.codes.shape)
            params["bias"] = np.zeros(layer.codes.shape[0], np.float32)
        try:  # the op registry checks attributes and parameters, and infers the shape
            shape = infer_node_shape(Node(n.op, n.name, list(n.inputs), n.output, dict(a), params),
                                     [qm.shapes[t] for t in n.inputs])
        except WqrcError as exc:
            c.fail(where, str(exc))
        if tuple(shape) != tuple(qm.shapes[n.output]):
            c.fail(where, f"output shape {qm.shapes[n.output]} should be {tuple(shape)}")
        if op.keeps_format and out_fmt != in_fmts[0]:
            c.fail(where, "a pool or flatten must keep its input's format")
        if op.clamps and (out_fmt.bits, out_fmt.frac) != (in_fmts[0].bits, in_fmts[0].frac):
            c.fail(where, "relu/clip must keep its input's bits and exponent")
        if op.aligns_inputs:
            shifts = c.ints(a.get("shifts"), f"{where}.shifts", len(n.inputs))
            if shifts != [out_fmt.frac - f.frac for f in in_fmts]:
                c.fail(f"{where}.shifts", f"{shifts} do not follow from the formats")
        qclip = a.get("qclip")
        if qclip is not None:
            c.list_(qclip, f"{where}.qclip", 2)
            for v in qclip:
                if v is not None:
                    c.int_(v, f"{where}.qclip", out_fmt.qmin, out_fmt.qmax)
            lo, hi = output_bounds(out_fmt, qclip)
            if lo > hi:
                c.fail(f"{where}.qclip", f"{qclip} is an empty range")
        why = op.check_derived(n, in_fmts, out_fmt)   # lookup tables, a product's shift
        if why:
            c.fail(where, why)
        if op.weighted:
            layer = qm.layers[n.name]
            fx = in_fmts[0].frac
            if layer.shift != out_fmt.frac - (fx + layer.exponent):
                c.fail(f"layers[{n.name!r}].shift", "does not follow from the formats and the exponent")
            fan_in = math.prod(layer.codes.shape[1:])
            bound = fan_in * in_fmts[0].max_abs_q * layer.max_abs_mult + max((abs(b) for b in layer.bias), default=0)
            if layer.acc_bound != bound:
                c.fail(f"layers[{n.name!r}].acc_bound", f"{layer.acc_bound} should be {bound}")
