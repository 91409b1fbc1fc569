"""Shared fixtures: small torch models covering every supported op, exported to ONNX."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

# pyproject's addopts run the suite on one pytest-xdist worker per core; each worker, and the wqrc
# processes it starts, then takes its share of the cores, where torch and OpenMP would otherwise
# start a thread per core in every worker and make them wait on each other.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from wqrc import api as wqrc_api
from wqrc.api import from_torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "digits_cnn.onnx")


class PlainCNN(nn.Module):
    """Conv+BN+ReLU, max pool, Gemm head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 3 * 3, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class DepthwiseCNN(nn.Module):
    """Depthwise + pointwise, grouped dilated conv, ReLU6, avg pools (count_include_pad both ways)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 12, 1)
        self.grouped = nn.Conv2d(12, 12, 3, padding=2, dilation=2, groups=3)
        self.ap = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.ap2 = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        x = nn.functional.relu6(self.stem(x))
        x = torch.relu(self.pw(self.dw(x)))
        x = self.ap2(self.ap(self.grouped(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class ResidualCNN(nn.Module):
    """Residual Add (+ReLU), channel Concat, 3x3 avg pool with padding counted, softmax tail."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.b = nn.Conv2d(8, 4, 1)
        self.ap = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True)
        self.fc = nn.Linear(12 * 5 * 5, 3)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        r = torch.relu(self.bn(self.a(s)) + s)
        y = torch.cat([r, self.b(r)], dim=1)
        y = self.ap(y)
        return torch.softmax(self.fc(torch.flatten(y, 1)), dim=1)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 6)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


MODELS = {
    "plain": (PlainCNN, (2, 12, 12)),
    "depthwise": (DepthwiseCNN, (2, 10, 10)),
    "residual": (ResidualCNN, (2, 10, 10)),
    "mlp": (MLP, (20,)),
}


def build(name: str, seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    cls, shape = MODELS[name]
    torch.manual_seed(seed)
    m = cls().eval()
    with torch.no_grad():  # non-trivial BN statistics so folding matters
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m, shape


_GRAPHS: dict = {}


def cached_graph(name: str, seed: int):
    """(canonical graph, input shape) of a test model, converted once per test session."""
    if (name, seed) not in _GRAPHS:
        m, shape = build(name, seed=seed)
        _GRAPHS[name, seed] = (from_torch(m, torch.rand((1,) + shape)), shape)
    return _GRAPHS[name, seed]


def export_bytes(module: nn.Module, shape, *, dynamo: bool = False, opset: int = 17, fold: bool = True) -> bytes:
    buf = io.BytesIO()
    x = torch.rand((2,) + tuple(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(module, (x,), buf, dynamo=True, opset_version=opset, verbose=False)
        else:
            torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=opset, do_constant_folding=fold,
                              input_names=["x"], dynamic_axes={"x": {0: "n"}})
    return buf.getvalue()


def ort_run(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


@pytest.fixture
def tmp_onnx(tmp_path):
    def write(name: str, data: bytes) -> str:
        p = tmp_path / name
        p.write_bytes(data)
        return str(p)
    return write


def make_onnx(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    g = onnx.helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


@pytest.fixture(autouse=True)
def _sigint_left_alone():
    """A test must leave Ctrl-C as it found it: subprocesses inherit an ignored or blocked SIGINT."""
    import signal
    before = signal.getsignal(signal.SIGINT), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = signal.getsignal(signal.SIGINT), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert after == before, "the test changed how this process handles SIGINT"


def default_sigint() -> None:
    """preexec_fn for a child that a test interrupts: Ctrl-C at its default, as in a terminal,
    even where the test run itself was started in the background (where shells ignore SIGINT)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def assert_rtl_sim_matches(rtl_dir, qm) -> None:
    """Run ``make sim`` in a generated RTL folder: the test bench must PASS, and the outputs it
    wrote must equal the simulator's on the inputs it ran, element for element (every graph
    output, one after another per sample, as the accelerator unloads them)."""
    res = subprocess.run(["make", "-s", "-C", str(rtl_dir), "sim"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "PASS" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    xin = np.load(os.path.join(rtl_dir, "inputs.npy"))
    got = np.loadtxt(os.path.join(rtl_dir, "sim_out.txt"), dtype=np.int64).reshape(len(xin), -1)
    from wqrc.sim import simulate_outputs
    from wqrc.sim.simulator import one_after_another
    want = one_after_another(simulate_outputs(qm, xin), len(xin))
    np.testing.assert_array_equal(got, want)


# -- helpers shared by several test files -------------------------------------------------------

def fault_located(out):
    """A generated RTL folder (out/rtl) holding a fault: its test bench must FAIL; returns what
    ``wqrc verify --trace`` says of the outputs and per-layer trace it wrote."""
    rtl = os.path.join(str(out), "rtl")
    res = subprocess.run(["make", "-s", "-C", rtl, "sim"], capture_output=True, text=True)
    assert res.returncode != 0 and "FAIL:" in res.stdout, res.stdout[-2000:]
    return subprocess.run([sys.executable, "-m", "wqrc", "verify", os.path.join(str(out), "model.wqrc.npz"),
                           "--input", os.path.join(rtl, "inputs.npy"), "--outputs", os.path.join(rtl, "sim_out.txt"),
                           "--trace", os.path.join(rtl, "trace.txt")], capture_output=True, text=True)


def wqrc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wqrc", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def assert_user_error(res, *needles):
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr
    lines = [l for l in res.stderr.strip().splitlines() if l.startswith("wqrc: error") or "Error" in l]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in res.stderr, (n, res.stderr)


# The exponent rule tests of a target quantize with (C, HLS, RTL, QONNX, the zoo's networks): they
# check that the target equals the simulator, whatever the exponents, and the default rule (auto:
# the output rule, up to a minute a network) spent much of their time choosing exponents (the
# host C test of test_c_target: 249 s over its 36 cases on a loaded machine). The default is
# exercised on every zoo network through C and HLS (test_zoo), by tests/test_schemes.py and by
# the tests of the CLI and of the user's path (test_cli, test_quickstart).
TARGET_RULE = "mse"


UBSAN = "CFLAGS=-std=c99 -Wall -Wextra -Wpedantic -Wconversion -Werror -O1 -fsanitize=undefined -fno-sanitize-recover"


def quantized_test_model(name: str, scheme: str, bits: int, act: int):
    """(QModel, 8 test inputs) of a shared test model (build) with random calibration."""
    g, shape = cached_graph(name, seed=3)
    calib = np.random.default_rng(1).uniform(-1, 1, (64,) + shape).astype(np.float32)
    return (wqrc_api.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib, exponent=TARGET_RULE),
            calib[:8])


def mlperf_tiny(name: str):
    """(graph, 66 seeded inputs: 64 to calibrate, 2 to test) of an MLPerf Tiny network of wqrc.zoo."""
    from wqrc import zoo

    module, shape = zoo.build(name)
    x = np.random.default_rng(0).standard_normal((66,) + shape).astype(np.float32)
    return from_torch(module, x[:1]), x


def assert_mcu_run_passes(out, qm, x, cpu: str):
    """qm's C target written to ``out`` with 3 test vectors (from x), built for ``cpu`` and run in
    QEMU (make mcu-run CPU=...): every vector bit-exact with the simulator."""
    from wqrc.backend.c import generate_c
    from wqrc.pack import pack

    generate_c(qm, pack(qm), str(out), vectors=3, data=x)
    res = make(out, "mcu-run", f"CPU={cpu}")
    assert res.returncode == 0 and "PASS: 3 test vectors" in res.stdout, res.stdout + res.stderr


def assert_wrong_expectation_fails(out, *make_args):
    """The generated test bench in ``out`` fails, naming the sample and element, with a non-zero
    exit status, once its first expected value is made wrong (``make`` with ``make_args``)."""
    main = (out / "main.c").read_text()
    marker = "test_expected[WQRC_TEST_COUNT][WQRC_OUTPUT_SIZE] = {\n    { "
    i = main.index(marker) + len(marker)
    j = main.index(",", i)
    (out / "main.c").write_text(main[:i] + str(int(main[i:j]) + 1) + main[j:])
    res = make(out, *make_args)
    assert res.returncode != 0 and "FAIL: sample 0, element 0" in res.stdout, res.stdout + res.stderr


def make(out, target="run", *extra):
    return subprocess.run(["make", "-s", "-C", str(out), target, *extra], capture_output=True, text=True,
                          timeout=300)


def odd_cnn(first_relu: bool = True):
    """Odd channel counts, an odd number of output positions, stride 2, dilation 2, a
    non-square kernel and a dense head: every tail of the dual-MAC kernel. Without the first
    ReLU the first conv's outputs are signed (its clamp [-128, 127] at a8, SSAT on a DSP core)
    and the second conv's unsigned ([0, 255], USAT)."""
    import torch
    from torch import nn

    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(3, 5, 3, stride=2, padding=1), nn.ReLU() if first_relu else nn.Identity(),
                          nn.Conv2d(5, 7, (3, 2), dilation=2, padding=(2, 1)), nn.ReLU(),
                          nn.Flatten(), nn.Linear(7 * 5 * 5, 9)).eval()
    return from_torch(model, torch.rand(1, 3, 9, 9)), (3, 9, 9)


def depthwise_cnn():
    """Depthwise layers of every shape the depthwise kernel distinguishes: 3x3 at stride 1
    with a channel multiplier of 2, 3x3 at stride 2 with padding (the unrolled path), and a
    dilated 5x3 window (the general path), between a grouped-but-not-depthwise conv."""
    import torch
    from torch import nn

    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, groups=3), nn.ReLU(),
                          nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6), nn.ReLU(),
                          nn.Conv2d(6, 6, (5, 3), dilation=(1, 2), padding=2, groups=6), nn.ReLU(),
                          nn.Conv2d(6, 6, 1, groups=2), nn.Flatten(), nn.Linear(6 * 4 * 3, 5)).eval()
    return from_torch(model, torch.rand(1, 3, 9, 7)), (3, 9, 7)
