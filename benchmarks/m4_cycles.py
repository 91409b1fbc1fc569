"""Estimated Cortex-M4 cycles of an executed-instruction trace, from the cycle table of Arm's
Cortex-M4 Technical Reference Manual (DDI 0439, table 3-1, and its load/store timing rules).

Why an estimate of our own: QEMU executes Thumb code exactly but keeps no time, and users
compare milliseconds on boards (MLPerf Tiny), where a load costs two cycles and a taken branch
up to four: a kernel that trades MACs for loads looks better in instructions than in cycles.
The trace is what count_pairs collects: how often each executed instruction followed each
other one (pairs of addresses), which is all the rules below need.

The rules, with zero-wait-state memory assumed (flash wait states and bus contention of a real
part are not modelled, so a board can only be slower):
- data processing, multiplies (MUL, MLA, SMULL, SMLAL, SMLAD, ...), extends, saturation: 1;
  with the PC as destination 1 + P;
- SDIV/UDIV: 2 to 12 by the operands' leading zeros (early termination); DIV_CYCLES assumed;
- LDR, LDRB, LDRH, LDRSB, LDRSH, LDREX: 2, but 1 when the previous instruction was a single
  load or a store with an immediate offset (neighbouring loads and stores pipeline), unless
  that instruction wrote a register this one's address needs;
- STR (B, H) with an immediate offset: 1 ("always one cycle"); with a register offset: 2, and
  the next load cannot pipeline after it;
- LDRD, STRD: 1 + 2; LDM, STM, PUSH, POP: 1 + N (N registers), + P when POP or LDM loads PC;
- a load or store whose address uses a register written by the previous data-processing
  instruction: + 1 (no forwarding path to the address generator);
- branches (B, BL, BX, BLX, CBZ, CBNZ, conditional B): 1 + P when taken (the next executed
  address is not the following instruction), 1 when not; TBB/TBH: 2 + P;
- IT: 1 (the TRM allows folding it into a preceding 16-bit instruction; not assumed).
P, the pipeline refill, is 1 to 3 by the target's alignment and width and by whether the
core speculated the address early; REFILL assumed. tests/test_m4_cycles.py holds these rules to
micro-kernels whose counts follow from the table.
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass

REFILL = 2        # P: pipeline refill after a taken branch (the TRM: 1 to 3)
DIV_CYCLES = 7    # SDIV/UDIV: 2 to 12 with early termination; the middle assumed

_LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t([a-z0-9.]+)\s*(.*)$")
_ALIAS = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "r13": "sp", "r14": "lr", "r15": "pc"}
_REG = re.compile(r"\b(r1[0-5]|r[0-9]|sp|lr|pc|ip|fp|sl|sb)\b")
_CONDS = ("eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")
_SINGLE_LOADS = ("ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrt", "ldrbt", "ldrht", "ldrsbt", "ldrsht")
_SINGLE_STORES = ("str", "strb", "strh", "strex", "strt", "strbt", "strht")
_BRANCHES = ("b", "bl", "bx", "blx", "cbz", "cbnz")
_BRANCH = re.compile(r"^(blx|bl|bx|b)(" + "|".join(_CONDS) + ")?$")


@dataclass(frozen=True)
class Insn:
    """One Thumb instruction as the rules need it."""
    op: str                   # mnemonic without condition, width (.n/.w) or flag-setting s
    size: int                 # bytes: 2 or 4
    writes: frozenset         # registers it writes
    addr: frozenset           # registers its memory address reads (loads and stores)
    nregs: int = 0            # registers moved by LDM/STM/PUSH/POP
    reg_offset: bool = False  # a load/store addressed [Rn, Rm]
    writes_pc: bool = False


def _regs(text: str) -> list[str]:
    return [_ALIAS.get(r, r) for r in _REG.findall(text)]


def _base_op(mnemonic: str) -> str:
    """'bne.n' -> 'b', 'movs' -> 'mov', 'ldrbeq' -> 'ldrb', 'smladx' -> 'smladx'."""
    op = mnemonic.split(".")[0]
    if op.startswith("it") and set(op[2:]) <= {"t", "e"}:
        return "it"
    branch = _BRANCH.match(op)
    if branch:
        return branch.group(1)
    for c in _CONDS:  # a condition inside an IT block
        if op.endswith(c) and len(op) > 2 and (_known(op[:-2]) or (op[-3] == "s" and _known(op[:-3]))):
            op = op[:-2]
            break
    if op.endswith("s") and not _known(op) and _known(op[:-1]):
        op = op[:-1]
    return {"ldmia": "ldm", "ldmfd": "ldm", "stmia": "stm", "stmea": "stm", "addw": "add", "subw": "sub"}.get(op, op)


def _known(op: str) -> bool:
    return op in _KNOWN


_KNOWN = set(_SINGLE_LOADS + _SINGLE_STORES + _BRANCHES) | {
    "ldrd", "strd", "ldm", "ldmia", "ldmdb", "ldmfd", "stm", "stmia", "stmdb", "stmea", "addw", "subw", "push", "pop",
    "tbb", "tbh", "it", "mov", "mvn", "add", "adc", "sub", "sbc", "rsb", "and", "orr", "orn", "eor", "bic",
    "lsl", "lsr", "asr", "ror", "rrx", "cmp", "cmn", "tst", "teq", "mul", "mla", "mls", "smull", "umull",
    "smlal", "umlal", "sdiv", "udiv", "movw", "movt", "adr", "neg", "nop", "sxtb", "sxth", "uxtb", "uxth",
    "sxtab", "sxtah", "uxtab", "uxtah", "sxtb16", "uxtb16", "sxtab16", "uxtab16", "ssat", "usat",
    "ssat16", "usat16", "clz", "rbit", "rev", "rev16", "revsh", "bfi", "bfc", "ubfx", "sbfx", "pkhbt",
    "pkhtb", "sel", "smlad", "smladx", "smlsd", "smuad", "smusd", "smlabb", "smlabt", "smlatb", "smlatt",
    "smulbb", "smulbt", "smultb", "smultt", "smlawb", "smlawt", "smmul", "smmla", "uadd8", "usub8", "sadd16",
    "ssub16", "uadd16", "qadd", "qsub", "qadd16", "pld", "bkpt", "svc", "dmb", "dsb", "isb", "mrs", "msr", "cpsid", "cpsie", "wfi", "wfe"}


def _parse(raw: str, mnemonic: str, operands: str) -> Insn:
    size = len(raw.replace(" ", "")) // 2
    op = _base_op(mnemonic)
    operands = operands.split(";")[0].split("@")[0]
    regs = _regs(operands)
    mem = re.search(r"\[([^\]]*)\]", operands)
    addr = frozenset(_regs(mem.group(1))) if mem else frozenset()
    writeback = "!" in operands or bool(mem and re.search(r"\],\s*#", operands))
    if op in ("push", "pop") or op.startswith(("ldm", "stm")):
        lst = re.search(r"\{([^}]*)\}", operands)
        names = _expand(lst.group(1)) if lst else []
        base = [] if op in ("push", "pop") else regs[:1]
        writes = set(base if "!" in operands or op in ("push", "pop") else [])
        writes |= {"sp"} if op in ("push", "pop") else set()
        if op == "pop" or op.startswith("ldm"):
            writes |= set(names)
        return Insn(op, size, frozenset(writes), frozenset(base or ["sp"]), nregs=len(names),
                    writes_pc="pc" in names and (op == "pop" or op.startswith("ldm")))
    if op in _SINGLE_LOADS or op in ("ldrd",):
        dest = regs[:2] if op == "ldrd" else regs[:1]
        writes = set(dest) | (set(list(addr)[:1]) if writeback else set())
        return Insn(op, size, frozenset(writes), addr, reg_offset=len(addr) > 1, writes_pc="pc" in dest)
    if op in _SINGLE_STORES or op == "strd":
        writes = {regs[0]} if op == "strex" else set()
        if writeback and mem:
            writes |= set(_regs(mem.group(1))[:1])
        return Insn(op, size, frozenset(writes), addr, reg_offset=len(addr) > 1)
    if op in _BRANCHES or op in ("tbb", "tbh", "cmp", "cmn", "tst", "teq", "it", "nop", "bkpt", "dmb", "dsb", "isb"):
        writes = {"lr"} if op in ("bl", "blx") else set()
        return Insn(op, size, frozenset(writes), addr)
    dest = regs[:2] if op in ("smull", "umull", "smlal", "umlal") else regs[:1]
    return Insn(op, size, frozenset(dest), frozenset(), writes_pc="pc" in dest)


def _expand(reglist: str) -> list[str]:
    out = []
    for part in reglist.split(","):
        part = part.strip()
        if "-" in part:
            a, b = (_ALIAS.get(x.strip(), x.strip()) for x in part.split("-"))
            out += [f"r{i}" for i in range(int(a[1:]), int(b[1:]) + 1)]
        elif part:
            out.append(_ALIAS.get(part, part))
    return out


def disassemble(elf: str, objdump: str = "arm-none-eabi-objdump") -> dict[int, Insn]:
    """Every instruction of ``elf`` by address (data words in code, '.word', left out)."""
    text = subprocess.run([objdump, "-d", elf], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and not m.group(3).startswith("."):
            table[int(m.group(1), 16)] = _parse(m.group(2), m.group(3), m.group(4))
    return table


def base_cycles(i: Insn) -> int:
    """Cycles before the neighbour rules: the TRM's count with nothing pipelined, not taken."""
    if i.op in _SINGLE_LOADS:
        return 2 + (REFILL if i.writes_pc else 0)
    if i.op in _SINGLE_STORES:
        return 2 if i.reg_offset else 1
    if i.op in ("ldrd", "strd"):
        return 3
    if i.op in ("push", "pop") or i.op.startswith(("ldm", "stm")):
        return 1 + i.nregs + (REFILL if i.writes_pc else 0)
    if i.op in ("tbb", "tbh"):
        return 2 + REFILL
    if i.op in ("sdiv", "udiv"):
        return DIV_CYCLES
    if i.op in ("bl", "blx", "bx"):
        return 1 + REFILL  # always taken
    return 1 + (REFILL if i.writes_pc else 0)


def _is_memory(i: Insn) -> bool:
    return bool(i.addr) or i.op in ("push", "pop")


def pair_cycles(a: Insn, b: Insn, b_addr: int, a_addr: int) -> int:
    """The change to ``b``'s cycles (and to ``a``'s, for a taken branch) when ``b`` runs right
    after ``a``: load pipelining, the address-generation stall, a taken branch's refill."""
    delta = 0
    if a.op in ("b", "cbz", "cbnz") and b_addr != a_addr + a.size:
        delta += REFILL  # a conditional branch taken
    if b.op in _SINGLE_LOADS and not b.writes_pc:
        pipelined = (a.op in _SINGLE_LOADS or (a.op in _SINGLE_STORES and not a.reg_offset))
        if pipelined and not (a.writes & b.addr):
            delta -= 1
    if _is_memory(b) and b.addr and not _is_memory(a) and a.writes & b.addr:
        delta += 1
    return delta


def count_pairs(lines, pc_of=None) -> Counter:
    """(previous address, address) -> how often, over trace ``lines`` (QEMU ``-d exec``)."""
    pairs, prev = Counter(), None
    for line in lines:
        pc = pc_of(line) if pc_of else line
        pairs[prev, pc] += 1
        prev = pc
    return pairs


def estimate(pairs: Counter, table: dict[int, Insn]) -> int:
    """Cycles of the instructions counted in ``pairs`` (the first one's predecessor is None)."""
    total = 0
    for (a, b), n in pairs.items():
        ib = table.get(b)
        if ib is None:
            raise KeyError(f"no instruction at 0x{b:x} in the disassembly")
        cyc = base_cycles(ib)
        if a is not None:
            cyc += pair_cycles(table[a], ib, b, a)
        total += n * cyc
    return total
