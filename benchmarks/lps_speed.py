"""Precision searches side by side: the paper's greedy search, the ranked search and Lin et al.'s SQNR plan.

    python benchmarks/lps_speed.py [--models fashion_cnn,allcnn_c,resnet18,mobilenet_v2_035]
                                   [--greedy-max-layers 12] [--val-samples 2000] [--max-drop 0.005]
                                   [--zoo-max-drop 0.02]

For each model, every method searches DFP widths 8..2 under the same budget (validation
accuracy within --max-drop of float, 16-bit activations, the `mse` exponent rule), on the
same validation slice, in this one process one after the other (so the same machine load):

* greedy: `wqrc lps` (docs/format.md §7, the paper's Algorithm 1): every layer tried at
  every step, O(L^2 * bits) evaluations;
* ranked: `wqrc lps --method ranked` (wqrc/search/ranked.py): the SQNR plan bisected on
  validation, then layers ranked by their SQNR cost per bit saved and verified by
  bisection with early stopping;
* sqnr: `wqrc lps --method sqnr --max-drop` (wqrc/search/sqnr.py): the SQNR trade-off curve
  bisected on validation, nothing more.

Printed: evaluations, validation images simulated (an early-stopped check counts the images
it ran), wall seconds, the plan's W_mem and CR, its validation accuracy, and W_mem against
greedy's. Models: examples/fashion_cnn.onnx and examples/allcnn_c.onnx on Fashion-MNIST
(test accuracy of each plan too), and, with seeded random weights and ten classes, wqrc.zoo's
ResNet-18 (64x64, 21 layers) and a 50-layer residual network (deep_resnet: 16 channels at
16x16, 24 blocks) on random inputs labelled by the float model (its last bias centred, and the
third of the inputs with the clearest top class kept, so that labels vary; float accuracy 100%;
timing only, budget --zoo-max-drop). Greedy is skipped above
--greedy-max-layers layers (its first round alone is L evaluations of the whole split); the
issue's target is the ranked search within 5 minutes on a 50-layer network, and within 5%
of greedy's W_mem on All-CNN-C.
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
from wqrc import api  # noqa: E402
from wqrc.data import Dataset, accuracy, load_dataset  # noqa: E402

ACT_BITS = 16


def deep_resnet(blocks: int = 24, width: int = 16):
    """A 50-layer network for timing: a stem conv, `blocks` residual blocks of two 3x3 convs with
    BatchNorm (folded), global pooling and a dense head (2 + 2 * blocks weighted layers)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
            self.c2, self.b2 = nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)

        def forward(self, x):
            return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), *[Block() for _ in range(blocks)],
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)).eval(), (3, 16, 16)


def _zoo_dataset(name: str, n: int = 2400):
    """A random-weight model's graph and random inputs labelled by its own float output (timing only)."""
    import torch
    from wqrc import zoo
    from wqrc.ir.to_torch import run_float

    if name == "deep_resnet":
        module, shape = deep_resnet()
    else:
        make, shape = zoo.MODELS[name]
        torch.manual_seed(0)
        module = make(classes=10).eval()   # ten classes, so that the labels vary
    x = np.random.default_rng(0).standard_normal((3 * n,) + shape).astype(np.float32)
    g = wqrc.from_torch(module, torch.from_numpy(x[:1]))
    # a random network's logits favour one class everywhere and are near ties: centre them (the
    # last layer's bias) and keep the third of the inputs with the clearest top class, so that the
    # labels vary and a plan's accuracy measures more than noise
    logits = run_float(g, x)
    head = g.weighted_nodes()[-1]
    head.params["bias"] = (head.bias - logits.mean(axis=0)).astype(np.float32)
    logits = run_float(g, x)
    top2 = np.sort(logits, axis=1)[:, -2:]
    keep = np.argsort(top2[:, 1] - top2[:, 0])[-n:]
    x = x[np.sort(keep)]
    y = np.argmax(run_float(g, x), axis=1)
    print(f"{name}: labels by the float model, {len(np.unique(y))} classes, the largest "
          f"{np.bincount(y).max() / len(y):.0%} of the samples", flush=True)
    return g, Dataset(name, x, y, x[:0], y[:0])


def _load(name: str):
    if name in ("fashion_cnn", "allcnn_c"):
        return wqrc.load_model(f"examples/{name}.onnx"), load_dataset("fashion-mnist")
    return _zoo_dataset(name)


def _test_acc(g, ds, bits: dict) -> str:
    if not len(ds.y_test):
        return "-"
    qm = wqrc.quantize(g, scheme="dfp", bits={"layers": {n: {"scheme": "dfp", "bits": b} for n, b in bits.items()}},
                       act_bits=ACT_BITS, calib=ds.x_train[:512])
    return f"{accuracy(wqrc.simulate_float(qm, ds.x_test), ds.y_test):.2%}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="fashion_cnn,allcnn_c,resnet18,deep_resnet")
    ap.add_argument("--zoo-max-drop", type=float, default=0.02, help="the budget for the random-weight models")
    ap.add_argument("--greedy-max-layers", type=int, default=12)
    ap.add_argument("--val-samples", type=int, default=2000)
    ap.add_argument("--max-drop", type=float, default=0.005)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(f"DFP 8..2 bits, a{ACT_BITS}, mse exponents, max drop {args.max_drop}, {args.val_samples} validation images\n")
    print("| model | layers | method | evaluations | images simulated | wall s | W_mem | CR | val acc | "
          "test acc | W_mem / greedy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        g, ds = _load(name)
        layers = len(g.weighted_nodes())
        max_drop = args.max_drop if name in ("fashion_cnn", "allcnn_c") else args.zoo_max_drop
        greedy_w = None
        for method in ("greedy", "ranked", "sqnr"):
            if method == "greedy" and layers > args.greedy_max_layers:
                print(f"| {name} | {layers} | greedy | (skipped: > {args.greedy_max_layers} layers) |||||||")
                continue
            t0 = time.perf_counter()
            if method == "sqnr":
                res = api.sqnr_allocation(g, scheme="dfp", start_bits=8, dataset=ds, max_drop=max_drop,
                                          act_bits=ACT_BITS, val_samples=args.val_samples)
                secs = time.perf_counter() - t0
                bits, evals, images = res.bits, res.evaluations + 1, (res.evaluations + 1) * args.val_samples
                w_mem = res.table.w_mem(bits)
                val = res.accuracy
            else:
                result, ev = api.precision_search(g, ds, scheme="dfp", max_drop=max_drop, start_bits=8,
                                                  act_bits=ACT_BITS, val_samples=args.val_samples, method=method)
                secs = time.perf_counter() - t0
                f = result.final
                bits, evals, images, w_mem, val = f.bits, result.evaluations, ev.samples_run, f.w_mem, f.accuracy
            total = sum(int(n.weight.size) for n in g.weighted_nodes())
            if method == "greedy":
                greedy_w = w_mem
            ratio = f"{w_mem / greedy_w:.3f}" if greedy_w else "-"
            print(f"| {name} | {layers} | {method} | {evals} | {images} | {secs:.0f} | {w_mem} | {32 * total / w_mem:.2f} "
                  f"| {val:.2%} | {_test_acc(g, ds, bits)} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
