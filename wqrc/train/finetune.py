"""Trained quantization: the paper's Algorithm 2, and a straight-through baseline.

Start from the float model, train with ``loss = CE + λ1(epoch)·QR + λ2(epoch)·WQR``
(``method="wqr"``) or with straight-through fake-quantized weights
(``method="ste"``), and quantize at the end: the returned graph's weights are
the quantization levels themselves, so ``wqrc compile`` stores exactly them.
Every epoch logs the paper's Table II metrics: acc_tr, acc_M (float test),
acc_Mq (quantized test, bit-exact simulator), QR, WQR, loss and the λs.
"""
from __future__ import annotations

import math

import csv
import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from wqrc.data import Dataset, accuracy
from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph
from wqrc.ir.to_torch import GraphModule
from wqrc.quant.plan import LayerSpec
from wqrc.quant.quantize import quantize_graph
from wqrc.quant.ranges import calibrate
from wqrc.sim import simulate_float
from wqrc.train.regularizers import QuantRegularizer, quantize_tensor, ste_weights
from wqrc.train.schedule import parse_schedule

METHODS = ("wqr", "ste")
LOG_COLUMNS = ("epoch", "lr", "lambda1", "lambda2", "loss", "qr", "wqr", "lambda2_wqr", "acc_tr", "acc_M", "acc_Mq",
               "mean_distance")


@dataclass
class FinetuneConfig:
    epochs: int = 10
    lr: float = 1e-3
    lr_drops: list = field(default_factory=list)  # [(epoch, lr), ...]
    optimizer: str = "adam"
    momentum: float = 0.9
    batch: int = 64
    lambda1: str = "0"
    lambda2: str = "0"
    method: str = "wqr"
    flip: bool = False
    shift: int = 0
    seed: int = 0
    exponent: str = "mse"
    act_bits: int = 8
    calib_samples: int = 512
    calib_percentile: Optional[float] = None  # None: max-abs calibration of activation formats
    snapshot_epochs: int = 4  # weight snapshots kept for the histogram figure


def model_signature(graph: Graph) -> str:
    text = ";".join(f"{n.name}:{tuple(n.weight.shape)}" for n in graph.weighted_nodes())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_lr_drops(text: str) -> list:
    """'200:1e-5' or '100:1e-4,200:1e-5' -> [(200, 1e-5)]."""
    if not text:
        return []
    out = []
    for part in text.split(","):
        try:
            ep, lr = part.split(":")
            ep, lr = int(ep), float(lr)
        except ValueError:
            raise WqrcError(f"--lr-drop: cannot read '{part}' (use EPOCH:LR, e.g. 200:1e-5)") from None
        if ep < 0 or not math.isfinite(lr) or lr <= 0:
            raise WqrcError(f"--lr-drop: '{part}' needs an epoch >= 0 and a finite learning rate > 0")
        out.append((ep, lr))
    return sorted(out)


def _augment(x: torch.Tensor, cfg: FinetuneConfig, gen: torch.Generator) -> torch.Tensor:
    if cfg.flip:
        mask = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    if cfg.shift:
        s = cfg.shift
        padded = F.pad(x, (s, s, s, s))
        dy, dx = torch.randint(0, 2 * s + 1, (2,), generator=gen).tolist()
        x = padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return x


def _lr_at(cfg: FinetuneConfig, epoch: int) -> float:
    lr = cfg.lr
    for ep, value in cfg.lr_drops:
        if epoch >= ep:
            lr = value
    return lr


def quantize_module_graph(module: GraphModule, plan: dict[str, LayerSpec], rule: str) -> Graph:
    """The module's graph with every weight replaced by its quantized value ("quantize at the end")."""
    g = module.to_graph()
    for n in g.weighted_nodes():
        q, _ = quantize_tensor(torch.from_numpy(n.weight), plan[n.name], rule, n.name)
        n.params["weight"] = q.numpy().astype(np.float32)
    return g


def evaluate(graph: Graph, plan, cfg: FinetuneConfig, ds: Dataset) -> tuple[float, float]:
    """(acc_M float test accuracy, acc_Mq quantized test accuracy with the bit-exact simulator)."""
    from wqrc.ir.to_torch import run_float

    x, y = ds.split("test")
    acc_m = accuracy(run_float(graph, x), y)
    ranges = calibrate(graph, ds.x_train[: cfg.calib_samples], cfg.calib_percentile)
    qm = quantize_graph(graph, plan, rule=cfg.exponent, act_bits=cfg.act_bits, ranges=ranges)
    return acc_m, accuracy(simulate_float(qm, x), y)


@dataclass
class History:
    rows: list = field(default_factory=list)
    snapshots: dict = field(default_factory=dict)  # epoch -> {layer: weights}


def finetune(graph: Graph, ds: Dataset, plan: dict[str, LayerSpec], cfg: FinetuneConfig, *,
             checkpoint: Optional[str] = None, resume: Optional[str] = None, log_csv: Optional[str] = None,
             on_batch: Optional[Callable[[int, int, int, float], None]] = None,
             on_epoch: Optional[Callable[[dict], None]] = None) -> tuple[Graph, History]:
    if cfg.method not in METHODS:
        raise WqrcError(f"--method: unknown '{cfg.method}' (use wqr or ste)")
    if cfg.optimizer not in ("adam", "sgd"):
        raise WqrcError(f"--optimizer: unknown '{cfg.optimizer}' (use adam or sgd)")
    lam1, lam2 = parse_schedule(cfg.lambda1, "--lambda1"), parse_schedule(cfg.lambda2, "--lambda2")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    module = GraphModule(graph)
    reg = QuantRegularizer(module, plan, lambda1=cfg.lambda1, lambda2=cfg.lambda2, rule=cfg.exponent)
    opt = (torch.optim.Adam(module.parameters(), lr=cfg.lr) if cfg.optimizer == "adam"
           else torch.optim.SGD(module.parameters(), lr=cfg.lr, momentum=cfg.momentum))
    history, start = History(), 0
    signature = model_signature(graph)
    if resume:
        state = _load_checkpoint(resume, signature)
        module.load_state_dict(state["module"])
        opt.load_state_dict(state["optimizer"])
        history = History(state["rows"], state.get("snapshots", {}))
        start = state["epoch"]
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["gen_rng"])
    x_train = torch.from_numpy(ds.x_train)
    y_train = torch.from_numpy(ds.y_train)
    n_batches = -(-len(x_train) // cfg.batch)
    snap_every = max(1, cfg.epochs // max(1, cfg.snapshot_epochs - 1))
    if not history.snapshots:
        history.snapshots[0] = {n: w.detach().numpy().copy() for n, w in reg.params}

    def save(epoch_done: int) -> None:
        if checkpoint:
            _save_checkpoint(checkpoint, dict(module=module.state_dict(), optimizer=opt.state_dict(),
                                              epoch=epoch_done, rows=history.rows, snapshots=history.snapshots,
                                              signature=signature, torch_rng=torch.get_rng_state(),
                                              gen_rng=gen.get_state(), config=asdict(cfg)))

    epoch, done = start, start
    try:
        for epoch in range(start, cfg.epochs):
            lr = _lr_at(cfg, epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            module.train()
            order = torch.randperm(len(x_train), generator=gen)
            total_loss, correct, seen = 0.0, 0, 0
            for b in range(n_batches):
                idx = order[b * cfg.batch:(b + 1) * cfg.batch]
                xb, yb = _augment(x_train[idx], cfg, gen), y_train[idx]
                opt.zero_grad()
                if cfg.method == "ste":
                    logits = module(xb, weights=ste_weights(module, plan, cfg.exponent))
                    loss = F.cross_entropy(logits, yb)
                else:
                    logits = module(xb)
                    loss = F.cross_entropy(logits, yb) + reg(epoch)
                loss.backward()
                opt.step()
                total_loss += float(loss.detach()) * len(idx)
                correct += int((logits.detach().argmax(1) == yb).sum())
                seen += len(idx)
                if on_batch:
                    on_batch(epoch, b + 1, n_batches, total_loss / seen)
            module.eval()
            qr, wqr = (float(t) for t in reg.terms())
            acc_m, acc_mq = evaluate(module.to_graph(), plan, cfg, ds)
            row = dict(epoch=epoch + 1, lr=lr, lambda1=lam1(epoch), lambda2=lam2(epoch), loss=total_loss / seen,
                       qr=qr, wqr=wqr, lambda2_wqr=lam2(epoch) * wqr, acc_tr=correct / seen, acc_M=acc_m,
                       acc_Mq=acc_mq, mean_distance=reg.mean_distance())
            history.rows.append(row)
            if (epoch + 1) % snap_every == 0 or epoch + 1 == cfg.epochs:
                history.snapshots[epoch + 1] = {n: w.detach().numpy().copy() for n, w in reg.params}
            if log_csv:
                _write_csv(log_csv, history.rows)
            save(epoch + 1)
            done = epoch + 1
            if on_epoch:
                on_epoch(row)
    except KeyboardInterrupt:
        if done != epoch + 1:  # interrupted inside an epoch: it restarts on --resume
            save(epoch)
        raise
    return quantize_module_graph(module, plan, cfg.exponent), history


def _write_csv(path: str, rows: list) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in LOG_COLUMNS})
    os.replace(tmp, path)


def _save_checkpoint(path: str, state: dict) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: str, signature: str) -> dict:
    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise WqrcError(f"{path}: not a wqrc checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("signature") != signature:
        raise WqrcError(f"{path}: this checkpoint is from another model (its layers or shapes differ)")
    return state
