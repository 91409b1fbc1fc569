"""RTL target, descriptor-driven form: a fixed set of engines runs every layer (OUT/rtl/).

The layer form (wqrc/backend/rtl.py) gives each layer its own engine with its constants as
parameters, so its area grows with depth. Here one conv/dense engine (``P`` lanes,
hw/rtl/wqrc_seq_conv.v) and one vector engine (pooling, add, concat/ReLU copies, lookup
tables; hw/rtl/wqrc_seq_vec.v) run the layers one after another, each from its descriptor: a
row of the descriptor table (``desc.mem``) that the top loads into the engines' field
registers before the layer starts. What a descriptor holds is what the lowered call holds
(wqrc.lower), with the products the address arithmetic needs precomputed, so the engines
need adders only.

Memory: activations live in ``NB`` single-port banks (the UP5K's four SPRAMs), each tensor at
an offset of one bank, placed by liveness so that a layer never reads and writes one bank
(the banks are single-port); weights stay in the packer's image (``../rom/weights.mem``),
read in order from each layer's segment; biases and per-channel exponents, pooling divisors
and lookup tables are small tables beside them.

One home for the descriptor: ``FIELDS`` names every field, its signedness and the engine
parameter its port width comes from; the top's registers, the loader and ``desc.mem`` are
generated from it, and tests/test_rtl_seq.py checks it against the engines' port lists.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from wqrc.backend import fpga, names
from wqrc.backend.common import copy_kernels, environment, render_files
from wqrc.backend.rtl_package import write_package
from wqrc.backend.rtl_common import (BUILD_PRODUCTS, UNLOAD_CYCLES, clog2, hex_words, output_stream, unloaded,
                                     write_lines)
from wqrc.backend.planner import plan_arena
from wqrc.errors import WqrcError
from wqrc.lower import AddCall, AliasCall, ConvCall, CopyCall, LutCall, PoolCall, lower
from wqrc.pack.rom import Rom
from wqrc.quant.qmodel import QModel

KERNEL_FILES = ("wqrc_shift_round.v", "wqrc_pe_rt.v", "wqrc_seq_conv.v", "wqrc_seq_vec.v", "wqrc_bank.v",
                "wqrc_table.v", "wqrc_wsrc_rom.v", "wqrc_wsrc_spi.v")
SIM_FILES = ("wqrc_spi_flash_model.v",)   # the test bench's, never synthesized
# The packer's image, copied into rtl/ (the layer form quotes ../rom/weights.mem): the WebAssembly
# builds of Yosys and nextpnr (make synth-ecp5) read only files below their working folder.
WEIGHTS_FILE = "weights.mem"
FLASH_BASE = 0x100000   # where the weight image goes in the board's flash: past a UP5K bitstream (104 KB)
BANKS = 4   # the UP5K's SPRAMs
SPRAM_MIN_WORDS = 4096   # a bank this deep or deeper goes into SPRAM (16K x 16), a shallower one into EBR
BANK_KIND = {True: "spram", False: "ebr"}   # wqrc_bank.v's generate block of each

CONV, VEC = 0, 1   # the engine a step runs on: the descriptor's `kind`

# Every descriptor field: (signed, the parameter that sets its port width, the engines that read
# it). A width that is a number is fixed. The top reads kind and the bank numbers itself.
FIELDS = {
    "kind": (False, 1, ("top",)), "ibank": (False, "BW", ("top",)), "i1bank": (False, "BW", ("top",)),
    "obank": (False, "BW", ("top",)),
    # loop ends (last indices) and geometry
    "t1": (False, "GW", ("conv",)), "cg1": (False, "GW", ("conv",)), "kh1": (False, "GW", ("conv", "vec")),
    "kw1": (False, "GW", ("conv", "vec")), "oh1": (False, "GW", ("vec",)), "ow1": (False, "GW", ("conv", "vec")),
    "npix1": (False, "GW", ("conv",)), "nj1": (False, "GW", ("conv",)), "c1": (False, "GW", ("vec",)),
    "n1": (False, "GW", ("vec",)), "h": (False, "GW", ("conv", "vec")), "w": (False, "GW", ("conv", "vec")),
    "sh": (False, "GW", ("conv", "vec")), "sw": (False, "GW", ("conv", "vec")),
    "dh": (False, "GW", ("conv", "vec")), "dw": (False, "GW", ("conv", "vec")), "pt": (False, "GW", ("conv", "vec")),
    "pl": (False, "GW", ("conv", "vec")), "nl": (False, "GW", ("conv",)), "oc": (False, "GW", ("conv",)),
    "ocg": (False, "GW", ("conv",)), "gap": (False, "GW", ("conv",)), "fix": (False, "GW", ("vec",)),
    # column lanes (a grid of NL channels x NCOL outputs of a row) and the drain's channel step
    "cols": (False, 1, ("conv",)), "ncol": (False, "GW", ("conv",)), "owc": (False, "GW", ("conv",)),
    "kwr1": (False, "GW", ("conv",)), "lsw": (False, "GW", ("conv",)), "ostep": (False, "GW", ("conv",)),
    "nl1": (False, "GW", ("conv",)), "lnl": (False, "GW", ("conv",)),
    # address arithmetic
    "hw": (True, "XW", ("conv", "vec")), "dhw": (True, "XW", ("conv", "vec")), "srow": (True, "XW", ("conv", "vec")),
    "corner0": (True, "XW", ("conv", "vec")), "gstep": (True, "XW", ("conv",)), "nlnpix": (True, "XW", ("conv",)),
    "ibase": (True, "XW", ("conv", "vec")), "i1base": (True, "XW", ("vec",)), "obase": (True, "XW", ("conv", "vec")),
    # weights, requantization, tables
    "wword": (False, "WAW", ("conv",)), "b": (False, 5, ("conv",)), "bmask": (False, "BMAX", ("conv",)),
    "bsign": (False, "BMAX", ("conv",)), "po2": (False, 1, ("conv",)),
    "pbase": (False, "PAW", ("conv",)), "even": (False, 1, ("conv",)),
    "lo": (True, "MW", ("conv", "vec")), "hi": (True, "MW", ("conv", "vec")),
    "pool": (False, 1, ("vec",)), "max": (False, 1, ("vec",)), "two": (False, 1, ("vec",)),
    "lut": (False, 1, ("vec",)), "incpad": (False, 1, ("vec",)), "p0": (False, "QW", ("vec",)),
    "p1": (False, "QW", ("vec",)), "qmin": (True, "MW", ("vec",)), "dbase": (False, "DAW", ("vec",)),
    "lbase": (False, "LAW", ("vec",)),
}


def signed_bits(v: int) -> int:
    return max(1, (v if v >= 0 else ~v).bit_length() + 1)


def shift_position(s: int, in_w: int, out_w: int) -> int:
    """hw/rtl/wqrc_shift_round.v's operand for rshift_round(v, s) of an ``in_w``-bit v into an
    ``out_w``-bit result: s + out_w + 1, capped to 0 .. in_w + out_w + 1, where every shift beyond
    gives the same result (0 past the value's width; a left shift past the output's saturates
    every non-zero value). tests/test_rtl.py drives the unit through it."""
    lead = out_w + 1
    return min(max(s + lead, 0), in_w + lead)


SMAX_COLS = 2   # the largest stride column lanes take (the shift line is (P - 1) * SMAX codes long)
GRID_BITS = 16  # hw/rtl/wqrc_seq_conv.v's NLS: grids of up to 2**15 channels


def column_sweep(geo, ncol: int):
    """The sweep of ``ncol`` column lanes as a window of its own: each group of ncol outputs is
    one pixel, whose kernel row is the (ncol - 1) * S + KW inputs read once for them all, and
    groups advance ncol * S columns; _window's address arithmetic holds for it unchanged."""
    return replace(geo, k_w=(ncol - 1) * geo.stride_w + geo.k_w, out_w=-(-geo.out_w // ncol),
                   stride_w=ncol * geo.stride_w)


def column_lanes(geo, lanes: int) -> int:
    """How many lanes run over one row's outputs of a layer whose groups have one output channel
    each (depthwise), where lanes over channels would idle, or 1: undilated along the row, when
    sharing each read among the lanes saves reads."""
    ocg = geo.out_c // geo.group
    if geo.group == 1 or ocg != 1 or not _columns_apply(geo, lanes):
        return 1
    ncol = min(lanes, geo.out_w)
    sweep = column_sweep(geo, ncol)
    return ncol if sweep.out_w * sweep.k_w < geo.out_w * geo.k_w else 1


def _columns_apply(geo, lanes: int) -> bool:
    return geo.dil_w == 1 and geo.stride_w <= SMAX_COLS and lanes >= 2 and geo.out_w >= 2


def lane_grids(geo, lanes: int, grid: bool = True) -> list[tuple[int, int]]:
    """The (NL channels, NCOL columns) arrangements of ``lanes`` a conv can run on: lanes over
    channels (NCOL = 1; a grouped layer's NL divides its channels per group), column lanes for a
    depthwise layer (NL = 1), and, for a layer of one group where ``grid`` allows, every grid of
    a power of two of channels (at most the layer's) by the columns the other lanes make."""
    ocg = geo.out_c // geo.group
    if geo.group > 1:
        if ocg == 1:
            return [(1, column_lanes(geo, lanes))]
        return [(max(d for d in range(1, min(lanes, ocg) + 1) if ocg % d == 0), 1)]
    out = [(min(lanes, geo.out_c), 1)]
    if grid and _columns_apply(geo, lanes):
        nl = 1
        while nl <= geo.out_c and 2 * nl <= lanes:
            out.append((nl, min(lanes // nl, geo.out_w)))
            nl *= 2
    return out


def line_depths(lanes: int, smax: int, grids: int) -> list[int]:
    """Lane c's code line depth (hw/rtl/wqrc_seq_conv.v's cdepth): the reads of its codes that the
    columns beside it need in the widest grid (bit i of ``grids``: 2**i channels) that uses it."""
    return [max([((lanes >> i) - 1) * smax for i in range(GRID_BITS) if grids >> i & 1 and (1 << i) > c] + [0])
            for c in range(lanes)]


def _window(geo) -> dict:
    """The address arithmetic of a window sweep (conv and pool alike): the products, once; srow
    moves the window's corner from a row's last output to the next row's first."""
    h, w = geo.in_h, geo.in_w
    return dict(kh1=geo.k_h - 1, kw1=geo.k_w - 1, ow1=geo.out_w - 1, h=h, w=w, sh=geo.stride_h, sw=geo.stride_w,
                dh=geo.dil_h, dw=geo.dil_w, pt=geo.pad_t, pl=geo.pad_l, hw=h * w, dhw=geo.dil_h * w,
                corner0=-geo.pad_t * w - geo.pad_l, srow=geo.stride_h * w - (geo.out_w - 1) * geo.stride_w)


@dataclass
class _Step:
    kind: int
    call: object
    reads: list[str]
    write: str
    fields: dict
    out_offset: int = 0            # where in the output tensor it writes (a concat's part)
    in_offset: int = 0             # where in the input tensor it reads (a run of selected channels)
    in1_offset: int = 0            # where in the second input's root it reads (the input a view: a channel run)
    about: str = ""


@dataclass
class _Tensor:
    name: str
    size: int
    bits: int
    signed: bool
    first: int                     # the step that writes it first (-1: the input)
    last: int                      # the last step that reads it (outputs: past the end)
    bank: int = -1
    base: int = 0
    avoid: set = field(default_factory=set)


class SeqLayout:
    """Steps, descriptors, tables and the bank plan of the descriptor-driven form."""

    def __init__(self, qm: QModel, rom: Rom, lanes: int, banks: int = BANKS, grid: bool = True):
        """``grid``: layers of one group may run on grids of channels x columns (lane_grids),
        where the cycle model finds them faster; their shift lines cost logic."""
        self.qm, self.rom, self.lanes, self.nb, self.grid = qm, rom, lanes, banks, grid
        # a run of consecutive channels is its input's memory at an offset (planner views): the
        # steps that read it read there, and no step copies it
        arena = plan_arena(qm, views=True)
        self.alias, self.view = arena.alias, arena.view
        self.segment = {s.name: s for s in rom.segments}
        self.steps: list[_Step] = []
        self.params: list[tuple[int, int]] = []   # per conv channel: (shift position, bias)
        self.divs: list[tuple[int, int]] = []
        self.luts: list[int] = []
        calls = [c for c in lower(qm) if not isinstance(c, AliasCall)]
        self.convs = [c for c in calls if isinstance(c, ConvCall)]
        self.acc_w = max([c.acc_bits for c in self.convs] + [2])
        # the banks' word: every activation format as a signed value (an unsigned one takes a bit more)
        self.mw = max(max(f.bits + (0 if f.signed else 1) for f in qm.formats.values()), 2)
        for call in calls:
            emit = EMIT.get(type(call))
            if emit is None:
                raise WqrcError(f"node '{call.name}' ({call.op}): the descriptor-driven RTL form has no engine "
                                f"for it; use --rtl-form layers")
            emit(self, call)
        # the vector engine's widths: an aligned sum (TW, as the C kernels' saturation), a window
        # sum (SUMW) and it times the largest divisor multiplier (PW)
        adds = [s.call for s in self.steps if isinstance(s.call, AddCall)]
        windows = [s.call.geometry.k_h * s.call.geometry.k_w for s in self.steps if isinstance(s.call, PoolCall)]
        self.tw = max([self.mw + 1] + [a.sum_bound.bit_length() + 2 for a in adds])
        self.rw = max([r.bit_length() for r, _ in self.divs] + [1])
        self.kb = max(windows + [1]).bit_length()
        self.sumw = self.mw + self.kb + 1
        self.pw = self.sumw + self.rw + 1
        self.tensors = self._lifetimes()
        self._place()

    # ---- steps --------------------------------------------------------------------------
    def _root(self, t: str) -> str:
        return self.alias[t]

    def _add(self, kind: int, call, reads, write, fields, out_offset=0, about=None, in_offset=0):
        """A step; ``in_offset`` is relative to its first input, which may lie inside its root's memory."""
        self.steps.append(_Step(kind, call, [self._root(t) for t in reads], self._root(write), fields, out_offset,
                                in_offset + self.view[reads[0]], self.view[reads[-1]],
                                names.comment(about or f"{call.name}: {call.op}")))

    def _conv(self, call: ConvCall) -> None:
        g = call.geometry
        if 2 * call.bits > self.rom.word_bits:   # the code reader keeps pace with a code a cycle
            raise WqrcError(f"layer '{call.name}': --rtl-form seq reads {call.bits}-bit codes from words of at "
                            f"least {2 * call.bits} bits; use --word-bits {max(16, 2 * call.bits)} or more")
        pbase = len(self.params)
        for c in range(g.out_c):
            self.params.append((shift_position(call.shifts[c], self.acc_w, self.mw), call.bias[c]))
        # the arrangement of the lanes that the cycle model finds fastest (the first of equals:
        # lanes over channels, which need no shift lines)
        options = [self._conv_fields(call, nl, ncol, pbase) for nl, ncol in lane_grids(g, self.lanes, self.grid)]
        f = min(options, key=_conv_cycles)
        self._add(CONV, call, call.inputs[:1], call.output, f)

    def _conv_fields(self, call: ConvCall, nl: int, ncol: int, pbase: int) -> dict:
        """A conv's descriptor on a grid of ``nl`` channels x ``ncol`` columns (ncol = 1: lanes over
        channels alone)."""
        g = call.geometry
        cg, ocg = g.in_c // g.group, g.out_c // g.group
        cols = ncol > 1
        sweep = column_sweep(g, ncol) if cols else g
        f = _window(sweep)
        f.update(npix1=sweep.out_h * sweep.out_w - 1, gap=max(0, nl * ncol - cg * sweep.k_h * sweep.k_w),
                 cols=int(cols), ncol=ncol, lsw=g.stride_w if cols else 0, owc=g.out_w, kwr1=g.k_w - 1,
                 ostep=g.out_h * g.out_w, nl1=nl - 1, lnl=nl.bit_length() - 1 if cols else 0,
                 t1=g.fan - 1, cg1=cg - 1, nj1=-(-g.out_c // nl) - 1, nl=nl, oc=g.out_c,
                 ocg=ocg if g.group > 1 else 0,
                 gstep=cg * g.in_h * g.in_w, nlnpix=nl * g.out_h * g.out_w, wword=self.segment[call.name].word_offset,
                 b=call.bits, bmask=(1 << (call.bits - 1)) - 1, bsign=1 << (call.bits - 1),
                 po2=int(not call.multiplies), pbase=pbase, even=int(call.half_even),
                 lo=call.lo, hi=call.hi)
        return f

    def _pool(self, call: PoolCall) -> None:
        g = call.geometry
        dbase = len(self.divs)
        fixed = call.takes_max or call.whole_map or bool(g.count_include_pad)
        fix = 0 if (call.takes_max or call.whole_map) else g.k_h * g.k_w
        self.divs.extend(zip(call.div_r, call.div_s))
        f = _window(g)
        f.update(pool=1, max=int(call.takes_max), incpad=int(fixed), fix=fix, c1=g.c - 1, oh1=g.out_h - 1,
                 dbase=dbase, lo=call.lo, hi=call.hi)
        self._add(VEC, call, call.inputs[:1], call.output, f)

    def _eltwise(self, call: AddCall) -> None:
        sa, sb = call.shifts
        self._add(VEC, call, call.inputs, call.output, dict(two=1, n1=call.size - 1, sh0=sa, sh1=sb, lo=call.lo,
                                                              hi=call.hi))

    def _copy(self, call: CopyCall) -> None:
        if self._root(call.output) != call.output:   # a view of its input: nothing to copy
            return
        for part in call.parts:
            for j in range(part.count):   # a strided series of blocks: one descriptor each
                src, dst = part.src_offset + j * part.src_step, part.offset + j * part.dst_step
                self._add(VEC, call, [part.tensor], call.output,
                          dict(n1=part.size - 1, sh0=part.shift, lo=call.lo, hi=call.hi), out_offset=dst,
                          in_offset=src, about=f"{call.name}: {call.op}, {part.tensor}[{src}:] at {dst}")

    def _lut(self, call: LutCall) -> None:
        f = call.out_format
        lbase = len(self.luts)
        self.luts.extend(call.table)
        self._add(VEC, call, call.inputs[:1], call.output, dict(lut=1, n1=call.size - 1, qmin=call.qmin, lbase=lbase,
                                                                   lo=f.qmin, hi=f.qmax))

    # ---- banks ----------------------------------------------------------------------------
    def _lifetimes(self) -> dict[str, _Tensor]:
        qm = self.qm
        end = len(self.steps)
        ts: dict[str, _Tensor] = {}

        def tensor(root: str, first: int) -> _Tensor:
            if root not in ts:
                fmt = qm.formats[root]
                ts[root] = _Tensor(root, int(np.prod(qm.shapes[root])), fmt.bits, fmt.signed, first, first)
            return ts[root]

        tensor(self._root(qm.input), -1)
        for k, s in enumerate(self.steps):
            for r in s.reads:
                ts[r].last = max(ts[r].last, k)
            tensor(s.write, k)
        for t in qm.outputs:
            ts[self._root(t)].last = end
        # what a step reads and writes must lie in different banks; a step's two inputs too
        for s in self.steps:
            group = set(s.reads) | {s.write}
            for r in group:
                ts[r].avoid |= group - {r}
        return ts

    def _place(self) -> None:
        """Each tensor into a bank (none sharing one with a tensor it meets in a step) at the first
        offset free for its whole life; the bank whose high-water mark grows least wins."""
        placed: list[_Tensor] = []
        for t in sorted(self.tensors.values(), key=lambda t: (t.first, t.name)):
            best = None
            for b in range(self.nb):
                if any(self.tensors[o].bank == b for o in t.avoid):
                    continue
                live = sorted((p.base, p.base + p.size) for p in placed
                              if p.bank == b and p.first <= t.last and t.first <= p.last)
                base = 0
                for s, e in live:
                    if base + t.size <= s:
                        break
                    base = max(base, e)
                high = max([base + t.size] + [p.base + p.size for p in placed if p.bank == b])
                if best is None or high < best[0]:
                    best = (high, b, base)
            if best is None:
                raise WqrcError(f"tensor '{t.name}': every one of the {self.nb} activation banks holds a tensor it "
                                f"meets in a layer (the banks are single-port); use --rtl-form layers")
            _, t.bank, t.base = best
            placed.append(t)
        self.depth = [max([p.base + p.size for p in placed if p.bank == b] + [1]) for b in range(self.nb)]

    # ---- the descriptor table ---------------------------------------------------------------
    def descriptors(self) -> list[dict]:
        rows = []
        for s in self.steps:
            out = self.tensors[s.write]
            ins = [self.tensors[r] for r in s.reads]
            row = {name: 0 for name in FIELDS}
            row.update({k: v for k, v in s.fields.items() if k not in ("sh0", "sh1")})
            if s.kind == VEC:   # the terms' shifts as the rounding shifter's positions
                row.update(p0=shift_position(s.fields.get("sh0", 0), self.mw, self.tw),
                           p1=shift_position(s.fields.get("sh1", 0), self.mw, self.tw))
            row.update(kind=s.kind, ibank=ins[0].bank, ibase=ins[0].base + s.in_offset, obank=out.bank,
                       obase=out.base + s.out_offset, i1bank=ins[-1].bank, i1base=ins[-1].base + s.in1_offset)
            rows.append(row)
        return rows


EMIT = {ConvCall: SeqLayout._conv, PoolCall: SeqLayout._pool, AddCall: SeqLayout._eltwise,
        CopyCall: SeqLayout._copy, LutCall: SeqLayout._lut}


def engineless(qm: QModel):
    """The first lowered call the descriptor-driven engines cannot run, or None."""
    return next((c for c in lower(qm) if not isinstance(c, AliasCall) and type(c) not in EMIT), None)


def _engine_params(lay: SeqLayout, rows: list[dict]) -> tuple[dict, dict, dict]:
    """The engines' parameters (every width from the values the descriptors hold) and each
    field's register width."""
    def unsigned(name):
        return max([r[name] for r in rows] + [1]).bit_length()

    aw = clog2(max(lay.depth) + 1)
    gw = max(unsigned(n) for n, (s, w, _) in FIELDS.items() if w == "GW") + 1
    xw = max([signed_bits(r[n]) for r in rows for n, (s, w, _) in FIELDS.items() if w == "XW"] + [aw + 1]) + 1
    common = dict(MW=lay.mw, XW=xw, GW=gw, AW=aw)
    convs = lay.convs
    conv = dict(P=lay.lanes, BMAX=max([c.bits for c in convs] + [2]), TMAX=max([c.geometry.fan for c in convs] + [1]),
                ACC_W=lay.acc_w, HAS_EVEN=int(any(c.half_even for c in convs)),
                QW=max([p.bit_length() for p, _ in lay.params] + [1]), **common,
                WORD_W=lay.rom.word_bits, WAW=clog2(len(lay.rom.words) + 2), PAW=clog2(len(lay.params) + lay.lanes + 1),
                HAS_PO2=int(any(not c.multiplies for c in convs)), HAS_DFP=int(any(c.multiplies for c in convs)),
                SMAX=max([r["lsw"] for r in rows if r["kind"] == CONV and r["cols"]] + [0]),
                NLS=sum({1 << r["lnl"] for r in rows if r["kind"] == CONV and r["cols"]}))
    vec = dict(**common, TW=lay.tw, RW=lay.rw, KB=lay.kb, SUMW=lay.sumw, PW=lay.pw,
               QW=(lay.pw + lay.tw + 1).bit_length(), DAW=clog2(len(lay.divs) + 1), LAW=clog2(len(lay.luts) + 1))
    widths = dict(BW=clog2(lay.nb), BMAX=conv["BMAX"], WAW=conv["WAW"], PAW=conv["PAW"], DAW=vec["DAW"], LAW=vec["LAW"], QW=vec["QW"],
                  **common)
    return conv, vec, widths


def generate_seq(qm: QModel, rom: Rom, folder: str, lanes: int, vecs: tuple, weights: str = "rom",
                 part: str = "up5k") -> dict:
    """``weights``: ``rom`` (on chip, the packer's image in block RAM) or ``flash`` (streamed from the
    board's SPI flash, where the image is written at FLASH_BASE). A design the FPGA ``part`` cannot
    hold is refused before anything is written (wqrc/backend/fpga.py)."""
    if weights not in ("rom", "flash"):
        raise WqrcError(f"--weight-store: '{weights}' is not rom or flash")
    dev = fpga.device(part)
    design = _Design(qm, rom, lanes, weights, dev, grid=True)
    if design.grid_used and not fpga.fits(fpga.estimate_seq(dev, design.shape)):
        design = _Design(qm, rom, lanes, weights, dev, grid=False)   # lanes over channels, no shift lines
    estimate = fpga.check_fit(dev, design.shape)
    lay, rows, conv, vec, fields, huge, shape = (design.lay, design.rows, design.conv, design.vec, design.fields,
                                                 design.huge, design.shape)
    widths = design.widths

    def connect(engine: str) -> list[tuple[str, str]]:
        out = []
        for f in fields:
            if engine not in FIELDS[f["name"]][2]:
                continue
            r, pad = f"r_{f['name']}", f["port"] - f["width"]
            fill = f"r_{f['name']}[{f['width'] - 1}]" if f["signed"] else "1'b0"
            out.append((f["name"], f"{{{{{pad}{{{fill}}}}}, {r}}}" if pad else r))
        return out

    desc_w = design.desc_w
    xin, yout = vecs
    in_fmt = qm.input_format
    mw = lay.mw
    in_w = in_fmt.bits
    in_t = lay.tensors[lay._root(qm.input)]
    fill = f"in_data[{in_w - 1}]" if in_fmt.signed else "1'b0"
    in_word = "in_data" if mw == in_w else f"{{{{{mw - in_w}{{{fill}}}}}, in_data}}"
    out_w, out_signed = output_stream(qm)
    nsteps = len(lay.steps)
    outs = [dict(k=k, bank=lay.tensors[lay._root(t)].bank, base=lay.tensors[lay._root(t)].base + lay.view[t],
                 n=int(np.prod(qm.shapes[t])), stage=nsteps + 1 + k, about=names.comment(t))
            for k, t in enumerate(qm.outputs)]
    traces = []
    for s_idx, s in enumerate(lay.steps):
        last_of_call = s_idx + 1 == nsteps or lay.steps[s_idx + 1].call is not s.call
        if last_of_call:
            t = lay.tensors[s.write]
            traces.append(dict(node=s.call.index, step=s_idx + 1, mem=f"dut.bank{t.bank}.{BANK_KIND[huge[t.bank]]}.mem",
                               index=f"{t.base} + j", size=t.size, signed=True, about=names.comment(s.call.name)))
    n_in, n_out = int(np.prod(qm.input_shape)), sum(o["n"] for o in outs)
    stw = clog2(nsteps + 2 + len(outs))
    nf = len(fields)
    compute = sum(step_cycles(lay, r, nf, weights) for r in rows)
    block = {name: int(fpga.in_block_ram(w, d)) for name, w, d, _ in shape["memories"]}
    ecp5 = dev if dev.family == "ecp5" else fpga.DEVICES[fpga.ECP5_DEFAULT]
    total = n_in + compute + UNLOAD_CYCLES * n_out
    args = dict(build_products=BUILD_PRODUCTS, steps=lay.steps, timeout_cycles=4 * total * len(xin) + 1000,
                traces=traces, lanes=lanes, outs=outs, in_w=in_w, out_w=out_w, in_n=n_in, out_n=n_out, stw=stw,
                rom_file=WEIGHTS_FILE, word_bits=rom.word_bits, rom_words=len(rom.words), n_vectors=len(xin),
                out_signed=out_signed, kernel_files=KERNEL_FILES, header_files=(), fields=fields, nf=nf,
                dcw=clog2(nf + 1), desc_w=desc_w, desc_depth=max(1, nsteps * nf), daw=clog2(nsteps * nf + 1),
                banks=[dict(k=b, depth=d, huge=int(huge[b])) for b, d in enumerate(lay.depth)], aw=widths["AW"], bw=widths["BW"],
                mw=mw, has_conv=bool(lay.convs), has_vec=any(s.kind == VEC for s in lay.steps),
                conv=conv, vec=vec, conv_fields=connect("conv"), vec_fields=connect("vec"), block=block,
                n_params=len(lay.params) + lanes, n_divs=max(1, len(lay.divs)), n_luts=max(1, len(lay.luts)),
                in_bank=in_t.bank, in_base=in_t.base, in_word=in_word, ice40_flags="-dsp -spram",
                flash=dict(base=FLASH_BASE) if weights == "flash" else None,
                sim_files="".join(" " + f for f in SIM_FILES) if weights == "flash" else "",
                part=dict(key=dev.key, family=dev.family, ecp5_args=" ".join(ecp5.nextpnr[1:])),
                source=names.comment(qm.meta.get("source", "")))
    files = (("wqrc_seq_top.v.j2", "wqrc_top.v"), ("tb.v.j2", "tb.v"), ("Makefile.j2", "Makefile"),
             ("synth_ice40.ys.j2", "synth_ice40.ys"), ("synth_xilinx.ys.j2", "synth_xilinx.ys"),
             ("synth_ecp5.ys.j2", "synth_ecp5.ys"))
    render_files(environment("rtl"), files, folder, args)
    copy_kernels("rtl", KERNEL_FILES + (SIM_FILES if weights == "flash" else ()), folder)
    write_lines(folder, WEIGHTS_FILE, hex_words(rom.words, rom.word_bits))
    write_lines(folder, "desc.mem", [f"// step {i + 1}: {s.about}\n" + "\n".join(hex_words([r[f['name']] for f in fields],
                                                                                         desc_w))
                                for i, (s, r) in enumerate(zip(lay.steps, rows))] or ["0"])
    qw, acc_mask = conv["QW"], (1 << lay.acc_w) - 1
    write_lines(folder, "params.mem", hex_words([(p << lay.acc_w) | (b & acc_mask) for p, b in lay.params] + [0] * lanes,
                                           lay.acc_w + qw))
    rw = vec["RW"]
    write_lines(folder, "divisors.mem", hex_words([(shift_position(s, lay.pw, lay.tw) << rw) | r for r, s in lay.divs]
                                             or [0], rw + vec["QW"]))
    write_lines(folder, "luts.mem", hex_words(lay.luts or [0], mw))
    write_lines(folder, "vectors_in.mem", hex_words(xin.reshape(-1), in_w))
    write_lines(folder, "vectors_out.mem", hex_words(unloaded(qm, xin, yout).reshape(-1), out_w))
    np.save(f"{folder}/inputs.npy", xin.astype(np.int64))
    pins = write_package(folder, args, qm.meta.get("source", ""))
    macs = sum(c.geometry.macs for c in lay.convs)
    bank_bits = [d * mw for d in lay.depth]
    return dict(form="seq", weights=weights, lanes=lanes, **({"board_pins": pins} if pins else {}), macs=macs, shape=shape, fpga=part, estimate=estimate, steps=nsteps, compute_cycles=compute, cycles_per_inference=total,
                cycles_over_ideal=round(compute / max(1, -(-macs // lanes)), 3),
                multipliers=lanes if conv["HAS_DFP"] else 0, banks=lay.depth, ram_bits=sum(bank_bits),
                rom_bits=len(rom.words) * rom.word_bits, descriptor_fields=nf,
                layers=[dict(name=s.call.name, scheme=s.call.scheme, bits=s.call.bits, acc_bits=s.call.acc_bits,
                             lanes=lanes, channels_x_columns=[r["nl"], r["ncol"]], macs=s.call.geometry.macs,
                             cycles=step_cycles(lay, r, nf, weights))
                        for s, r in zip(lay.steps, rows) if r["kind"] == CONV])


class _Design:
    """A layout and what follows from it: descriptors, engine parameters, field widths, where the
    banks go on the ``dev`` and the shape its resources are estimated from."""

    def __init__(self, qm: QModel, rom: Rom, lanes: int, weights: str, dev, grid: bool):
        self.lay = lay = SeqLayout(qm, rom, lanes, grid=grid)
        self.rows = rows = lay.descriptors()
        self.conv, self.vec, self.widths = _engine_params(lay, rows)
        widths = self.widths
        self.grid_used = any(r["kind"] == CONV and r["cols"] and r["nl"] > 1 for r in rows)
        self.fields = []
        for name, (signed, port, _) in FIELDS.items():
            limit = port if isinstance(port, int) else widths[port]
            need = max(signed_bits(r[name]) if signed else max(r[name].bit_length(), 1) for r in rows) if rows else 1
            if need > limit:
                raise WqrcError(f"--rtl-form seq: descriptor field '{name}' needs {need} bits, more than its {limit}")
            self.fields.append(dict(name=name, signed=signed, width=need, port=limit))
        self.desc_w = max(f["width"] for f in self.fields)
        # the UP5K's SPRAMs (16-bit words) hold the large banks; wider words stay in block RAM
        self.huge = [d >= SPRAM_MIN_WORDS and dev.spram > 0 and lay.mw <= fpga.SPRAM_WIDTH for d in lay.depth]
        self.shape = design_shape(lay, self.conv, self.vec, self.fields, weights, self.huge, self.desc_w, len(rows))


def design_shape(lay: SeqLayout, conv: dict, vec: dict, fields: list, weights: str, huge: list, desc_w: int,
                 nsteps: int) -> dict:
    """What wqrc/backend/fpga.py estimates resources from: every memory's shape, the lanes, the
    widths that size the logic."""
    has_conv, has_vec = bool(lay.convs), any(s.kind == VEC for s in lay.steps)
    # (name, width, depth, kind): kind "spram" (a bank in SPRAM), "ram" (written: always block RAM),
    # "table" (constant: block RAM or logic by fpga.in_block_ram, as wqrc_table.v is told)
    memories = [(f"bank{b}", lay.mw, d, "spram" if huge[b] else "ram") for b, d in enumerate(lay.depth)]
    memories.append(("descriptors", desc_w, max(1, nsteps * len(fields)), "table"))
    if has_conv:
        # two halves (the step computing, the next one filling), each a power of two deep
        half = 1 << clog2(conv["TMAX"])
        memories += [(f"lane{k}", conv["BMAX"], 2 * half, "ram") for k in range(lay.lanes)]
        memories.append(("parameters", conv["ACC_W"] + conv["QW"], len(lay.params) + lay.lanes, "table"))
        if weights == "rom":
            memories.append(("weights", lay.rom.word_bits, len(lay.rom.words) + 2, "ram"))
    if has_vec:
        memories += [("divisors", vec["RW"] + vec["QW"], max(1, len(lay.divs)), "table"),
                     ("luts", lay.mw, max(1, len(lay.luts)), "table")]
    return dict(lanes=lay.lanes if has_conv else 0, memories=memories, acc_w=lay.acc_w, mw=lay.mw, aw=conv["AW"],
                has_vec=int(has_vec),
                descriptor_bits=sum(f["width"] for f in fields), has_po2=conv["HAS_PO2"], has_dfp=conv["HAS_DFP"],
                # the pooling divisor's multiplier, in 16 x 16 blocks, where some divisor is no power of two
                vec_dsp=-(-max(vec["SUMW"], vec["RW"] + 1) // 16) if has_vec and vec["RW"] > 1 else 0,
                bmax=conv["BMAX"], flash=weights == "flash",
                line_bits=_line_bits(conv) if has_conv else 0)


def _line_bits(conv: dict) -> int:
    """The column lanes' shift-line registers: a tag line as deep as lane 0's code line, 3 bits an
    entry, and every lane's code line (hw/rtl/wqrc_seq_conv.v)."""
    depths = line_depths(conv["P"], conv["SMAX"], conv["NLS"])
    return depths[0] * 3 + sum(depths) * conv["BMAX"] if depths else 0


def step_cycles(lay: SeqLayout, row: dict, nf: int, weights: str = "rom") -> int:
    """Cycles of one step from its stage's start to the next one's: the descriptor load (nf
    fields, one a cycle, then a cycle to start the engine), then the engine's own, exact by its
    loop nest and pipeline (the test bench measures them; tests/test_rtl_seq.py compares)."""
    if row["kind"] != CONV:
        return nf + 1 + _vec_cycles(row)
    if weights == "flash":
        return nf + 1 + _conv_cycles_streamed(row, _SpiSource(lay.rom.word_bits), lay.rom.word_bits)
    return nf + 1 + _conv_cycles(row)


def _vec_cycles(r: dict) -> int:
    issues = ((r["c1"] + 1) * (r["oh1"] + 1) * (r["ow1"] + 1) * (r["kh1"] + 1) * (r["kw1"] + 1) if r["pool"]
              else r["n1"] + 1)
    return issues + VEC_PIPELINE


def _conv_cycles(r: dict) -> int:
    """Step 0's fill (nl * T codes, a code a cycle; the first waits READER_START cycles for its
    first word, then a cycle to see it done); then per step j its pixels (_run_cycles) and the
    pipeline settling, during which step j + 1's codes fill the
    other half, and a cycle to start step j + 1 (more where its fill outlasts step j); after the
    last step, the drain of its last pixel."""
    nl, t, nj = r["nl"], r["t1"] + 1, r["nj1"] + 1
    run = _run_cycles(r)
    fills = READER_START + nl * t + 1 + (nj - 1) * (1 + max(0, nl * t - run))
    return fills + nj * run + _last_drain(r) + CONV_FINISH


def _run_cycles(r: dict) -> int:
    """A step's pixels (column lanes: groups of outputs), each its reads and then the idle cycles
    the drain needs, and the settling."""
    npix, reads = r["npix1"] + 1, (r["cg1"] + 1) * (r["kh1"] + 1) * (r["kw1"] + 1)
    return npix * reads + (npix - 1) * r["gap"] + CONV_SETTLE


def _last_drain(r: dict) -> int:
    """The lanes drained after the last step's last pixel, in the drain's order (k * NL + c), up
    to the last that holds an output: of its group's columns (1 without column lanes) all but the
    last take NL slots, the last as many as the step has channels."""
    nl, nj = r["nl"], r["nj1"] + 1
    columns = r["owc"] - r["ow1"] * r["ncol"]
    return (columns - 1) * nl + min(nl, r["oc"] - (nj - 1) * nl)


# cycles outside the engines' loops (hw/rtl/wqrc_seq_*.v): the code reader's first word, the
# conv pipeline's settling after a step's last tap, its finish after the drain, the vector
# pipeline (address, read, requantize, write, done)
READER_START, CONV_SETTLE, CONV_FINISH, VEC_PIPELINE = 2, 6, 6, 10


class _RomSource:
    """wqrc_wsrc_rom.v, cycle by cycle: a request is answered the next cycle."""

    def __init__(self):
        self.valid = False

    def quiet(self) -> bool:
        return not self.valid

    def seek(self):
        self.valid = False

    def step(self, req: bool) -> None:
        self.valid = req


class _SpiSource:
    """wqrc_wsrc_spi.v, cycle by cycle (its registers as they change at each clock edge)."""

    def __init__(self, word_bits: int):
        self.w = word_bits
        self.valid = False
        self.st, self.n, self.sck, self.got, self.hold_v, self.want = "idle", 0, False, 0, False, False

    def seek(self):
        self.valid = False
        self.st, self.n, self.sck, self.got, self.hold_v, self.want = "desel", 2, False, 0, False, False

    def quiet(self) -> bool:
        """Nothing changes until a request: the hold and the shift register are full."""
        return self.st == "read" and not self.sck and self.hold_v and self.got == self.w and not self.want

    def step(self, req: bool) -> None:
        done = self.got == self.w
        serve = (self.want or req) and self.hold_v
        valid, hold_v, want, got = serve, self.hold_v and not serve, (self.want or req) and not serve, self.got
        if done and (not self.hold_v or serve):
            hold_v, got = True, 0
        if self.st == "desel":
            if self.n == 0:
                self.st, self.n = "cmd", 32
            else:
                self.n -= 1
        elif self.st == "cmd":
            if not self.sck:
                self.sck = True
            else:
                self.sck, self.n = False, self.n - 1
                if self.n == 0:
                    self.st = "read"
        elif self.st == "read":
            if self.sck:
                self.sck = False
            elif not done:
                self.sck, got = True, self.got + 1
        self.valid, self.hold_v, self.want, self.got = valid, hold_v, want, got


def _conv_cycles_streamed(r: dict, source, word_bits: int) -> int:
    """The conv engine's cycles with its weights from ``source`` (hw/rtl/wqrc_seq_conv.v's code
    reader and fill, clock by clock while codes move, as the source streams into its buffers; a
    stretch in which nothing moves is counted at once)."""
    nl, t, b, nj = r["nl"], r["t1"] + 1, r["b"], r["nj1"] + 1
    run = _run_cycles(r)
    codes_per_step = nl * t
    reader = dict(off=word_bits, nxt_v=False, pend=False)
    source.seek()

    def tick(take_wanted: bool) -> bool:
        """One clock of the reader and the source; whether a code was taken."""
        off, nxt_v, pend = reader["off"], reader["nxt_v"], reader["pend"]
        take = take_wanted and (off + b <= word_bits or nxt_v)
        off_t = off + b if take else off
        move = off_t >= word_bits and nxt_v
        req = not pend and (not nxt_v or move)
        w_valid = source.valid
        source.step(req)
        reader.update(pend=True if req else (False if w_valid else pend), off=off_t - word_bits if move else off_t,
                      nxt_v=True if w_valid else (False if move else nxt_v))
        return take

    def still() -> bool:
        return reader["nxt_v"] and not reader["pend"] and source.quiet() and reader["off"] < word_bits

    cycles, codes, filling = 0, 0, True
    for j in range(nj):
        while True:   # FILL: step j's half, up to the cycle in which it is seen ready
            cycles += 1
            if codes == codes_per_step:
                tick(False)
                break
            codes += tick(True)
        codes, filling = 0, j + 1 < nj
        for k in range(run):   # the pixels and settling: step j + 1's codes go into the other half
            if filling and codes < codes_per_step:
                codes += tick(True)
            elif still():
                break
            else:
                tick(False)
        cycles += run
    return cycles + _last_drain(r) + CONV_FINISH
