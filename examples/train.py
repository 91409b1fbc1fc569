"""Train the bundled example CNNs and export them to ONNX.

    python examples/train.py --dataset digits -o examples/digits_cnn.onnx
    python examples/train.py --dataset fashion-mnist --epochs 8 -o examples/fashion_cnn.onnx

The digits model (checked in as examples/digits_cnn.onnx) is small enough to
train in seconds on a CPU; it is the model the README's commands use. Both
nets use BatchNorm (folded by wqrc), ReLU, max pooling and a dense head, the
ops every backend must handle. Seeded: the same command gives the same model.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from wqrc.data import accuracy, load_dataset


def digits_cnn() -> nn.Module:
    """1x8x8 -> 10 logits; about 6.6k weights."""
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 8, 3, padding=1, bias=False), bn1=nn.BatchNorm2d(8), relu1=nn.ReLU(),
        conv2=nn.Conv2d(8, 16, 3, padding=1, bias=False), bn2=nn.BatchNorm2d(16), relu2=nn.ReLU(),
        pool=nn.MaxPool2d(2),
        conv3=nn.Conv2d(16, 16, 3, padding=1), relu3=nn.ReLU(),
        flatten=nn.Flatten(), dropout=nn.Dropout(0.2), fc=nn.Linear(16 * 4 * 4, 10),
    ))


def fashion_cnn() -> nn.Module:
    """1x28x28 -> 10 logits; about 29k weights."""
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 16, 3, padding=1, bias=False), bn1=nn.BatchNorm2d(16), relu1=nn.ReLU(),
        pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(16, 32, 3, padding=1, bias=False), bn2=nn.BatchNorm2d(32), relu2=nn.ReLU(),
        pool2=nn.MaxPool2d(2),
        conv3=nn.Conv2d(32, 32, 3, padding=1), relu3=nn.ReLU(), pool3=nn.MaxPool2d(2),
        flatten=nn.Flatten(), dropout=nn.Dropout(0.3), fc=nn.Linear(32 * 3 * 3, 10),
    ))


MODELS = {"digits": digits_cnn, "digits-padded": digits_cnn, "fashion-mnist": fashion_cnn}


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, batch: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}", file=sys.stderr)


def export(model: nn.Module, shape: tuple[int, ...], path: str) -> None:
    model.eval()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # legacy exporter: stable names
    torch.onnx.export(model, (torch.zeros((1,) + shape),), path, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(MODELS), default="digits")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = load_dataset(args.dataset)
    model = MODELS[args.dataset]()
    train(model, ds.x_train, ds.y_train, args.epochs, args.lr, args.batch, args.seed)
    model.eval()
    with torch.no_grad():
        acc = accuracy(model(torch.from_numpy(ds.x_test)).numpy(), ds.y_test)
    print(f"{args.dataset}: float test accuracy {acc:.2%} ({len(ds.y_test)} samples)")
    export(model, tuple(ds.x_train.shape[1:]), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
