"""RTL target: a layer-sequential accelerator in Verilog-2005 (OUT/rtl/).

The hand-written engines in ``hw/rtl`` carry out the contract (docs/format.md
§3); this module only lays the model out for them: one engine instance per
layer step, each with its layer's constants as parameters (so shifts, clamps
and geometry are wiring), one activation RAM per tensor, each conv lane's ROM
the slice of the packer's words that holds its channels' codes (read by
``$readmemh``, decoded by the hardware), and a generated top that runs the steps
in graph order between a valid/ready input stream and an output stream.
``docs/targets.md`` has the port list, timing and memory map.

Generated: ``wqrc_top.v``, ``tb.v`` (feeds the simulator's test vectors,
compares every output element, writes per-layer traces that ``wqrc verify
--trace`` reads, measures cycles), ``bias_s<k>.mem``, ``rom_s<k>_l<p>.mem``, the vectors, the
synthesis scripts and a ``Makefile`` (sim, sim-iverilog, synth-ice40,
synth-xilinx).
"""
from __future__ import annotations

import numpy as np

from wqrc.backend import names
from wqrc.backend.common import copy_kernels, environment, lane_roms, read_ports, render_files, test_vectors
from wqrc.backend.rtl_package import write_package
from wqrc.backend.rtl_common import (BUILD_PRODUCTS, ROM_FILE, UNLOAD_CYCLES, clog2, hex_words, output_stream, unloaded,
                                     write_lines)
from wqrc.backend.planner import plan_arena
from wqrc.contract.arith import avgpool_divisor
from wqrc.contract.formats import TensorFormat
from wqrc.errors import WqrcError
from wqrc.lower import (AddCall, AliasCall, Call, ConvCall, CopyCall, LutCall, MulCall, PadCall, PoolCall, UpsampleCall,
                        lower)
from wqrc.pack.rom import Rom
from wqrc.quant.qmodel import QModel

KERNEL_FILES = ("wqrc_requant.v", "wqrc_pe_po2.v", "wqrc_pe_dfp.v", "wqrc_ram.v", "wqrc_rom.v",
                "wqrc_conv_engine.v", "wqrc_pool_engine.v", "wqrc_eltwise_engine.v", "wqrc_mul_engine.v",
                "wqrc_copy_stage.v", "wqrc_upsample_engine.v", "wqrc_pad_engine.v")
HEADER_FILES = ("wqrc_engine_ports.vh", "wqrc_engine_regs.vh", "wqrc_engine_busy.vh")   # `included by the engines, copied beside them


def vlit(v: int, bits: int = 64) -> str:
    """A signed Verilog literal of any value that fits ``bits`` bits."""
    return f"-{bits}'sd{-v}" if v < 0 else f"{bits}'sd{v}"


def parse_lanes(value) -> int:
    try:
        p = int(value)
    except (TypeError, ValueError):
        raise WqrcError(f"--lanes: '{value}' is not a whole number") from None
    if not 1 <= p <= 64:
        raise WqrcError(f"--lanes: {p} is outside 1..64")
    return p


class _Layout:
    """Buffers and steps of the RTL target, computed from the QModel and ROM only."""

    def __init__(self, qm: QModel, rom: Rom, lanes: int):
        self.qm, self.rom, self.lanes = qm, rom, lanes
        self.alias = plan_arena(qm).alias
        self.buffers: dict[str, dict] = {}
        self.steps: list[dict] = []
        self.traces: list[dict] = []
        self.layer_report: list[dict] = []
        self.segment = {s.name: s for s in rom.segments}
        self._buffer(qm.input)
        for call in lower(qm):
            EMIT[type(call)](self, call)
            if not isinstance(call, AliasCall):
                b = self._buffer(call.output)
                self.traces.append(dict(node=call.index, step=len(self.steps), mem=f"dut.{b['id']}.bank[0].mem", index="j",
                                        size=b["depth"], signed=b["signed"], about=names.comment(call.name)))

    def _buffer(self, tensor: str) -> dict:
        root = self.alias[tensor]
        if root not in self.buffers:
            fmt: TensorFormat = self.qm.formats[root]
            depth = int(np.prod(self.qm.shapes[root]))
            self.buffers[root] = dict(id=f"b{len(self.buffers)}", width=fmt.bits, signed=fmt.signed, depth=depth,
                                      aw=clog2(depth), readers=1, about=names.comment(f"{root}: {fmt.describe()}, "
                                                                                     f"{list(self.qm.shapes[root])}"))
        return self.buffers[root]

    def _step(self, call: Call, kind: str, params: dict, reads: list[str], ports: int = 1, **extra) -> dict:
        """One engine instance; ``ports``: the read ports it uses on each input RAM."""
        out = self._buffer(call.output)
        ins = [self._buffer(t) for t in reads]
        for b in ins:
            b["readers"] = max(b["readers"], ports)
        k = len(self.steps) + 1
        wires = [("in_addr", f"s{k}_raddr")]
        data = [ins[0]] if len(ins) == 1 else ins   # in_d, or in0_d and in1_d
        for j, b in enumerate(data):
            wires.append((f"in{j}_d" if len(data) > 1 else "in_d", f"{b['id']}_rdata[{ports * b['width'] - 1}:0]"))
        step = dict(k=k, kind=kind, module=f"wqrc_{kind}_engine", params=params, ins=ins, out=out, ports=ports,
                    wires=wires, nets=[], roms=[], about=names.comment(f"{call.name}: {call.op}"), **extra)
        self.steps.append(step)
        return step

    def _emit_alias(self, call: AliasCall) -> None:
        pass   # flatten: the same RAM

    def _emit_conv(self, call: ConvCall) -> None:
        rom = self.rom
        seg = self.segment[call.name]
        if call.bits > rom.word_bits:
            raise WqrcError(f"layer '{call.name}': its {call.bits}-bit codes are wider than the "
                            f"{rom.word_bits}-bit ROM words the RTL target reads; use --word-bits "
                            f"{next(w for w in (8, 16, 32, 64) if w >= call.bits)} or more")
        geo = call.geometry.as_dict()
        in_fmt, out_fmt = call.in_formats[0], call.out_format
        acc_w = call.acc_bits
        k = len(self.steps) + 1
        taps = call.geometry.fan
        top = max(call.shifts)
        lanes = lane_roms(rom, seg, call.bits, taps, geo["out_c"], self.lanes)
        params = dict(C=geo["in_c"], H=geo["in_h"], W=geo["in_w"], OC=geo["out_c"], OH=geo["out_h"],
                      OW=geo["out_w"], G=geo["group"], KH=geo["k_h"], KW=geo["k_w"], SH=geo["stride_h"],
                      SW=geo["stride_w"], DH=geo["dil_h"], DW=geo["dil_w"], PT=geo["pad_t"], PL=geo["pad_l"],
                      PO2=int(not call.multiplies), B=call.bits, A=in_fmt.bits, A_SIGNED=int(in_fmt.signed),
                      ACC_W=acc_w, OUT_W=out_fmt.bits, SHIFT=top, DMAX=top - call.shift,
                      SHIFT_FILE=f'"shift_s{k}.mem"', LO=vlit(call.lo), HI=vlit(call.hi),
                      EVEN=int(call.half_even),
                      P=self.lanes, WORD_W=rom.word_bits, ROM_AW=clog2(lanes["words"]),
                      IN_AW=self._buffer(call.inputs[0])["aw"], OUT_AW=self._buffer(call.output)["aw"],
                      BIAS_FILE=f'"bias_s{k}.mem"')
        slices = [dict(file=f"rom_s{k}_l{p}.mem", words=hex_words(lanes["roms"][p], rom.word_bits),
                       about=f"// lane {p} of {names.comment(call.name)}: {lanes['count'][p]} words from word "
                             f"{lanes['first'][p]} of {ROM_FILE} (the packer's image), then zeros; "
                             f"codes from bit {lanes['base'][p]} of the first")
                  for p in range(self.lanes)]
        step = self._step(call, "conv", params, list(call.inputs[:1]), ports=self.lanes if geo["group"] > 1 else 1,
                          bias_file=f"bias_s{k}.mem", bias=hex_words(call.bias, acc_w), slices=slices,
                          shift_file=f"shift_s{k}.mem" if call.per_channel else None,
                          shifts=hex_words([top - s for s in call.shifts], 8) if call.per_channel else None)
        # each lane's ROM: its slice of the packer's words, read on one or two ports
        aw, word, p = clog2(lanes["words"]), rom.word_bits, self.lanes
        step["nets"] = [(p * aw, f"s{k}_rom_addr"), (p * word, f"s{k}_rom_d0"), (p * word, f"s{k}_rom_d1")]
        step["wires"] = [(n, f"s{k}_{n}") for n in ("rom_addr", "rom_d0", "rom_d1")] + step["wires"]
        step["roms"] = [dict(params=dict(W=word, DEPTH=lanes["words"], AW=aw,
                                         TWO_PORTS=int(read_ports(call.bits, word)[0] > 1), FILE=f'"{sl["file"]}"'),
                             wires=[("addr", f"s{k}_rom_addr[{lane * aw} +: {aw}]"),
                                    ("d0", f"s{k}_rom_d0[{lane * word} +: {word}]"),
                                    ("d1", f"s{k}_rom_d1[{lane * word} +: {word}]")])
                        for lane, sl in enumerate(slices)]
        self.layer_report.append(dict(
            name=call.name, scheme=call.scheme, bits=call.bits, acc_bits=acc_w, lanes=self.lanes,
            multipliers=self.lanes if call.multiplies else 0,
            shift_adders=0 if call.multiplies else self.lanes,
            rom_bits=self.lanes * lanes["words"] * rom.word_bits,
            macs=call.geometry.macs))

    def _emit_pool(self, call: PoolCall) -> None:
        geo = call.geometry.as_dict()
        in_fmt, out_fmt = call.in_formats[0], call.out_format
        is_max = call.takes_max
        counts = sorted(_window_counts(geo)) if not is_max else [1]
        if not is_max and (call.whole_map or geo["count_include_pad"]):
            counts = [geo["k_h"] * geo["k_w"]]
        div = [avgpool_divisor(n) for n in counts]
        r_max = max(r for r, _ in div)
        pack = lambda vals: f"{32 * len(vals)}'h" + "".join(format(v, "08x") for v in reversed(vals))
        params = dict(C=geo["c"], H=geo["in_h"], W=geo["in_w"], OH=geo["out_h"], OW=geo["out_w"], KH=geo["k_h"],
                      KW=geo["k_w"], SH=geo["stride_h"], SW=geo["stride_w"], DH=geo["dil_h"], DW=geo["dil_w"],
                      PT=geo["pad_t"], PL=geo["pad_l"], MAX=int(is_max), INCLUDE_PAD=geo["count_include_pad"],
                      A=in_fmt.bits, A_SIGNED=int(in_fmt.signed), OUT_W=out_fmt.bits, LO=vlit(call.lo),
                      HI=vlit(call.hi), NT=len(div), DIV_N=pack(counts), DIV_R=pack([r for r, _ in div]),
                      DIV_S=pack([s for _, s in div]), RW=max(1, r_max.bit_length()),
                      IN_AW=self._buffer(call.inputs[0])["aw"], OUT_AW=self._buffer(call.output)["aw"])
        self._step(call, "pool", params, list(call.inputs[:1]))

    def _emit_add(self, call: AddCall) -> None:
        out_fmt = call.out_format
        fa, fb = call.in_formats
        sa, sb = call.shifts
        params = dict(N=call.size, NIN=2, A0=fa.bits, A0_SIGNED=int(fa.signed), SH0=sa,
                      A1=fb.bits, A1_SIGNED=int(fb.signed), SH1=sb, TW=call.sum_bound.bit_length() + 1,
                      OUT_W=out_fmt.bits, LO=vlit(call.lo), HI=vlit(call.hi), OFF=0,
                      IN_AW=self._buffer(call.inputs[0])["aw"], OUT_AW=self._buffer(call.output)["aw"])
        self._step(call, "eltwise", params, list(call.inputs))

    def _emit_copy(self, call: CopyCall) -> None:
        """Concat, Relu and Clip: each input shifted to the output format, saturated, clamped."""
        out_fmt = call.out_format
        for part in call.parts:
            f = part.format
            params = dict(N=part.size, NIN=1, A0=f.bits, A0_SIGNED=int(f.signed), SH0=part.shift, A1=f.bits,
                          A1_SIGNED=int(f.signed), SH1=0, TW=f.bits + 1, OUT_W=out_fmt.bits, LO=vlit(call.lo),
                          HI=vlit(call.hi), OFF=part.offset, IN_OFF=part.src_offset, COUNT=part.count,
                          IN_STEP=part.src_step, OUT_STEP=part.dst_step, IN_AW=self._buffer(part.tensor)["aw"],
                          OUT_AW=self._buffer(call.output)["aw"])
            self._step(call, "eltwise", params, [part.tensor, part.tensor])

    def _emit_mul(self, call: MulCall) -> None:
        """A product of activations (squeeze-and-excitation): wqrc_mul_engine.v."""
        fa, fb = call.in_formats
        aw = max(self._buffer(t)["aw"] for t in call.inputs)
        params = dict(C=call.channels, HW=call.positions, B_BCAST=int(call.gate_positions == 1 and call.positions > 1),
                      A0=fa.bits, A0_SIGNED=int(fa.signed), A1=fb.bits, A1_SIGNED=int(fb.signed), SH=call.shift,
                      OUT_W=call.out_format.bits, LO=vlit(call.lo), HI=vlit(call.hi), IN_AW=aw,
                      OUT_AW=self._buffer(call.output)["aw"])
        self._step(call, "mul", params, list(call.inputs))

    def _emit_pad(self, call: PadCall) -> None:
        """A constant border: wqrc_pad_engine.v, one output element per cycle."""
        pt, pl, pb, pr = call.pads
        f = call.in_formats[0]
        params = dict(C=call.c, H=call.h, W=call.w, PT=pt, PL=pl, PB=pb, PR=pr, VALUE=call.code & ((1 << f.bits) - 1),
                      A=f.bits, IN_AW=self._buffer(call.inputs[0])["aw"], OUT_AW=self._buffer(call.output)["aw"])
        self._step(call, "pad", params, list(call.inputs[:1]))

    def _emit_upsample(self, call: UpsampleCall) -> None:
        """Nearest-neighbour upsampling or zero insertion: wqrc_upsample_engine.v."""
        f = call.in_formats[0]
        params = dict(C=call.c, H=call.h, W=call.w, SH=call.scale_h, SW=call.scale_w, ZEROS=int(call.zeros), A=f.bits,
                      IN_AW=self._buffer(call.inputs[0])["aw"], OUT_AW=self._buffer(call.output)["aw"])
        self._step(call, "upsample", params, list(call.inputs[:1]))

    def _emit_lut(self, call: LutCall) -> None:
        """A lookup-table activation: the element-wise engine with its table as a ROM."""
        t = call.inputs[0]
        f, out_fmt = call.in_formats[0], call.out_format
        k = len(self.steps) + 1
        params = dict(N=call.size, NIN=1, A0=f.bits, A0_SIGNED=int(f.signed), SH0=0, A1=f.bits,
                      A1_SIGNED=int(f.signed), SH1=0, TW=f.bits + 1, OUT_W=out_fmt.bits, LO=vlit(out_fmt.qmin),
                      HI=vlit(out_fmt.qmax), OFF=0, LUT=1, QMIN=vlit(call.qmin), LUT_FILE=f'"lut_s{k}.mem"',
                      IN_AW=self._buffer(t)["aw"], OUT_AW=self._buffer(call.output)["aw"])
        self._step(call, "eltwise", params, [t, t], lut_file=f"lut_s{k}.mem", lut=hex_words(call.table, out_fmt.bits))


# One table per concern: the RTL step of each kind of call (wqrc.lower), the method _emit_<family>;
# tests/test_ops.py checks every call type is here.
EMIT = {ConvCall: _Layout._emit_conv, PoolCall: _Layout._emit_pool, AddCall: _Layout._emit_add,
        CopyCall: _Layout._emit_copy, MulCall: _Layout._emit_mul, UpsampleCall: _Layout._emit_upsample,
        PadCall: _Layout._emit_pad, LutCall: _Layout._emit_lut, AliasCall: _Layout._emit_alias}


def _window_counts(geo: dict) -> set[int]:
    """Every element count a pooling window of this geometry can cover (padding excluded)."""
    def axis(n_out, k, stride, dil, pad, size):
        return [sum(0 <= o * stride - pad + i * dil < size for i in range(k)) for o in range(n_out)]
    rows = axis(geo["out_h"], geo["k_h"], geo["stride_h"], geo["dil_h"], geo["pad_t"], geo["in_h"])
    cols = axis(geo["out_w"], geo["k_w"], geo["stride_w"], geo["dil_w"], geo["pad_l"], geo["in_w"])
    return {r * c for r in set(rows) for c in set(cols) if r * c}


def _conv_cycles(p: dict) -> int:
    lanes, oc = p["P"], p["OC"]
    ocl = -(-oc // lanes)
    taps = p["C"] // p["G"] * p["KH"] * p["KW"]
    gap = max(0, -(-oc // ocl) - taps)                             # lanes with channels drain
    groups = ocl * p["OH"] * p["OW"]
    last = sum(lane * ocl + ocl - 1 < oc for lane in range(lanes))   # lanes that drain the last pixel
    return groups * taps + (groups - 1) * gap + last + CONV_PIPELINE


# One table per concern: each engine's cycles from its parameters, by its loop nest and pipeline
# (hw/rtl/wqrc_*_engine.v); exact, not estimated: the test bench measures them.
CYCLES = {
    "conv": _conv_cycles,
    "pool": lambda p: p["C"] * p["OH"] * p["OW"] * p["KH"] * p["KW"] + POOL_PIPELINE,
    "upsample": lambda p: p["C"] * (((p["H"] - 1) * p["SH"] + 1) * ((p["W"] - 1) * p["SW"] + 1) if p["ZEROS"]
                                    else p["H"] * p["SH"] * p["W"] * p["SW"]) + ELTWISE_PIPELINE,
    "pad": lambda p: p["C"] * (p["H"] + p["PT"] + p["PB"]) * (p["W"] + p["PL"] + p["PR"]) + ELTWISE_PIPELINE,
    "mul": lambda p: p["C"] * p["HW"] + p["C"] * p["B_BCAST"] + ELTWISE_PIPELINE,   # a broadcast gate: +1 a channel
    "eltwise": lambda p: p["N"] + ELTWISE_PIPELINE,
}


def step_cycles(step: dict) -> int:
    """Cycles from a step's start to the next step's (CYCLES)."""
    return CYCLES[step["kind"]](step["params"])


# cycles outside an engine's loop: the registered address, the data, (the PEs), the registered write, done
CONV_PIPELINE, POOL_PIPELINE, ELTWISE_PIPELINE = 7, 6, 5


FORMS = ("layers", "seq", "auto")
FORM_REASONS = {
    "layers": "--rtl-form layers: an engine per layer, its constants folded into the logic (the area grows with "
              "depth; --rtl-form seq keeps it fixed)",
    "seq": "--rtl-form seq: one conv/dense engine and one vector engine run every layer from descriptors (the area "
           "does not grow with depth)",
}


def choose_form(qm: QModel, form: str) -> tuple[str, str]:
    """The RTL form a compile builds and why (report.json's rtl.form_reason). ``auto`` takes the
    descriptor-driven form, whose area does not grow with depth and whose fit is estimated before
    synthesis, unless a node has no engine there; the layer form's area is not estimated, so auto
    never claims it is the smaller."""
    if form not in FORMS:
        raise WqrcError(f"--rtl-form: '{form}' is not one of {', '.join(FORMS)}")
    if form != "auto":
        return form, FORM_REASONS[form]
    from wqrc.backend.rtl_seq import engineless
    call = engineless(qm)
    if call is not None:
        return "layers", (f"--rtl-form auto: node '{call.name}' ({call.op}) has no engine in the descriptor-driven "
                          f"form, so every layer gets an engine of its own")
    return "seq", ("--rtl-form auto: every layer runs on the descriptor-driven engines (the area does not grow with "
                   "depth, and the fit is estimated before synthesis)")


def generate_rtl(qm: QModel, rom: Rom, folder: str, lanes=1, vectors: int = 4, data: np.ndarray | None = None,
                 vecs: tuple | None = None, form: str = "layers", weights: str = "rom", fpga: str = "up5k") -> dict:
    lanes = parse_lanes(lanes)
    form, reason = choose_form(qm, form)
    xin, yout = vecs if vecs is not None else test_vectors(qm, vectors, data)
    if form == "seq":
        from wqrc.backend.rtl_seq import generate_seq
        return dict(generate_seq(qm, rom, folder, lanes, (xin, yout), weights=weights, part=fpga),
                    form_reason=reason)
    if weights != "rom":
        raise WqrcError(f"--weight-store {weights}: only --rtl-form seq streams its weights; the layer form keeps "
                        f"each layer's in its own block RAM")
    lay = _Layout(qm, rom, lanes)
    in_fmt = qm.input_format
    in_buf = lay.buffers[lay.alias[qm.input]]
    outs, out_w, out_signed = _unloads(qm, lay)
    steps = lay.steps
    compute = sum(step_cycles(s) for s in steps)
    n_in, n_out = int(np.prod(qm.input_shape)), sum(o["n"] for o in outs)
    total = n_in + compute + UNLOAD_CYCLES * n_out
    args = dict(build_products=BUILD_PRODUCTS, steps=steps, timeout_cycles=4 * total * len(xin) + 1000, buffers=list(lay.buffers.values()), traces=lay.traces, lanes=lanes,
                in_buf=in_buf, outs=outs, in_w=in_fmt.bits, out_w=out_w,
                in_n=n_in, out_n=n_out,
                stw=clog2(len(steps) + 1 + len(outs)), rom_file=ROM_FILE, word_bits=rom.word_bits,
                n_vectors=len(xin), out_signed=out_signed, kernel_files=KERNEL_FILES, header_files=HEADER_FILES,
                ice40_flags="-dsp", flash=None, sim_files="", part=None,
                source=names.comment(qm.meta.get("source", "")))
    files = (("wqrc_top.v.j2", "wqrc_top.v"), ("tb.v.j2", "tb.v"), ("Makefile.j2", "Makefile"),
             ("synth_ice40.ys.j2", "synth_ice40.ys"), ("synth_xilinx.ys.j2", "synth_xilinx.ys"))
    render_files(environment("rtl"), files, folder, args)
    copy_kernels("rtl", KERNEL_FILES + HEADER_FILES, folder)
    write_lines(folder, "vectors_in.mem", hex_words(xin.reshape(-1), in_fmt.bits))
    write_lines(folder, "vectors_out.mem", hex_words(unloaded(qm, xin, yout).reshape(-1), out_w))
    np.save(f"{folder}/inputs.npy", xin.astype(np.int64))
    for s in steps:
        if s.get("lut_file"):
            write_lines(folder, s["lut_file"], s["lut"])
        if s.get("bias_file"):   # a conv engine's bias, per-channel shifts and lane ROM slices
            write_lines(folder, s["bias_file"], s["bias"])
            if s.get("shift_file"):
                write_lines(folder, s["shift_file"], s["shifts"])
            for sl in s["slices"]:
                write_lines(folder, sl["file"], [sl["about"]] + sl["words"])
    write_package(folder, args, qm.meta.get("source", ""))
    macs = sum(r["macs"] for r in lay.layer_report)
    return dict(form="layers", form_reason=reason, lanes=lanes, layers=lay.layer_report, macs=macs, steps=len(steps),
                compute_cycles=compute,
                cycles_per_inference=total, cycles_over_ideal=round(compute / max(1, -(-macs // lanes)), 3),
                multipliers=sum(r["multipliers"] for r in lay.layer_report),
                ram_bits=sum(b["width"] * b["depth"] * b["readers"] for b in lay.buffers.values()),
                rom_bits=sum(r["rom_bits"] for r in lay.layer_report))


def _unloads(qm: QModel, lay: "_Layout") -> tuple[list[dict], int, bool]:
    """The graph outputs as the accelerator unloads them, one after another on the one output
    stream (docs/targets.md): each one's buffer, element count and format, and the stream's width
    and signedness: every output's values fit (an unsigned one beside signed ones gets a bit more)."""
    width, signed = output_stream(qm)
    outs = []
    for k, t in enumerate(qm.outputs):
        f = qm.formats[t]
        buf = lay.buffers[lay.alias[t]]
        word = f"{buf['id']}_rdata[{f.bits - 1}:0]"
        if width > f.bits:  # sign- or zero-extended to the stream's width
            fill = f"{buf['id']}_rdata[{f.bits - 1}]" if f.signed else "1'b0"
            word = f"{{{{{width - f.bits}{{{fill}}}}}, {word}}}"
        outs.append(dict(k=k, buf=buf, n=int(np.prod(qm.shapes[t])), word=word, stage=len(lay.steps) + 1 + k,
                         about=names.comment(t)))
    return outs, width, signed
