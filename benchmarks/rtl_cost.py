"""The paper's hardware argument, measured: one Po2 processing element against one DFP element.

    python benchmarks/rtl_cost.py [--bits 2,3,4,5,6,7,8] [--acts 8,16] [--lanes 1,4,16] [--jobs 2]
                                  [--json rows.json] [--plot docs/rtl_cost.png]

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

The whole digits network (examples/digits_cnn.onnx, 4-bit weights, 8-bit
activations) then goes through ``wqrc compile --target rtl --lanes P --measure``
for P = 1, 4, 16 and both schemes: cycles from the Verilator simulation (which
also checks every output element), cells and fmax from yosys + nextpnr-ice40
(UP5K) and yosys synth_xilinx (xc7). ``--plot FILE`` draws both tables.
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
    ap.add_argument("--lanes", default="1,4,16", help="lanes of the whole-network rows ('' for none)")
    ap.add_argument("--plot", help="draw the PE and network tables into this PNG")
    args = ap.parse_args()
    if not shutil.which("yosys"):
        sys.exit("rtl_cost: needs Yosys (apt-get install yosys)")
    bits = [int(v) for v in args.bits.split(",") if v]
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
    net = network_rows([int(v) for v in args.lanes.split(",")], args.jobs) if args.lanes else []
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"pe": rows, "network": net}, fh, indent=1)
    if args.plot:
        plot(rows, net, args.plot)


def network_row(scheme: str, lanes: int) -> dict:
    import warnings

    import wqrc
    from wqrc.compile import compile_model
    from wqrc.data import load_dataset

    ds = load_dataset("digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = wqrc.quantize(wqrc.load_model(os.path.join(ROOT, "examples", "digits_cnn.onnx")), scheme=scheme,
                           bits=4, act_bits=8, calib=ds.x_train[:512])
    with tempfile.TemporaryDirectory() as tmp:
        rep = compile_model(qm, os.path.join(tmp, "out"), ["rtl"], vectors=2, rtl_options={"lanes": lanes},
                            measure=["sim", "ice40", "xilinx"])
    r = rep["rtl"]
    return dict(scheme=scheme, lanes=lanes, macs=r["macs"], cycles=r["cycles_per_inference"],
                cycles_over_ideal=round(r["cycles_per_inference"] * lanes / r["macs"], 3), **r["measured"])


def network_rows(lanes: list[int], jobs: int) -> list[dict]:
    cases = [(s, p) for p in lanes for s in ("po2", "dfp")]
    with ThreadPoolExecutor(jobs) as pool:
        rows = list(pool.map(lambda c: network_row(*c), cases))
    print("\nthe digits CNN at 4-bit weights, a8 (wqrc compile --target rtl --lanes P --measure all)")
    print(f"{'scheme':>6} {'P':>3} | {'cycles':>7} {'x MACs/P':>8} {'mism.':>5} | {'UP5K LC':>8} {'EBR':>4} {'DSP':>3} "
          f"{'fmax MHz':>8} {'inf/s':>7} | {'xc7 LUT':>7} {'FF':>5} {'DSP48':>5} {'BRAM18+36':>9}")
    for r in rows:
        i, x = r["ice40"], r["xilinx"]
        fit = (f"{i['lc']:>8} {i['ebr']:>4} {i['dsp']:>3} {i['fmax_mhz']:>8} {i['inferences_per_s']:>7}" if i["fits"]
               else f"{'no fit':>8} {i['ebr']:>4} {i['dsp']:>3} {'(' + i.get('why', '') + ')':>16}")
        print(f"{r['scheme']:>6} {r['lanes']:>3} | {r['cycles']:>7} {r['cycles_over_ideal']:>8} "
              f"{r['sim']['mismatches']:>5} | {fit} | {x['lut']:>7} {x['ff']:>5} {x['dsp48e1']:>5} "
              f"{str(x['ramb18']) + '+' + str(x['ramb36']):>9}")
    return rows


def plot(pe_rows: list[dict], net_rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if net_rows else 1, figsize=(11 if net_rows else 6, 4), squeeze=False)
    ax = axes[0][0]
    for a in sorted({r["a"] for r in pe_rows}):
        rs = [r for r in pe_rows if r["a"] == a]
        ax.plot([r["b"] for r in rs], [r["po2_ice40"]["lut"] for r in rs], "o-", label=f"Po2 PE, a={a}")
        ax.plot([r["b"] for r in rs], [r["dfp_ice40"]["lut"] for r in rs], "s--", label=f"DFP PE, a={a}")
    ax.set(xlabel="weight bits b", ylabel="iCE40 LUT4 (no DSP)", title="one processing element (yosys)")
    ax.legend(fontsize=8)
    if net_rows:
        ax = axes[0][1]
        for s, m in (("po2", "o-"), ("dfp", "s--")):
            rs = [r for r in net_rows if r["scheme"] == s]
            label = f"{s}-4: xc7 LUTs" + (" (and P x 4 DSP48E1)" if s == "dfp" else " (no DSP)")
            ax.plot([r["lanes"] for r in rs], [r["xilinx"]["lut"] for r in rs], m, label=label)
        ax.set(xscale="log", xlabel="lanes P", ylabel="xc7 LUTs (yosys synth_xilinx)",
               title="digits CNN, whole network")
        ax.set_xticks([r["lanes"] for r in net_rows if r["scheme"] == "po2"])
        ax.set_xticklabels([str(r["lanes"]) for r in net_rows if r["scheme"] == "po2"])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
