"""The figures of docs/format.md §5, computed in one place for every command and backend.

``build_report`` returns plain JSON-able data; ``render`` prints it as tables.
"""
from __future__ import annotations

from typing import Optional


from wqrc.quant.qmodel import QModel

DEFAULT_WORD_BITS = 32


def layer_macs(qm: QModel, node, layer) -> tuple[int, int]:
    """(MACs, non-zero MACs) of one inference; a MAC with a zero weight code is skipped."""
    return qm.layer_macs(node, layer)


def build_report(qm: QModel, word_bits: int = DEFAULT_WORD_BITS, accuracy: Optional[dict] = None) -> dict:
    rows = []
    for node, l in qm.weighted():
        macs, nz_macs = layer_macs(qm, node, l)
        rom_words = -(-l.code_bits // word_bits)
        exps = l.exponents
        rows.append(dict(
            name=l.name, op=node.op, scheme=l.scheme, bits=l.bits, exponent=l.exponent, n1=l.n1,
            **({"channel_exponents": [int(e) for e in exps], "exponent_bits": l.exponent_bits}
               if l.per_channel else {}),
            shape=list(l.codes.shape), weights=l.weight_count, w_mem_bits=l.w_mem,
            rom_bits=rom_words * word_bits, zero_codes=l.zero_codes,
            sparsity=l.zero_codes / l.weight_count if l.weight_count else 0.0,
            macs=macs, nonzero_macs=nz_macs, acc_bound=str(l.acc_bound), acc_bits=l.acc_bits,
            acc_type=l.acc_type, multipliers=0 if l.scheme == "po2" else None,
            input_format=qm.formats[node.inputs[0]].describe(), output_format=qm.formats[node.output].describe(),
        ))
    n_weights = sum(r["weights"] for r in rows)
    w_mem = sum(r["w_mem_bits"] for r in rows)
    macs = sum(r["macs"] for r in rows)
    nz = sum(r["nonzero_macs"] for r in rows)
    totals = dict(
        weights=n_weights, w_mem_bits=w_mem, rom_bits=sum(r["rom_bits"] for r in rows),
        compression_ratio=32 * n_weights / w_mem if w_mem else 0.0,
        zero_codes=sum(r["zero_codes"] for r in rows),
        sparsity=sum(r["zero_codes"] for r in rows) / n_weights if n_weights else 0.0,
        macs=macs, nonzero_macs=nz, mac_sparsity=1 - nz / macs if macs else 0.0,
    )
    rep = dict(
        layers=rows, totals=totals, word_bits=word_bits,
        exponent_rule=qm.meta.get("exponent_rule"), act_bits=qm.meta.get("act_bits"),
        granularity=qm.meta.get("granularity", "layer"),
        activation_ranges=qm.meta.get("activation_ranges"),
        input_format=qm.input_format.describe(), output_format=qm.output_format.describe(),
        notes=list(qm.notes),
    )
    if qm.extra_outputs:  # the further graph outputs, in order (the C API's wqrc_output_<k>)
        rep["extra_outputs"] = [dict(tensor=t, shape=list(qm.shapes[t]), format=qm.formats[t].describe())
                                for t in qm.extra_outputs]
    if accuracy:
        rep["accuracy"] = dict(accuracy)
    return rep


def render(rep: dict, console=None) -> None:
    """Print the per-layer table and totals (rich formats the tables for a terminal or a log; the
    prose lines are never hard-wrapped, so a path in them copies whole from a log)."""
    from rich.markup import escape

    from wqrc.display import MAX_NAME, log_console, print_line, printable
    from rich.table import Table

    if console is None:
        console = log_console()
    t = Table(title="wqrc per-layer report", title_justify="left")
    for col in ("layer", "op", "scheme", "b", "exp", "weights", "W_mem", "ROM", "zero", "MACs",
                "non-0 MACs", "acc bound", "acc type", "in -> out"):
        t.add_column(col, justify="left" if col in ("layer", "op", "scheme", "acc type", "in -> out") else "right")
    for r in rep["layers"]:
        exp = str(r["exponent"]) if "channel_exponents" not in r else \
            f"{min(r['channel_exponents'])}..{max(r['channel_exponents'])}"  # per channel
        t.add_row(escape(printable(r["name"], MAX_NAME)), r["op"], r["scheme"], str(r["bits"]), exp, str(r["weights"]),
                  str(r["w_mem_bits"]), str(r["rom_bits"]), f"{r['zero_codes']} ({r['sparsity']:.1%})",
                  str(r["macs"]), str(r["nonzero_macs"]), _short(r["acc_bound"]), r["acc_type"],
                  f"{r['input_format']} -> {r['output_format']}")
    console.print(t)
    tot = rep["totals"]
    print_line(console,
        f"W_mem {tot['w_mem_bits']} bits ({tot['w_mem_bits'] / 8192:.2f} KiB), ROM {tot['rom_bits']} bits "
        f"in {rep['word_bits']}-bit words, CR {tot['compression_ratio']:.2f}, sparsity {tot['sparsity']:.1%}, "
        f"MACs {tot['macs']}, non-zero MACs {tot['nonzero_macs']}, MAC sparsity {tot['mac_sparsity']:.1%}")
    print_line(console, f"exponent rule: {rep['exponent_rule']}"
                  f"{', one exponent per output channel' if rep.get('granularity') == 'channel' else ''}; activations: {rep['act_bits']} bits, "
                  f"{rep['activation_ranges']}; input {rep['input_format']}, output {rep['output_format']}"
                  + "".join(f", output {k} {o['format']}" for k, o in enumerate(rep.get("extra_outputs", []), start=1)))
    for note in rep["notes"]:
        print_line(console, f"note: {printable(note)}")
    if "hls" in rep:
        h = Table(title=f"HLS target (io: {rep['hls']['io']})", title_justify="left")
        for col in ("layer", "scheme", "b", "ROM bits", "multipliers", "shift-adders", "acc bits", "parallelism",
                    "cycles (est.)"):
            h.add_column(col, justify="left" if col in ("layer", "scheme") else "right")
        for r in rep["hls"]["layers"]:
            h.add_row(escape(printable(r["name"], MAX_NAME)), r["scheme"], str(r["bits"]), str(r["rom_bits"]), str(r["multipliers"]),
                      str(r["shift_adders"]), str(r["acc_bits"]), str(r["parallelism"]), str(r["cycles_estimate"]))
        console.print(h)
    health = rep.get("health")
    if health:
        w = health.get("worst") or {}
        out_db = "inf" if health["output_sqnr_db"] is None else f"{health['output_sqnr_db']:.1f}"
        print_line(console, f"quantization health: output SQNR {out_db} dB against the float model on "
                      f"{health['samples']} calibration samples"
                      + (f", top-1 class the float model's on {health['top1_agreement']:.0%} of them"
                         if health.get("top1_agreement") is not None else "")
                      + (f"; node '{printable(w['name'], MAX_NAME)}' ({w['op']}) loses the most "
                         f"({w['drop_db']:.1f} dB)" if w and w.get("drop_db") is not None else ""))
        ref = health.get("qonnx_reference")
        if isinstance(ref, dict):
            w = ref.get("worst") or {}
            print_line(console, f"against the QONNX model's own values (qonnx's executor, {ref['samples']} samples): output "
                          f"relative error {ref['output_relative_error']:.2%}"
                          + (f"; furthest tensor: node '{printable(w['name'], MAX_NAME)}' ({w['sqnr_db']} dB)"
                             if w else ""))
        elif ref:
            print_line(console, f"against the QONNX model's own values: {ref}")
        lite = health.get("litert_reference")
        if isinstance(lite, dict):
            print_line(console, f"against LiteRT running the model's own integers ({lite['samples']} samples): output "
                          f"relative error {lite['output_relative_error']:.2%}")
        elif lite:
            print_line(console, f"against LiteRT: {lite}")
    acc = rep.get("accuracy")
    if acc:
        parts = [f"{k} {v:.2%}" if isinstance(v, float) and k != "delta_acc" else f"{k} {v:+.2%}"
                 for k, v in acc.items() if isinstance(v, float)]
        print_line(console, "accuracy: " + ", ".join(parts) + (f" on {acc['data']}" if "data" in acc else ""))


def _short(bound: str) -> str:
    return bound if len(bound) <= 12 else f"~2^{len(bin(int(bound))) - 3}"


def target_summary(rep: dict, out: str) -> str:
    """The lines a compile prints under its table: what was written where, and the next command for each target."""
    lines = [f"wrote {out}/: model.wqrc.npz, report.json, report.html, rom/ "
             f"({rep['totals']['rom_bits']} ROM bits in {rep['word_bits']}-bit words, W_mem {rep['totals']['w_mem_bits']})"]
    if "plan" in rep:
        lines.append(f"  {rep['plan']}: the precision plan of --bits auto")
    if "c" in rep:
        c = rep["c"]
        m4 = c.get("measured", {}).get("cortex-m4")
        memory = (f"Cortex-M4 (measured, -O2): flash {m4['flash_bytes']} B, RAM {m4['ram_bytes']} B "
                  f"({m4['ram_static_bytes']} static + {c['stack_bytes']} stack)" if m4 else
                  f"flash {c['rom_bits'] // 8} B of weights + code (--measure cortex-m4), RAM {c['ram_bytes']} B "
                  f"(arena {c['arena_bytes']} + stack {c['stack_bytes']})")
        lines.append(f"  c/: {memory}; run: make -C {out}/c run (mcu-run: Cortex-M4 in QEMU); "
                     f"in firmware: add_subdirectory({out}/c), link wqrc::model")
    if "hls" in rep:
        lines.append(f"  hls/: C simulation: make -C {out}/hls csim; synthesis: vitis_hls -f {out}/hls/run_hls.tcl")
    if "qonnx" in rep:
        lines.append(f"  qonnx/model.onnx: {rep['qonnx']['quant_nodes']} Quant nodes, real units, batch 1 "
                     f"(qonnx's executor computes the simulator's values)")
    if "rtl" in rep:
        r = rep["rtl"]
        form = (f"descriptor-driven, weights from {'the SPI flash' if r['weights'] == 'flash' else 'block RAM'}, "
                if r.get("form") == "seq" else "")
        synth = f"{r['estimate']['device']}: make -C {out}/rtl synth" if "estimate" in r else \
            f"iCE40: make -C {out}/rtl synth-ice40"
        lines.append(f"  rtl/: {form}{r['lanes']} lane(s), {r['cycles_per_inference']} cycles per inference "
                     f"({r['cycles_over_ideal']}x MACs/lanes); simulation: make -C {out}/rtl sim; {synth}")
        if "form_reason" in r:
            lines.append(f"    form: {r['form_reason']}")
        if "estimate" in r:
            e = r["estimate"]
            spram = f"{e['spram']}/{e['spram_available']} SPRAM, " if e["spram_available"] else ""
            lines.append(f"    fits the {e['device']} (estimated): {e['lc']}/{e['lc_available']} logic cells, "
                         f"{e['ebr']}/{e['ebr_available']} block RAMs, {spram}{e['dsp']}/{e['dsp_available']} DSP")
            if r.get("board_pins"):
                lines.append(f"    iCEBreaker bitstream: make -C {out}/rtl bitstream-icebreaker; AXI4-Stream top "
                             f"wqrc_axis.v, FuseSoC core wqrc.core")
        m = r.get("measured", {})
        if "sim" in m:
            lines.append(f"    simulated: {m['sim']['output_elements']} output elements, {m['sim']['mismatches']} "
                         f"mismatches, {m['sim']['cycles_per_inference']} cycles per inference")
        if "ice40" in m:
            i = m["ice40"]
            if i["fits"]:
                lines.append(f"    iCE40 UP5K: {i['lc']}/{i['lc_available']} LCs, {i['ebr']}/{i['ebr_available']} EBR, "
                             f"{i['spram']} SPRAM, {i['dsp']} DSP, fmax {i['fmax_mhz']} MHz: {i['latency_ms']} ms, "
                             f"{i['inferences_per_s']} inferences/s")
            else:
                lines.append(f"    iCE40 UP5K: does not fit: it needs {i['why']} ({i['lut4']} LUT4, {i['ebr']} EBR)")
        if "ecp5" in m:
            e = m["ecp5"]
            lines.append(f"    ECP5: {e['lut4']}/{e['lut4_available']} LUT4, {e['ebr']}/{e['ebr_available']} DP16KD, "
                         f"{e['dsp']} MULT18X18D, fmax {e['fmax_mhz']} MHz: {e.get('latency_ms')} ms, "
                         f"{e.get('inferences_per_s')} inferences/s")
        if "xilinx" in m:
            x = m["xilinx"]
            lines.append(f"    xc7 (yosys): {x['lut']} LUT, {x['ff']} FF, {x['dsp48e1']} DSP48E1, "
                         f"{x['ramb18']} RAMB18 + {x['ramb36']} RAMB36")
    return "\n".join(lines)
