"""Cortex-M4 instructions and estimated cycles per MAC, per layer, from exact QEMU traces; beside CMSIS-NN.

    python benchmarks/mcu_cycles.py [--models digits,fashion,ds_cnn,resnet8,mobilenet_v1_025,autoencoder]
                                    [--configs dfp4,dfp8,po24] [--cmsis-nn PATH] [--json rows.json]
                                    [--cpu cortex-m4|cortex-m55|rv32imc]

--cpu cortex-m55 counts the Helium (MVE) build in QEMU's mps3-an547 (CPU=cortex-m55);
--cpu rv32imc counts the portable C built for RISC-V (riscv64-unknown-elf-gcc, picolibc) in
qemu-system-riscv32's virt machine the same way (no CMSIS-NN column there).

For every model and weight format (8-bit activations) the generated C is
built for Cortex-M4 (-O2, the DSP extension on) with the WQRC_PROFILE hook of
wqrc_model.c calling an empty marker function after each node, and run for
one inference in QEMU (mps2-an386) single-stepped with one log line per
executed instruction: each node's instructions are the lines between two
markers (exact counts, not samples: QEMU is deterministic). On the Cortex-M4
the same trace also gives estimated cycles: benchmarks/m4_cycles.py prices each
executed instruction with the Cortex-M4 TRM's cycle table (load pipelining,
LDM/STM, branches taken or not, the address-generation stall; zero wait states
assumed, so a board with flash wait states is slower), and the model's total
at 120 MHz is printed beside the MLPerf Tiny results published for an
STM32L4R5 (Cortex-M4, 120 MHz). Flash and RAM are `make size` of the model's
own objects (built without the hook).

With --cmsis-nn pointing at a checkout of https://github.com/ARM-software/CMSIS-NN
(Apache-2.0; never committed here), each conv, depthwise conv and dense layer
is also run through CMSIS-NN's own s8 entry points (arm_convolve_wrapper_s8,
arm_depthwise_conv_wrapper_s8, arm_fully_connected_s8) on the same shapes,
random int8 data, counted the same way; the last column is wqrc DFP-8 over
CMSIS-NN in estimated cycles (the target: <= 2 on every layer). Without it
those columns are skipped.

Models: the bundled digits and fashion examples (fashion needs Debian's
dataset-fashion-mnist for calibration; skipped without it) and the MLPerf
Tiny-sized models of wqrc.zoo (seeded random weights, calibrated on random
normal inputs).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import m4_cycles  # noqa: E402  (benchmarks/m4_cycles.py: the Cortex-M4 cycle table)
import wqrc  # noqa: E402
from wqrc import zoo  # noqa: E402
from wqrc.compile import compile_model  # noqa: E402
from wqrc.data import load_dataset  # noqa: E402
from wqrc.errors import WqrcError  # noqa: E402

MARK = "wqrc_profile_mark"
MARK_C = f"void {MARK}(int node);\nvoid __attribute__((noinline)) {MARK}(int node) {{ __asm volatile(\"\" : : \"r\"(node) : \"memory\"); }}\n"
TRACE = "-nographic -semihosting-config enable=on,target=native -kernel {elf} -singlestep -d exec,nochain -D /dev/stdout"
# per core: the emulator, the test image's make target and the make variables that build it with
# the profile hook, the size tool and the compile flags of the model's own objects, what to install
CPUS = {
    "cortex-m4": dict(qemu="qemu-system-arm -M mps2-an386 " + TRACE, elf="wqrc_test.elf",
                      make=[f"ARM_CC=arm-none-eabi-gcc -DWQRC_PROFILE={MARK}"],
                      tools=("arm-none-eabi-gcc", "qemu-system-arm"),
                      install="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"),
    "rv32imc": dict(qemu="qemu-system-riscv32 -M virt -bios none " + TRACE, elf="wqrc_test.rv.elf",
                    make=["CPU=rv32imc", f"RV_CC=riscv64-unknown-elf-gcc -DWQRC_PROFILE={MARK}"],
                    size=("riscv64-unknown-elf-gcc", "--specs=picolibc.specs", "-march=rv32imc", "-mabi=ilp32", "-std=c99", "-O2",
                          "-ffunction-sections", "-fdata-sections"),
                    tools=("riscv64-unknown-elf-gcc", "qemu-system-riscv32"),
                    install="gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"),
}
# the Cortex-M55 (Helium) as the Cortex-M4, on its own board and flags
CPUS["cortex-m55"] = dict(CPUS["cortex-m4"], qemu="qemu-system-arm -M mps3-an547 " + TRACE, elf="wqrc_test.m55.elf",
                          make=["CPU=cortex-m55", f"ARM_CC=arm-none-eabi-gcc -DWQRC_PROFILE={MARK}"],
                          size=("arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-std=c99",
                                "-O2", "-ffunction-sections", "-fdata-sections"))
# MLPerf Tiny v1.0 (closed division) results on an STM32L4R5 (Cortex-M4 at 120 MHz), ms per
# inference, as docs/targets.md cites them: the peers the estimated cycles are compared with
M4_MHZ = 120
PUBLISHED = {"resnet8": (("TFLite-Micro + CMSIS-NN", 704.0), ("microTVM + CMSIS-NN", 389.6),
                         ("Plumerai", 168.0), ("X-CUBE-AI", 165.0)),
             "ds_cnn": (("X-CUBE-AI", 43.2),)}
ARM_FLAGS = "-mcpu=cortex-m4 -mthumb -O2 -ffunction-sections -fdata-sections"


def trace_segments(elf: str, cwd: str, start: str, n: int, cpu: str = "cortex-m4") -> list[Counter]:
    """For each of the ``n`` stretches from the first entry into ``start`` to the next calls of
    the marker, in order: how often each executed instruction followed each other one
    ((previous address, address) -> count; the marker's own instructions not counted). The sum
    of a stretch's counts is its instruction count; m4_cycles.estimate turns it into cycles."""
    proc = subprocess.Popen(["bash", "-c", CPUS[cpu]["qemu"].format(elf=elf)], cwd=cwd, stdout=subprocess.PIPE)
    mark, begin = (MARK + "\n").encode(), (start + "\n").encode()
    segments, pairs, started, in_mark, prev = [], Counter(), False, False, None
    for line in proc.stdout:
        if not line.startswith(b"Trace"):
            continue
        at = line.find(b"[") + 10
        pc = line[at:at + 8]
        if not started:
            started = line.endswith(begin)
            if not started:
                prev = pc
                continue
        if line.endswith(mark):
            if not in_mark:
                segments.append(pairs)
                pairs, in_mark = Counter(), True
                if len(segments) == n:
                    break
            prev = pc
            continue
        in_mark = False
        pairs[prev, pc] += 1
        prev = pc
    proc.kill()
    proc.wait()
    if len(segments) != n:
        raise RuntimeError(f"{elf}: saw {len(segments)} of {n} markers")
    return [Counter({(None if a is None else int(a, 16), int(b, 16)): k for (a, b), k in s.items()})
            for s in segments]


def model_and_data(name: str):
    """(graph, calibration inputs, test inputs) of a bundled example or a zoo model."""
    if name in zoo.MODELS:
        module, shape = zoo.build(name)
        x = np.random.default_rng(0).standard_normal((65,) + shape).astype(np.float32)
        return wqrc.from_torch(module, x[:1]), x[:64], x[64:]
    path, data = {"digits": ("examples/digits_cnn.onnx", "digits"),
                  "fashion": ("examples/fashion_cnn.onnx", "fashion-mnist")}[name]
    ds = load_dataset(data)
    return wqrc.load_model(path), ds.x_train[:512], ds.x_test[:1]


def _model_size(c: str, cpu: str) -> tuple[int, int, int]:
    """text, data and bss of the model's own objects (wqrc_model.o, wqrc_weights.o) for ``cpu``."""
    if cpu == "cortex-m4":
        out = subprocess.run(["make", "-s", "-C", c, "size"], capture_output=True, text=True, check=True).stdout
    else:
        objs = []
        for src in ("wqrc_model.c", "wqrc_weights.c"):
            obj = os.path.join(c, src.replace(".c", f".{cpu}.o"))
            subprocess.run([*CPUS[cpu]["size"], "-c", os.path.join(c, src), "-o", obj], check=True)
            objs.append(obj)
        tool = CPUS[cpu]["size"][0].replace("-gcc", "-size")
        out = subprocess.run([tool, "-B", "-d", "-t", *objs], capture_output=True, text=True, check=True).stdout
    return tuple(int(v) for v in next(l.split() for l in out.splitlines() if l.endswith("(TOTALS)"))[:3])


def measure(elf: str, cwd: str, start: str, n: int, cpu: str) -> list[tuple[int, int | None]]:
    """(instructions, estimated Cortex-M4 cycles) of each stretch of trace_segments; the cycles
    only on the Cortex-M4 (None on other cores: no table for them here)."""
    segments = trace_segments(elf, cwd, start, n, cpu)
    table = m4_cycles.disassemble(elf) if cpu == "cortex-m4" else None
    return [(sum(s.values()), m4_cycles.estimate(s, table) if table else None) for s in segments]


def profile_wqrc(qm, x_test, folder: str, cpu: str = "cortex-m4") -> tuple[list[tuple[int, int | None]], dict]:
    rep = compile_model(qm, folder, ["c"], vectors=1, data=x_test)
    c = os.path.join(folder, "c")
    text, data, bss = _model_size(c, cpu)
    with open(os.path.join(c, "profile_mark.c"), "w") as f:
        f.write(MARK_C)
    elf = CPUS[cpu]["elf"]
    subprocess.run(["make", "-s", "-C", c, "-B", elf, *CPUS[cpu]["make"],
                    "SRCS=wqrc_model.c wqrc_weights.c main.c profile_mark.c"], check=True)
    counts = measure(os.path.join(c, elf), c, "wqrc_run", len(qm.nodes), cpu)
    return counts, dict(flash=text + data, ram=data + bss, report=rep)


# ---- CMSIS-NN on the same layer shapes -------------------------------------------------------

def cmsis_calls(qm) -> list[tuple[int, str]]:
    """(node index, C statement) for each conv / depthwise / dense node CMSIS-NN has an s8 kernel for."""
    calls = []
    for i, node in enumerate(qm.nodes):
        if node.op not in ("conv", "dense"):
            continue
        layer = qm.layers[node.name]
        cin = int(np.prod(qm.shapes[node.inputs[0]])) if node.op == "dense" else qm.shapes[node.inputs[0]][0]
        if node.op == "dense":
            cout = qm.shapes[node.output][0]
            calls.append((i, f"fc({cin}, {cout});"))
            continue
        _, h, w = qm.shapes[node.inputs[0]]
        cout, ho, wo = qm.shapes[node.output]
        a = node.attrs
        kh, kw = layer.codes.shape[2:]
        geo = (f"{h}, {w}, {cin}, {cout}, {kh}, {kw}, {ho}, {wo}, {a['strides'][0]}, {a['strides'][1]}, "
               f"{a['pads'][0]}, {a['pads'][1]}, {a['dilations'][0]}, {a['dilations'][1]}")
        if a["group"] == 1:
            calls.append((i, f"conv({geo});"))
        elif a["group"] == cin and cout % cin == 0:
            calls.append((i, f"dwconv({geo});"))
    return calls


HARNESS = r"""
#include <stdlib.h>
#include "arm_nnfunctions.h"
#define MAXB (1 << 19)
static int8_t in_buf[MAXB], w_buf[MAXB], out_buf[MAXB];
static int32_t bias[4096], mult[4096], shift[4096], ctx_buf[MAXB / 8];
static uint32_t seed = 1;
%(mark)s
static void fill(int8_t *p, int n) { for (int i = 0; i < n; ++i) { seed = seed * 1664525u + 1013904223u; p[i] = (int8_t)(seed >> 24); } }
static void setup(void) {
    fill(in_buf, MAXB); fill(w_buf, MAXB);
    for (int i = 0; i < 4096; ++i) { bias[i] = 0; mult[i] = 1 << 30; shift[i] = -8; }
}
static cmsis_nn_dims dims(int n, int h, int w, int c) { cmsis_nn_dims d = {n, h, w, c}; return d; }
static void conv(int h, int w, int ci, int co, int kh, int kw, int ho, int wo, int sh, int sw, int pt, int pl, int dh, int dw) {
    cmsis_nn_conv_params cp = {128, -128, {sw, sh}, {pl, pt}, {dw, dh}, {-128, 127}};
    cmsis_nn_per_channel_quant_params q = {mult, shift};
    cmsis_nn_dims id = dims(1, h, w, ci), fd = dims(co, kh, kw, ci), bd = dims(1, 1, 1, co), od = dims(1, ho, wo, co);
    cmsis_nn_context ctx = {ctx_buf, arm_convolve_wrapper_s8_get_buffer_size(&cp, &id, &fd, &od)};
    if (ctx.size > (int32_t)sizeof(ctx_buf) || arm_convolve_wrapper_s8(&ctx, &cp, &q, &id, in_buf, &fd, w_buf, &bd, bias, &od, out_buf) != ARM_CMSIS_NN_SUCCESS) exit(3);
}
static void dwconv(int h, int w, int ci, int co, int kh, int kw, int ho, int wo, int sh, int sw, int pt, int pl, int dh, int dw) {
    cmsis_nn_dw_conv_params cp = {128, -128, co / ci, {sw, sh}, {pl, pt}, {dw, dh}, {-128, 127}};
    cmsis_nn_per_channel_quant_params q = {mult, shift};
    cmsis_nn_dims id = dims(1, h, w, ci), fd = dims(1, kh, kw, co), bd = dims(1, 1, 1, co), od = dims(1, ho, wo, co);
    cmsis_nn_context ctx = {ctx_buf, arm_depthwise_conv_wrapper_s8_get_buffer_size(&cp, &id, &fd, &od)};
    if (ctx.size > (int32_t)sizeof(ctx_buf) || arm_depthwise_conv_wrapper_s8(&ctx, &cp, &q, &id, in_buf, &fd, w_buf, &bd, bias, &od, out_buf) != ARM_CMSIS_NN_SUCCESS) exit(3);
}
static void fc(int ci, int co) {
    cmsis_nn_fc_params fp = {128, 0, -128, {-128, 127}};
    cmsis_nn_per_tensor_quant_params q = {1 << 30, -8};
    cmsis_nn_dims id = dims(1, 1, 1, ci), fd = dims(ci, 1, 1, co), bd = dims(1, 1, 1, co), od = dims(1, 1, 1, co);
    cmsis_nn_context ctx = {ctx_buf, arm_fully_connected_s8_get_buffer_size(&fd)};
    if (ctx.size > (int32_t)sizeof(ctx_buf) || arm_fully_connected_s8(&ctx, &fp, &q, &id, in_buf, &fd, w_buf, &bd, bias, &od, out_buf) != ARM_CMSIS_NN_SUCCESS) exit(3);
}
void bench_run(void);
void __attribute__((noinline)) bench_run(void) {
%(calls)s
}
int main(void) { setup(); bench_run(); return 0; }
"""


def profile_cmsis(qm, cmsis: str, c_folder: str, work: str) -> dict[int, int]:
    """Instructions of CMSIS-NN's s8 kernel for each node of ``cmsis_calls`` (node index -> count)."""
    calls = cmsis_calls(qm)
    if not calls:
        return {}
    src = os.path.join(work, "cmsis_bench.c")
    with open(src, "w") as f:
        f.write(HARNESS % dict(mark=MARK_C, calls="\n".join(f"    {c}\n    {MARK}({i});" for i, c in calls)))
    lib = [p for d in ("ConvolutionFunctions", "FullyConnectedFunctions", "NNSupportFunctions")
           for p in sorted(glob.glob(os.path.join(cmsis, "Source", d, "*.c")))
           if not p.endswith(("_f16.c", "_f32.c"))]
    elf = os.path.join(work, "cmsis_bench.elf")
    mcu = os.path.join(c_folder, "mcu")
    subprocess.run(["arm-none-eabi-gcc", *ARM_FLAGS.split(), f"-I{cmsis}/Include", "--specs=rdimon.specs",
                    "-T", os.path.join(mcu, "mps2_an386.ld"), "-Wl,--gc-sections", "-o", elf, src,
                    os.path.join(mcu, "startup.c"), *lib], check=True)
    counts = measure(elf, work, "bench_run", len(calls), "cortex-m4")
    return {i: n for (i, _), n in zip(calls, counts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="digits,fashion,ds_cnn,resnet8,mobilenet_v1_025,autoencoder")
    ap.add_argument("--configs", default="dfp4,dfp8,po24", help="scheme+bits list; activations 8 bits")
    ap.add_argument("--cmsis-nn", default=os.environ.get("CMSIS_NN"), help="path of a CMSIS-NN checkout")
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("--cpu", default="cortex-m4", choices=sorted(CPUS))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    need = CPUS[args.cpu]
    if not all(shutil.which(t) for t in need["tools"]):
        sys.exit(f"needs {' and '.join(need['tools'])} (apt-get install {need['install']})")
    if args.cmsis_nn and args.cpu != "cortex-m4":
        sys.exit("--cmsis-nn: CMSIS-NN runs on Arm cores only; leave it out with --cpu " + args.cpu)
    if args.cmsis_nn and not os.path.isfile(os.path.join(args.cmsis_nn, "Include", "arm_nnfunctions.h")):
        sys.exit(f"--cmsis-nn {args.cmsis_nn}: not a CMSIS-NN checkout (no Include/arm_nnfunctions.h)")
    configs = args.configs.split(",")
    rows = []
    for name in args.models.split(","):
        try:
            graph, calib, x_test = model_and_data(name)
        except WqrcError as exc:
            print(f"\n{name}: skipped ({exc})")
            continue
        per = {}
        with tempfile.TemporaryDirectory() as tmp:
            for cfg in configs:
                qm = wqrc.quantize(graph, scheme=cfg[:3], bits=int(cfg[3:]), act_bits=8, calib=calib)
                counts, info = profile_wqrc(qm, x_test, os.path.join(tmp, cfg), args.cpu)
                per[cfg] = (qm, counts, info)
            qm = per[configs[0]][0]
            cm = profile_cmsis(qm, args.cmsis_nn, os.path.join(tmp, configs[0], "c"), tmp) if args.cmsis_nn else {}
        macs = {r["name"]: r["macs"] for r in per[configs[0]][2]["report"]["layers"]}
        cyc = args.cpu == "cortex-m4"
        cols = [(c, k) for c in configs for k in ((0, 1) if cyc else (0,))]
        print(f"\n{name}: {args.cpu} per MAC (a8), per node: instructions" + (" and estimated M4 cycles "
              f"(zero wait states, P = {m4_cycles.REFILL}; benchmarks/m4_cycles.py)" if cyc else ""))
        head = f"{'node':<28}{'op':<15}{'MACs':>10}" + "".join(f"{c + (' cyc' if k else ' ins'):>10}" for c, k in cols)
        print(head + (f"{'CMSIS ins':>10}{'CMSIS cyc':>10}{'dfp8/CMSIS':>11}" if cm else ""))
        tot = {ck: 0 for ck in cols}
        conv_tot = {ck: 0 for ck in cols}
        conv_macs = cm_macs = 0
        cm_tot = [0, 0]
        worst = (0.0, "")
        for i, node in enumerate(qm.nodes):
            m = macs.get(node.name, 0)
            cells = {(c, k): per[c][1][i][k] for c, k in cols}
            for ck in cols:
                tot[ck] += cells[ck]
                conv_tot[ck] += cells[ck] if node.op == "conv" else 0
            conv_macs += m if node.op == "conv" else 0
            row = dict(model=name, cpu=args.cpu, node=node.name, op=node.op, macs=m,
                       **{c + ("_cycles" if k else ""): cells[c, k] for c, k in cols})
            line = f"{node.name[:27]:<28}{node.op + ('/dw' if node.attrs.get('group', 1) > 1 else ''):<15}{m:>10}"
            line += "".join(f"{cells[ck] / m:>10.2f}" if m else f"{cells[ck]:>10}" for ck in cols)
            if i in cm:
                row["cmsis_nn"], row["cmsis_nn_cycles"] = cm[i]
                cm_tot = [cm_tot[0] + cm[i][0], cm_tot[1] + cm[i][1]]
                cm_macs += m
                line += f"{cm[i][0] / m:>10.2f}{cm[i][1] / m:>10.2f}"
                if "dfp8" in configs:
                    ratio = cells["dfp8", 1] / cm[i][1]
                    line += f"{ratio:>11.2f}"
                    worst = max(worst, (ratio, node.name))
            rows.append(row)
            print(line)
        total_macs = sum(macs.values())
        print(f"{'all nodes':<43}{total_macs:>10}" + "".join(f"{tot[ck] / total_macs:>10.2f}" for ck in cols)
              + (f"{cm_tot[0] / cm_macs:>10.2f}{cm_tot[1] / cm_macs:>10.2f}" if cm else ""))
        if conv_macs:
            print(f"{'conv layers':<43}{conv_macs:>10}" + "".join(f"{conv_tot[ck] / conv_macs:>10.2f}" for ck in cols))
        if worst[1]:
            print(f"slowest layer against CMSIS-NN (estimated cycles, dfp8): {worst[1]} at {worst[0]:.2f}x (target <= 2)")
        print("flash B " + "  ".join(f"{c} {per[c][2]['flash']}" for c in configs)
              + " | RAM B " + "  ".join(f"{c} {per[c][2]['ram']}" for c in configs)
              + " | instructions/inference " + "  ".join(f"{c} {tot[c, 0]}" for c in configs))
        if cyc:
            print(f"at {M4_MHZ} MHz (STM32L4R5's clock): " + "  ".join(
                f"{c} {tot[c, 1] / M4_MHZ / 1e3:.1f} ms" for c in configs))
            for peer, ms in PUBLISHED.get(name, ()):
                print(f"  published, STM32L4R5 Cortex-M4 {M4_MHZ} MHz: {peer:<24}{ms:>7.1f} ms = "
                      f"{ms * M4_MHZ * 1e3 / total_macs:.2f} cycles/MAC; "
                      + "  ".join(f"{c} {tot[c, 1] / (ms * M4_MHZ * 1e3):.2f}x its time" for c in configs))
        rows.append(dict(model=name, cpu=args.cpu, node="(total)", macs=total_macs, conv_macs=conv_macs,
                         **{c + ("_cycles" if k else ""): tot[c, k] for c, k in cols},
                         **{c + ("_conv_cycles" if k else "_conv"): conv_tot[c, k] for c, k in cols},
                         **{f"{c}_flash": per[c][2]["flash"] for c in configs},
                         **{f"{c}_ram": per[c][2]["ram"] for c in configs}))
    if not args.cmsis_nn and args.cpu == "cortex-m4":
        print("\n(no --cmsis-nn PATH: the CMSIS-NN column is skipped; "
              "git clone https://github.com/ARM-software/CMSIS-NN and pass its path)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
