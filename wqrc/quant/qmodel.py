"""The quantized model: integer graph, weight codes, exponents and formats.

This is what the simulator runs, the packer packs and the backends emit. It is
saved as one ``.wqrc.npz`` file: ``model.json`` (structure, formats, exponents,
biases as exact integers) plus one ``codes_<i>`` array per weighted layer
holding the b-bit code words exactly as the ROM stores them. It loads without
pickle, so a model file from elsewhere cannot run code.
"""
from __future__ import annotations

import io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.ir.graph import fit_input
from wqrc.contract.arith import accumulator_ctype, bits_for_signed
from wqrc.quant.exponent import CHANNEL_EXPONENT_BITS
from wqrc.contract.formats import TensorFormat
from wqrc.quant.model_file import FILE_FORMAT, FILE_VERSION, check_document, check_model, read_bounded
from wqrc.quant.schemes import SCHEMES



def activation_grid(qm) -> dict[str, tuple[float, float, float]]:
    """Tensor name -> (step, lo, hi) of the integer graph's activation formats, for GraphModule.act_quant:
    the float forward pass that rounds every tensor as the integer graph does (activation-aware
    fine-tuning, and the output rule's scoring at narrow activations)."""
    return {t: (math.ldexp(1.0, f.frac), math.ldexp(f.qmin, f.frac), math.ldexp(f.qmax, f.frac))
            for t, f in qm.formats.items()}


@dataclass
class QLayer:
    """A conv/dense layer's quantized weights and the constants of its requantization."""

    name: str
    scheme: str
    bits: int
    n1: int                # top exponent (largest level 2**n1, or just under it for DFP)
    exponent: int          # e for DFP, n2 for Po2: the scale of multiplier 1
    rule: str              # exponent rule that chose n1
    codes: np.ndarray      # b-bit code words, weight shape (OIHW or [out, in])
    bias: list[int]        # at the accumulator scale 2**(f_x + exponent)
    shift: int             # sh = f_y - (f_x + exponent)
    acc_bound: int         # docs/format.md §3 bound on |acc|
    # --granularity channel: each output channel's own top exponent (docs/format.md §1c); then
    # n1/exponent/shift above are the layer's largest n1 and what follows from it
    channel_n1: Optional[list[int]] = None
    # ties of the requantization (docs/format.md §3): the contract's "half_up", or "half_even" where
    # an imported quantizer rounds so (a QONNX Quant with ROUND, Brevitas's default)
    rounding: str = "half_up"
    _mult: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    _aligned: Optional["AlignedLayer"] = field(default=None, repr=False, compare=False)

    @property
    def multipliers(self) -> np.ndarray:
        """c_w: DFP k, Po2 ±2**(m-1); int64, or object when wider than 62 bits."""
        if self._mult is None:
            self._mult = SCHEMES[self.scheme].decode(self.codes, self.bits)
        return self._mult

    @property
    def weight_count(self) -> int:
        return int(self.codes.size)

    @property
    def zero_codes(self) -> int:
        return int(np.count_nonzero(self.codes == 0))

    @property
    def code_bits(self) -> int:
        """The layer's ROM content: b bits per weight."""
        return self.weight_count * self.bits

    @property
    def exponent_bits(self) -> int:
        """Per-channel exponents' storage (CHANNEL_EXPONENT_BITS per output channel); 0 with one
        exponent per layer, a constant of the datapath as in the paper's W_mem."""
        return 0 if self.channel_n1 is None else CHANNEL_EXPONENT_BITS * len(self.channel_n1)

    @property
    def w_mem(self) -> int:
        """W_mem: the codes, and per-channel exponents where there are any (docs/format.md §1c)."""
        return self.code_bits + self.exponent_bits

    @property
    def max_abs_mult(self) -> int:
        m = self.multipliers
        return int(max(abs(int(m.max())), abs(int(m.min())))) if m.size else 0

    @property
    def acc_bits(self) -> int:
        return bits_for_signed(self.acc_bound)

    @property
    def acc_type(self) -> str:
        return accumulator_ctype(self.acc_bound)

    @property
    def per_channel(self) -> bool:
        return self.channel_n1 is not None

    @property
    def exponents(self) -> np.ndarray:
        """Each output channel's exponent (the layer's one exponent, repeated, without channel_n1)."""
        if self.channel_n1 is None:
            return np.full(self.codes.shape[0], self.exponent, np.int64)
        sch = SCHEMES[self.scheme]
        return np.array([sch.exponent(n, self.bits) for n in self.channel_n1], np.int64)

    @property
    def requant_shift(self):
        """The requantization shift: an int, or one per output channel (int64 array) with channel_n1.
        A channel's accumulator is at scale 2**(f_x + e_c), so sh_c = sh + (exponent - e_c)."""
        if self.channel_n1 is None:
            return self.shift
        return self.shift + (self.exponent - self.exponents)

    def aligned(self) -> "AlignedLayer":
        """The same layer with one shift, for executors that fold a single scale (docs/format.md §1c):
        channel c's multipliers and bias times 2**d_c, d_c = e_c - min(e), and the largest shift.
        rshift_round(acc * 2**d, sh + d) == rshift_round(acc, sh) for every d >= 0, so the outputs
        are the same integers; only the sums are wider, and acc_bound says by how much. Built once."""
        if self._aligned is None:
            self._aligned = self._align()
        return self._aligned

    def _align(self) -> "AlignedLayer":
        if self.channel_n1 is None:
            return AlignedLayer(self.multipliers, list(self.bias), self.shift, self.acc_bound)
        e = self.exponents
        d = e - e.min()
        if int(d.max()) > 62:
            raise ValueError("channel exponents too far apart to align in int64")
        m = self.multipliers.astype(object) * (np.ones(1, dtype=object) << d.astype(object)).reshape(
            (-1,) + (1,) * (self.codes.ndim - 1))
        bias = [int(b) << int(k) for b, k in zip(self.bias, d)]
        mult = m.astype(np.int64) if all(abs(int(v)) < (1 << 62) for v in (m.max(), m.min())) else m
        top = max(abs(int(m.max())), abs(int(m.min()))) if m.size else 0
        bound = (self.acc_bound - max(abs(b) for b in self.bias)) // max(self.max_abs_mult, 1) * top \
            + max(abs(b) for b in bias)
        return AlignedLayer(mult, bias, int(self.requant_shift.max()), bound)

    def dequantized(self) -> np.ndarray:
        e = self.exponents.reshape((-1,) + (1,) * (self.codes.ndim - 1))
        return np.ldexp(self.multipliers.astype(np.float64), e)

    def bias_array(self) -> np.ndarray:
        if all(-(1 << 62) < b < (1 << 62) for b in self.bias):
            return np.array(self.bias, dtype=np.int64)
        return np.array(self.bias, dtype=object)


@dataclass(frozen=True)
class AlignedLayer:
    """A conv/dense layer's constants with a single requantization shift (QLayer.aligned)."""
    multipliers: np.ndarray
    bias: list[int]
    shift: int
    acc_bound: int


@dataclass
class QNode:
    op: str
    name: str
    inputs: list[str]
    output: str
    attrs: dict


@dataclass
class QModel:
    nodes: list[QNode]
    layers: dict[str, QLayer]
    formats: dict[str, TensorFormat]
    shapes: dict[str, tuple[int, ...]]
    input: str
    output: str
    notes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    # further graph outputs after ``output`` (accuracy, test vectors and the RTL read ``output``)
    extra_outputs: list[str] = field(default_factory=list)
    # executors the simulator built for this model; a QModel is not changed once built
    runtime_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def input_format(self) -> TensorFormat:
        return self.formats[self.input]

    @property
    def output_format(self) -> TensorFormat:
        return self.formats[self.output]

    @property
    def input_layout(self) -> str:
        """The exporter's sample layout: "nhwc" for a channels-last export (ir.graph.fit_input)."""
        return self.meta.get("input_layout", "nchw")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shapes[self.input]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes[self.output]

    def layer_macs(self, node: QNode, layer: QLayer) -> tuple[int, int]:
        """(MACs, non-zero MACs) of one inference of a weighted layer: every weight is used once
        per output position (H*W of a conv's output, 1 for a dense layer); a zero code is skipped."""
        positions = int(np.prod(self.shapes[node.output], dtype=np.int64)) // layer.codes.shape[0]
        return positions * int(layer.codes.size), positions * int(np.count_nonzero(layer.codes))

    def weighted(self) -> list[tuple[QNode, QLayer]]:
        return [(n, self.layers[n.name]) for n in self.nodes if n.name in self.layers]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        return self.input_format.quantize(fit_input(np.asarray(x), self.input_shape, self.input_layout))

    @property
    def outputs(self) -> list[str]:
        return [self.output] + list(self.extra_outputs)

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        return self.output_format.dequantize(q)

    # -- file I/O ------------------------------------------------------
    def to_json(self) -> dict:
        layers = {}
        for i, (name, l) in enumerate(self.layers.items()):
            layers[name] = dict(index=i, scheme=l.scheme, bits=l.bits, n1=l.n1, exponent=l.exponent,
                                rule=l.rule, bias=[int(b) for b in l.bias], shift=l.shift,
                                acc_bound=int(l.acc_bound), shape=list(l.codes.shape),
                                **({} if l.channel_n1 is None else {"channel_n1": [int(v) for v in l.channel_n1]}),
                                **({} if l.rounding == "half_up" else {"rounding": l.rounding}))
        return dict(
            format=FILE_FORMAT, version=FILE_VERSION, input=self.input, output=self.output,
            **({"extra_outputs": list(self.extra_outputs)} if self.extra_outputs else {}),
            shapes={k: list(v) for k, v in self.shapes.items()},
            formats={k: v.to_json() for k, v in self.formats.items()},
            nodes=[dict(op=n.op, name=n.name, inputs=n.inputs, output=n.output, attrs=n.attrs)
                   for n in self.nodes],
            layers=layers, notes=self.notes, meta=self.meta,
        )

    def save(self, path: str) -> None:
        arrays = {"model_json": np.frombuffer(json.dumps(self.to_json(), sort_keys=True).encode(), np.uint8)}
        for i, l in enumerate(self.layers.values()):
            arrays[f"codes_{i}"] = l.codes.astype(np.uint8 if l.bits <= 8 else np.uint16)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        _write_deterministic_zip(buf.getvalue(), path)

    @staticmethod
    def load(path: str) -> "QModel":
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.wqrc.npz")):
            path = os.path.join(path, "model.wqrc.npz")
        if not os.path.isfile(path):
            raise WqrcError(f"{path}: no such file")
        doc, codes = read_bounded(path)
        check_document(doc, codes, path)
        layers = {}
        for name, d in sorted(doc["layers"].items(), key=lambda kv: kv[1]["index"]):  # graph order
            layers[name] = QLayer(name=name, scheme=d["scheme"], bits=d["bits"], n1=d["n1"],
                                  exponent=d["exponent"], rule=d["rule"],
                                  codes=codes[f"codes_{d['index']}"].astype(np.uint32).reshape(d["shape"]),
                                  bias=[int(b) for b in d["bias"]], shift=d["shift"], acc_bound=int(d["acc_bound"]),
                                  channel_n1=d.get("channel_n1"), rounding=d.get("rounding", "half_up"))
        notes = doc.get("notes", [])
        meta = doc.get("meta", {})
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes) or not isinstance(meta, dict):
            raise WqrcError(f"{path}: not a valid wqrc model: notes or meta have the wrong type")
        qm = QModel(
            nodes=[QNode(n["op"], n["name"], list(n["inputs"]), n["output"], n["attrs"]) for n in doc["nodes"]],
            layers=layers, formats={k: TensorFormat.from_json(v) for k, v in doc["formats"].items()},
            shapes={k: tuple(v) for k, v in doc["shapes"].items()}, input=doc["input"], output=doc["output"],
            extra_outputs=list(doc.get("extra_outputs", [])),
            notes=list(notes), meta=dict(meta),
        )
        check_model(qm, path)
        return qm


def _write_deterministic_zip(data: bytes, path: str) -> None:
    """Rewrite the npz with fixed timestamps so equal models give equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
