"""The paper's hardware argument, measured: one Po2 processing element against one DFP element.

    python benchmarks/rtl_cost.py [--bits 2,3,4,5,6,7,8] [--acts 8,16] [--jobs 2]

Each element (hw/rtl/wqrc_pe_po2.v: shift and add/subtract; hw/rtl/wqrc_pe_dfp.v:
a B x A-bit multiply) is synthesized by Yosys for two families:

* iCE40 (``synth_ice40``, no DSP inference): 4-input LUTs, carry cells and
  flip-flops; the fabric cost of the arithmetic. With ``-dsp`` the DFP element
  takes an SB_MAC16, the Po2 element never does (the DSP column).
* Xilinx 7-series (``synth_xilinx``, its default DSP48E1 inference): LUTs, FFs
  and DSP48E1 blocks.

Both elements get the accumulator their products need for a fan-in of 256 (the
largest Po2 product is the activation shifted by 2^(b-1) - 2, the largest DFP
product b + a bits), so each pays for its own dynamic range: the Po2 element's
accumulator grows fast with b, which is why the paper stops at low b. The
ratio column is Po2 LUTs / DFP LUTs on the iCE40 fabric (the target: <= 0.5).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTL = os.path.join(ROOT, "hw", "rtl")
FAN_IN_BITS = 8  # fan-in 256


def acc_width(scheme: str, b: int, a: int) -> int:
    product = a + 1 + ((1 << (b - 1)) - 2 if scheme == "po2" else b - 1)
    return product + FAN_IN_BITS


def synth(scheme: str, b: int, a: int, family: str) -> dict:
    """Cell counts of one element; family: ice40 (fabric only), ice40-dsp or xilinx."""
    top = f"wqrc_pe_{scheme}"
    cmd = {"ice40": f"synth_ice40 -top {top}", "ice40-dsp": f"synth_ice40 -dsp -top {top}",
           "xilinx": f"synth_xilinx -family xc7 -top {top}"}[family]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stat.json")
        script = (f"read_verilog {os.path.join(RTL, top + '.v')}; "
                  f"chparam -set B {b} -set A {a} -set ACC_W {acc_width(scheme, b, a)} {top}; {cmd}; "
                  f"tee -q -o {out} stat -json")
        subprocess.run(["yosys", "-q", "-p", script], check=True, capture_output=True, text=True)
        with open(out) as fh:
            cells = json.load(fh)["design"]["num_cells_by_type"]
    lut = sum(n for t, n in cells.items() if t == "SB_LUT4" or t.startswith("LUT"))
    ff = sum(n for t, n in cells.items() if t.startswith("SB_DFF") or t.startswith("FD"))
    dsp = sum(n for t, n in cells.items() if t in ("SB_MAC16", "DSP48E1"))
    carry = sum(n for t, n in cells.items() if t in ("SB_CARRY", "CARRY4"))
    return dict(lut=lut, ff=ff, dsp=dsp, carry=carry)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", default="2,3,4,5,6,7,8")
    ap.add_argument("--acts", default="8,16")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    if not shutil.which("yosys"):
        sys.exit("rtl_cost: needs Yosys (apt-get install yosys)")
    bits = [int(v) for v in args.bits.split(",")]
    acts = [int(v) for v in args.acts.split(",")]
    jobs = [(s, b, a, f) for a in acts for b in bits for s in ("po2", "dfp") for f in ("ice40", "ice40-dsp", "xilinx")]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(jobs, pool.map(lambda j: synth(*j), jobs)))
    rows = []
    print("one processing element (multiply or shift, add, accumulator register); Yosys "
          + subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.split()[1])
    print(f"{'a':>3} {'b':>3} | {'acc po2/dfp':>11} | {'iCE40 LUT4 po2':>14} {'dfp':>5} {'ratio':>6} | "
          f"{'SB_MAC16 po2':>12} {'dfp':>4} | {'xc7 LUT po2':>11} {'dfp':>5} {'DSP48 po2':>9} {'dfp':>4}")
    for a in acts:
        for b in bits:
            r = {(s, f): results[(s, b, a, f)] for s in ("po2", "dfp") for f in ("ice40", "ice40-dsp", "xilinx")}
            ratio = r["po2", "ice40"]["lut"] / r["dfp", "ice40"]["lut"]
            rows.append(dict(a=a, b=b, acc_po2=acc_width("po2", b, a), acc_dfp=acc_width("dfp", b, a),
                             ratio_ice40_lut=round(ratio, 3), **{f"{s}_{f}": v for (s, f), v in r.items()}))
            print(f"{a:>3} {b:>3} | {acc_width('po2', b, a):>5}/{acc_width('dfp', b, a):<5} | "
                  f"{r['po2', 'ice40']['lut']:>14} {r['dfp', 'ice40']['lut']:>5} {ratio:>6.2f} | "
                  f"{r['po2', 'ice40-dsp']['dsp']:>12} {r['dfp', 'ice40-dsp']['dsp']:>4} | "
                  f"{r['po2', 'xilinx']['lut']:>11} {r['dfp', 'xilinx']['lut']:>5} "
                  f"{r['po2', 'xilinx']['dsp']:>9} {r['dfp', 'xilinx']['dsp']:>4}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
