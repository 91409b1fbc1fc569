"""C99 target: packed weights in flash, hand-written kernels (hw/c), generated glue.

Generates, in one folder: ``wqrc_model.h`` (the API and sizes), ``wqrc_model.c``
(layer parameters, buffer plan, the call sequence), ``wqrc_weights.c`` (the ROM
image and layer table), the kernels, ``main.c`` (a testbench with simulator
vectors), ``Makefile`` and ``mcu/`` (Cortex-M start-up and linker script).
"""
from __future__ import annotations

import os
import shutil
from typing import Optional

import numpy as np

from wqrc.backend import names
from wqrc.backend.common import (HW, acc_bits, c_int, conv_geometry, ctype, environment,
                                 short, test_vectors)
from wqrc.backend.planner import plan_buffers
from wqrc.errors import WqrcError
from wqrc.pack.rom import Rom
from wqrc.quant.arith import avgpool_divisor
from wqrc.quant.formats import output_bounds
from wqrc.quant.qmodel import QModel

KERNEL_FILES = ("wqrc_rt.h", "wqrc_conv.inc", "wqrc_pool.inc", "wqrc_eltwise.inc")
WORD_TYPES = {8: "uint8_t", 16: "uint16_t", 32: "uint32_t", 64: "uint64_t"}


def _accumulator(layer) -> tuple[str, str]:
    bits = acc_bits(layer)
    if bits <= 32:
        return "int32_t", "bias32"
    if bits <= 64:
        return "int64_t", "bias64"
    raise WqrcError(
        f"layer '{layer.name}': its accumulator needs {bits} bits ({layer.scheme} b={layer.bits}); "
        "the C target supports up to 64: use fewer bits or narrower activations"
    )


class _Context:
    """Everything the templates need, computed from the QModel and ROM only."""

    def __init__(self, qm: QModel, rom: Rom, vectors: tuple[np.ndarray, np.ndarray]):
        self.qm, self.rom = qm, rom
        self.used: set[str] = set()
        self.alias, self.place, self.arena = plan_buffers(qm)
        self.ids = {n.name: names.identifier(n.name, self.used) for n in qm.nodes}
        self.convs: dict[tuple, str] = {}
        self.pools: dict[str, set[str]] = {}
        self.adds: dict[tuple, str] = {}
        self.copies: dict[tuple, str] = {}
        self.layers, self.steps, self.tables = [], [], []
        self.segment = {s.name: s for s in rom.segments}
        for node in qm.nodes:
            self._node(node)
        self.vectors = vectors

    def ptr(self, tensor: str, const: bool = False) -> str:
        root = self.alias[tensor]
        fmt = self.qm.formats[root]
        if root == self.qm.input:
            return "input"
        p = self.place[root]
        arena = f"wqrc_arena{p.width}"
        base = f"{arena} + {p.offset}" if p.offset else arena
        typ = ctype(fmt)
        if typ.startswith("int"):
            return f"({base})"
        return f"({'const ' if const else ''}{typ} *)({base})"

    def _node(self, node) -> None:
        qm, a = self.qm, node.attrs
        cid = self.ids[node.name]
        out_fmt = qm.formats[node.output]
        in_fmts = [qm.formats[t] for t in node.inputs]
        about = names.comment(f"{node.name}: {node.op}")
        if node.op in ("conv", "dense"):
            layer = qm.layers[node.name]
            tacc, bias_field = _accumulator(layer)
            key = (short(in_fmts[0]), short(out_fmt), tacc)
            fn = self.convs.setdefault(key, f"wqrc_conv_{key[0]}_{key[1]}_{tacc[:-2].replace('int', 'i')}")
            seg = self.segment[node.name]
            lo, hi = output_bounds(out_fmt, a.get("qclip"))
            geo = conv_geometry(qm, node, layer)
            bias_bits = 32 if tacc == "int32_t" else 64
            self.layers.append(dict(
                id=cid, about=about, geo=geo, word_offset=seg.word_offset, bits=layer.bits,
                po2=int(layer.scheme == "po2"), shift=layer.shift, lo=c_int(lo), hi=c_int(hi),
                bias_field=bias_field, bias_type=tacc, bias=[f"INT{bias_bits}_C({b})" for b in layer.bias],
                in_type=short(in_fmts[0]),
                scheme=layer.scheme, exponent=layer.exponent, acc=tacc,
                fan_in=int(np.prod(layer.codes.shape[1:])),
                summary=names.comment(f"{layer.scheme} b={layer.bits}, exponent {layer.exponent}, "
                                      f"{in_fmts[0].describe()} -> {out_fmt.describe()}, "
                                      f"acc bound {layer.acc_bound} in {tacc}")))
            self.steps.append(dict(about=about, code=f"{fn}(&{cid}, {self.ptr(node.inputs[0], True)}, "
                                                     f"{self.ptr(node.output)});"))
        elif node.op in ("maxpool", "avgpool", "global_avgpool"):
            suffix = short(in_fmts[0])
            kind = {"maxpool": "maxpool", "avgpool": "avgpool", "global_avgpool": "gap"}[node.op]
            self.pools.setdefault(suffix, set()).add(kind)
            c, h, w = qm.shapes[node.inputs[0]]
            _, ho, wo = qm.shapes[node.output]
            if node.op == "global_avgpool":
                kh, kw, strides, pads, dil = h, w, (1, 1), (0, 0, 0, 0), (1, 1)
                r, s = avgpool_divisor(h * w)
                div = ([r], [s])
            else:
                kh, kw = a["kernel"]
                strides, pads, dil = a["strides"], a["pads"], a.get("dilations", (1, 1))
                div = ([1] + [avgpool_divisor(n)[0] for n in range(1, kh * kw + 1)],
                       [0] + [avgpool_divisor(n)[1] for n in range(1, kh * kw + 1)])
            self.tables.append(dict(id=cid, r=div[0], s=div[1]))
            geo = dict(c=c, in_h=h, in_w=w, out_h=ho, out_w=wo, k_h=kh, k_w=kw, stride_h=strides[0],
                       stride_w=strides[1], dil_h=dil[0], dil_w=dil[1], pad_t=pads[0], pad_l=pads[1],
                       count_include_pad=int(a.get("count_include_pad", 0)))
            self.layers.append(dict(id=cid, about=about, pool=geo, lo=c_int(out_fmt.qmin), hi=c_int(out_fmt.qmax)))
            self.steps.append(dict(about=about, code=f"wqrc_{kind}_{suffix}(&{cid}, {self.ptr(node.inputs[0], True)}, "
                                                     f"{self.ptr(node.output)});"))
        elif node.op == "add":
            key = (short(in_fmts[0]), short(in_fmts[1]), short(out_fmt))
            fn = self.adds.setdefault(key, "wqrc_add_" + "_".join(key))
            n = int(np.prod(qm.shapes[node.output]))
            lo, hi = output_bounds(out_fmt, a.get("qclip"))
            sa, sb = a["shifts"]
            self.steps.append(dict(about=about, code=f"{fn}({self.ptr(node.inputs[0], True)}, {sa}, "
                                                     f"{self.ptr(node.inputs[1], True)}, {sb}, {self.ptr(node.output)}, "
                                                     f"{n}, {c_int(lo)}, {c_int(hi)});"))
        elif node.op in ("concat", "relu", "clip"):
            offset = 0
            shifts = a["shifts"] if node.op == "concat" else [0]
            lo, hi = output_bounds(out_fmt, a.get("qclip"))
            for t, f, sh in zip(node.inputs, in_fmts, shifts):
                key = (short(f), short(out_fmt))
                fn = self.copies.setdefault(key, "wqrc_copy_" + "_".join(key))
                n = int(np.prod(qm.shapes[t]))
                dst = self.ptr(node.output)
                dst = f"{dst} + {offset}" if offset else dst
                self.steps.append(dict(about=about, code=f"{fn}({self.ptr(t, True)}, {sh}, {dst}, {n}, "
                                                         f"{c_int(lo)}, {c_int(hi)});"))
                offset += n
        elif node.op == "flatten":
            self.steps.append(dict(about=about, code="/* flatten: same buffer, nothing to do */"))
        else:
            raise WqrcError(f"node '{node.name}': the C target has no op '{node.op}'")

    def render_args(self) -> dict:
        qm, rom = self.qm, self.rom
        in_fmt, out_fmt = qm.input_format, qm.output_format
        max_taps = max([l["fan_in"] for l in self.layers if "fan_in" in l] + [1])
        pads = {}  # per kernel instantiation (input type): largest zero-padded input map
        for l in self.layers:
            if "geo" in l and any(l["geo"][k] for k in ("pad_t", "pad_l", "pad_b", "pad_r")):
                g = l["geo"]
                size = g["in_c"] * (g["in_h"] + g["pad_t"] + g["pad_b"]) * (g["in_w"] + g["pad_l"] + g["pad_r"])
                pads[l["in_type"]] = max(pads.get(l["in_type"], 0), size)
        pad_elements = max(pads.values(), default=1)
        # one static padded map per conv kernel instantiation
        pad_bytes = sum(int(pad_elements) * int(key[0].strip("su")) // 8 for key in self.convs)
        ram = sum(self.arena[w] * w // 8 for w in self.arena) + 3 * 4 * max_taps + pad_bytes
        xin, yout = self.vectors
        return dict(
            qm=qm, layers=self.layers, steps=self.steps, tables=self.tables,
            convs=[(k, v) for k, v in self.convs.items()], pools=[(k, sorted(v)) for k, v in sorted(self.pools.items())],
            adds=[(k, v) for k, v in self.adds.items()], copies=[(k, v) for k, v in self.copies.items()],
            ctypes=dict(s8="int8_t", u8="uint8_t", s16="int16_t", u16="uint16_t", s32="int32_t", u32="uint32_t"),
            arena=self.arena, max_taps=max_taps, ram_bytes=ram, pad_elements=pad_elements,
            in_type=ctype(in_fmt), out_type=ctype(out_fmt), in_fmt=in_fmt, out_fmt=out_fmt,
            in_shape=qm.input_shape, out_shape=qm.output_shape,
            in_size=int(np.prod(qm.input_shape)), out_size=int(np.prod(qm.output_shape)),
            out_ptr=self.ptr(qm.output, True), word_bits=rom.word_bits, word_type=WORD_TYPES[rom.word_bits],
            rom_words=[f"UINT{rom.word_bits}_C(0x{int(w):0{rom.word_bits // 4}x})" for w in rom.words] or ["0"],
            rom_count=max(len(rom.words), 1), segments=[dict(s.to_json(), name_c=names.c_string(s.name))
                                                        for s in rom.segments],
            w_mem=sum(s.codes * s.bits for s in rom.segments),
            vec_in=xin.reshape(len(xin), -1).tolist(), vec_out=yout.tolist(), n_vectors=len(xin),
            notes=[names.comment(n) for n in qm.notes],
            source=names.comment(qm.meta.get("source", "")),
        )


def generate_c(qm: QModel, rom: Rom, folder: str, vectors: int = 4, data: Optional[np.ndarray] = None) -> dict:
    """Write the C target into ``folder``; returns figures for the report (RAM, ROM)."""
    ctx = _Context(qm, rom, test_vectors(qm, vectors, data))
    args = ctx.render_args()
    env = environment("c")
    os.makedirs(os.path.join(folder, "mcu"), exist_ok=True)
    for template, out in (("wqrc_model.h.j2", "wqrc_model.h"), ("wqrc_model.c.j2", "wqrc_model.c"),
                          ("wqrc_weights.c.j2", "wqrc_weights.c"), ("main.c.j2", "main.c"),
                          ("Makefile.j2", "Makefile"), ("startup.c.j2", "mcu/startup.c"),
                          ("mps2_an386.ld.j2", "mcu/mps2_an386.ld")):
        with open(os.path.join(folder, out), "w") as fh:
            fh.write(env.get_template(template).render(**args))
    for name in KERNEL_FILES:
        shutil.copyfile(os.path.join(HW, "c", name), os.path.join(folder, name))
    return dict(ram_bytes=args["ram_bytes"], rom_words=len(rom.words), rom_bits=len(rom.words) * rom.word_bits,
                arena_bytes={str(w): n * w // 8 for w, n in ctx.arena.items()}, max_taps=args["max_taps"])
