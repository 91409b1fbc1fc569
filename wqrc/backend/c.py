"""C99 target: packed weights in flash, hand-written kernels (hw/c), generated glue.

Generates, in one folder: ``wqrc_model.h`` (the API and sizes), ``wqrc_model.c``
(layer parameters, buffer plan, the call sequence), ``wqrc_weights.c`` (the ROM
image and layer table), the kernels, ``main.c`` (a testbench with simulator
vectors), ``Makefile``, ``CMakeLists.txt`` (the library target ``wqrc::model`` for
``add_subdirectory``, and the testbench under CTest) and ``mcu/`` (Cortex-M start-up,
linker script and CMake toolchain file).
"""
from __future__ import annotations

import os

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from wqrc.backend import names
from wqrc.backend.common import c_int, copy_kernels, ctype, environment, extra_outputs, render_files, short, test_vectors
from wqrc.backend.planner import plan_arena, storage_bits
from wqrc.errors import WqrcError
from wqrc.lower import (AddCall, AliasCall, Call, ConvCall, CopyCall, LutCall, MulCall, PadCall, PoolCall, UpsampleCall,
                        lower)
from wqrc.pack.rom import Rom
from wqrc.quant.qmodel import QModel
from wqrc.quant.schemes import Po2

# What the written Makefile builds (its `make clean`); a later --force may remove these with the output.
BUILD_PRODUCTS = ("wqrc_test", "wqrc_test.elf", "wqrc_test.m55.elf", "wqrc_test.rv.elf", "mcu/*.o")
# The QEMU boards the Cortex-M test bench runs on (make mcu-run CPU=...), a linker script each
# (templates/c/mcu.ld.j2): code and weights in FLASH, the arena, stack and heap in RAM
MCU_BOARDS = (
    dict(file="mps2_an386.ld", name="mps2-an386", core="Cortex-M4", flash=("0x00000000", "4M"),
         ram=("0x20000000", "4M"), about="4 MiB code memory at 0, 4 MiB SRAM at 0x20000000."),
    dict(file="mps3_an547.ld", name="mps3-an547", core="Cortex-M55", flash=("0x00000000", "512K"),
         ram=("0x20000000", "512K"), about="512 KiB ITCM at 0 (code), 512 KiB DTCM at 0x20000000."),
)
# hw/c, copied beside the generated files: the runtime by concern (wqrc_rt.h includes the other
# headers; wqrc_mve.h's functions exist only where the core has Helium). The kernels
# (hw/c/kernels/*.h.j2) are rendered per type combination the model uses, one file a kernel,
# named by its function: kernels/wqrc_dmac_s8_s8.h holds wqrc_dmac_s8_s8.
KERNEL_FILES = ("wqrc_rt.h", "wqrc_types.h", "wqrc_requant.h", "wqrc_simd.h", "wqrc_mve.h", "wqrc_decode.h")
CTYPES = dict(s8="int8_t", u8="uint8_t", s16="int16_t", u16="uint16_t", s32="int32_t", u32="uint32_t")
# Decoded-weight scratch of the dual-MAC kernel, in q15 elements: at most this many
# (8 KB of RAM), and never more than the largest layer needs.
WBUF_LIMIT = 4096
# the dual-MAC kernel's path for small fans (a grayscale image's 3x3 window): a layer whose fan,
# rounded up to even, is at most SMALL_FAN keeps one channel's q15 weights in registers over a
# chunk of SMALL_FAN_CHUNK gathered positions (the dual-MAC kernel's _chunks path), instead of gathering a pair of
# positions and running every channel against it
SMALL_FAN = 10
SMALL_FAN_CHUNK = 32
# Raw sums the depthwise kernel computes before requantizing them (1 KB of RAM)
DW_ACC_LIMIT = 256
# The Winograd kernel's transformed weights (16 per 3x3 window) of one block of output channels, in
# q15 elements: at most this many (16 KB of RAM); a layer whose two channels would not fit keeps
# the dual-MAC kernel. Below WINO_MIN_OUTPUTS outputs per channel its transforms cost more than
# the MACs they save (estimated M4 cycles per MAC, DFP-8, Winograd against dual-MAC: ResNet-8's
# 8x8 maps 1.48 against 1.59, 16x16 1.16 against 1.70; fashion's 14x14 1.40 against 1.82, but its
# 7x7 1.89 against 1.76, 16 tiles computing 64 outputs for 49, and digits' 4x4 2.72 against 2.18).
WINO_U_LIMIT = 8192
WINO_MIN_OUTPUTS = 64
# Below this many input channels (even-rounded) a product is too short a dot product for its
# row pair's setup: ResNet-8's first layer (3 channels) took 4.8 estimated M4 cycles a MAC
# there, 2.6 in the dual-MAC kernel
WINO_MIN_IN_C = 16
# F(2x2, 3x3) with G's halves doubled (G' = 2G), as hw/c/kernels/wino.h.j2 computes U = G' g G'^T
WINO_G2 = np.array([[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]], dtype=np.int64)
# The stack wqrc_run may take, stated in the header beside the arena: the deepest chain
# (wqrc_run, a kernel, its helpers, libc's memcpy) measured 600 bytes for Cortex-M4 -O2;
# tests/test_c_target.py measures it with -fstack-usage on every build it checks.
STACK_BYTES = 1024
# From this many ROM words on, the C ROM image is a string literal of little-endian bytes
ROM_BYTES_FROM = 1 << 16
WORD_TYPES = {8: "uint8_t", 16: "uint16_t", 32: "uint32_t", 64: "uint64_t"}


def _accumulator(call: ConvCall) -> tuple[str, str]:
    bits = call.acc_bits
    if bits <= 32:
        return "int32_t", "bias32"
    if bits <= 64:
        return "int64_t", "bias64"
    raise WqrcError(
        f"layer '{call.name}': its accumulator needs {bits} bits ({call.scheme} b={call.bits}); "
        "the C target supports up to 64: use fewer bits or narrower activations"
    )


def _winograd_fits(geo: dict, in_type: str, multipliers: np.ndarray) -> bool:
    """Whether the Winograd kernel (hw/c/kernels/wino.h.j2) runs this dual-MAC layer exactly and
    pays: a 3x3 window at stride 1 of 8-bit inputs, at least WINO_MIN_OUTPUTS outputs a channel
    and WINO_MIN_IN_C input channels, two channels' transformed weights within WINO_U_LIMIT,
    every transformed weight U = G' g G'^T within q15, and every partial sum below 2^31: the
    products' sums over input channels are at most sum_c max|U_c| * 4 max|x| (|V| <= 4 max|x|)
    and A^T M A at most 9 times that. The weights are the layer's multipliers, as the kernel
    decodes them (per-channel exponents stay in the shifts)."""
    if (geo["k_h"], geo["k_w"], geo["stride_h"], geo["stride_w"], geo["dil_h"], geo["dil_w"]) != (3, 3, 1, 1, 1, 1):
        return False
    ce = geo["in_c"] + geo["in_c"] % 2
    if (ce < WINO_MIN_IN_C or in_type not in ("u8", "s8") or geo["out_h"] * geo["out_w"] < WINO_MIN_OUTPUTS
            or 32 * ce > WINO_U_LIMIT):
        return False
    g = np.asarray(multipliers, dtype=object).astype(np.int64)
    u = np.einsum("ak,ockl,bl->ocab", WINO_G2, g, WINO_G2)
    x_max = 255 if in_type == "u8" else 128
    sums = np.abs(u).max(axis=(2, 3)).sum(axis=1) * 4 * x_max
    return int(np.abs(u).max()) <= 32767 and 9 * int(sums.max()) < 2 ** 31


def _kernel(call: ConvCall, geo: dict, tacc: str, in_type: str, multipliers: np.ndarray) -> str:
    """Which hand-written kernel runs a conv/dense layer: "dmac", "wino", "dw" or "taps".

    The q15 kernels (hw/c/kernels/dmac.h.j2, and dwconv.h.j2 for depthwise layers) take DFP
    weights (any b <= 16 fits q15) or Po2 weights of b <= 5 (multipliers up to 2^14,
    decoded through a 2^b-entry table: on a core with a one-cycle multiplier a multiply
    beats a shift-add), an int32 accumulator and inputs that fit q15. Other grouped
    layers, wider Po2 layers and int64 accumulators keep the tap kernel (conv.h.j2). A dual-MAC
    layer that _winograd_fits takes the Winograd kernel (wino.h.j2), whose products run the
    dual-MAC kernel's steps on transformed tiles (and which, on Helium, runs the dual-MAC kernel).
    """
    fits_q15 = call.multiplies or call.bits <= 5
    if not (fits_q15 and tacc == "int32_t" and in_type in ("s8", "u8", "s16")):
        return "taps"
    if geo["group"] == 1:
        return "wino" if _winograd_fits(geo, in_type, multipliers) else "dmac"
    if geo["group"] == geo["in_c"] and geo["out_c"] % geo["in_c"] == 0:
        return "dw"
    return "taps"


def _rom_text(rom: Rom) -> str:
    """The ROM initializer's body, formatted in bulk (a ResNet-18 has millions of words): for a
    small ROM a list of words per segment with a comment naming each; from ROM_BYTES_FROM words
    on, the words' bytes (least significant first) as one string literal, which compilers hold
    in a fraction of the memory an initializer list takes (gcc: 895 MB for ResNet-18's list)."""
    words = np.asarray(rom.words, dtype=np.uint64)
    if len(words) >= ROM_BYTES_FROM:
        data = words.astype(f"<u{rom.word_bits // 8}").tobytes()
        pairs = np.frombuffer(data.hex().encode(), dtype="S2")
        lines = [b"    \"\\x" + b"\\x".join(pairs[i:i + 32]) + b"\"" for i in range(0, len(pairs), 32)]
        return b"\n".join(lines).decode()
    digits = rom.word_bits // 4
    out = []
    for seg in rom.segments:
        out.append(f"    /* {names.comment(seg.describe())} */")
        ws = words[seg.word_offset:seg.word_offset + seg.word_count]
        for i in range(0, len(ws), 4):
            out.append("    " + " ".join(f"UINT{rom.word_bits}_C(0x{int(w):0{digits}x})," for w in ws[i:i + 4]))
    return "\n".join(out) if out else "    0"


def _at(offset: int) -> str:
    """The C expression for a place in the arena."""
    return f"wqrc_mem.b + {offset}" if offset else "wqrc_mem.b"


def _dfp8(layer: dict) -> bool:
    return layer["multiplies"] and layer["bits"] == 8


def _po2x2_lut() -> list[str]:
    """Byte v of a Po2-4 segment (two codes) -> their two multipliers as a q15 pair, the
    low nibble's in the low half: the table behind WQRC_PO2X2_LUT, from the one decoder."""
    v = np.arange(256)
    lo, hi = Po2.decode(v & 15, 4), Po2.decode(v >> 4, 4)
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return [f"0x{int(w):08x}u" for w in words]


def _padded_size(geo: dict) -> int:
    """Elements of a conv input copied into a zero-padded map (0: the layer has no padding)."""
    if not any(geo[k] for k in ("pad_t", "pad_l", "pad_b", "pad_r")):
        return 0
    return geo["in_c"] * (geo["in_h"] + geo["pad_t"] + geo["pad_b"]) * (geo["in_w"] + geo["pad_l"] + geo["pad_r"])


def _storage(short_type: str) -> str:
    """Signed and unsigned outputs of one width share a kernel: it stores the bits."""
    return "u" + short_type[1:]


class _Context:
    """Everything the templates need, computed from the QModel and ROM only."""

    def __init__(self, qm: QModel, rom: Rom, vectors: tuple[np.ndarray, np.ndarray]):
        self.qm, self.rom = qm, rom
        self.used: set[str] = set()
        self.geo, self.kernel, self.block, self.acc_n, self.chunk, scratch = {}, {}, {}, {}, {}, {}
        self.calls = lower(qm)
        for call in self.calls:
            if isinstance(call, ConvCall):
                scratch[call.name] = self._scratch(call)
        self.arena = plan_arena(qm, scratch, views=True)
        self.alias, self.place = self.arena.alias, self.arena.tensors
        self.ids = {n.name: names.identifier(n.name, self.used) for n in qm.nodes}
        self.convs: dict[tuple, str] = {}
        self.pools: dict[str, set[str]] = {}
        self.adds: dict[tuple, str] = {}
        self.copies: dict[tuple, str] = {}
        self.luts: dict[tuple, str] = {}
        self.muls: dict[tuple, str] = {}
        self.upsamples: dict[str, str] = {}
        self.pads: dict[str, str] = {}
        self.lut_tables: list[dict] = []
        self.layers, self.steps, self.tables = [], [], []
        self.segment = {s.name: s for s in rom.segments}
        for call in self.calls:
            EMIT[type(call)](self, call)
            # the WQRC_PROFILE hook after a node's last step is numbered by the node's place in qm.nodes
            self.steps[-1]["profile"] = call.index
        self.vectors = vectors

    def ptr(self, tensor: str, const: bool = False, storage: bool = False) -> str:
        """The C expression for a tensor's buffer; storage=True: as the unsigned storage type."""
        root, at = self.alias[tensor], self.arena.view[tensor]
        fmt = self.qm.formats[root]
        if root == self.qm.input:
            return f"(input + {at})" if at else "input"
        typ = ctype(fmt)
        if storage:
            typ = typ if typ.startswith("uint") else "u" + typ
        offset = self.place[root].offset + at * storage_bits(fmt.bits) // 8
        return f"({'const ' if const else ''}{typ} *)(void *)({_at(offset)})"

    def _scratch(self, call: ConvCall) -> list[tuple[str, int]]:
        """The layer's kernel, block and scratch buffers [(field, bytes)], sized for this layer
        by the kernel's own rule (CONV_KERNELS: buffer sizes next to the kernel)."""
        in_fmt, name = call.in_formats[0], call.name
        geo = self.geo[name] = call.geometry.as_dict()
        kernel = self.kernel[name] = _kernel(call, geo, _accumulator(call)[0], short(in_fmt),
                                             self.qm.layers[name].multipliers)
        fan = call.geometry.fan
        elem = int(short(in_fmt)[1:]) // 8
        if CONV_KERNELS[kernel].q15:
            # as many output channels per decoded block as WBUF_LIMIT elements hold (an even
            # number, at least 2), the whole layer where it fits
            fit = max(2, WBUF_LIMIT // (fan + fan % 2))
            self.block[name] = geo["out_c"] if fit >= geo["out_c"] else fit - fit % 2
        return CONV_KERNELS[kernel].scratch(self, name, geo, fan, elem)

    def _taps_scratch(self, name: str, geo: dict, fan: int, elem: int) -> list[tuple[str, int]]:
        """The padded map, and the tap lists (offset, value, sign) of one output channel."""
        return [("pad", _padded_size(geo) * elem)] + [(f"tap_{k}", 4 * fan) for k in ("off", "val", "neg")]

    def _dw_scratch(self, name: str, geo: dict, fan: int, elem: int) -> list[tuple[str, int]]:
        """One channel's padded plane, the decoded block, rows of raw sums."""
        padded = any(geo[k] for k in ("pad_t", "pad_l", "pad_b", "pad_r"))
        plane = (geo["in_h"] + geo["pad_t"] + geo["pad_b"]) * (geo["in_w"] + geo["pad_l"] + geo["pad_r"])
        self.acc_n[name] = max(geo["out_w"], min(geo["out_h"] * geo["out_w"], DW_ACC_LIMIT))
        return [("pad", plane * elem if padded else 0), ("wbuf", 2 * self.block[name] * (fan + fan % 2)),
                ("acc", 4 * self.acc_n[name])]

    def _dmac_scratch(self, name: str, geo: dict, fan: int, elem: int) -> list[tuple[str, int]]:
        """The padded map, the decoded block, gathered columns (a pair, or a chunk of positions),
        the window's offsets and the sums."""
        block, fe = self.block[name], fan + fan % 2
        self.acc_n[name] = 2 * (block + block % 2)  # the block's sums for a pair of positions
        npos = geo["out_h"] * geo["out_w"]
        chunk = min(SMALL_FAN_CHUNK, npos + npos % 2) if fe <= SMALL_FAN and block == geo["out_c"] and npos > 1 else 0
        self.chunk[name] = chunk
        self.acc_n[name] = max(self.acc_n[name], chunk)  # one channel's sums for the chunk
        return [("pad", _padded_size(geo) * elem), ("wbuf", 2 * block * fe), ("cols", 2 * max(2, chunk) * fe),
                ("gather_off", 4 * fe), ("acc", 4 * self.acc_n[name])]

    def _wino_scratch(self, name: str, geo: dict, fan: int, elem: int) -> list[tuple[str, int]]:
        """The padded map (whole tiles and their overhang; a zero plane for an odd channel
        count), the decoded block, its transformed weights, two tiles' transforms, the 16
        products' sums; each buffer at least the dual-MAC kernel's, which runs the layer on
        Helium (hw/c/kernels/wino.h.j2)."""
        ce = geo["in_c"] + geo["in_c"] % 2
        fit = WINO_U_LIMIT // (16 * ce)
        block = self.block[name] = min(self.block[name], geo["out_c"] if fit >= geo["out_c"] else fit - fit % 2)
        nbe = block + block % 2
        hp, wp = 2 * (-(-geo["out_h"] // 2)) + 2, 2 * (-(-geo["out_w"] // 2)) + 2
        dmac = dict(self._dmac_scratch(name, geo, fan, elem))
        self.acc_n[name] = max(self.acc_n[name], 32 * nbe)
        wino = dict(pad=ce * hp * wp * elem, wbuf=2 * block * (fan + fan % 2), ubuf=2 * 16 * block * ce,
                    cols=2 * 32 * ce, acc=4 * self.acc_n[name])
        return [(f, max(wino.get(f, 0), dmac.get(f, 0))) for f in ("pad", "wbuf", "ubuf", "cols", "gather_off", "acc")]

    def _scratch_init(self, name: str) -> str:
        """The layer's wqrc_scratch_t initializer: each buffer's place in the arena, or NULL."""
        types = dict(pad="void *", wbuf="int16_t *", ubuf="int16_t *", cols="int16_t *", gather_off="int32_t *",
                     acc="int32_t *", tap_off="int32_t *", tap_val="int32_t *", tap_neg="int32_t *")
        fields = []
        for f, t in types.items():
            p = self.arena.scratch.get((name, f))
            fields.append(f".{f} = " + (f"({t})(void *)({_at(p.offset)})" if p else "NULL"))
        fields.append(f".acc_n = {self.acc_n.get(name, 0)}")
        return "{ " + ", ".join(fields) + " }"

    def _facts(self, call: Call) -> tuple[str, str]:
        """The step's C name and its comment."""
        return self.ids[call.name], names.comment(f"{call.name}: {call.op}")

    def _emit_conv(self, call: ConvCall) -> None:
        cid, about = self._facts(call)
        tacc, bias_field = _accumulator(call)
        geo, kernel = self.geo[call.name], self.kernel[call.name]
        in_fmt, out_fmt = call.in_formats[0], call.out_format
        key = (kernel, short(in_fmt), _storage(short(out_fmt)), tacc)
        k = CONV_KERNELS[kernel]
        if kernel == "wino":  # on Helium it runs the dual-MAC kernel, whose header comes first
            self.convs.setdefault(("dmac",) + key[1:], f"wqrc_dmac_{key[1]}_{key[2]}")
        fn = self.convs.setdefault(key, f"wqrc_{k.stem}_{key[1]}_{key[2]}"
                                        f"{'_' + tacc[:-2].replace('int', 'i') if k.per_accumulator else ''}")
        seg = self.segment[call.name]
        fan = call.geometry.fan
        bias_bits = 32 if tacc == "int32_t" else 64
        self.layers.append(dict(
            id=cid, about=about, geo=geo, word_offset=seg.word_offset, bits=call.bits,
            po2=int(not call.multiplies), shift=call.shift, lo=c_int(call.lo), hi=c_int(call.hi),
            shifts=list(call.shifts) if call.per_channel else None,
            even=int(call.half_even),
            bias_field=bias_field, bias_type=tacc, bias=[f"INT{bias_bits}_C({b})" for b in call.bias],
            in_type=short(in_fmt), kernel=kernel, fan_even=fan + fan % 2, block=self.block.get(call.name, 0),
            chunk=self.chunk.get(call.name, 0),
            scratch=self._scratch_init(call.name),
            multiplies=call.multiplies, exponent=call.exponent, acc=tacc, fan_in=fan,
            summary=names.comment(f"{call.scheme} b={call.bits}, exponent {call.exponent}, "
                                  f"{in_fmt.describe()} -> {out_fmt.describe()}, "
                                  f"acc bound {call.acc_bound} in {tacc}")))
        self.steps.append(dict(about=about, code=f"{fn}(&{cid}, {self.ptr(call.inputs[0], True)}, "
                                                 f"{self.ptr(call.output, storage=True)});"))

    @staticmethod
    def _kernel(table: dict, family: str, *formats) -> str:
        """The kernel of ``family`` for these storage formats (rendered once per combination)."""
        key = tuple(short(f) for f in formats)
        return table.setdefault(key, f"wqrc_{family}_" + "_".join(key))

    def _call(self, about: str, fn: str, *args) -> None:
        """One step of wqrc_run: ``fn(args...);``."""
        self.steps.append(dict(about=about, code=f"{fn}({', '.join(str(a) for a in args)});"))

    def _emit_pool(self, call: PoolCall) -> None:
        cid, about = self._facts(call)
        suffix = short(call.in_formats[0])
        kind = "maxpool" if call.takes_max else "gap" if call.whole_map else "avgpool"
        self.pools.setdefault(suffix, set()).add(kind)
        self.tables.append(dict(id=cid, r=list(call.div_r), s=list(call.div_s)))
        self.layers.append(dict(id=cid, about=about, pool=call.geometry.as_dict(), lo=c_int(call.lo),
                                hi=c_int(call.hi)))
        self._call(about, f"wqrc_{kind}_{suffix}", f"&{cid}", self.ptr(call.inputs[0], True), self.ptr(call.output))

    def _emit_add(self, call: AddCall) -> None:
        cid, about = self._facts(call)
        fn = self._kernel(self.adds, "add", *call.in_formats, call.out_format)
        (a, b), (sa, sb) = call.inputs, call.shifts
        self._call(about, fn, self.ptr(a, True), sa, self.ptr(b, True), sb, self.ptr(call.output), call.size,
                   c_int(call.lo), c_int(call.hi))

    def _emit_copy(self, call: CopyCall) -> None:
        cid, about = self._facts(call)
        if self.alias[call.output] != call.output:   # a part of its input's buffer (planner: views)
            self.steps.append(dict(about=about, code=f"/* {call.op}: a view of its input at element "
                                                     f"{self.arena.view[call.output] - self.arena.view[call.inputs[0]]}, "
                                                     f"nothing to copy */"))
            return
        for part in call.parts:
            fn = self._kernel(self.copies, "copy", part.format, call.out_format)
            dst = self.ptr(call.output)
            dst = f"{dst} + {part.offset}" if part.offset else dst
            src = self.ptr(part.tensor, True)
            src = f"{src} + {part.src_offset}" if part.src_offset else src
            if part.count > 1:   # a strided series of blocks (a channel shuffle's group)
                src, dst = f"{src} + {part.src_step} * j", f"{dst} + {part.dst_step} * j"
            self._call(about, fn, src, part.shift, dst, part.size, c_int(call.lo), c_int(call.hi))
            if part.count > 1:
                code = self.steps[-1]["code"]
                self.steps[-1]["code"] = f"for (int32_t j = 0; j < {part.count}; ++j) {code}"

    def _emit_mul(self, call: MulCall) -> None:
        cid, about = self._facts(call)
        fn = self._kernel(self.muls, "mul", *call.in_formats, call.out_format)
        self._call(about, fn, self.ptr(call.inputs[0], True), self.ptr(call.inputs[1], True), self.ptr(call.output),
                   call.channels, call.positions, call.gate_positions, call.shift, c_int(call.lo), c_int(call.hi))

    def _emit_upsample(self, call: UpsampleCall) -> None:
        cid, about = self._facts(call)
        fn = self._kernel(self.upsamples, "upsample", call.in_formats[0])
        self._call(about, fn, self.ptr(call.inputs[0], True), self.ptr(call.output), call.c, call.h, call.w,
                   call.scale_h, call.scale_w, int(call.zeros))

    def _emit_pad(self, call: PadCall) -> None:
        """A constant border (docs/format.md §3g): the input copied into a map of the pad code."""
        cid, about = self._facts(call)
        fn = self._kernel(self.pads, "pad", call.in_formats[0])
        self._call(about, fn, self.ptr(call.inputs[0], True), self.ptr(call.output), call.c, call.h, call.w,
                   *call.pads, f"({ctype(call.in_formats[0])}){c_int(call.code, 32)}")

    def _emit_lut(self, call: LutCall) -> None:
        """A lookup-table activation: its table in flash, one read per element."""
        cid, about = self._facts(call)
        fn = self._kernel(self.luts, "lut", call.in_formats[0], call.out_format)
        self.lut_tables.append(dict(id=cid, about=about, type=ctype(call.out_format), qmin=call.qmin,
                                    entries=[str(v) for v in call.table]))  # |v| < 2**15
        self._call(about, fn, self.ptr(call.inputs[0], True), f"{cid}_lut", call.qmin, self.ptr(call.output),
                   call.size)

    def _emit_alias(self, call: AliasCall) -> None:
        self.steps.append(dict(about=self._facts(call)[1], code="/* flatten: same buffer, nothing to do */"))

    def kernel_instances(self) -> list[dict]:
        """Each kernel the model calls, in the order wqrc_model.c includes them: its template
        (hw/c/kernels), its file (kernels/<function>.h) and the types it is rendered with."""
        out = []
        for key, fn in self.convs.items():
            k = CONV_KERNELS[key[0]]
            args = dict(fn=fn, tin=CTYPES[key[1]], tout=CTYPES[key[2]])
            if key[0] == "wino":
                args.update(dmac=self.convs[("dmac",) + key[1:]])
            if k.per_accumulator:
                args.update(tacc=key[3], bias="bias32" if key[3] == "int32_t" else "bias64")
            out.append(dict(template=k.template, file=f"{fn}.h", args=args))
        for suffix, kinds in sorted(self.pools.items()):
            out.append(dict(template="pool.h.j2", file=f"wqrc_pool_{suffix}.h",
                            args=dict(t=CTYPES[suffix], suffix=suffix, kinds=sorted(kinds))))
        two = lambda k: dict(ta=CTYPES[k[0]], tb=CTYPES[k[1]], tout=CTYPES[k[2]])  # noqa: E731
        for table, template, types in ((self.adds, "add.h.j2", two),
                                       (self.copies, "copy.h.j2", lambda k: dict(tin=CTYPES[k[0]], tout=CTYPES[k[1]])),
                                       (self.muls, "mul.h.j2", two),
                                       (self.upsamples, "upsample.h.j2", lambda k: dict(tin=CTYPES[k[0]])),
                                       (self.pads, "pad.h.j2", lambda k: dict(tin=CTYPES[k[0]])),
                                       (self.luts, "lut.h.j2", lambda k: dict(tin=CTYPES[k[0]], tout=CTYPES[k[1]]))):
            for key, fn in table.items():
                out.append(dict(template=template, file=f"{fn}.h", args=dict(fn=fn, **types(key))))
        return out

    def render_args(self) -> dict:
        qm, rom = self.qm, self.rom
        in_fmt, out_fmt = qm.input_format, qm.output_format
        convs = [l for l in self.layers if "geo" in l]
        dmacs = [l for l in convs if CONV_KERNELS[l["kernel"]].s8_paths]
        # one static buffer, the arena (checked by the compiler), and the stack budget
        arena = max(self.arena.size, 8)
        xin, yout = self.vectors
        return dict(
            qm=qm, layers=self.layers, steps=self.steps, tables=self.tables,
            convs=[(k, v) for k, v in self.convs.items()], pools=[(k, sorted(v)) for k, v in sorted(self.pools.items())],
            adds=[(k, v) for k, v in self.adds.items()], copies=[(k, v) for k, v in self.copies.items()],
            luts=[(k, v) for k, v in self.luts.items()], lut_tables=self.lut_tables,
            muls=[(k, v) for k, v in self.muls.items()], upsamples=[(k, v) for k, v in self.upsamples.items()],
            pads=[(k, v) for k, v in self.pads.items()],
            ctypes=CTYPES, kernels=[k["file"] for k in self.kernel_instances()],
            arena_bytes=arena, stack_bytes=STACK_BYTES, ram_bytes=arena + STACK_BYTES,
            use_channel_shifts=int(any(l.per_channel for l in self.qm.layers.values())),
            use_half_even=int(any(l.rounding == "half_even" for l in self.qm.layers.values())),
            # which DFP-8 paths of the dual-MAC kernel some layer takes on a DSP core (the others compile out)
            use_s8_dense=int(any(_dfp8(l) and l["geo"]["out_h"] * l["geo"]["out_w"] == 1 for l in dmacs)),
            use_s8_rows=int(any(_dfp8(l) and l["geo"]["out_h"] * l["geo"]["out_w"] > 1
                                and l["block"] < l["geo"]["out_c"] for l in dmacs)),
            po2x2_lut=_po2x2_lut() if any(
                CONV_KERNELS[l["kernel"]].q15 and not l["multiplies"] and l["bits"] == 4 for l in convs) else None,
            in_type=ctype(in_fmt), out_type=ctype(out_fmt), in_fmt=in_fmt, out_fmt=out_fmt,
            in_shape=qm.input_shape, out_shape=qm.output_shape,
            in_size=int(np.prod(qm.input_shape)), out_size=int(np.prod(qm.output_shape)),
            out_ptr=self.ptr(qm.output, True), word_bits=rom.word_bits, word_type=WORD_TYPES[rom.word_bits],
            rom_text=_rom_text(rom), rom_as_bytes=int(len(rom.words) >= ROM_BYTES_FROM),
            rom_count=max(len(rom.words), 1),
            segments=[dict(s.to_json(), name_c=names.c_string(s.name), about=names.comment(s.describe()),
                           full_name=names.comment(s.name, None) if names.cut(s.name) else None)
                      for s in rom.segments],
            w_mem=sum(l.w_mem for l in qm.layers.values()),
            vec_in=xin.reshape(len(xin), -1).tolist(), vec_out=yout.tolist(), n_vectors=len(xin),
            notes=[names.comment(n) for n in qm.notes],
            source=names.comment(qm.meta.get("source", "")),
            extras=[dict(o, type=ctype(o["fmt"]), ptr=self.ptr(o["tensor"], True)) for o in extra_outputs(qm, xin)],
        )


def _write_kernels(ctx: "_Context", folder: str) -> None:
    env = environment("c/kernels", package="wqrc.hw")
    os.makedirs(os.path.join(folder, "kernels"), exist_ok=True)
    for k in ctx.kernel_instances():
        with open(os.path.join(folder, "kernels", k["file"]), "w", encoding="utf-8") as fh:
            fh.write(env.get_template(k["template"]).render(**k["args"]))


def generate_c(qm: QModel, rom: Rom, folder: str, vectors: int = 4, data: Optional[np.ndarray] = None,
               vecs: Optional[tuple] = None) -> dict:
    """Write the C target into ``folder``; returns figures for the report (RAM, ROM)."""
    ctx = _Context(qm, rom, vecs if vecs is not None else test_vectors(qm, vectors, data))
    args = dict(ctx.render_args(), build_products=BUILD_PRODUCTS, kernel_files=KERNEL_FILES)
    render_files(environment("c"), (("wqrc_model.h.j2", "wqrc_model.h"), ("wqrc_model.c.j2", "wqrc_model.c"),
                                    ("wqrc_weights.c.j2", "wqrc_weights.c"), ("main.c.j2", "main.c"),
                                    ("Makefile.j2", "Makefile"), ("CMakeLists.txt.j2", "CMakeLists.txt"),
                                    ("startup.c.j2", "mcu/startup.c"), ("cortex-m4.cmake.j2", "mcu/cortex-m4.cmake")),
                 folder, args)
    for board in MCU_BOARDS:
        render_files(environment("c"), (("mcu.ld.j2", f"mcu/{board['file']}"),), folder, dict(args, board=board))
    copy_kernels("c", KERNEL_FILES, folder)
    _write_kernels(ctx, folder)
    return dict(ram_bytes=args["ram_bytes"], arena_bytes=args["arena_bytes"], stack_bytes=args["stack_bytes"],
                rom_words=len(rom.words), rom_bits=len(rom.words) * rom.word_bits)


@dataclass(frozen=True)
class ConvKernel:
    """A hand-written C conv/dense kernel (hw/c/kernels) and what the generator needs of it."""
    stem: str                 # its function's name: wqrc_<stem>_<in>_<out>[_<acc>]
    template: str             # hw/c/kernels/<template>
    q15: bool                 # weights decoded to q15 rows a block of channels at a time
    per_accumulator: bool     # rendered per accumulator type too (int32, int64)
    s8_paths: bool            # has the DFP-8 paths that read codes from flash (WQRC_USE_S8_*)
    scratch: Callable         # its buffers for one layer: (context, name, geo, fan, elem) -> [(field, bytes)]


# One table per concern: the C conv/dense kernels, by the name _kernel chooses.
CONV_KERNELS = {
    "taps": ConvKernel("conv", "conv.h.j2", q15=False, per_accumulator=True, s8_paths=False,
                       scratch=_Context._taps_scratch),
    "dmac": ConvKernel("dmac", "dmac.h.j2", q15=True, per_accumulator=False, s8_paths=True,
                       scratch=_Context._dmac_scratch),
    "dw": ConvKernel("dw", "dwconv.h.j2", q15=True, per_accumulator=False, s8_paths=False,
                     scratch=_Context._dw_scratch),
    "wino": ConvKernel("wino", "wino.h.j2", q15=True, per_accumulator=False, s8_paths=False,
                       scratch=_Context._wino_scratch),
}


# One table per concern: the C step of each kind of call (wqrc.lower), the method _emit_<family>;
# tests/test_ops.py checks every call type is here.
EMIT = {ConvCall: _Context._emit_conv, PoolCall: _Context._emit_pool, AddCall: _Context._emit_add,
        CopyCall: _Context._emit_copy, MulCall: _Context._emit_mul, UpsampleCall: _Context._emit_upsample,
        PadCall: _Context._emit_pad, LutCall: _Context._emit_lut, AliasCall: _Context._emit_alias}
