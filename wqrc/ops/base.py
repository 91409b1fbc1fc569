"""What an op definition is: typed attributes with defaults declared once, validation, shape inference.

An :class:`OpDef` owns everything about one IR op that does not depend on a
number format: its attributes (name, kind, default, range), how many inputs
it takes and of which rank, the checks of its parameters, and its output
shape. ``check`` turns every bad attribute, parameter or shape into a
:class:`WqrcError` that names the node and the attribute, so a malformed model
is a one-line error before any work is done.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from wqrc.contract.geometry import window_out  # noqa: F401 (the ops' window rule)
from wqrc.errors import WqrcError

# Largest tensor (batch excluded) and spatial extent wqrc accepts: far beyond any
# model an MCU or FPGA runs, small enough that a crafted shape cannot exhaust memory.
MAX_ELEMENTS = 1 << 26
MAX_EXTENT = 1 << 16


@dataclass(frozen=True)
class Attr:
    """One typed attribute. ``kind``: int, ints (``length`` of them), float, opt_float or clamp."""

    name: str
    kind: str
    default: Any = None
    length: int = 0
    lo: Optional[int] = None
    hi: Optional[int] = None
    doc: str = ""
    required: bool = False   # no default: a node without it is refused

    def check(self, node, value):
        def bad(why: str):
            raise WqrcError(f"node '{node.name}' ({node.op}): attribute {self.name}: {why}")

        def check_int(v, what=""):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                bad(f"{what}{v!r} is not an integer")
            v = int(v)
            if self.lo is not None and v < self.lo:
                bad(f"{what}{v} is below {self.lo}")
            if self.hi is not None and v > self.hi:
                bad(f"{what}{v} is above {self.hi}")
            return v

        if self.kind == "int":
            return check_int(value)
        if self.kind == "shape":  # a tensor shape, batch excluded: 1..3 positive extents
            if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 3:
                bad(f"{value!r} is not a shape of 1 to 3 extents")
            return tuple(check_int(v, "extent ") for v in value)
        if self.kind == "indices":  # a non-empty list of integers (bounds per element)
            if not isinstance(value, (list, tuple)) or not value or len(value) > MAX_EXTENT:
                bad(f"{value!r} is not a list of 1 to {MAX_EXTENT} integers")
            return tuple(check_int(v) for v in value)
        if self.kind == "ints":
            if not isinstance(value, (list, tuple)) or len(value) != self.length:
                bad(f"{value!r} is not {self.length} integers")
            return tuple(check_int(v) for v in value)
        if self.kind in ("float", "opt_float"):
            if value is None and self.kind == "opt_float":
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                bad(f"{value!r} is not a number")
            if not math.isfinite(float(value)):
                bad(f"{value} is not finite")
            return float(value)
        if self.kind == "clamp":  # a fused output clamp (lo, hi), either side None
            if value is None:
                return None
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                bad(f"{value!r} is not (lo, hi)")
            out = []
            for v in value:
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer))
                                      or not math.isfinite(float(v))):
                    bad(f"bound {v!r} is not a finite number")
                out.append(None if v is None else float(v))
            if None not in out and out[0] > out[1]:
                bad(f"low bound {out[0]} is above high bound {out[1]}")
            return tuple(out)
        raise AssertionError(self.kind)


class OpDef:
    """One IR op. Subclasses declare ``name``, ``doc``, ``attrs``, ``inputs`` and ``rank``, and define
    ``shape`` unless the op keeps its input's shape."""

    name: str = ""
    doc: str = ""
    attrs: tuple[Attr, ...] = ()
    inputs: tuple[int, Optional[int]] = (1, 1)   # (min, max); max None = any number
    rank: Optional[tuple[int, ...]] = None      # accepted input ranks (batch excluded); None = any
    weighted: bool = False
    keeps_format: bool = False                  # the output is in the input's activation format (§2)
    clamps: bool = False                        # an activation: input's fraction, its own clamp (§2)
    aligns_inputs: bool = False                 # inputs shifted to the output format first ("shifts", §3)
    joins_inputs: bool = False                  # its values are its inputs' own: one input format is kept (§2)
    aliases_input: bool = False                 # the output is the input's memory, reinterpreted (flatten)
    selects: bool = False                       # a copy of some of its input's channels (``blocks``)
    kernel: str = ""                            # the kernel family: which wqrc.lower call it becomes
    integer: bool = True                        # present in the integer graph (not removed by the passes)
    takes_max: bool = False                     # a pool whose window keeps its largest element
    whole_map: bool = False                     # a pool whose one window is the whole map
    zeros: bool = False                         # an upsampling that inserts zeros (not copies)
    round_commutes: bool = False                # op(r(x)) = r(op(x)) for any monotone rounding r to
                                                # integers: a monotone selection or integer-bounded clamp

    def defaults(self) -> dict:
        return {a.name: a.default for a in self.attrs}

    def view(self, node, in_shape: tuple[int, ...]) -> Optional[int]:
        """Where the output lies inside the input's memory, in elements, for an op whose output
        is a contiguous part of its input (flatten, reshape: the whole, at 0); None where the
        output needs memory of its own. A target that can address a tensor at an offset of
        another's buffer (wqrc.backend.planner, views=True) copies nothing for such a node."""
        return 0 if self.aliases_input else None

    def blocks(self, node) -> list[tuple[int, int, int, int, int, int]]:
        """For an op that ``selects``: the copies that make its output (structural.channel_blocks)."""
        raise NotImplementedError(self.name)

    def attr(self, name: str) -> Attr:
        return next(a for a in self.attrs if a.name == name)

    def with_defaults(self, given: dict) -> dict:
        """``given`` completed with every declared default (the one place defaults live)."""
        out = self.defaults()
        out.update(given)
        return out

    def fail(self, node, why: str):
        raise WqrcError(f"node '{node.name}' ({node.op}): {why}")

    def check(self, node, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """Validate ``node`` (attributes, parameters, input shapes) and return its output shape."""
        lo, hi = self.inputs
        if len(in_shapes) < lo or hi is not None and len(in_shapes) > hi:
            self.fail(node, f"takes {lo}{'' if hi == lo else '..' + str(hi) if hi else ' or more'} inputs, "
                            f"got {len(in_shapes)}")
        known = {a.name for a in self.attrs}
        for a in self.attrs:
            if a.name in node.attrs:
                node.attrs[a.name] = a.check(node, node.attrs[a.name])
            elif a.required:
                self.fail(node, f"attribute {a.name} is required")
            else:
                node.attrs[a.name] = a.default
        extra = set(node.attrs) - known - {"qclip", "shifts", "table", "shift"}
        if extra:
            self.fail(node, f"unknown attributes {sorted(extra)}")
        if self.rank is not None:
            for s in in_shapes:
                if len(s) not in self.rank:
                    self.fail(node, f"expects a {' or '.join(f'{r}-D' for r in self.rank)} input "
                                    f"(batch excluded), got shape {tuple(s)}")
        self.check_params(node, in_shapes)
        out = tuple(int(d) for d in self.shape(node, in_shapes))
        if min(out, default=1) < 1:
            self.fail(node, f"output would be empty ({out}) for input {tuple(in_shapes[0])}")
        if math.prod(out) > MAX_ELEMENTS or max(out, default=1) > MAX_EXTENT:
            self.fail(node, f"output shape {out} is larger than wqrc supports ({MAX_ELEMENTS} elements)")
        return out

    def check_params(self, node, in_shapes) -> None:
        """Parameter checks (weights, biases); none by default."""

    def shape(self, node, in_shapes) -> tuple[int, ...]:
        """The output shape; by default the input's (element-wise ops)."""
        return in_shapes[0]

    def interval(self, node, ins: list[tuple[float, float]]) -> tuple[float, float]:
        """The static range rule (docs/format.md §2): a sound (lo, hi) of the output for inputs in
        ``ins``, before any fused clamp. By default inside the input's range (pools, flatten)."""
        return ins[0]

    def output_clamp(self, node):
        """The clamp (lo, hi) in real units applied to the output: the fused ``clip`` by default."""
        return node.attrs.get("clip")

    def unsigned_output(self, node, in_fmts) -> bool:
        """Whether the output format may be unsigned (docs/format.md §2): a clamp at or above 0,
        or an op that keeps its inputs' values when none of them is signed."""
        clip = self.output_clamp(node)
        if clip and clip[0] is not None and clip[0] >= 0:
            return True
        return (self.keeps_format or self.clamps or self.aligns_inputs) and all(not f.signed for f in in_fmts)

    def bounds(self, qm, node) -> tuple[int, int]:
        """(sum, product): the largest magnitude of a sum this op forms on the integer path, and of
        a product or rounding offset; read by the one exactness guard (wqrc.sim.exactness). By
        default the values of the input's format (clamps, max pool, flatten)."""
        m = qm.formats[node.inputs[0]].max_abs_q
        return m, m

    def derived_attrs(self, node, in_fmts, out_fmt) -> dict:
        """Integer constants the quantizer adds to the node's attributes once its formats are known
        (docs/format.md §3); none by default."""
        return {}

    def check_derived(self, node, in_fmts, out_fmt) -> Optional[str]:
        """Why a loaded model's derived attributes are wrong, or None: they must be what the
        quantizer derives."""
        for k, v in self.derived_attrs(node, in_fmts, out_fmt).items():
            if node.attrs.get(k) != v:
                return f"attribute {k}: {node.attrs.get(k)!r} does not follow from the formats ({v!r})"
        return None

    def run_int(self, qm, node, ins: list, path: str):
        """The integer reference kernel of docs/format.md §3 on NumPy batches (wqrc.contract.kernels)."""
        raise WqrcError(f"node '{node.name}': the simulator has no op '{node.op}'")


def finite_param(op: OpDef, node, key: str, shape: Optional[tuple] = None) -> np.ndarray:
    """A float parameter that must exist, have ``shape`` and hold only finite values."""
    v = node.params.get(key)
    if v is None:
        op.fail(node, f"has no {key}")
    v = np.asarray(v)
    if shape is not None and tuple(v.shape) != tuple(shape):
        op.fail(node, f"{key} has shape {tuple(v.shape)}, expected {tuple(shape)}")
    if v.dtype.kind not in "fiu" or not np.all(np.isfinite(v)):
        op.fail(node, f"{key} holds NaN, infinite or non-numeric values")
    return v
