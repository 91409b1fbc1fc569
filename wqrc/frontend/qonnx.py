"""QONNX quantizers (Brevitas, QKeras via qonnx, wqrc's own ``--target qonnx``) read as wqrc formats.

A ``Quant(x, scale, zero_point, bit_width)`` node (qonnx's IntQuant: ``sat(round(x / scale)) * scale``)
maps exactly onto wqrc's formats when its scale is a power of two and its zero point 0
(docs/format.md §1-§2):

- on a constant (weights, bias): the quantized values become the constant, and a weight
  quantizer fixes its layer's level set: DFP with the quantizer's bits and exponent ``log2
  scale`` (one per output channel where the scale is per channel), or Po2 where the model's
  ``wqrc.schemes`` metadata says so (the Po2 levels have no QONNX type of their own);
- on an activation: the tensor's format is fixed to ``(signed, bits, log2 scale)`` and the
  node itself disappears (every wqrc tensor is quantized already).

A scale that is not a power of two is re-gridded (docs/format.md §8): a constant gives the
model's own values (codes times scale; the layer's format is chosen from them by
wqrc.quant.regrid), an activation the format of step ``2**ceil(log2 scale)``. BipolarQuant on a
constant is the codes -1, +1 at its scale. Anything else (a zero point, a narrow-range
power-of-two activation quantizer, BipolarQuant on an activation, Trunc) is refused in one line
naming the node and, for a constant, the layer and role it belongs to.

Rounding: wqrc's integers follow its contract, ``floor(v + 1/2)`` at every requantization. A
``Quant`` with rounding ``FLOOR`` behind an ``Add`` of half its scale (how ``--target qonnx``
writes that rounding) is read as exactly that; ``ROUND`` (Brevitas's default, ties to even)
makes the conv/dense layer that writes the tensor round ties to even (docs/format.md §3), so
its integers are Brevitas's. Other modes, and ties to even where another op rounds, keep their
formats but run with the contract's rounding, so results can differ on exact ties; the notes
say so.
"""
from __future__ import annotations

import json
from typing import Optional

import numpy as np
import onnx

from wqrc.errors import WqrcError
from wqrc.quant.schemes import SCHEMES_KEY

DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas")
TIES_TO_EVEN = ("ROUND", "HALF_EVEN")  # qonnx's modes that round like np.round


def _mode(node: onnx.NodeProto) -> str:
    for a in node.attribute:
        if a.name == "rounding_mode":
            v = onnx.helper.get_attribute_value(a)
            return (v.decode() if isinstance(v, bytes) else str(v)).upper()
    return "ROUND"


def _flag(node: onnx.NodeProto, name: str, default: int) -> bool:
    for a in node.attribute:
        if a.name == name:
            return bool(onnx.helper.get_attribute_value(a))
    return bool(default)


def int_quant(x: np.ndarray, scale: np.ndarray, bits: int, signed: bool, narrow: bool, mode: str) -> np.ndarray:
    """qonnx's IntQuant on constants (zero point 0): the integer codes, clamped, then rounded."""
    lo = (-(1 << (bits - 1)) + int(narrow)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1 - int(narrow)
    v = np.clip(np.asarray(x, np.float64) / scale, lo, hi)
    rounders = {"ROUND": np.round, "HALF_EVEN": np.round, "FLOOR": np.floor, "CEIL": np.ceil, "DOWN": np.fix,
                "UP": lambda t: np.sign(t) * np.ceil(np.abs(t)),
                "HALF_UP": lambda t: np.sign(t) * np.floor(np.abs(t) + 0.5),
                "HALF_DOWN": lambda t: np.sign(t) * np.ceil(np.abs(t) - 0.5)}
    if mode not in rounders:
        raise ValueError(mode)
    return rounders[mode](v).astype(np.int64)


class QuantNode:
    """One Quant node's parameters, checked: power-of-two scale, zero point 0, integer bit width."""

    def __init__(self, node: onnx.NodeProto, consts: dict, role: str = ""):
        self.node, self.name, self.role = node, node.name or node.output[0], role
        if node.op_type == "BipolarQuant":   # sign(x) * scale: the codes -1, +1 of a 2-bit signed format
            if len(node.input) != 2 or node.input[1] not in consts:
                raise self.error("its scale must be a constant initializer")
            scale, zp, bits = np.asarray(consts[node.input[1]], np.float64), np.zeros(1), np.array([2.0])
        elif node.op_type != "Quant":
            raise self.error(f"QONNX op '{node.op_type}' is not supported (Quant and BipolarQuant are)")
        elif len(node.input) != 4 or any(i not in consts for i in node.input[1:]):
            raise self.error("scale, zero point and bit width must be constant initializers")
        else:
            scale, zp, bits = (np.asarray(consts[i], np.float64) for i in node.input[1:])
        if bits.size != 1 or bits.reshape(-1)[0] != round(float(bits.reshape(-1)[0])):
            raise self.error(f"bit width {bits.reshape(-1).tolist()} is not one integer")
        self.bits = int(bits.reshape(-1)[0])
        if np.any(zp != 0):
            raise self.error("a non-zero zero point; wqrc's formats are symmetric around 0 (docs/format.md §2)")
        if scale.size == 0 or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise self.error("its scale must be positive and finite")
        mant, exp = np.frexp(scale)
        # a power-of-two scale maps exactly (DFP); any other is re-gridded onto wqrc's formats
        self.po2 = bool(np.all(mant == 0.5))
        self.scale = scale
        self.exponent = (exp - 1).astype(np.int64) if self.po2 else np.ceil(np.log2(scale)).astype(np.int64)
        self.bipolar = node.op_type == "BipolarQuant"
        self.signed = True if self.bipolar else _flag(node, "signed", 1)
        self.narrow = True if self.bipolar else _flag(node, "narrow", 0)
        self.mode = _mode(node)

    def error(self, why: str) -> WqrcError:
        role = f", {self.role}" if self.role else ""
        return WqrcError(f"node '{self.name}' (QONNX {self.node.op_type}{role}): {why}")

    def values(self, x: np.ndarray) -> np.ndarray:
        """The model's own quantized values of a constant (codes times scale), float64."""
        if self.bipolar:
            return np.where(np.asarray(x) >= 0, 1.0, -1.0) * self.scale
        try:
            codes = int_quant(x, self.scale, self.bits, self.signed, self.narrow, self.mode)
        except ValueError:
            raise self.error(f"unknown rounding_mode '{self.mode}'") from None
        return codes * self.scale

    def quantize_constant(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(integer codes, per-element exponents), both of x's shape."""
        if not 2 <= self.bits <= 32:
            raise self.error(f"bit width {self.bits} on a constant is out of range (2..32)")
        if self.bipolar:
            codes = np.where(np.asarray(x) >= 0, 1, -1).astype(np.int64)
        else:
            try:
                codes = int_quant(x, self.scale, self.bits, self.signed, self.narrow, self.mode)
            except ValueError:
                raise self.error(f"unknown rounding_mode '{self.mode}'") from None
        try:
            exps = np.broadcast_to(self.exponent, codes.shape)
        except ValueError:
            raise self.error(f"scale of shape {self.scale.shape} does not broadcast over {codes.shape}") from None
        return codes, np.ascontiguousarray(exps)

    def activation_format(self) -> tuple[bool, int, int]:
        """(signed, bits, f). A scale that is not a power of two is re-gridded: f = ceil(log2
        scale), the finest power-of-two step that still holds the quantizer's range in its bits."""
        if self.bipolar:
            raise self.error("a sign activation (BipolarQuant on a computed tensor); wqrc's activations are "
                             "fixed-point formats")
        if self.exponent.size != 1:
            raise self.error(f"a scale per channel ({self.exponent.size} values) on an activation; wqrc's "
                             f"activation formats have one exponent per tensor")
        if not 2 <= self.bits <= 32:
            raise self.error(f"activation bit width {self.bits} is out of range (2..32)")
        if self.narrow and self.po2:
            raise self.error("a narrow-range activation quantizer; wqrc's activation formats use the full range")
        return bool(self.signed), self.bits, int(self.exponent.reshape(-1)[0])


def rounding_adds(model: onnx.ModelProto, consts: dict) -> set[str]:
    """Outputs of the ``Add(x, half LSB) -> Quant(FLOOR)`` pairs: that Add is the contract's
    rounding offset, not part of the model (read only by its Quant, whose scale it halves)."""
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    producers = {o: n for n in model.graph.node for o in n.output}
    found = set()
    for q in model.graph.node:
        if q.domain not in DOMAINS or q.op_type != "Quant" or _mode(q) != "FLOOR" or len(q.input) < 2:
            continue
        add = producers.get(q.input[0])
        if add is None or add.op_type != "Add" or len(readers.get(add.output[0], [])) != 1:
            continue
        half = next((consts[i] for i in add.input if i in consts), None)
        scale = consts.get(q.input[1])
        if half is None or scale is None or np.asarray(scale).size != 1:
            continue
        h = np.asarray(half, np.float64).reshape(-1)
        if np.all((h == 0) | (h == float(np.asarray(scale).reshape(-1)[0]) / 2)) and np.any(h != 0):
            found.add(add.output[0])
    return found


def po2_hints(model: onnx.ModelProto) -> dict[str, int]:
    """{layer: bits} of the layers a ``--target qonnx`` export marked as Po2."""
    for p in model.metadata_props:
        if p.key == SCHEMES_KEY:
            try:
                doc = json.loads(p.value)
                return {k: int(v.split(":")[1]) for k, v in doc.items() if v.startswith("po2:")}
            except (ValueError, AttributeError, IndexError):
                raise WqrcError(f"metadata '{SCHEMES_KEY}' is not a JSON object of 'po2:BITS' entries") from None
    return {}


def weight_pin(layer: str, codes: np.ndarray, exps: np.ndarray, bits: int, po2_bits: Optional[int]) -> dict:
    """The level set a weight quantizer fixes for ``layer`` (codes and exponents in [out, ...] order)."""
    from wqrc.quant.schemes import Po2

    rows = exps.reshape(exps.shape[0], -1)
    if np.any(rows != rows[:, :1]):
        raise WqrcError(f"layer '{layer}': its weight quantizer's scale varies within an output channel; "
                        f"wqrc has one exponent per layer or per output channel")
    e = rows[:, 0]
    top = int(np.abs(codes).max()) if codes.size else 0
    if po2_bits is not None:
        m = Po2.magnitudes(po2_bits)
        # multipliers ±2**j (j < m) at scale 2**n2: codes are 0 or a power of two below 2**m
        nz = np.abs(codes[codes != 0])
        if np.any(nz & (nz - 1)) or top >= 1 << m:
            raise WqrcError(f"layer '{layer}': marked Po2-{po2_bits} but its codes are not signed powers of two "
                            f"below 2**{m}")
        return {"scheme": "po2", "bits": po2_bits, "exponents": [int(v) for v in e]}
    need = max(2, top.bit_length() + 1)   # DFP-b holds |k| <= 2**(b-1) - 1 (symmetric)
    return {"scheme": "dfp", "bits": max(bits, need), "exponents": [int(v) for v in e],
            **({"widened_from": bits} if need > bits else {})}
