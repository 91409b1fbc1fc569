"""Images/s of the bit-exact simulator beside onnxruntime (float) on the same model.

    python benchmarks/sim_throughput.py [--models digits,fashion,allcnn,resnet18] [--repeats 3]

For each model, onnxruntime runs the float model and wqrc.simulate runs the
quantized one on the same inputs, in the same batches, on all cores this
machine has; the best of --repeats runs is kept for each so that a busy moment
does not decide it. Configurations: DFP-8 and Po2-4 weights at 8-bit
activations, DFP-8 at 16-bit and DFP-16 at 32-bit. The path column is the
executor the simulator chose for each layer's bound (docs/architecture.md:
onnxruntime on a float32 lowering, torch float32/float64, or the NumPy
kernels). Targets (issue 19): simulator / onnxruntime >= 1.0 at a8, >= 0.5 at
a16 and a32.

Models: the bundled digits, fashion and All-CNN-C examples (fashion and
All-CNN-C calibrate on Fashion-MNIST: Debian's dataset-fashion-mnist; skipped
without it) and ResNet-18 at 64x64 from wqrc.zoo (random weights and inputs).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import wqrc  # noqa: E402
from wqrc import zoo  # noqa: E402
from wqrc.data import load_dataset  # noqa: E402
from wqrc.errors import WqrcError  # noqa: E402
from wqrc.frontend.torch import _export  # noqa: E402

# model -> (ONNX path or zoo name, dataset or None for random inputs, images, batch)
MODELS = {
    "digits": ("examples/digits_cnn.onnx", "digits", 4096, 512),
    "fashion": ("examples/fashion_cnn.onnx", "fashion-mnist", 2048, 512),
    "allcnn": ("examples/allcnn_c.onnx", "fashion-mnist", 1024, 256),
    "resnet18": ("resnet18", None, 64, 32),
}
CONFIGS = (("dfp", 8, 8), ("po2", 4, 8), ("dfp", 8, 16), ("dfp", 16, 32))


def best_rate(fn, n_images: int, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_images / best


def load(name: str):
    """(float ONNX model bytes, wqrc graph, calibration inputs, test inputs)."""
    src, data, images, _ = MODELS[name]
    if data is None:
        module, shape = zoo.build(src)
        x = np.random.default_rng(0).standard_normal((images + 64,) + shape).astype(np.float32)
        model = _export(module, torch.from_numpy(x[:1]), src).SerializeToString()
        return model, wqrc.from_torch(module, x[:1]), x[images:], x[:images]
    ds = load_dataset(data)
    with open(src, "rb") as f:
        model = f.read()
    x = np.resize(ds.x_test, (images,) + ds.x_test.shape[1:]).astype(np.float32)
    return model, wqrc.load_model(src), ds.x_train[:512], x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import onnxruntime as ort

    print(f"{os.cpu_count()} cores; images/s, best of {args.repeats}")
    print(f"{'model':<10}{'configuration':<30}{'images/s':>12}{'vs onnxruntime':>16}")
    for name in args.models.split(","):
        try:
            model, g, calib, x = load(name)
        except WqrcError as exc:
            print(f"{name:<10}skipped: {exc}")
            continue
        batch = MODELS[name][3]
        sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0].name

        def run_ort():
            for i in range(0, len(x), batch):
                sess.run(None, {inp: x[i:i + batch]})

        ort_rate = best_rate(run_ort, len(x), args.repeats)
        print(f"{name:<10}{'onnxruntime float32':<30}{ort_rate:>12.1f}{1.0:>16.2f}")
        for scheme, bits, act in CONFIGS:
            qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib)
            xq = qm.quantize_input(x)
            rate = best_rate(lambda: wqrc.simulate(qm, xq, batch=batch), len(x), args.repeats)
            label = f"{scheme}{bits} a{act} ({wqrc.sim.simulator.chosen_path(qm)})"
            print(f"{'':<10}{label:<30}{rate:>12.1f}{rate / ort_rate:>16.2f}")


if __name__ == "__main__":
    main()
