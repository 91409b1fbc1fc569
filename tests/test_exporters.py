"""Every torch module wqrc supports, exported by both of torch's ONNX exporters, loads and computes
what onnxruntime computes in float.

torch.onnx.export defaults to the dynamo exporter since torch 2.9, and it writes other graphs for
the same module than the legacy TorchScript exporter: AdaptiveAvgPool1d as Unsqueeze to
(N, C, 1, L), ReduceMean and Squeeze; AdaptiveMaxPool2d(1) as ReduceMax; BatchNorm folded or not.
Each entry below is one supported module in the smallest model that runs it, so a graph form
either exporter adds is a named failure here rather than a user's refusal.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import wqrc
from wqrc.ir.to_torch import run_float

from conftest import export_bytes, ort_run


class _Fn(nn.Module):
    """A functional step (torch.cat, an add, amax ...) as a module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class _Branches(nn.Module):
    """Two convolutions of one input, joined by ``join`` (concat, add, product)."""

    def __init__(self, join, gate: bool = False):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 4, 1), nn.Sigmoid()) if gate else \
            nn.Conv2d(4, 4, 1)
        self.join = join

    def forward(self, x):
        return self.join(self.a(x), self.b(x))


def _img(*mid: nn.Module, head: bool = True) -> nn.Module:
    """(N, 3, 8, 8) -> conv -> mid -> [global average pool, linear]"""
    tail = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(5)] if head else []
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), *mid, *tail)


def _seq(*mid: nn.Module) -> nn.Module:
    """(N, 4, 16) -> conv1d -> mid -> linear"""
    return nn.Sequential(nn.Conv1d(4, 6, 3, padding=1), *mid, nn.Flatten(), nn.LazyLinear(3))


IMG, SEQ, VEC = (3, 8, 8), (4, 16), (12,)
CASES = {
    "Conv2d+BatchNorm2d+ReLU": (lambda: _img(nn.BatchNorm2d(4), nn.ReLU()), IMG),
    "Conv2d grouped, dilated, strided": (lambda: _img(nn.Conv2d(4, 4, 3, 2, 2, dilation=2, groups=2)), IMG),
    "ReLU6": (lambda: _img(nn.ReLU6()), IMG),
    "LeakyReLU": (lambda: _img(nn.LeakyReLU(0.1)), IMG),
    "PReLU per channel": (lambda: _img(nn.PReLU(4)), IMG),
    "Sigmoid": (lambda: _img(nn.Sigmoid()), IMG),
    "Tanh": (lambda: _img(nn.Tanh()), IMG),
    "Hardsigmoid": (lambda: _img(nn.Hardsigmoid()), IMG),
    "Hardswish": (lambda: _img(nn.Hardswish()), IMG),
    "MaxPool2d": (lambda: _img(nn.ReLU(), nn.MaxPool2d(2)), IMG),
    "AvgPool2d padded": (lambda: _img(nn.AvgPool2d(3, 2, 1, count_include_pad=False)), IMG),
    "AdaptiveMaxPool2d(1)": (lambda: _img(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 5), head=False), IMG),
    "amax over H, W": (lambda: _img(_Fn(lambda x: torch.amax(x, dim=(2, 3))), nn.Linear(4, 5), head=False), IMG),
    "mean over H, W": (lambda: _img(_Fn(lambda x: x.mean((2, 3))), nn.Linear(4, 5), head=False), IMG),
    "ZeroPad2d": (lambda: _img(nn.ZeroPad2d((1, 0, 2, 1)), nn.Conv2d(4, 4, 3)), IMG),
    "Upsample nearest": (lambda: _img(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(4, 4, 3)), IMG),
    "ConvTranspose2d": (lambda: _img(nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1)), IMG),
    "Dropout, Identity": (lambda: _img(nn.Dropout(0.3), nn.Identity()), IMG),
    "Softmax at the end": (lambda: nn.Sequential(_img(), nn.Softmax(1)), IMG),
    "torch.cat": (lambda: _img(_Branches(lambda a, b: torch.cat([a, b], 1))), IMG),
    "residual add": (lambda: _img(_Branches(lambda a, b: a + b)), IMG),
    "squeeze-and-excitation product": (lambda: _img(_Branches(lambda a, b: a * b, gate=True)), IMG),
    "Conv1d+BatchNorm1d+ReLU": (lambda: _seq(nn.BatchNorm1d(6), nn.ReLU()), SEQ),
    "MaxPool1d, AvgPool1d": (lambda: _seq(nn.MaxPool1d(2), nn.AvgPool1d(2)), SEQ),
    "AdaptiveAvgPool1d(1)": (lambda: _seq(nn.ReLU(), nn.AdaptiveAvgPool1d(1)), SEQ),
    "AdaptiveMaxPool1d(1)": (lambda: _seq(nn.ReLU(), nn.AdaptiveMaxPool1d(1)), SEQ),
    "Linear+ReLU": (lambda: nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)), VEC),
}


def _module(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    make, shape = CASES[name]
    torch.manual_seed(0)
    m = make()
    m(torch.rand((1,) + shape))   # sizes the lazy layers
    with torch.no_grad():         # statistics a trained model might have, so folding matters
        for mod in m.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    return m.eval(), shape


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_supported_module_loads_from_both_exporters(name, dynamo, tmp_path):
    m, shape = _module(name)
    data = export_bytes(m, shape, dynamo=dynamo, opset=18 if dynamo else 17)
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    graph = wqrc.load_model(str(path))
    x = np.random.default_rng(1).uniform(-1, 1, (2,) + shape).astype(np.float32)
    got = run_float(graph, x)
    if any("Softmax" in n for n in graph.notes):
        got = torch.softmax(torch.from_numpy(got), 1).numpy()
    np.testing.assert_allclose(got, ort_run(data, x), atol=2e-5, rtol=1e-4)


def test_a_reduction_that_is_not_a_global_pool_names_the_node(tmp_path):
    m = _img(_Fn(lambda x: torch.amax(x, dim=1)), nn.Flatten(), nn.Linear(64, 5), head=False).eval()
    path = tmp_path / "m.onnx"
    path.write_bytes(export_bytes(m, IMG, dynamo=False))
    with pytest.raises(wqrc.WqrcError, match=r"node '.*ReduceMax.*': op type 'ReduceMax' is not supported "
                                             r"\(ReduceMax over axes \[1\]"):
        wqrc.load_model(str(path))


class _KWS(nn.Module):
    """A 1-D keyword-spotting net as the dynamo exporter writes it: Conv1d, BatchNorm1d, ReLU,
    AdaptiveAvgPool1d (Unsqueeze to (N, C, 1, L), ReduceMean, Squeeze), a dense head."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv1d(10, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(),
                               nn.Conv1d(16, 16, 3, stride=2, padding=1, groups=16), nn.ReLU(),
                               nn.Conv1d(16, 24, 3), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(24, 12))

    def forward(self, x):
        return self.f(x)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws1d", "reducemax_head"])
def test_dynamo_graphs_compile_bit_exact_on_c_hls_and_rtl(tmp_path, name):
    import shutil
    from wqrc.compile import compile_model
    from conftest import UBSAN, assert_rtl_sim_matches, make

    torch.manual_seed(0)
    if name == "kws1d":
        m, shape = _KWS().eval(), (10, 49)
    else:
        m, shape = _img(nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 5), head=False).eval(), IMG
    path = tmp_path / "m.onnx"
    path.write_bytes(export_bytes(m, shape, dynamo=True, opset=18))
    g = wqrc.load_model(str(path))
    assert {"global_avgpool" if name == "kws1d" else "maxpool"} <= {n.op for n in g.nodes}
    x = np.random.default_rng(2).uniform(-1, 1, (40,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8, calib=x)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c", "hls", "rtl"], vectors=4, data=x[:8], rtl_options=dict(lanes=2))
    for folder, target, extra in ((out / "c", "run", (UBSAN,)), (out / "hls", "csim", ())):
        res = make(folder, target, *extra)
        assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout + res.stderr
    if shutil.which("verilator"):
        assert_rtl_sim_matches(out / "rtl", qm)
