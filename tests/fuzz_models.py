"""Random models for the differential fuzzer, built from the op registry's ops.

One seed gives one model: a random chain of convs (kernels, strides, pads,
dilations, groups, fused clamps), pools (max with ceil_mode and dilation,
average with and without counted padding), standalone ReLU/Clip, lookup-table
activations (Sigmoid, Tanh, HardSigmoid, HardSwish, LeakyRelu), residual adds
and channel concats of earlier tensors, global average pooling, flatten and a
dense head; a random scheme and bit-width, activation width, exponent rule, exponent
granularity (per layer or per output channel),
calibration range (zero, tiny, normal, huge) and inputs at the format extremes.
Candidates the registry refuses (empty outputs, windows of padding only) are
redrawn, so every model is one wqrc accepts. Shared by tests/test_fuzz.py (a
bounded number per CI run) and benchmarks/fuzz.py (thousands).
"""
from __future__ import annotations

import warnings

import numpy as np

import wqrc
from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph, Node, infer_shapes
from wqrc.ops import OPS, infer_node_shape

SCHEMES = [("dfp", b) for b in (2, 3, 4, 5, 8, 12, 16)] + [("po2", b) for b in (2, 3, 4, 5, 6, 7, 8)]
ACT_BITS = [8, 16, 32, 8, 16, 32, 4, 12, 24]
CALIB = ["normal", "normal", "zero", "tiny", "huge"]
INPUTS = ["max", "min", "alternate", "random"]
# WIDE (benchmarks/fuzz.py --wide): 14..24 channels per conv and input instead of a few, 3x3
# windows mostly at stride 1 in one group, maps of 8..16, mostly 8-bit activations, so that layers
# take the C target's Winograd kernel (3x3 at stride 1 of 8-bit inputs, 16 or more channels).
# Off, the draws are what they always were, so every seed keeps its model.
WIDE = False


def _channels(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(14, 25)) if WIDE else int(rng.integers(lo, hi))


class _Builder:
    def __init__(self, rng: np.random.Generator, c: int, h: int, w: int):
        self.rng = rng
        self.nodes: list[Node] = []
        self.shapes = {"x": (c, h, w)}
        self.k = 0

    def try_add(self, op: str, inputs: list[str], attrs: dict, params=None) -> bool:
        self.k += 1
        node = Node(op, f"{op}{self.k}", inputs, f"t{self.k}", dict(attrs), params or {})
        try:
            shape = infer_node_shape(node, [self.shapes[t] for t in inputs])
        except WqrcError:
            return False
        self.nodes.append(node)
        self.shapes[node.output] = shape
        return True

    @property
    def last(self) -> str:
        return self.nodes[-1].output if self.nodes else "x"

    def weights(self, shape, scale=0.5):
        return (self.rng.normal(size=shape) * scale).astype(np.float32)

    def clamp(self):
        return [None, (0.0, None), (0.0, 6.0), (-1.0, 1.0)][self.rng.integers(4)]

    def conv(self, cout: int, same: bool = False) -> bool:
        r = self.rng
        src = self.last
        c = self.shapes[src][0]
        k = 3 if WIDE else int(r.integers(1, 4))
        plain = WIDE and r.random() < 0.7  # (WIDE: mostly stride 1, dilation 1, one group)
        d = 1 if same or plain else int(r.integers(1, 3))
        groups = [g for g in range(1, c + 1) if c % g == 0 and cout % g == 0]
        g = 1 if plain else int(r.choice(groups))
        if same:
            pads, s = (k // 2,) * 4, 1
        else:
            pads, s = tuple(int(v) for v in r.integers(0, k, 4)), 1 if plain else int(r.integers(1, 3))
        return self.try_add("conv", [src], dict(strides=(s, s), pads=pads, dilations=(d, d), group=g,
                                                clip=self.clamp()),
                            dict(weight=self.weights((cout, c // g, k, k)), bias=self.weights(cout, 0.3)))

    def pool(self) -> bool:
        r = self.rng
        k = int(r.integers(1, 4))
        pads = tuple(int(v) for v in r.integers(0, k, 4))
        s = int(r.integers(1, 4))
        if r.random() < 0.5:
            return self.try_add("maxpool", [self.last], dict(kernel=(k, k), strides=(s, s), pads=pads,
                                                             dilations=(int(r.integers(1, 3)),) * 2,
                                                             ceil_mode=int(r.integers(2))))
        return self.try_add("avgpool", [self.last], dict(kernel=(k, k), strides=(s, s), pads=pads,
                                                         ceil_mode=int(r.integers(2)),
                                                         count_include_pad=int(r.integers(2))))

    def block(self) -> None:
        r = self.rng
        choice = r.integers(10)
        if choice <= 1:
            self.conv(_channels(r, 1, 7))
        elif choice == 2:
            self.pool()
        elif choice == 3:  # residual: a 'same' conv, then add its input back
            src = self.last
            if self.conv(self.shapes[src][0], same=True):
                self.try_add("add", [src, self.last], dict(clip=self.clamp()))
        elif choice == 4:  # concat with an earlier tensor of the same spatial size
            cands = [t for t, s in self.shapes.items() if len(s) == 3 and s[1:] == self.shapes[self.last][1:]]
            self.try_add("concat", [self.last, str(r.choice(cands))], {})
        elif choice == 5:
            self.try_add("relu", [self.last], {})
        elif choice == 6:
            lo = float(r.choice([0.0, -0.5]))
            self.try_add("clip", [self.last], dict(min=lo, max=float(r.choice([1.0, 6.0]))))
        elif choice == 8 and len(self.shapes[self.last]) == 3:  # upsampling (§3f), constant padding (§3g)
            op = str(r.choice(["upsample", "zero_insert", "pad"]))
            if op == "pad":
                self.try_add(op, [self.last], dict(pads=tuple(int(v) for v in r.integers(0, 3, 4)),
                                                   value=float(r.choice([0.0, 0.5, -1.25, 3.0, 1e6]))))
            else:
                self.try_add(op, [self.last], dict(scales=(int(r.integers(1, 3)), int(r.integers(1, 4)))))
        elif choice == 7 and len(self.shapes[self.last]) == 3:  # a squeeze-and-excitation product (§3e)
            src = self.last
            if self.try_add("global_avgpool", [src], {}):
                gate = self.last
                if self.rng.random() < 0.5:
                    self.try_add("sigmoid", [gate], {})
                self.try_add("mul", [src, self.last], {})
        else:  # a lookup-table activation (docs/format.md §3d)
            op = str(r.choice(["sigmoid", "tanh", "hardsigmoid", "hardswish", "leakyrelu"]))
            attrs = {"hardsigmoid": dict(alpha=float(r.choice([0.2, 1 / 6]))),
                     "leakyrelu": dict(alpha=float(r.choice([0.01, 0.1, 0.3])))}.get(op, {})
            self.try_add(op, [self.last], attrs)


def random_graph(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    if rng.random() < 0.1:  # an MLP now and then
        f = int(rng.integers(1, 12))
        b = _Builder(rng, 1, 1, 1)
        b.shapes = {"x": (f,)}
        for _ in range(int(rng.integers(1, 4))):
            out = int(rng.integers(1, 9))
            b.try_add("dense", [b.last], dict(clip=b.clamp()),
                      dict(weight=b.weights((out, b.shapes[b.last][0])), bias=b.weights(out, 0.3)))
        return infer_shapes(Graph(b.nodes, "x", (f,), b.last))
    c, h, w = _channels(rng, 1, 5), int(rng.integers(*((8, 17) if WIDE else (3, 10)))), \
        int(rng.integers(*((8, 17) if WIDE else (3, 10))))
    b = _Builder(rng, c, h, w)
    while not b.conv(_channels(rng, 1, 7)):
        pass
    for _ in range(int(rng.integers(1, 6))):
        b.block()
    if rng.random() < 0.5:
        b.try_add("global_avgpool", [b.last], {})
    b.try_add("flatten", [b.last], {})
    out = int(rng.integers(1, 8))
    b.try_add("dense", [b.last], dict(clip=b.clamp()),
              dict(weight=b.weights((out, b.shapes[b.last][0])), bias=b.weights(out, 0.3)))
    return infer_shapes(Graph(b.nodes, "x", (c, h, w), b.last))


def edge_inputs(fmt, shape, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Integer inputs at the format's extremes: all max, all min, alternating, or uniform random."""
    if kind == "max":
        x = np.full(shape, fmt.qmax)
    elif kind == "min":
        x = np.full(shape, fmt.qmin)
    elif kind == "alternate":
        x = np.where(np.indices(shape).sum(0) % 2 == 0, fmt.qmax, fmt.qmin)
    else:
        x = rng.integers(fmt.qmin, fmt.qmax, shape, endpoint=True)
    return x.astype(np.int64)


def random_case(seed: int):
    """(QModel, integer inputs, description) for one seed."""
    rng = np.random.default_rng(seed ^ 0x5EED)
    g = random_graph(seed)
    even = _draw_ties_to_even(g, np.random.default_rng(seed ^ 0xE7E4))
    scheme, bits = SCHEMES[rng.integers(len(SCHEMES))]
    act = int(rng.choice([8, 8, 8, 16] if WIDE else ACT_BITS))
    if any(OPS[n.op].kernel == "lut" for n in g.nodes):  # tables cover inputs of up to 16 bits
        act = min(act, 16)
    rule = str(rng.choice(["paper", "max", "mse"]))
    granularity = str(rng.choice(["layer", "layer", "channel"]))
    calib_kind = str(rng.choice(CALIB))
    scale = {"normal": 1.0, "zero": 0.0, "tiny": 1e-6, "huge": 1e6}[calib_kind]
    calib = (rng.uniform(-1, 1, (8,) + tuple(g.input_shape)) * scale).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, exponent=rule, calib=calib,
                           granularity=granularity)
    f = qm.input_format
    kind = str(rng.choice(INPUTS))
    x = edge_inputs(f, (4,) + tuple(qm.input_shape), kind, rng)
    x[0], x[1] = f.qmax, f.qmin  # the extremes are always among the samples
    desc = (f"seed {seed}: {len(g.nodes)} nodes ({', '.join(n.op for n in g.nodes)}), {scheme}{bits}, a{act}, "
            f"{rule}, {granularity} exponents, calib {calib_kind}, inputs {kind}"
            + (f", ties to even at {', '.join(even)}" if even else ""))
    return qm, x, desc


def _draw_ties_to_even(g, rng) -> list[str]:
    """In a third of the models, each conv/dense layer rounds ties to even with probability 1/2, as
    an imported QONNX ROUND quantizer makes it (docs/format.md §3); its own rng, so that the other
    draws of every seed stay as they were. Returns the layers drawn."""
    if rng.random() >= 1 / 3:
        return []
    drawn = [n for n in g.weighted_nodes() if rng.random() < 0.5]
    g.act_rounding.update({n.output: "half_even" for n in drawn})
    return [n.name for n in drawn]


SANITIZE = "-O1 -g -fsanitize=undefined,address -fno-sanitize-recover=all -fno-omit-frame-pointer"
C_FLAGS = f"-std=c99 -Wall -Wextra -Wpedantic -Wconversion -Werror {SANITIZE}"
CXX_FLAGS = f"-std=c++14 -Wall -Wextra -Werror {SANITIZE}"


def _qonnx_target(qm, x, ran: dict, compare) -> None:
    """--target qonnx under qonnx's own executor, against the reference (models float32 cannot hold
    exactly are refused at export, in one line)."""
    from test_qonnx import _qonnx_run

    from wqrc.backend.qonnx import qonnx_model
    try:
        model = qonnx_model(qm)
    except WqrcError as exc:
        ran["qonnx"] = f"refused: {exc}"
        return
    got = _qonnx_run(model, np.ldexp(x.astype(np.float64), qm.input_format.frac))
    compare("qonnx executor", np.ldexp(got.astype(np.float64), -qm.output_format.frac).astype(np.int64))
    ran["qonnx"] = "ran"


def differential(seed: int, backends_dir=None, targets=("c", "hls")) -> tuple[list[str], dict]:
    """Every executor (and, with ``backends_dir``, the generated ``targets``: C and HLS built with
    UBSan and ASan, RTL simulated by Verilator on 1 to 4 lanes, its cycles per step checked against
    the RTL target's cycle model; ``rtl-seq``: the descriptor-driven form on 1 to 16 lanes, the same
    checks; ``c-m4``, ``c-m55``: the C target built for a Cortex-M4 (its DSP kernels and assembly)
    or a Cortex-M55 (its Helium kernels), run in QEMU) against
    the plain-integer reference. Returns (mismatches, what ran)."""
    import os
    import subprocess

    import int_reference
    from wqrc.sim import fast as fast_exec, ort_exec

    qm, x, desc = random_case(seed)
    ref = np.array(int_reference.run(qm, x), dtype=object)
    bad, ran = [], {"model": desc}

    def compare(name, got):
        got = np.asarray(got).reshape(len(x), -1).astype(object)
        if got.shape != ref.shape or not (got == ref).all():
            where = np.argwhere(got != ref) if got.shape == ref.shape else "shape"
            bad.append(f"{desc}: {name} differs from the reference at {where[:3] if len(where) else where}")

    paths = ["auto", "object"]
    if all(l.acc_bits <= 63 for l in qm.layers.values()):
        paths.append("int64")
    if ort_exec.lower(qm) is not None:
        paths.append("ort")
    if fast_exec.eligible(qm):
        paths.append("torch")
    for p in paths:
        try:
            compare(f"simulator path {p}", wqrc.simulate(qm, x, path=p))
        except Exception as exc:  # an executor must never fail on a model wqrc accepted
            bad.append(f"{desc}: simulator path {p} raised {type(exc).__name__}: {exc}")
    # QLinearConv wherever it is exact, not only where it pays (these models are too small to pay)
    every = ort_exec.lower(qm, "all")
    if every is not None and any(n.op_type == "QLinearConv" for n in every.graph.node):
        paths.append("ort-qlinear")
        try:
            compare("onnxruntime with QLinearConv everywhere", ort_exec.OrtExecutor(every)(x))
        except Exception as exc:
            bad.append(f"{desc}: onnxruntime with QLinearConv everywhere raised {type(exc).__name__}: {exc}")
    ran["paths"] = paths
    if backends_dir is None:
        return bad, ran
    import json

    from wqrc.backend.c import generate_c
    from wqrc.backend.hls import generate_hls
    from wqrc.backend.rtl import generate_rtl
    from wqrc.pack import pack

    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
    vecs = (x, np.array(ref.tolist(), dtype=object))
    if any(abs(int(v)) >= 1 << 63 for v in ref.reshape(-1)):
        return bad, ran
    vecs = (x, ref.astype(np.int64))
    if "qonnx" in targets:
        _qonnx_target(qm, x, ran, compare)
        targets = [t for t in targets if t != "qonnx"]
    lanes = int(np.random.default_rng(seed).integers(1, 5))
    # the descriptor-driven form up to 16 lanes, so that its layers also take grids of channels x
    # columns (a layer with at most half as many channels as lanes), on a part with room for them
    seq_lanes = int(np.random.default_rng([seed, 1]).integers(1, 17))
    generators = {"c": (generate_c, {}, ["run", f"CFLAGS={C_FLAGS}"]),
                  "hls": (generate_hls, {}, ["csim", f"CXXFLAGS={CXX_FLAGS}"]),
                  "rtl": (generate_rtl, {"lanes": lanes}, ["sim"]),
                  "rtl-seq": (generate_rtl, {"lanes": seq_lanes, "form": "seq", "fpga": "ecp5-85"}, ["sim"]),
                  # the C target's DSP kernels (and their assembly) on a Cortex-M4 (QEMU's mps2-an386)
                  "c-m4": (generate_c, {}, ["mcu-run", "CPU=cortex-m4"]),
                  # the C target's Helium kernels on a Cortex-M55 (QEMU's mps3-an547)
                  "c-m55": (generate_c, {}, ["mcu-run", "CPU=cortex-m55"])}
    for target in targets:
        gen, options, cmd = generators[target]
        folder = os.path.join(str(backends_dir), f"{target}{seed}")
        sub = target.split("-")[0]   # rtl-seq writes rtl/ as the layer form does
        try:
            report = gen(qm, pack(qm), os.path.join(folder, sub), vecs=vecs, **options)
        except WqrcError as exc:  # a layer the target refuses at compile time (e.g. > 64-bit accumulators)
            ran[target] = f"refused: {exc}"
            continue
        if target.startswith("rtl"):   # the ROM image where the RTL reads it: OUT/rom/weights.mem
            from wqrc.pack import write_rom_files
            write_rom_files(pack(qm), os.path.join(folder, "rom"))
        res = subprocess.run(["make", "-s", "-C", os.path.join(folder, sub), *cmd], capture_output=True,
                             text=True, env=env, timeout=600)
        ran[target] = "ran"
        if res.returncode or "PASS" not in res.stdout:
            bad.append(f"{desc}: generated {target}: {(res.stdout + res.stderr).strip()[-600:]}")
        elif sub == "rtl":
            with open(os.path.join(folder, sub, "sim.json")) as fh:
                measured = json.load(fh)
            if measured["cycles_per_inference"] != report["cycles_per_inference"]:
                bad.append(f"{desc}: RTL on {lanes} lanes took {measured['step_cycles']} cycles per step, "
                           f"{measured['cycles_per_inference']} in all; the cycle model says "
                           f"{report['cycles_per_inference']}")
    return bad, ran
