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
from wqrc.backend.common import (check_add_fits, conv_geometry, copy_kernels, environment, extra_outputs, lane_roms, mul_geometry,
                                 pool_geometry,
                                 read_ports, render_files, test_vectors)
from wqrc.errors import WqrcError
from wqrc.ops import KERNEL_FAMILIES, op_def
from wqrc.pack.rom import Rom
from wqrc.contract.formats import output_bounds
from wqrc.contract.formats import TensorFormat
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
    """Configs, buffers and top-level steps of the HLS target, computed from the QModel and ROM only."""

    def __init__(self, qm: QModel, rom: Rom, parallelism):
        self.qm, self.rom = qm, rom
        used: set[str] = set()
        self.ids = {n.name: names.identifier(n.name, used) for n in qm.nodes}
        weighted = [n.name for n, _ in qm.weighted()]
        self.par = dict(zip(weighted, parse_parallelism(parallelism, weighted)))
        self.segment = {s.name: s for s in rom.segments}
        self.alias = {qm.input: "input_buf"}
        self.buffers, self.configs, self.steps, self.layer_report = [], [], [], []
        self.luts: list[dict] = []   # lookup-table activations: their tables (wqrc_top.cpp)
        for node in qm.nodes:
            emit = EMIT.get(op_def(node).kernel)
            if emit is None:
                raise WqrcError(f"node '{node.name}': the HLS target has no op '{node.op}'")
            emit(self, node)

    def _facts(self, node):
        """What every step needs: attributes, C++ name, comment, input and output formats."""
        qm = self.qm
        return (node.attrs, self.ids[node.name], names.comment(f"{node.name}: {node.op}"),
                [qm.formats[t] for t in node.inputs], qm.formats[node.output])

    def _output(self, node, cid: str, about: str) -> int:
        """Declare the node's output array; returns its size."""
        size = int(np.prod(self.qm.shapes[node.output]))
        self.alias[node.output] = f"{cid}_out"
        self.buffers.append(dict(name=f"{cid}_out", type=hls_type(self.qm.formats[node.output]), size=size,
                                 about=about))
        return size

    def _emit_mul(self, node) -> None:
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        self._output(node, cid, about)
        c, hw, b_hw = mul_geometry(self.qm, node)
        x, y = (self.alias[t] for t in node.inputs)
        self.steps.append(dict(about=about, code=(
            f"wqrc::mul<{hls_type(in_fmts[0])}, {hls_type(in_fmts[1])}, {hls_type(out_fmt)}, {c}, {hw}, {b_hw}>("
            f"{x}, {y}, {cid}_out, {a['shift']}, {out_fmt.qmin}LL, {out_fmt.qmax}LL);")))

    def _emit_pad(self, node) -> None:
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        self._output(node, cid, about)
        c, h, w = self.qm.shapes[node.inputs[0]]
        pt, pl, pb, pr = a["pads"]
        t = hls_type(in_fmts[0])
        self.steps.append(dict(about=about, code=(
            f"wqrc::pad<{t}, {c}, {h}, {w}, {pt}, {pl}, {pb}, {pr}>({self.alias[node.inputs[0]]}, {cid}_out, "
            f"({t})({a['code']}LL));")))

    def _emit_upsample(self, node) -> None:
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        self._output(node, cid, about)
        c, h, w = self.qm.shapes[node.inputs[0]]
        sh, sw = a["scales"]
        zeros = "true" if node.op == "zero_insert" else "false"
        self.steps.append(dict(about=about, code=(
            f"wqrc::upsample<{hls_type(in_fmts[0])}, {c}, {h}, {w}, {sh}, {sw}, {zeros}>("
            f"{self.alias[node.inputs[0]]}, {cid}_out);")))

    def _emit_lut(self, node) -> None:
        """A lookup-table activation: its table a ROM, one read per element."""
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        size = self._output(node, cid, about)
        table = [str(int(v)) for v in a["table"]]
        self.luts.append(dict(id=cid, about=about, qmin=in_fmts[0].qmin, entries=table))
        self.steps.append(dict(about=about, code=(
            f"wqrc::lut<{hls_type(in_fmts[0])}, {hls_type(out_fmt)}, {size}, {len(table)}>("
            f"{self.alias[node.inputs[0]]}, {cid}_lut, {in_fmts[0].qmin}, {cid}_out);")))

    def _emit_alias(self, node) -> None:
        self.alias[node.output] = self.alias[node.inputs[0]]
        self.steps.append(dict(about=self._facts(node)[2], code="// flatten: same array"))

    def _emit_conv(self, node) -> None:
        qm, rom = self.qm, self.rom
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        self._output(node, cid, about)
        layer = qm.layers[node.name]
        bits = layer.acc_bits
        if bits > 64:
            raise WqrcError(f"layer '{layer.name}': its accumulator needs {bits} bits ({layer.scheme} "
                            f"b={layer.bits}); the HLS target supports up to 64: use fewer bits")
        geo = {k.upper(): v for k, v in conv_geometry(qm, node, layer).items() if k not in ("pad_b", "pad_r")}
        o = geo["OUT_C"]
        # lanes share the activation they read, so a grouped conv (lanes in different groups) gets one
        p = 1 if geo["GROUP"] > 1 else _divisor_at_most(o, self.par[node.name])
        seg = self.segment[node.name]
        lo, hi = output_bounds(out_fmt, a.get("qclip"))
        lanes = lane_roms(rom, seg, layer.bits, geo["IN_C"] // geo["GROUP"] * geo["K_H"] * geo["K_W"], o, p)
        wpc, ii = read_ports(layer.bits, rom.word_bits)
        self.configs.append(dict(
            kind="conv", id=cid, about=about, geo=geo, bits=layer.bits, po2=layer.scheme == "po2",
            shift=int(np.min(layer.requant_shift)),
            shifts=[int(s) for s in layer.requant_shift] if layer.per_channel else None,
            even=layer.rounding == "half_even",
            lo=lo, hi=hi, acc_bits=bits, parallel=p, in_t=hls_type(in_fmts[0]), out_t=hls_type(out_fmt),
            word_bits=rom.word_bits, lane_words=lanes["words"], words_per_code=wpc, ii=ii,
            rom_type="rom_1p" if wpc == 1 else "rom_2p",
            rom=[[f"0x{int(v):x}ULL" for v in lane] for lane in lanes["roms"]], base=lanes["base"],
            rom_about=names.comment(seg.describe()), bias=[f"{int(b)}LL" for b in layer.bias],
            summary=names.comment(f"{layer.scheme} b={layer.bits}, exponent {layer.exponent}, "
                                  f"{in_fmts[0].describe()} -> {out_fmt.describe()}, "
                                  f"acc bound {layer.acc_bound}: {bits}-bit accumulator")))
        self.steps.append(dict(about=about, code=f"wqrc::conv<{cid}_cfg>({self.alias[node.inputs[0]]}, {cid}_out, "
                                                 f"{cid}_rom, {cid}_base, {cid}_bias);"))
        fan = geo["IN_C"] // geo["GROUP"] * geo["K_H"] * geo["K_W"]
        self.layer_report.append(dict(
            name=layer.name, scheme=layer.scheme, bits=layer.bits, rom_bits=p * lanes["words"] * rom.word_bits,
            w_mem_bits=layer.w_mem, multipliers=0 if layer.scheme == "po2" else p,
            shift_adders=p if layer.scheme == "po2" else 0, acc_bits=bits, acc_bound=str(layer.acc_bound),
            parallelism=p, ii=ii, rom_ports=f"{p} x {'rom_1p' if wpc == 1 else 'rom_2p'}",
            cycles_estimate=o // p * geo["OUT_H"] * geo["OUT_W"] * (fan * ii + p)))

    def _emit_pool(self, node) -> None:
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        self._output(node, cid, about)
        geo, div_r, div_s = pool_geometry(self.qm, node)
        self.configs.append(dict(kind="pool", id=cid, about=about, max=node.op == "maxpool",
                                 global_=node.op == "global_avgpool", geo={k.upper(): v for k, v in geo.items()},
                                 div_r=div_r, div_s=div_s,
                                 lo=out_fmt.qmin, hi=out_fmt.qmax, in_t=hls_type(in_fmts[0]), out_t=hls_type(out_fmt)))
        self.steps.append(dict(about=about, code=f"wqrc::pool<{cid}_cfg>({self.alias[node.inputs[0]]}, {cid}_out);"))

    def _emit_add(self, node) -> None:
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        size = self._output(node, cid, about)
        check_add_fits(self.qm, node)
        lo, hi = output_bounds(out_fmt, a.get("qclip"))
        sa, sb = a["shifts"]
        x, y = (self.alias[t] for t in node.inputs)
        self.steps.append(dict(about=about, code=(
            f"wqrc::add<{hls_type(in_fmts[0])}, {hls_type(in_fmts[1])}, {hls_type(out_fmt)}, {size}>("
            f"{x}, {sa}, {y}, {sb}, {cid}_out, {lo}LL, {hi}LL);")))

    def _emit_copy(self, node) -> None:
        """Concat, Relu and Clip: each input shifted to the output format, saturated, clamped."""
        a, cid, about, in_fmts, out_fmt = self._facts(node)
        self._output(node, cid, about)
        lo, hi = output_bounds(out_fmt, a.get("qclip"))
        offset = 0
        shifts = a["shifts"] if node.op == "concat" else [0]
        for t, f, sh in zip(node.inputs, in_fmts, shifts):
            n = int(np.prod(self.qm.shapes[t]))
            dst = f"{cid}_out + {offset}" if offset else f"{cid}_out"
            self.steps.append(dict(about=about, code=(f"wqrc::copy<{hls_type(f)}, {hls_type(out_fmt)}, {n}>("
                                                      f"{self.alias[t]}, {sh}, {dst}, {lo}LL, {hi}LL);")))
            offset += n


# One table per concern: the HLS step of each kernel family (OpDef.kernel, listed in
# wqrc.ops.KERNEL_FAMILIES), the method _emit_<family>; tests/test_ops.py checks all are here.
EMIT = {family: getattr(_Context, f"_emit_{family}") for family in KERNEL_FAMILIES}


def generate_hls(qm: QModel, rom: Rom, folder: str, vectors: int = 4, data: Optional[np.ndarray] = None,
                 parallelism="1", io: str = "array", vecs: Optional[tuple] = None) -> dict:
    ctx = _Context(qm, rom, parallelism)
    configs, buffers, steps, layer_report, alias = ctx.configs, ctx.buffers, ctx.steps, ctx.layer_report, ctx.alias
    xin, yout = vecs if vecs is not None else test_vectors(qm, vectors, data)
    args = dict(build_products=BUILD_PRODUCTS, configs=configs, buffers=buffers, steps=steps, io=io, luts=ctx.luts,
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
