"""Typed kernel calls: what one step of an integer graph asks of a kernel, every constant named.

A backend renders calls; it never looks at an op's name or a scheme's, nor derives a number
from the QModel. Each call is frozen and holds the target-neutral constants its kernel family
needs (docs/format.md §2-§3): geometry, storage formats, the requantization shift per output
channel and the tie rule, clamp bounds, divisor tables, alignment shifts, accumulator width
and bound. Model names are kept raw (``name``, ``inputs``, ``output``): each backend escapes
them for its own language (wqrc/backend/names.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from wqrc.contract.formats import TensorFormat


@dataclass(frozen=True)
class Call:
    name: str                               # the node's name
    op: str                                 # the IR op, for comments only
    index: int                              # the node's place in the graph
    inputs: tuple[str, ...]
    output: str
    in_formats: tuple[TensorFormat, ...]
    out_format: TensorFormat


@dataclass(frozen=True)
class ClampedCall(Call):
    """A call whose output codes are clamped: to the output format's range and, where an
    activation was fused, to its bounds (docs/format.md §3), inclusive."""
    lo: int
    hi: int


@dataclass(frozen=True)
class Window:
    """A window sliding over a map (a conv's kernel, a pool's window): its size, stride,
    dilation and top/left padding, the geometry conv and pool share."""
    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    dil_h: int
    dil_w: int
    pad_t: int
    pad_l: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConvGeometry(Window):
    """A convolution, or a dense layer as a 1x1 convolution of a 1x1 map."""
    in_c: int
    in_h: int
    in_w: int
    out_c: int
    out_h: int
    out_w: int
    group: int
    pad_b: int
    pad_r: int

    @property
    def fan(self) -> int:
        """Taps per output element: weights of one output channel."""
        return self.in_c // self.group * self.k_h * self.k_w

    @property
    def macs(self) -> int:
        return self.out_c * self.out_h * self.out_w * self.fan

    @property
    def padded(self) -> bool:
        return any((self.pad_t, self.pad_l, self.pad_b, self.pad_r))


@dataclass(frozen=True)
class ConvCall(ClampedCall):
    """conv and dense: acc = bias + sum(code multiplier * x); y = clamp(rshift_round(acc, shift))."""
    geometry: ConvGeometry
    scheme: str                  # for reports and comments; the arithmetic reads ``multiplies``
    multiplies: bool             # DFP: a weight is a multiplier; Po2: a sign and a shift
    bits: int
    exponent: int
    shifts: tuple[int, ...]      # the requantization shift of each output channel (all equal per layer)
    per_channel: bool            # one exponent per output channel (docs/format.md §1c)
    half_even: bool              # ties to even (an imported ROUND quantizer) instead of half up
    acc_bits: int                # signed accumulator width that holds acc_bound
    acc_bound: int
    bias: tuple[int, ...]
    w_mem: int                   # weight memory in bits

    @property
    def shift(self) -> int:
        """The smallest channel shift: the per-layer shift, or the base of per-channel ones."""
        return min(self.shifts)


@dataclass(frozen=True)
class PoolGeometry(Window):
    c: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    count_include_pad: int


@dataclass(frozen=True)
class PoolCall(ClampedCall):
    """max, average or global average pooling; a mean is (sum * R + 2^(S-1)) >> S (docs/format.md §3)."""
    geometry: PoolGeometry
    takes_max: bool
    whole_map: bool
    div_r: tuple[int, ...]       # entry n: a window of n elements (0 unused); a global pool: entry 0
    div_s: tuple[int, ...]


@dataclass(frozen=True)
class AddCall(ClampedCall):
    """Two terms moved to the output format, summed in int64, saturated, clamped."""
    shifts: tuple[int, int]
    size: int
    sum_bound: int               # the aligned sum's largest magnitude (the RTL sizes its adder by it)


@dataclass(frozen=True)
class CopyPart:
    tensor: str
    format: TensorFormat
    shift: int                   # to the output format
    size: int
    offset: int                  # where it lands in the output
    src_offset: int = 0          # where it starts in the input (a channel selection's block)
    count: int = 1               # blocks of ``size`` elements (a strided series of channels)
    src_step: int = 0            # elements between the blocks' starts in the input
    dst_step: int = 0            # and in the output


@dataclass(frozen=True)
class CopyCall(ClampedCall):
    """concat, relu, clip and select_channels: each part (an input, or a run of an input's channels)
    shifted to the output format, saturated, clamped, and written at its offset."""
    parts: tuple[CopyPart, ...]


@dataclass(frozen=True)
class MulCall(ClampedCall):
    """A product of activations (docs/format.md §3e), the gate broadcast per channel or not."""
    channels: int
    positions: int
    gate_positions: int
    shift: int


@dataclass(frozen=True)
class UpsampleCall(Call):
    """Nearest upsampling, or zero insertion (docs/format.md §3f)."""
    c: int
    h: int
    w: int
    scale_h: int
    scale_w: int
    zeros: bool


@dataclass(frozen=True)
class PadCall(Call):
    """A constant border of the pad code (docs/format.md §3g)."""
    c: int
    h: int
    w: int
    pads: tuple[int, int, int, int]   # top, left, bottom, right
    code: int


@dataclass(frozen=True)
class LutCall(Call):
    """A table activation: out = table[in - qmin] (docs/format.md §3d)."""
    table: tuple[int, ...]
    qmin: int
    size: int


@dataclass(frozen=True)
class AliasCall(Call):
    """flatten and reshape: the input's memory, reinterpreted; nothing runs."""
