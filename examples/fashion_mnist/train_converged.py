"""A converged Fashion-MNIST baseline: an All-CNN-C-style network with BatchNorm, trained until flat.

    python examples/fashion_mnist/train_converged.py --epochs 60 -o examples/fashion_allconv.onnx
    python examples/fashion_mnist/train_converged.py --arch mobilenet_v3_small --epochs 8 -o mnv3s.onnx

``--arch`` also trains the deep mobile networks of wqrc.zoo on the same data (one input
channel, stem stride 1 for 28x28): MobileNetV3-Small and an EfficientNet-lite-style net, the
models benchmarks/quant_health.py judges 8-bit activations on (their ONNX files are 2-6 MB
and are not committed).

The network keeps All-CNN-C's plan (the paper's Table III: 3x3 convolutions, stride-2
convolutions instead of pooling, 1x1 convolutions and global average pooling at the end)
but drops two of its nine convolutions and adds BatchNorm (which wqrc folds into the
convolutions) so that it converges in tens of epochs: 3x3 (A), 3x3/2 (A), 3x3 (B),
3x3/2 (B), 3x3 (B), 1x1 (B), 1x1 (10), GAP; A = 32, B = 64, 106,400 weights. It is
sized so that one fine-tuning epoch of `wqrc finetune` over 54,000 images takes at most
30 s on the 2-core CI machine (benchmarks/paper_tables.py measures it).

Training: a seeded 10% of the training split is held out for validation
(``Dataset.validation_split(0.1)``, the slice fine-tuning and the precision search use);
random horizontal flips and shifts of up to 2 pixels; Adam with weight decay 5e-4 and a
cosine learning rate to zero; batch 128. Every epoch prints the validation accuracy
and writes a checkpoint (``OUTPUT.ckpt.pt``; ``--resume`` continues after an
interruption). The test split is read once, after the last epoch. The run counts as
converged when the validation accuracy of the last 5 epochs spans at most 0.3 points;
the script says whether it is. ``--device cuda`` trains on a GPU (same code; GPU
arithmetic is not bit-identical to the CPU's, so say which one made a checked-in model).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from wqrc.data import accuracy, load_dataset  # noqa: E402
from wqrc.holdout import DEFAULT_VAL_SPLIT  # noqa: E402

FLAT_EPOCHS, FLAT_SPAN = 5, 0.003


def all_conv_bn(a: int = 32, b: int = 64, classes: int = 10) -> nn.Module:
    layers = OrderedDict()
    plan = [(1, a, 3, 1), (a, a, 3, 2), (a, b, 3, 1), (b, b, 3, 2), (b, b, 3, 1), (b, b, 1, 1)]
    for i, (cin, cout, k, stride) in enumerate(plan, 1):
        layers[f"conv{i}"] = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        layers[f"bn{i}"] = nn.BatchNorm2d(cout)
        layers[f"relu{i}"] = nn.ReLU()
    layers[f"conv{len(plan) + 1}"] = nn.Conv2d(b, classes, 1)
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    return nn.Sequential(layers)


def augment(x: torch.Tensor, gen: torch.Generator, shift: int) -> torch.Tensor:
    flip = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if shift:
        padded = F.pad(x, (shift,) * 4)
        dy, dx = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
        x = padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return x


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, device: str) -> np.ndarray:
    model.eval()
    return np.concatenate([model(torch.from_numpy(x[i:i + 2000]).to(device)).cpu().numpy()
                           for i in range(0, len(x), 2000)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="allconv", choices=("allconv", "mobilenet_v3_small", "efficientnet_lite"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width-a", type=int, default=32)
    ap.add_argument("--width-b", type=int, default=64)
    ap.add_argument("--shift", type=int, default=2)
    ap.add_argument("--val-split", type=float, default=DEFAULT_VAL_SPLIT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt.pt")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    ds = load_dataset("fashion-mnist")
    if args.arch == "allconv":
        model = all_conv_bn(args.width_a, args.width_b)
    else:
        from wqrc import zoo
        model = getattr(zoo, args.arch)(classes=10, in_ch=1, stem_stride=1)
    model = model.to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    ckpt = os.path.splitext(args.output)[0] + ".ckpt.pt"
    start, log = 0, []
    if args.resume and os.path.isfile(ckpt):
        state = torch.load(ckpt, weights_only=False, map_location=args.device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"])
        start, log = state["epoch"], state["log"]
    x_fit, y_fit, x_val, y_val = ds.validation_split(args.val_split)
    xt, yt = torch.from_numpy(x_fit).to(args.device), torch.from_numpy(y_fit).to(args.device)
    weights = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1)
    arch = f"all-conv {args.width_a}/{args.width_b} with BatchNorm" if args.arch == "allconv" else args.arch
    print(f"{arch}: {weights} weights, {len(xt)} training "
          f"samples, {len(x_val)} held out for validation; {args.epochs} epochs on {args.device}", flush=True)
    for epoch in range(start, args.epochs):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(xt), generator=gen).to(args.device)
        total, correct = 0.0, 0
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            logits = model(augment(xt[idx], gen, args.shift))
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
        sched.step()
        val = accuracy(predict(model, x_val, args.device), y_val)
        log.append(dict(epoch=epoch + 1, loss=total / len(order), acc_tr=correct / len(order), acc_val=val,
                        seconds=time.time() - t0))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(order):.4f}, acc_tr {correct / len(order):.4f}, "
              f"val {val:.4f}, {time.time() - t0:.1f} s", flush=True)
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                        gen=gen.get_state(), epoch=epoch + 1, log=log), ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)
    last = [r["acc_val"] for r in log[-FLAT_EPOCHS:]]
    span = max(last) - min(last)
    converged = len(last) == FLAT_EPOCHS and span <= FLAT_SPAN
    test = accuracy(predict(model, ds.x_test, args.device), ds.y_test)
    print(f"validation accuracy over the last {FLAT_EPOCHS} epochs: {min(last):.4f}..{max(last):.4f} "
          f"(span {span * 100:.2f} points): {'converged' if converged else 'NOT converged'}")
    print(f"test accuracy {test:.4f} ({len(ds.y_test)} images, read once)")
    model = model.cpu().eval()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), args.output, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    with open(os.path.splitext(args.output)[0] + ".train.json", "w") as fh:
        json.dump(dict(command=" ".join(sys.argv), args=vars(args), weights=weights, log=log, converged=converged,
                       val_span_last5=span, test_accuracy=test, torch=torch.__version__), fh, indent=1)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
