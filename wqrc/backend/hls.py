"""HLS C++ target (Vitis HLS / Catapult style): hand-written kernels (hw/hls), generated glue.

Generates ``wqrc_top.h`` (types, per-layer config structs, ROM and bias arrays),
``wqrc_top.cpp`` (the top function ``wqrc_top``), ``tb.cpp`` (simulator test
vectors), ``run_hls.tcl`` (csim, csynth, cosim) and a ``Makefile`` whose
``csim`` target builds the C simulation with g++.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from wqrc.backend import names
from wqrc.backend.common import copy_kernels, environment, extra_outputs, lane_roms, read_ports, render_files, test_vectors
from wqrc.backend.planner import plan_arena
from wqrc.contract.formats import TensorFormat
from wqrc.errors import WqrcError
from wqrc.lower import (AddCall, AliasCall, Call, ConvCall, CopyCall, LutCall, MulCall, PadCall, PoolCall, UpsampleCall,
                        lower)
from wqrc.pack.rom import Rom
from wqrc.quant.qmodel import QModel

# What the written Makefile and run_hls.tcl build (`make clean`); a later --force may remove these.
BUILD_PRODUCTS = ("csim_tb", "csim_ap_tb", "wqrc_prj", "vitis_hls.log")
KERNEL_FILES = ("wqrc_hls.h", "wqrc_stream.h")


def hls_type(fmt: TensorFormat) -> str:
    return f"wqrc_{'s' if fmt.signed else 'u'}int<{fmt.bits}>::type"


def parse_parallelism(text, layers: list[str]) -> list[int]:
    vals = [text] if isinstance(text, int) else str(text).split(",")
    try:
        vals = [int(v) for v in vals]
    except ValueError:
        raise WqrcError(f"--parallelism: '{text}' is not a number or a comma list of numbers") from None
    if len(vals) == 1:
        vals = vals * len(layers)
    if len(vals) != len(layers):
        raise WqrcError(f"--parallelism lists {len(vals)} values but the model has {len(layers)} weighted layers: "
                        + ", ".join(layers))
    if any(v < 1 for v in vals):
        raise WqrcError("--parallelism: values must be at least 1")
    return vals


# What the HLS cycle estimate assumes, stated in every report.
CYCLES_ASSUME = ("per output pixel of each group of PARALLEL channels: the tap loop at its II (stated per layer, "
                 "held by construction: one ROM per lane, one activation read per iteration), plus PARALLEL cycles "
                 "to store the outputs into a one-port buffer; pipeline fill, pools, adds and copies not counted")


def _divisor_at_most(n: int, p: int) -> int:
    return max(d for d in range(1, min(n, p) + 1) if n % d == 0)


class _Context:
    """Configs, buffers and top-level steps of the HLS target, rendered from the model's calls (wqrc.lower)."""

    def __init__(self, qm: QModel, rom: Rom, parallelism):
        self.qm, self.rom = qm, rom
        used: set[str] = set()
        self.ids = {n.name: names.identifier(n.name, used) for n in qm.nodes}
        weighted = [n.name for n, _ in qm.weighted()]
        self.par = dict(zip(weighted, parse_parallelism(parallelism, weighted)))
        self.segment = {s.name: s for s in rom.segments}
        self.alias = {qm.input: "input_buf"}
        # the tensors that are a part of another's array (a run of consecutive channels): read there,
        # copied nowhere (wqrc.backend.planner, views)
        arena = plan_arena(qm, views=True)
        self.root, self.view = arena.alias, arena.view
        self.buffers, self.configs, self.steps, self.layer_report = [], [], [], []
        self.convs: list[dict] = []   # the conv/dense configs: their ROMs and biases (wqrc_top.cpp)
        self.luts: list[dict] = []   # lookup-table activations: their tables (wqrc_top.cpp)
        for call in lower(qm):
            EMIT[type(call)](self, call)

    def _facts(self, call: Call) -> tuple[str, str]:
        """The step's C++ name and its comment."""
        return self.ids[call.name], names.comment(f"{call.name}: {call.op}")

    def _output(self, call: Call, cid: str, about: str) -> int:
        """Declare the call's output array; returns its size."""
        size = int(np.prod(self.qm.shapes[call.output]))
        self.alias[call.output] = f"{cid}_out"
        self.buffers.append(dict(name=f"{cid}_out", type=hls_type(call.out_format), size=size, about=about))
        return size

    def _call(self, about: str, fn: str, params, args) -> None:
        """One step of wqrc_top: ``wqrc::fn<params...>(args...);``."""
        self.steps.append(dict(about=about, code=f"wqrc::{fn}<{', '.join(str(p) for p in params)}>("
                                                 f"{', '.join(str(a) for a in args)});"))

    def _emit_mul(self, call: MulCall) -> None:
        cid, about = self._facts(call)
        self._output(call, cid, about)
        types = [hls_type(f) for f in (*call.in_formats, call.out_format)]
        self._call(about, "mul", [*types, call.channels, call.positions, call.gate_positions],
                   [*(self.alias[t] for t in call.inputs), f"{cid}_out", call.shift, f"{call.lo}LL", f"{call.hi}LL"])

    def _emit_pad(self, call: PadCall) -> None:
        cid, about = self._facts(call)
        self._output(call, cid, about)
        t = hls_type(call.in_formats[0])
        self._call(about, "pad", [t, call.c, call.h, call.w, *call.pads],
                   [self.alias[call.inputs[0]], f"{cid}_out", f"({t})({call.code}LL)"])

    def _emit_upsample(self, call: UpsampleCall) -> None:
        cid, about = self._facts(call)
        self._output(call, cid, about)
        self._call(about, "upsample", [hls_type(call.in_formats[0]), call.c, call.h, call.w, call.scale_h,
                                       call.scale_w, "true" if call.zeros else "false"],
                   [self.alias[call.inputs[0]], f"{cid}_out"])

    def _emit_lut(self, call: LutCall) -> None:
        """A lookup-table activation: its table a ROM, one read per element."""
        cid, about = self._facts(call)
        size = self._output(call, cid, about)
        table = [str(v) for v in call.table]
        self.luts.append(dict(id=cid, about=about, qmin=call.qmin, entries=table))
        self.steps.append(dict(about=about, code=(
            f"wqrc::lut<{hls_type(call.in_formats[0])}, {hls_type(call.out_format)}, {size}, {len(table)}>("
            f"{self.alias[call.inputs[0]]}, {cid}_lut, {call.qmin}, {cid}_out);")))

    def _emit_alias(self, call: AliasCall) -> None:
        self.alias[call.output] = self.alias[call.inputs[0]]
        self.steps.append(dict(about=self._facts(call)[1], code="// flatten: same array"))

    def _emit_conv(self, call: ConvCall) -> None:
        rom = self.rom
        cid, about = self._facts(call)
        self._output(call, cid, about)
        bits = call.acc_bits
        if bits > 64:
            raise WqrcError(f"layer '{call.name}': its accumulator needs {bits} bits ({call.scheme} "
                            f"b={call.bits}); the HLS target supports up to 64: use fewer bits")
        geo = {k.upper(): v for k, v in call.geometry.as_dict().items() if k not in ("pad_b", "pad_r")}
        o = geo["OUT_C"]
        # lanes share the activation they read, so a grouped conv (lanes in different groups) gets one
        p = 1 if geo["GROUP"] > 1 else _divisor_at_most(o, self.par[call.name])
        seg = self.segment[call.name]
        fan = call.geometry.fan
        lanes = lane_roms(rom, seg, call.bits, fan, o, p)
        wpc, ii = read_ports(call.bits, rom.word_bits)
        in_fmt, out_fmt = call.in_formats[0], call.out_format
        self.convs.append(dict(
            body="cfg_conv.h.j2", id=cid, about=about, geo=geo, bits=call.bits, po2=not call.multiplies,
            shift=call.shift, shifts=list(call.shifts) if call.per_channel else None, even=call.half_even,
            lo=call.lo, hi=call.hi, acc_bits=bits, parallel=p, in_t=hls_type(in_fmt), out_t=hls_type(out_fmt),
            word_bits=rom.word_bits, lane_words=lanes["words"], words_per_code=wpc, ii=ii,
            rom_type="rom_1p" if wpc == 1 else "rom_2p",
            rom=[[f"0x{int(v):x}ULL" for v in lane] for lane in lanes["roms"]], base=lanes["base"],
            rom_about=names.comment(seg.describe()), bias=[f"{b}LL" for b in call.bias],
            summary=names.comment(f"{call.scheme} b={call.bits}, exponent {call.exponent}, "
                                  f"{in_fmt.describe()} -> {out_fmt.describe()}, "
                                  f"acc bound {call.acc_bound}: {bits}-bit accumulator")))
        self.configs.append(self.convs[-1])
        self.steps.append(dict(about=about, code=f"wqrc::conv<{cid}_cfg>({self.alias[call.inputs[0]]}, {cid}_out, "
                                                 f"{cid}_rom, {cid}_base, {cid}_bias);"))
        self.layer_report.append(dict(
            name=call.name, scheme=call.scheme, bits=call.bits, rom_bits=p * lanes["words"] * rom.word_bits,
            w_mem_bits=call.w_mem, multipliers=p if call.multiplies else 0,
            shift_adders=0 if call.multiplies else p, acc_bits=bits, acc_bound=str(call.acc_bound),
            parallelism=p, ii=ii, rom_ports=f"{p} x {'rom_1p' if wpc == 1 else 'rom_2p'}",
            cycles_estimate=o // p * geo["OUT_H"] * geo["OUT_W"] * (fan * ii + p)))

    def _emit_pool(self, call: PoolCall) -> None:
        cid, about = self._facts(call)
        self._output(call, cid, about)
        self.configs.append(dict(body="cfg_pool.h.j2", id=cid, about=about, max=call.takes_max, global_=call.whole_map,
                                 geo={k.upper(): v for k, v in call.geometry.as_dict().items()},
                                 div_r=list(call.div_r), div_s=list(call.div_s), lo=call.lo, hi=call.hi,
                                 in_t=hls_type(call.in_formats[0]), out_t=hls_type(call.out_format)))
        self.steps.append(dict(about=about, code=f"wqrc::pool<{cid}_cfg>({self.alias[call.inputs[0]]}, {cid}_out);"))

    def _emit_add(self, call: AddCall) -> None:
        cid, about = self._facts(call)
        size = self._output(call, cid, about)
        (x, y), (sa, sb) = (self.alias[t] for t in call.inputs), call.shifts
        self._call(about, "add", [*(hls_type(f) for f in (*call.in_formats, call.out_format)), size],
                   [x, sa, y, sb, f"{cid}_out", f"{call.lo}LL", f"{call.hi}LL"])

    def _emit_copy(self, call: CopyCall) -> None:
        """Concat, Relu, Clip and channel selections: each input shifted to the output format,
        saturated, clamped; a selection of one run of channels is its input's array at an offset."""
        cid, about = self._facts(call)
        if self.root[call.output] != call.output:
            root, at = self.alias[self.root[call.output]], self.view[call.output]
            self.alias[call.output] = f"({root} + {at})" if at else root
            self.steps.append(dict(about=about, code=f"// {call.op}: {root} from element {at}, not copied"))
            return
        self._output(call, cid, about)
        for part in call.parts:
            dst = f"{cid}_out + {part.offset}" if part.offset else f"{cid}_out"
            src = self.alias[part.tensor]
            src = f"{src} + {part.src_offset}" if part.src_offset else src
            if part.count > 1:   # a strided series of blocks (a channel shuffle's group)
                src, dst = f"{src} + {part.src_step} * j", f"{dst} + {part.dst_step} * j"
            self._call(about, "copy", [hls_type(part.format), hls_type(call.out_format), part.size],
                       [src, part.shift, dst, f"{call.lo}LL", f"{call.hi}LL"])
            if part.count > 1:
                code = self.steps[-1]["code"]
                self.steps[-1]["code"] = f"for (int j = 0; j < {part.count}; ++j) {code}"


# One table per concern: the HLS step of each kind of call (wqrc.lower), the method _emit_<family>;
# tests/test_ops.py checks every call type is here.
EMIT = {ConvCall: _Context._emit_conv, PoolCall: _Context._emit_pool, AddCall: _Context._emit_add,
        CopyCall: _Context._emit_copy, MulCall: _Context._emit_mul, UpsampleCall: _Context._emit_upsample,
        PadCall: _Context._emit_pad, LutCall: _Context._emit_lut, AliasCall: _Context._emit_alias}

def generate_hls(qm: QModel, rom: Rom, folder: str, vectors: int = 4, data: Optional[np.ndarray] = None,
                 parallelism="1", io: str = "array", vecs: Optional[tuple] = None) -> dict:
    ctx = _Context(qm, rom, parallelism)
    configs, buffers, steps, layer_report, alias = ctx.configs, ctx.buffers, ctx.steps, ctx.layer_report, ctx.alias
    xin, yout = vecs if vecs is not None else test_vectors(qm, vectors, data)
    args = dict(build_products=BUILD_PRODUCTS, configs=configs, convs=ctx.convs, buffers=buffers, steps=steps, io=io, luts=ctx.luts,
                in_t=hls_type(qm.input_format), out_t=hls_type(qm.output_format),
                in_size=int(np.prod(qm.input_shape)), out_size=int(np.prod(qm.output_shape)),
                out_buf=alias[qm.output], in_fmt=qm.input_format, out_fmt=qm.output_format,
                vec_in=xin.reshape(len(xin), -1).tolist(), vec_out=yout.tolist(), n_vectors=len(xin),
                source=names.comment(qm.meta.get("source", "")), notes=[names.comment(n) for n in qm.notes],
                extras=[dict(o, type=hls_type(o["fmt"]), buf=alias[o["tensor"]]) for o in extra_outputs(qm, xin)])
    render_files(environment("hls"), (("wqrc_top.h.j2", "wqrc_top.h"), ("wqrc_top.cpp.j2", "wqrc_top.cpp"),
                                      ("tb.cpp.j2", "tb.cpp"), ("run_hls.tcl.j2", "run_hls.tcl"),
                                      ("Makefile.j2", "Makefile")), folder, args)
    copy_kernels("hls", KERNEL_FILES, folder)
    return dict(io=io, layers=layer_report, cycles_estimate_assumes=CYCLES_ASSUME,
                multipliers=sum(l["multipliers"] for l in layer_report),
                rom_bits=sum(l["rom_bits"] for l in layer_report))
