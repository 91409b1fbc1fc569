"""benchmarks/m4_cycles.py, the Cortex-M4 cycle estimate, held to micro-kernels whose cycle counts
follow from the Cortex-M4 TRM's table (zero wait states, pipeline refill P = m4_cycles.REFILL).

Each kernel is hand-written Thumb assembly, run in QEMU (mps2-an386) and traced; the instructions
executed inside it (QEMU names the symbol on every trace line) go through the same disassembly
and estimate as the benchmark's model traces. The expected counts are written out rule by rule
from the TRM's table; a rule the estimator drops or misapplies changes one of them.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import needs
import wqrc
from conftest import cached_graph
from wqrc.backend.c import generate_c
from wqrc.pack import pack

pytestmark = [needs.arm, pytest.mark.slow]

spec = importlib.util.spec_from_file_location("m4_cycles", os.path.join(needs.ROOT, "benchmarks", "m4_cycles.py"))
m4 = sys.modules["m4_cycles"] = importlib.util.module_from_spec(spec)  # (its dataclass looks itself up there)
spec.loader.exec_module(m4)
P = m4.REFILL
RET = 1 + P  # bx lr: always taken

# name: (body, argument in r0 (0: the buffer), expected cycles written out from the TRM's rules)
KERNELS = {
    # a single load is 2; each following independent load pipelines into 1
    "k_loads": ("\n".join(f"ldr r{1 + k % 3}, [r0, #{4 * k}]" for k in range(8)), 0, 2 + 7 * 1 + RET),
    # a load whose address is the previous load's result cannot pipeline: 2 each
    "k_load_chain": ("ldr r0, [r0]\nldr r0, [r0]\nldr r0, [r0]\nldr r0, [r0]", 0, 4 * 2 + RET),
    # LDM/PUSH/POP: 1 + N
    "k_ldm": ("push {r4-r8}\nldm r0, {r1-r8}\npop {r4-r8}", 0, 6 + 9 + 6 + RET),
    # dual 16-bit MACs: 1 each
    "k_smlad": ("\n".join("smlad r1, r2, r3, r1" for _ in range(8)), 0, 8 + RET),
    # ten turns of a counted loop: the branch taken nine times (1 + P), not taken once (1)
    "k_loop": ("movs r2, #10\n1:\nsubs r2, #1\nbne 1b", 0, 1 + 10 + 9 * (1 + P) + 1 + RET),
    # an address computed by the previous data-processing instruction: + 1
    "k_agu_stall": ("adds r3, r0, #4\nldr r1, [r3]", 0, 1 + (2 + 1) + RET),
    # stores with an immediate offset: 1 each
    "k_stores": ("str r1, [r0]\nstr r2, [r0, #4]\nstr r3, [r0, #8]", 0, 3 * 1 + RET),
    # a store with a register offset is 2 (its index from the MOVS: + 1) and blocks the next load's pipelining
    "k_store_reg": ("movs r2, #4\nstr r1, [r0, r2]\nldr r3, [r0]", 0, 1 + (2 + 1) + 2 + RET),
    # load, store, load: the store (immediate) 1, the second load pipelines after it
    "k_mixed": ("ldr r1, [r0]\nstr r1, [r0, #4]\nldr r2, [r0, #8]", 0, 2 + 1 + 1 + RET),
    # LDRD: 1 + 2
    "k_ldrd": ("ldrd r2, r3, [r0]", 0, 3 + RET),
    # CBZ taken (r0 = 0): 1 + P; not taken: 1, then the NOP
    "k_cbz_taken": ("cbz r0, 1f\nnop\n1:", 1, (1 + P) + RET),
    "k_cbz_not": ("cbz r0, 1f\nnop\n1:", 2, 1 + 1 + RET),
}


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(per kernel: Counter of (previous address, address) inside it, the disassembly)."""
    tmp = tmp_path_factory.mktemp("m4")
    g, shape = cached_graph("mlp", seed=0)  # any model: its C folder brings the start-up and linker script
    calib = np.random.default_rng(0).uniform(-1, 1, (8,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=8, calib=calib)
    generate_c(qm, pack(qm), str(tmp / "c"), vectors=1, data=calib[:1])
    asm = [".syntax unified", ".thumb", ".text"]
    for name, (body, _, _) in KERNELS.items():
        asm += [".align 2", f".global {name}", f".type {name}, %function", ".thumb_func", f"{name}:", body, "bx lr"]
    (tmp / "k.S").write_text("\n".join(asm) + "\n")
    calls = []
    for name, (_, arg, _) in KERNELS.items():
        calls.append(f"    {name}({'buf' if arg == 0 else '(int *)' + str(arg - 1)});")
    (tmp / "m.c").write_text(
        "".join(f"void {n}(int *p);\n" for n in KERNELS)
        + "static int buf[64];\nint main(void) {\n    buf[0] = (int)buf;\n" + "\n".join(calls) + "\n    return 0;\n}\n")
    mcu = tmp / "c" / "mcu"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", "--specs=rdimon.specs",
                    "-T", str(mcu / "mps2_an386.ld"), "-o", str(tmp / "k.elf"), str(tmp / "m.c"), str(tmp / "k.S"),
                    str(mcu / "startup.c")], check=True)
    trace = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                            "enable=on,target=native", "-kernel", str(tmp / "k.elf"), "-singlestep",
                            "-d", "exec,nochain", "-D", "/dev/stdout"], capture_output=True, timeout=60).stdout
    seen = {n: Counter() for n in KERNELS}
    prev = {n: None for n in KERNELS}
    for line in trace.splitlines():
        name = line.rsplit(b" ", 1)[-1].decode()
        if line.startswith(b"Trace") and name in seen:
            at = line.find(b"[") + 10
            pc = int(line[at:at + 8], 16)
            seen[name][prev[name], pc] += 1
            prev[name] = pc
    return seen, m4.disassemble(str(tmp / "k.elf"))


@pytest.mark.parametrize("name", KERNELS)
def test_estimate_equals_the_trm_count(traced, name):
    seen, table = traced
    assert seen[name], f"{name} never ran"
    assert m4.estimate(seen[name], table) == KERNELS[name][2]


def test_instructions_classified(traced):
    """The parser reads what the rules need: destinations, address registers, register lists."""
    _, table = traced
    ops = {i.op for i in table.values()}
    assert {"ldr", "str", "ldm", "push", "pop", "smlad", "ldrd", "cbz", "b", "bx"} <= ops
    ldm = next(i for i in table.values() if i.op == "ldm" and i.nregs == 8)
    assert ldm.addr == frozenset({"r0"}) and {"r1", "r8"} <= ldm.writes
    st = next(i for i in table.values() if i.op == "str" and i.reg_offset)
    assert st.addr == frozenset({"r0", "r2"}) and not st.writes
