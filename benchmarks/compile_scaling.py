"""Compile time against graph depth: is it linear in the node count?

    python benchmarks/compile_scaling.py [--sizes 2500,5000,10000,20000] [--target all]

Two deep graphs of one 3x3 conv on a 4x8x8 input, then N nodes:

* ``relu``: N chained ReLUs, which the passes fuse into the conv (the graph an
  outside audit found quadratic: 8,000 nodes took 60 s);
* ``mixed``: ReLU and 1x1 MaxPool alternating, which survive the passes, so the
  quantizer, the simulator's test vectors and every backend see all N nodes.

Each is compiled by `wqrc compile MODEL --target TARGET` in its own process
(wall seconds, including start-up). The figure judged is the time at the
largest size over the time at the smallest (issue 32: 20,000 nodes in under
8x the time of 2,500), printed beside that limit; a linear compile gives about
the size ratio less the fixed start-up cost.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LIMIT = 8.0


def chain(n: int, kind: str) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    w = numpy_helper.from_array(np.random.RandomState(0).randn(4, 4, 3, 3).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["t0"], name="conv", pads=[1, 1, 1, 1])]
    for i in range(n):
        if kind == "mixed" and i % 2:
            nodes.append(helper.make_node("MaxPool", [f"t{i}"], [f"t{i + 1}"], name=f"p{i}", kernel_shape=[1, 1]))
        else:
            nodes.append(helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"r{i}"))
    y = helper.make_tensor_value_info(f"t{n}", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, f"{kind}{n}", [x], [y], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def compile_seconds(path: str, out: str, target: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "wqrc", "compile", path, "--target", target, "-o", out, "--force"],
                         capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"compile of {path} failed: {res.stderr.strip()}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2500,5000,10000,20000")
    ap.add_argument("--target", default="all")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"wqrc compile --target {args.target}, wall seconds per graph (one process each)")
    print(f"{'graph':<8}" + "".join(f"{n:>10}" for n in sizes) + f"{'ratio':>9}{'limit':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("relu", "mixed"):
            secs = []
            for n in sizes:
                path = os.path.join(tmp, f"{kind}{n}.onnx")
                onnx.save(chain(n, kind), path)
                secs.append(compile_seconds(path, os.path.join(tmp, f"out_{kind}{n}"), args.target))
            ratio = secs[-1] / secs[0]
            print(f"{kind:<8}" + "".join(f"{s:>10.2f}" for s in secs) + f"{ratio:>8.2f}x{LIMIT:>6.0f}x"
                  + ("" if ratio < LIMIT else "  OVER"))
    print(f"ratio: time at {sizes[-1]} nodes over time at {sizes[0]} (node ratio {sizes[-1] / sizes[0]:.0f}x)")


if __name__ == "__main__":
    main()
