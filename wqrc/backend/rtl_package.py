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
    if name.endswith(".pcf"):   # the iCEBreaker's pins (icestorm's format)
        return f"      - {name}: {{file_type: PCF}}"
    if name.endswith(".mem"):   # read by $readmemh from the simulator's or synthesizer's folder
        return f"      - {name}: {{file_type: user, copyto: {name}}}"
    return f"      - {name}"


def write_core(folder: str, source: str) -> str:
    """wqrc.core from the files in ``folder``: fileset rtl (the design, top wqrc_axis; wqrc_top is
    the valid/ready core inside it), fileset tb (tb_axis.v and its vectors), targets default,
    sim (Icarus) and lint (Verilator)."""
    names = sorted(n for n in os.listdir(folder) if n.endswith((".v", ".vh", ".mem", ".pcf")))
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


# The iCEBreaker (an iCE40 UP5K board): its 12 MHz clock, its SPI flash, and the 24 pins of its
# three PMOD connectors in the order the accelerator's ports take them (1BitSquared's icebreaker.pcf)
ICEBREAKER_CLK = 35
ICEBREAKER_FLASH = dict(flash_cs_n=16, flash_sck=15, flash_mosi=14, flash_miso=17)
ICEBREAKER_PMOD = [4, 2, 47, 45, 3, 48, 46, 44,          # PMOD1A 1-4, 7-10
                   43, 38, 34, 31, 42, 36, 32, 28,       # PMOD1B
                   27, 25, 21, 19, 26, 23, 20, 18]       # PMOD2
ICEBREAKER_PCF = "icebreaker.pcf"


def icebreaker_pins(in_w: int, out_w: int, flash: bool) -> list[tuple[str, int]] | None:
    """wqrc_top's ports on the iCEBreaker's pins: clk on its oscillator, the weights' flash on its
    flash, and rst, the two handshakes and both data buses on the PMODs (a host MCU or a logic
    analyser drives them); None when the buses need more pins than the PMODs have."""
    ports = ["rst", "in_valid", "in_ready", "out_valid", "out_ready"]
    ports += [f"in_data[{i}]" for i in range(in_w)] + [f"out_data[{i}]" for i in range(out_w)]
    if len(ports) > len(ICEBREAKER_PMOD):
        return None
    pins = [("clk", ICEBREAKER_CLK)] + list(zip(ports, ICEBREAKER_PMOD))
    return pins + (list(ICEBREAKER_FLASH.items()) if flash else [])


def write_board(folder: str, args: dict) -> str | None:
    """icebreaker.pcf for a design compiled for the UP5K (make bitstream-icebreaker places with it)."""
    part = args.get("part")
    if not part or part["key"] != "up5k":
        return None
    pins = icebreaker_pins(args["in_w"], args["out_w"], bool(args.get("flash")))
    if pins is None:
        return None
    lines = ["# wqrc_top on an iCEBreaker (iCE40 UP5K, SG48): clk is the board's 12 MHz oscillator;",
             "# rst, the handshakes and the buses are on PMOD1A, PMOD1B and PMOD2 in this order (docs/quickstart.md)"]
    lines += [f"set_io {port} {pin}" for port, pin in pins]
    with open(os.path.join(folder, ICEBREAKER_PCF), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return ICEBREAKER_PCF


def write_package(folder: str, args: dict, source: str) -> str | None:
    """The AXI4-Stream top and its test bench (rendered with the form's own arguments), the board's
    pin constraints where the part has one, then the core; returns the pin file's name, or None."""
    render_files(environment("rtl"), (("wqrc_axis.v.j2", "wqrc_axis.v"), ("tb_axis.v.j2", "tb_axis.v")), folder, args)
    pins = write_board(folder, args)
    write_core(folder, source)
    return pins
