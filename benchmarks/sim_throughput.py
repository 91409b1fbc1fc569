"""Images/s of the bit-exact simulator beside onnxruntime (float) on the same model.

    python benchmarks/sim_throughput.py [--model examples/digits_cnn.onnx] [--data digits]

Target (issue 2): simulator/onnxruntime >= 0.5 on the bundled example. Both
run the same test images in batches, on all cores this machine has; the best
of several repeats is kept for each so a busy moment does not decide it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc.data import load_dataset  # noqa: E402


def best_rate(fn, n_images: int, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_images / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/digits_cnn.onnx")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import onnxruntime as ort

    ds = load_dataset(args.data)
    x = np.resize(ds.x_test, (args.images,) + ds.x_test.shape[1:]).astype(np.float32)
    g = wqrc.load_model(args.model)
    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run_ort():
        for i in range(0, len(x), args.batch):
            sess.run(None, {name: x[i:i + args.batch]})

    ort_rate = best_rate(run_ort, len(x), args.repeats)
    print(f"model {args.model}, {len(x)} images, batch {args.batch}, {os.cpu_count()} cores")
    print(f"{'configuration':<34}{'images/s':>12}{'vs onnxruntime':>16}")
    print(f"{'onnxruntime float32':<34}{ort_rate:>12.0f}{1.0:>16.2f}")
    for scheme, bits, act in (("dfp", 8, 8), ("po2", 4, 8), ("dfp", 8, 16), ("dfp", 16, 32)):
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=ds.x_train[:512])
        xq = qm.quantize_input(x)
        rate = best_rate(lambda: wqrc.simulate(qm, xq, batch=args.batch), len(x), args.repeats)
        paths = sorted({wqrc.sim.kernels.choose_path(l.acc_bound) for l in qm.layers.values()})
        label = f"sim {scheme}{bits} a{act} ({'/'.join(paths)})"
        print(f"{label:<34}{rate:>12.0f}{rate / ort_rate:>16.2f}")


if __name__ == "__main__":
    main()
