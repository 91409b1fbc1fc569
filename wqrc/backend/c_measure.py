"""Measured figures of the C target (``compile --measure cortex-m4``): the model's own flash and RAM
on a Cortex-M4, from the generated Makefile's ``make size`` (arm-none-eabi-gcc -O2, the model's
objects without the test bench), so that what ``make -C OUT/c size`` shows a user and what the
report says are the same build. Without it the report holds only what the generator knows
exactly (the weights' bytes, the arena and the stack budget), whatever toolchains are installed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

from wqrc.errors import WqrcError

KINDS = {"cortex-m4": (("arm-none-eabi-gcc", "arm-none-eabi-size"),
                       "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")}
# what make size builds, removed again so that OUT holds what compile wrote
LEFTOVERS = ("mcu/wqrc_model.o", "mcu/wqrc_weights.o", "wqrc_test.elf")
SIZE_LINE = re.compile(r"model on a Cortex-M4: flash (\d+) B \(code and weights: text (\d+) \+ data (\d+)\), "
                       r"RAM (\d+) B static")


def check_tools(kinds: list[str]) -> None:
    for k in kinds:
        tools, install = KINDS[k]
        missing = [t for t in tools if not shutil.which(t)]
        if missing:
            raise WqrcError(f"--measure {k}: needs {', '.join(missing)} ({install})")


def measure(folder: str, stack_bytes: int) -> dict:
    """flash and RAM of the model in the generated C ``folder`` on a Cortex-M4."""
    res = subprocess.run(["make", "-s", "-C", folder, "size"], capture_output=True, text=True)
    for name in LEFTOVERS:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            os.remove(path)
    m = SIZE_LINE.search(res.stdout)
    if res.returncode or not m:
        tail = " ".join((res.stdout + res.stderr).strip().splitlines()[-3:])
        raise WqrcError(f"--measure cortex-m4: 'make size' failed: {tail}")
    flash, text, data, static = (int(v) for v in m.groups())
    return {"compiler": "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2", "flash_bytes": flash, "text_bytes": text,
            "data_bytes": data, "ram_static_bytes": static, "ram_bytes": static + stack_bytes}
