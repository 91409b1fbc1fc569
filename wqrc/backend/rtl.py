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
from wqrc.backend.common import (
    check_add_fits,
    conv_geometry,
    copy_kernels,
    mul_geometry,
    environment,
    extra_outputs,
    lane_roms,
    pool_geometry,
    read_ports,
    render_files,
    test_vectors,
)
from wqrc.backend.planner import plan_arena
from wqrc.errors import WqrcError
from wqrc.ops import KERNEL_FAMILIES, op_def
from wqrc.pack.rom import Rom
from wqrc.contract.arith import avgpool_divisor
from wqrc.contract.formats import TensorFormat, output_bounds
from wqrc.quant.qmodel import QModel

# What the written Makefile builds (`make clean`); a later --force may remove these with the output.
BUILD_PRODUCTS = ("obj_dir", "tb.vvp", "sim.log", "sim.json", "sim_out.txt", "trace.txt", "verilator.log", "*.asc",
                  "ice40.json", "stat_*.json", "nextpnr_ice40.*", "yosys_*.log")
KERNEL_FILES = ("wqrc_requant.v", "wqrc_pe_po2.v", "wqrc_pe_dfp.v", "wqrc_ram.v", "wqrc_rom.v",
                "wqrc_conv_engine.v", "wqrc_pool_engine.v", "wqrc_eltwise_engine.v", "wqrc_mul_engine.v",
                "wqrc_copy_stage.v", "wqrc_upsample_engine.v", "wqrc_pad_engine.v")
ROM_FILE = "../rom/weights.mem"   # the packer's image, next to rtl/ in OUT, which the lanes' slices quote


def clog2(n: int) -> int:
    return max(1, (max(n, 1) - 1).bit_length())


def vlit(v: int, bits: int = 64) -> str:
    """A signed Verilog literal of any value that fits ``bits`` bits."""
    return f"-{bits}'sd{-v}" if v < 0 else f"{bits}'sd{v}"


def hex_words(values, bits: int) -> list[str]:
    digits = -(-bits // 4)
    mask = (1 << bits) - 1
    return [format(int(v) & mask, f"0{digits}x") for v in values]


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
        for index, node in enumerate(qm.nodes):
            emit = EMIT.get(op_def(node).kernel)
            if emit is None:
                raise WqrcError(f"node '{node.name}': the RTL target has no op '{node.op}'")
            emit(self, node)
            if op_def(node).kernel != "alias":
                b = self._buffer(node.output)
                self.traces.append(dict(node=index, step=len(self.steps), buf=b["id"],
                                        size=b["depth"], signed=b["signed"], about=names.comment(node.name)))

    def _buffer(self, tensor: str) -> dict:
        root = self.alias[tensor]
        if root not in self.buffers:
            fmt: TensorFormat = self.qm.formats[root]
            depth = int(np.prod(self.qm.shapes[root]))
            self.buffers[root] = dict(id=f"b{len(self.buffers)}", width=fmt.bits, signed=fmt.signed, depth=depth,
                                      aw=clog2(depth), readers=1, about=names.comment(f"{root}: {fmt.describe()}, "
                                                                                     f"{list(self.qm.shapes[root])}"))
        return self.buffers[root]

    def _step(self, node, kind: str, params: dict, reads: list[str], ports: int = 1, **extra) -> dict:
        """One engine instance; ``ports``: the read ports it uses on each input RAM."""
        out = self._buffer(node.output)
        ins = [self._buffer(t) for t in reads]
        for b in ins:
            b["readers"] = max(b["readers"], ports)
        step = dict(k=len(self.steps) + 1, kind=kind, params=params, ins=ins, out=out, ports=ports,
                    about=names.comment(f"{node.name}: {node.op}"), **extra)
        self.steps.append(step)
        return step

    def _emit_alias(self, node) -> None:
        pass   # flatten: the same RAM

    def _emit_conv(self, node) -> None:
        qm, rom = self.qm, self.rom
        layer = qm.layers[node.name]
        seg = self.segment[node.name]
        if layer.bits > rom.word_bits:
            raise WqrcError(f"layer '{layer.name}': its {layer.bits}-bit codes are wider than the "
                            f"{rom.word_bits}-bit ROM words the RTL target reads; use --word-bits "
                            f"{next(w for w in (8, 16, 32, 64) if w >= layer.bits)} or more")
        geo = conv_geometry(qm, node, layer)
        in_fmt, out_fmt = qm.formats[node.inputs[0]], qm.formats[node.output]
        lo, hi = output_bounds(out_fmt, node.attrs.get("qclip"))
        acc_w = layer.acc_bits
        k = len(self.steps) + 1
        taps = geo["in_c"] // geo["group"] * geo["k_h"] * geo["k_w"]
        lanes = lane_roms(rom, seg, layer.bits, taps, geo["out_c"], self.lanes)
        params = dict(C=geo["in_c"], H=geo["in_h"], W=geo["in_w"], OC=geo["out_c"], OH=geo["out_h"],
                      OW=geo["out_w"], G=geo["group"], KH=geo["k_h"], KW=geo["k_w"], SH=geo["stride_h"],
                      SW=geo["stride_w"], DH=geo["dil_h"], DW=geo["dil_w"], PT=geo["pad_t"], PL=geo["pad_l"],
                      PO2=int(layer.scheme == "po2"), B=layer.bits, A=in_fmt.bits, A_SIGNED=int(in_fmt.signed),
                      ACC_W=acc_w, OUT_W=out_fmt.bits, SHIFT=int(np.max(layer.requant_shift)),
                      DMAX=int(np.max(layer.requant_shift) - np.min(layer.requant_shift)),
                      SHIFT_FILE=f'"shift_s{k}.mem"', LO=vlit(lo), HI=vlit(hi),
                      EVEN=int(layer.rounding == "half_even"),
                      P=self.lanes, WORD_W=rom.word_bits, ROM_AW=clog2(lanes["words"]),
                      IN_AW=self._buffer(node.inputs[0])["aw"], OUT_AW=self._buffer(node.output)["aw"],
                      BIAS_FILE=f'"bias_s{k}.mem"')
        slices = [dict(file=f"rom_s{k}_l{p}.mem", words=hex_words(lanes["roms"][p], rom.word_bits),
                       about=f"// lane {p} of {names.comment(node.name)}: {lanes['count'][p]} words from word "
                             f"{lanes['first'][p]} of {ROM_FILE} (the packer's image), then zeros; "
                             f"codes from bit {lanes['base'][p]} of the first")
                  for p in range(self.lanes)]
        self._step(node, "conv", params, node.inputs[:1], ports=self.lanes if geo["group"] > 1 else 1,
                   bias_file=f"bias_s{k}.mem", bias=hex_words(layer.bias, acc_w), slices=slices,
                   shift_file=f"shift_s{k}.mem" if layer.per_channel else None,
                   shifts=hex_words([int(np.max(layer.requant_shift) - s) for s in layer.requant_shift], 8)
                   if layer.per_channel else None,
                   rom_words=lanes["words"], rom_aw=clog2(lanes["words"]),
                   two_ports=int(read_ports(layer.bits, rom.word_bits)[0] > 1))
        self.layer_report.append(dict(
            name=layer.name, scheme=layer.scheme, bits=layer.bits, acc_bits=acc_w, lanes=self.lanes,
            multipliers=0 if layer.scheme == "po2" else self.lanes,
            shift_adders=self.lanes if layer.scheme == "po2" else 0,
            rom_bits=self.lanes * lanes["words"] * rom.word_bits,
            macs=geo["out_c"] * geo["out_h"] * geo["out_w"] * taps))

    def _emit_pool(self, node) -> None:
        qm = self.qm
        geo, _, _ = pool_geometry(qm, node)
        in_fmt, out_fmt = qm.formats[node.inputs[0]], qm.formats[node.output]
        is_max = node.op == "maxpool"
        counts = sorted(_window_counts(geo)) if not is_max else [1]
        if not is_max and (node.op == "global_avgpool" or geo["count_include_pad"]):
            counts = [geo["k_h"] * geo["k_w"]]
        div = [avgpool_divisor(n) for n in counts]
        r_max = max(r for r, _ in div)
        pack = lambda vals: f"{32 * len(vals)}'h" + "".join(format(v, "08x") for v in reversed(vals))
        params = dict(C=geo["c"], H=geo["in_h"], W=geo["in_w"], OH=geo["out_h"], OW=geo["out_w"], KH=geo["k_h"],
                      KW=geo["k_w"], SH=geo["stride_h"], SW=geo["stride_w"], DH=geo["dil_h"], DW=geo["dil_w"],
                      PT=geo["pad_t"], PL=geo["pad_l"], MAX=int(is_max), INCLUDE_PAD=geo["count_include_pad"],
                      A=in_fmt.bits, A_SIGNED=int(in_fmt.signed), OUT_W=out_fmt.bits, LO=vlit(out_fmt.qmin),
                      HI=vlit(out_fmt.qmax), NT=len(div), DIV_N=pack(counts), DIV_R=pack([r for r, _ in div]),
                      DIV_S=pack([s for _, s in div]), RW=max(1, r_max.bit_length()),
                      IN_AW=self._buffer(node.inputs[0])["aw"], OUT_AW=self._buffer(node.output)["aw"])
        self._step(node, "pool", params, node.inputs[:1])

    def _emit_add(self, node) -> None:
        qm = self.qm
        total = check_add_fits(qm, node)
        out_fmt = qm.formats[node.output]
        lo, hi = output_bounds(out_fmt, node.attrs.get("qclip"))
        fa, fb = (qm.formats[t] for t in node.inputs)
        sa, sb = node.attrs["shifts"]
        params = dict(N=int(np.prod(qm.shapes[node.output])), NIN=2, A0=fa.bits, A0_SIGNED=int(fa.signed), SH0=sa,
                      A1=fb.bits, A1_SIGNED=int(fb.signed), SH1=sb, TW=total.bit_length() + 1, OUT_W=out_fmt.bits,
                      LO=vlit(lo), HI=vlit(hi), OFF=0, IN_AW=self._buffer(node.inputs[0])["aw"],
                      OUT_AW=self._buffer(node.output)["aw"])
        self._step(node, "eltwise", params, node.inputs)

    def _emit_copy(self, node) -> None:
        """Concat, Relu and Clip: each input shifted to the output format, saturated, clamped."""
        qm = self.qm
        out_fmt = qm.formats[node.output]
        lo, hi = output_bounds(out_fmt, node.attrs.get("qclip"))
        shifts = node.attrs["shifts"] if node.op == "concat" else [0]
        offset = 0
        for t, sh in zip(node.inputs, shifts):
            f = qm.formats[t]
            n = int(np.prod(qm.shapes[t]))
            params = dict(N=n, NIN=1, A0=f.bits, A0_SIGNED=int(f.signed), SH0=sh, A1=f.bits, A1_SIGNED=int(f.signed),
                          SH1=0, TW=f.bits + 1, OUT_W=out_fmt.bits, LO=vlit(lo), HI=vlit(hi), OFF=offset,
                          IN_AW=self._buffer(t)["aw"], OUT_AW=self._buffer(node.output)["aw"])
            self._step(node, "eltwise", params, [t, t])
            offset += n


    def _emit_mul(self, node) -> None:
        """A product of activations (squeeze-and-excitation): wqrc_mul_engine.v."""
        qm = self.qm
        c, hw, b_hw = mul_geometry(qm, node)
        fa, fb = (qm.formats[t] for t in node.inputs)
        out_fmt = qm.formats[node.output]
        aw = max(self._buffer(t)["aw"] for t in node.inputs)
        params = dict(C=c, HW=hw, B_BCAST=int(b_hw == 1 and hw > 1), A0=fa.bits, A0_SIGNED=int(fa.signed),
                      A1=fb.bits, A1_SIGNED=int(fb.signed), SH=node.attrs["shift"], OUT_W=out_fmt.bits,
                      LO=vlit(out_fmt.qmin), HI=vlit(out_fmt.qmax), IN_AW=aw,
                      OUT_AW=self._buffer(node.output)["aw"])
        self._step(node, "mul", params, node.inputs)

    def _emit_pad(self, node) -> None:
        """A constant border: wqrc_pad_engine.v, one output element per cycle."""
        qm = self.qm
        c, h, w = qm.shapes[node.inputs[0]]
        pt, pl, pb, pr = node.attrs["pads"]
        f = qm.formats[node.inputs[0]]
        code = int(node.attrs["code"])
        params = dict(C=c, H=h, W=w, PT=pt, PL=pl, PB=pb, PR=pr, VALUE=code & ((1 << f.bits) - 1), A=f.bits,
                      IN_AW=self._buffer(node.inputs[0])["aw"], OUT_AW=self._buffer(node.output)["aw"],
                      N_OUT=int(np.prod(qm.shapes[node.output])))
        self._step(node, "pad", params, node.inputs[:1])

    def _emit_upsample(self, node) -> None:
        """Nearest-neighbour upsampling or zero insertion: wqrc_upsample_engine.v."""
        qm = self.qm
        c, h, w = qm.shapes[node.inputs[0]]
        sh, sw = node.attrs["scales"]
        f = qm.formats[node.inputs[0]]
        params = dict(C=c, H=h, W=w, SH=sh, SW=sw, ZEROS=int(node.op == "zero_insert"), A=f.bits,
                      IN_AW=self._buffer(node.inputs[0])["aw"], OUT_AW=self._buffer(node.output)["aw"],
                      N_OUT=int(np.prod(qm.shapes[node.output])))
        self._step(node, "upsample", params, node.inputs[:1])

    def _emit_lut(self, node) -> None:
        """A lookup-table activation: the element-wise engine with its table as a ROM."""
        qm = self.qm
        t = node.inputs[0]
        f, out_fmt = qm.formats[t], qm.formats[node.output]
        k = len(self.steps) + 1
        params = dict(N=int(np.prod(qm.shapes[t])), NIN=1, A0=f.bits, A0_SIGNED=int(f.signed), SH0=0, A1=f.bits,
                      A1_SIGNED=int(f.signed), SH1=0, TW=f.bits + 1, OUT_W=out_fmt.bits, LO=vlit(out_fmt.qmin),
                      HI=vlit(out_fmt.qmax), OFF=0, LUT=1, QMIN=vlit(f.qmin), LUT_FILE=f'"lut_s{k}.mem"',
                      IN_AW=self._buffer(t)["aw"], OUT_AW=self._buffer(node.output)["aw"])
        self._step(node, "eltwise", params, [t, t], lut_file=f"lut_s{k}.mem",
                   lut=hex_words(node.attrs["table"], out_fmt.bits))


# One table per concern: the RTL step of each kernel family (OpDef.kernel, listed in
# wqrc.ops.KERNEL_FAMILIES), the method _emit_<family>; tests/test_ops.py checks all are here.
EMIT = {family: getattr(_Layout, f"_emit_{family}") for family in KERNEL_FAMILIES}


def _window_counts(geo: dict) -> set[int]:
    """Every element count a pooling window of this geometry can cover (padding excluded)."""
    def axis(n_out, k, stride, dil, pad, size):
        return [sum(0 <= o * stride - pad + i * dil < size for i in range(k)) for o in range(n_out)]
    rows = axis(geo["out_h"], geo["k_h"], geo["stride_h"], geo["dil_h"], geo["pad_t"], geo["in_h"])
    cols = axis(geo["out_w"], geo["k_w"], geo["stride_w"], geo["dil_w"], geo["pad_l"], geo["in_w"])
    return {r * c for r in set(rows) for c in set(cols) if r * c}


def step_cycles(step: dict) -> int:
    """Cycles from a step's start to the next step's: fixed by the engine's loop nest and pipeline
    (hw/rtl/wqrc_*_engine.v), so exact, not estimated; the test bench measures them."""
    p = step["params"]
    if step["kind"] == "conv":
        lanes, oc = p["P"], p["OC"]
        ocl = -(-oc // lanes)
        taps = p["C"] // p["G"] * p["KH"] * p["KW"]
        gap = max(0, -(-oc // ocl) - taps)                             # lanes with channels drain
        groups = ocl * p["OH"] * p["OW"]
        last = sum(lane * ocl + ocl - 1 < oc for lane in range(lanes))   # lanes that drain the last pixel
        return groups * taps + (groups - 1) * gap + last + CONV_PIPELINE
    if step["kind"] == "pool":
        return p["C"] * p["OH"] * p["OW"] * p["KH"] * p["KW"] + POOL_PIPELINE
    if step["kind"] in ("upsample", "pad"):
        return p["N_OUT"] + ELTWISE_PIPELINE
    if step["kind"] == "mul":   # one cycle more per channel to read a broadcast gate
        return p["C"] * p["HW"] + p["C"] * p["B_BCAST"] + ELTWISE_PIPELINE
    return p["N"] + ELTWISE_PIPELINE


# cycles outside an engine's loop: the registered address, the data, (the PEs), the registered write, done
CONV_PIPELINE, POOL_PIPELINE, ELTWISE_PIPELINE = 7, 6, 5
UNLOAD_CYCLES = 3   # per output element with the consumer always ready: fetch, read, beat


def generate_rtl(qm: QModel, rom: Rom, folder: str, lanes=1, vectors: int = 4, data: np.ndarray | None = None,
                 vecs: tuple | None = None) -> dict:
    lanes = parse_lanes(lanes)
    lay = _Layout(qm, rom, lanes)
    xin, yout = vecs if vecs is not None else test_vectors(qm, vectors, data)
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
                n_vectors=len(xin), out_signed=out_signed, kernel_files=KERNEL_FILES,
                source=names.comment(qm.meta.get("source", "")))
    files = (("wqrc_top.v.j2", "wqrc_top.v"), ("tb.v.j2", "tb.v"), ("Makefile.j2", "Makefile"),
             ("synth_ice40.ys.j2", "synth_ice40.ys"), ("synth_xilinx.ys.j2", "synth_xilinx.ys"))
    render_files(environment("rtl"), files, folder, args)
    copy_kernels("rtl", KERNEL_FILES, folder)
    _write(folder, "vectors_in.mem", hex_words(xin.reshape(-1), in_fmt.bits))
    _write(folder, "vectors_out.mem", hex_words(unloaded(qm, xin, yout).reshape(-1), out_w))
    np.save(f"{folder}/inputs.npy", xin.astype(np.int64))
    for s in steps:
        if s.get("lut_file"):
            _write(folder, s["lut_file"], s["lut"])
        if s["kind"] == "conv":
            _write(folder, s["bias_file"], s["bias"])
            if s.get("shift_file"):
                _write(folder, s["shift_file"], s["shifts"])
            for sl in s["slices"]:
                _write(folder, sl["file"], [sl["about"]] + sl["words"])
    macs = sum(r["macs"] for r in lay.layer_report)
    return dict(lanes=lanes, layers=lay.layer_report, macs=macs, steps=len(steps), compute_cycles=compute,
                cycles_per_inference=total, cycles_over_ideal=round(compute / max(1, -(-macs // lanes)), 3),
                multipliers=sum(r["multipliers"] for r in lay.layer_report),
                ram_bits=sum(b["width"] * b["depth"] * b["readers"] for b in lay.buffers.values()),
                rom_bits=sum(r["rom_bits"] for r in lay.layer_report))


def _unloads(qm: QModel, lay: "_Layout") -> tuple[list[dict], int, bool]:
    """The graph outputs as the accelerator unloads them, one after another on the one output
    stream (docs/targets.md): each one's buffer, element count and format, and the stream's width
    and signedness: every output's values fit (an unsigned one beside signed ones gets a bit more)."""
    fmts = [qm.formats[t] for t in qm.outputs]
    signed = any(f.signed for f in fmts)
    width = max(f.bits + int(signed and not f.signed) for f in fmts)
    outs = []
    for k, (t, f) in enumerate(zip(qm.outputs, fmts)):
        buf = lay.buffers[lay.alias[t]]
        word = f"{buf['id']}_rdata[{f.bits - 1}:0]"
        if width > f.bits:  # sign- or zero-extended to the stream's width
            fill = f"{buf['id']}_rdata[{f.bits - 1}]" if f.signed else "1'b0"
            word = f"{{{{{width - f.bits}{{{fill}}}}}, {word}}}"
        outs.append(dict(k=k, buf=buf, n=int(np.prod(qm.shapes[t])), word=word, stage=len(lay.steps) + 1 + k,
                         about=names.comment(t)))
    return outs, width, signed


def unloaded(qm: QModel, xin: np.ndarray, first: np.ndarray) -> np.ndarray:
    """What the output stream carries per sample: the first output (``first``, already simulated),
    then each further one, in C order; (samples, elements)."""
    from wqrc.sim.simulator import one_after_another
    return one_after_another([first] + [np.asarray(o["vec"], dtype=np.int64) for o in extra_outputs(qm, xin)],
                             len(xin))


def _write(folder: str, name: str, lines: list[str]) -> None:
    with open(f"{folder}/{name}", "w") as fh:
        fh.write("".join(line + "\n" for line in lines))
