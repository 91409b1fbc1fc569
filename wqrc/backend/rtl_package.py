"""IP packaging of OUT/rtl, for either RTL form: an AXI4-Stream top (wqrc_axis.v) around the
valid/ready core, its test bench (tb_axis.v), and a FuseSoC core file (wqrc.core, CAPI=2) that
lists every file the design reads, so the folder drops into FuseSoC, LiteX or Vivado projects.

The core file is written last, from the folder's own listing: a file added to the design can
therefore never be missing from it."""
from __future__ import annotations

import os
import re

from wqrc import __version__
from wqrc.backend.common import environment, render_files

CORE_FILE = "wqrc.core"
TOP = "wqrc_axis"
# the test benches' own files: never part of the synthesized design
TEST_BENCHES = ("tb.v", "tb_axis.v")
SIM_ONLY = TEST_BENCHES + ("wqrc_spi_flash_model.v", "vectors_in.mem", "vectors_out.mem")


def model_stem(source: str) -> str:
    """The model file's stem in the characters a VLNV name and a YAML scalar take safely."""
    stem = os.path.splitext(os.path.basename(source or ""))[0]
    return re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_").lower() or "model"


def core_name(source: str) -> str:
    """The core's VLNV name: vendor wqrc, library model, name the model file's stem."""
    return f"wqrc:model:{model_stem(source)}:{__version__}"


def _entry(name: str) -> str:
    if name.endswith(".vh"):
        return f"      - {name}: {{is_include_file: true}}"
    if name.endswith(".mem"):   # read by $readmemh from the simulator's or synthesizer's folder
        return f"      - {name}: {{file_type: user, copyto: {name}}}"
    return f"      - {name}"


def write_core(folder: str, source: str) -> str:
    """wqrc.core from the files in ``folder``: fileset rtl (the design, top wqrc_axis; wqrc_top is
    the valid/ready core inside it), fileset tb (tb_axis.v and its vectors), targets default,
    sim (Icarus) and lint (Verilator)."""
    names = sorted(n for n in os.listdir(folder) if n.endswith((".v", ".vh", ".mem")))
    design = [n for n in names if n not in SIM_ONLY]
    bench = [n for n in names if n in SIM_ONLY and n != "tb.v"]
    lines = ["CAPI=2:", "", f"name: {core_name(source)}",
             f"description: wqrc accelerator of {model_stem(source)} (AXI4-Stream top {TOP}; "
             f"generated, bit-exact with wqrc's simulator)", "",
             "filesets:", "  rtl:", "    files:", *(_entry(n) for n in design), "    file_type: verilogSource",
             "  tb:", "    files:", *(_entry(n) for n in bench), "    file_type: verilogSource", "",
             "targets:", "  default:", "    filesets: [rtl]", f"    toplevel: {TOP}",
             "  sim:", "    default_tool: icarus", "    filesets: [rtl, tb]", "    toplevel: tb_axis",
             "    tools:", "      icarus:", "        iverilog_options: [-g2005]",
             "  lint:", "    default_tool: verilator", "    filesets: [rtl]", f"    toplevel: {TOP}",
             "    tools:", "      verilator:", "        mode: lint-only", "        verilator_options: [-Wno-fatal]", ""]
    with open(os.path.join(folder, CORE_FILE), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return CORE_FILE


def write_package(folder: str, args: dict, source: str) -> None:
    """The AXI4-Stream top and its test bench (rendered with the form's own arguments), then the core."""
    render_files(environment("rtl"), (("wqrc_axis.v.j2", "wqrc_axis.v"), ("tb_axis.v.j2", "tb_axis.v")), folder, args)
    write_core(folder, source)
