"""The compile driver: QModel -> an output folder with the targets asked for.

OUT/ model.wqrc.npz (the simulator's model), report.json, rom/, c/, hls/, rtl/, qonnx/.
Everything is written into a temporary folder that replaces OUT only on
success, and contains no timestamps or absolute paths, so the same inputs
give byte-identical outputs.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Optional, Sequence

import numpy as np

from wqrc.errors import WqrcError
from wqrc.outputs import atomic_dir
from wqrc.pack import pack, write_rom_files
from wqrc.quant.qmodel import QModel
from wqrc.report import build_report

TARGETS = ("c", "rom", "hls", "rtl", "qonnx")
ALL = ("c", "rom", "hls", "rtl")  # --target all: the hardware targets; qonnx (an exchange format) is asked by name


def parse_targets(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        for t in v.split(","):
            t = t.strip()
            if t == "all":
                out += list(ALL)
            elif t in TARGETS:
                out.append(t)
            else:
                raise WqrcError(f"--target: unknown target '{t}' (use c, rom, hls, rtl, qonnx or all)")
    return [t for t in TARGETS if t in out]


def resolve_targets(targets: Sequence[str], measure: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """The targets and the measurements asked for, checked before any work: an RTL measurement
    needs the rtl target, an MCU (c_measure.KINDS) the c target, and each its tools."""
    from wqrc.backend import c_measure
    from wqrc.backend.rtl_measure import check_tools, parse_measure

    chosen = parse_targets([targets] if isinstance(targets, str) else list(targets))
    asked = [k.strip() for v in measure for k in str(v).split(",")]
    mcu = [k for k in c_measure.KINDS if k in asked]
    measured = parse_measure([k for k in asked if k not in c_measure.KINDS])
    if measured and "rtl" not in chosen:
        raise WqrcError("--measure: needs the rtl target (--target rtl or all)")
    if mcu and "c" not in chosen:
        raise WqrcError(f"--measure {mcu[0]}: needs the c target (--target c or all)")
    check_tools(measured)
    c_measure.check_tools(mcu)
    return chosen, measured + mcu


def build_products(targets: Sequence[str]) -> list[str]:
    """What the Makefiles of these targets build, relative to OUT (the manifest lists them)."""
    import importlib
    return [f"{t}/{p}" for t in targets if t in ("c", "hls", "rtl")
            for p in importlib.import_module(f"wqrc.backend.{t}").BUILD_PRODUCTS]


def compile_model(qm: QModel, out: str, targets: Sequence[str], *, word_bits: int = 32, vectors: int = 8,
                  data: Optional[np.ndarray] = None, force: bool = False, accuracy: Optional[dict] = None,
                  hls_options: Optional[dict] = None, rtl_options: Optional[dict] = None,
                  measure: Sequence[str] = (), extra_json: Optional[dict] = None,
                  inputs: Iterable[Optional[str]] = (), health: Optional[dict] = None) -> dict:
    """Write OUT; returns the report (also written as OUT/report.json).

    ``extra_json`` maps file names to documents written beside the report (the
    plan of ``--bits auto``); ``inputs`` are the command's input files, which
    OUT must not hold; ``health``: the quantization health check (wqrc.quant.health) for the report. The report depends on the model and the options only,
    never on which toolchains are installed, so equal inputs give equal bytes.
    """
    from wqrc.backend.common import test_vectors

    rom = pack(qm, word_bits)
    report = build_report(qm, word_bits, accuracy)
    report["targets"] = list(targets)
    if health:
        report["health"] = health
    if extra_json and "plan.json" in extra_json:
        report["plan"] = "plan.json"
    if "qonnx" in targets:  # refused before anything is written (float32 exactness, docs/format.md §3)
        from wqrc.backend.qonnx import qonnx_model
        qonnx_doc = qonnx_model(qm)
    vecs = test_vectors(qm, vectors, data) if {"c", "hls", "rtl"} & set(targets) else None
    with atomic_dir(out, force=force, inputs=inputs, products=build_products(targets)) as tmp:
        qm.save(os.path.join(tmp, "model.wqrc.npz"))
        write_rom_files(rom, os.path.join(tmp, "rom"))
        if "c" in targets:
            from wqrc.backend.c import generate_c
            report["c"] = generate_c(qm, rom, os.path.join(tmp, "c"), vecs=vecs)
            from wqrc.backend import c_measure
            mcu_kinds = [k for k in measure if k in c_measure.KINDS]
            if mcu_kinds:
                report["c"]["measured"] = {k: c_measure.measure(os.path.join(tmp, "c"), report["c"]["stack_bytes"])
                                           for k in mcu_kinds}
        if "hls" in targets:
            from wqrc.backend.hls import generate_hls
            report["hls"] = generate_hls(qm, rom, os.path.join(tmp, "hls"), vecs=vecs, **(hls_options or {}))
        if "qonnx" in targets:
            from wqrc.backend.qonnx import write_qonnx
            report["qonnx"] = write_qonnx(qonnx_doc, os.path.join(tmp, "qonnx"))
        if "rtl" in targets:
            from wqrc.backend.rtl import generate_rtl
            if "ecp5" in measure and (rtl_options or {}).get("form", "layers") == "layers":
                raise WqrcError("--measure ecp5: only --rtl-form seq is built for the ECP5 (make synth-ecp5)")
            report["rtl"] = generate_rtl(qm, rom, os.path.join(tmp, "rtl"), vecs=vecs, **(rtl_options or {}))
            from wqrc.backend import c_measure
            rtl_kinds = [k for k in measure if k not in c_measure.KINDS]
            if rtl_kinds:
                from wqrc.backend.rtl_measure import measure as run_measurements
                report["rtl"]["measured"] = got = run_measurements(os.path.join(tmp, "rtl"), rtl_kinds)
                for part in ("ice40", "ecp5"):   # latency = cycles / fmax
                    fmax = got.get(part, {}).get("fmax_mhz")
                    if fmax:
                        cycles = report["rtl"]["cycles_per_inference"]
                        got[part]["inferences_per_s"] = round(fmax * 1e6 / cycles, 1)
                        got[part]["latency_ms"] = round(cycles / (fmax * 1e3), 3)
        for name, doc in {**(extra_json or {}), "report.json": report}.items():
            with open(os.path.join(tmp, name), "w") as fh:
                json.dump(doc, fh, indent=2, sort_keys=True)
                fh.write("\n")
        from wqrc.report_html import render_html
        with open(os.path.join(tmp, "report.html"), "w", encoding="utf-8") as fh:
            fh.write(render_html(report, qm, os.path.basename(qm.meta.get("source", "") or "")))
    return report
