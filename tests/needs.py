"""What tests need from outside Python, in one place: each a skip marker whose reason says what to install.

A test that needs a tool, a data package or headers the machine lacks is
skipped, never failed; `.ci/run` installs all of them, so CI runs every test.
"""
from __future__ import annotations

import os
import shutil

import pytest

from wqrc.data import FASHION_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AP_TYPES = os.environ.get("WQRC_AP_TYPES", os.path.join(ROOT, "build", "ap_types"))


def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


HAVE_CC = have("cc", "make")
HAVE_CXX = have("g++", "make")
HAVE_CMAKE = have("cmake", "ctest", "cc")
CHROMIUM = next((t for t in ("chromium", "chromium-browser", "google-chrome") if have(t)), None)
HAVE_ARM = have("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
# Debian's picolibc for the RISC-V cross compiler puts its specs file here
HAVE_RISCV = have("riscv64-unknown-elf-gcc", "qemu-system-riscv32") and os.path.isfile(
    "/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs")
HAVE_AP = os.path.isfile(os.path.join(AP_TYPES, "ap_int.h"))
HAVE_IVERILOG = have("iverilog", "vvp")
HAVE_VERILATOR = have("verilator")
HAVE_YOSYS = have("yosys")
HAVE_FASHION = os.path.isfile(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"))

cc = pytest.mark.skipif(not HAVE_CC, reason="needs a C compiler and make (apt-get install gcc make)")
cmake = pytest.mark.skipif(not HAVE_CMAKE, reason="needs CMake and a C compiler (apt-get install cmake gcc)")
chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
cxx = pytest.mark.skipif(not HAVE_CXX, reason="needs g++ and make (apt-get install g++ make)")
arm = pytest.mark.skipif(not HAVE_ARM, reason="needs the Cortex-M toolchain and QEMU (apt-get install "
                                               "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
riscv = pytest.mark.skipif(not HAVE_RISCV, reason="needs the RISC-V toolchain, picolibc and QEMU (apt-get install "
                                                   "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf "
                                                   "qemu-system-misc)")
ap_types = pytest.mark.skipif(not HAVE_AP, reason=f"needs Xilinx's ap_int.h in {AP_TYPES} "
                                                  f"(.ci/run fetches it from the hls4ml wheel)")
fashion = pytest.mark.skipif(not HAVE_FASHION, reason="needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")
iverilog = pytest.mark.skipif(not HAVE_IVERILOG, reason="needs Icarus Verilog (apt-get install iverilog)")
verilator = pytest.mark.skipif(not HAVE_VERILATOR, reason="needs Verilator (apt-get install verilator)")
yosys = pytest.mark.skipif(not HAVE_YOSYS, reason="needs Yosys (apt-get install yosys)")
