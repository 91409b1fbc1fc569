"""Layers of the models users bring, each mapped onto the contract's own ops: 1-D convolutions and
pools (run at height 1), and a BatchNormalization that cannot be folded (a depthwise 1x1 conv);
through the simulator against torch, and through C, HLS and the RTL against the simulator."""
import numpy as np
import pytest

import wqrc
from wqrc.compile import compile_model
from wqrc.errors import WqrcError
from wqrc.sim import simulate

import needs
from conftest import TARGET_RULE, assert_rtl_sim_matches
from conftest import UBSAN, make

pytestmark = pytest.mark.slow


def _kws():
    """A 1-D keyword-spotting CNN: Conv1d with padding, BatchNorm1d, MaxPool1d, a strided
    depthwise Conv1d, a dilated one, AvgPool1d, and the mean over time."""
    import torch
    from torch import nn

    class KWS(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(nn.Conv1d(10, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
                                   nn.Conv1d(16, 16, 3, stride=2, padding=1, groups=16), nn.ReLU(),
                                   nn.Conv1d(16, 24, 3, dilation=2), nn.ReLU(), nn.AvgPool1d(2))
            self.fc = nn.Linear(24, 12)

        def forward(self, x):
            return self.fc(self.f(x).mean(-1))

    torch.manual_seed(0)
    m = KWS().eval()
    x = torch.randn(40, 10, 49)
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _late_bn():
    """BatchNorm at the input and after a residual add: neither can be folded into a layer."""
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn0, self.bn1 = nn.BatchNorm2d(3), nn.BatchNorm2d(8)
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8, 4)
            for bn in (self.bn0, self.bn1):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.3, 3.0)
                bn.weight.data.uniform_(0.5, 2.0)
                bn.bias.data.uniform_(-0.3, 0.3)

        def forward(self, x):
            h = torch.relu(self.c1(self.bn0(x)))
            h = torch.relu(self.bn1(h + self.c2(h)))
            return self.fc(h.mean((2, 3)))

    torch.manual_seed(0)
    m = M().eval()
    x = torch.rand(32, 3, 8, 8)
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _consts():
    """Input normalization ((x - mean) / std per channel), a scale after a pool, an offset after an
    add, and a per-feature scale of a dense layer's output: each by constants."""
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
            self.fc = nn.Linear(6, 4)
            self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).reshape(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).reshape(1, 3, 1, 1))
            self.register_buffer("gain", torch.linspace(0.5, 2.0, 6).reshape(1, 6, 1, 1))

        def forward(self, x):
            h = torch.relu(self.c1((x - self.mean) / self.std))
            h = nn.functional.max_pool2d(h, 2) * self.gain
            h = (h + self.c2(h)) - 0.25
            return self.fc(h.mean((2, 3))) * 1.5

    torch.manual_seed(0)
    m = M().eval()
    x = torch.rand(24, 3, 8, 8)
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()



def _squeeze_excite():
    """MobileNetV3-style blocks: HardSwish, a squeeze-and-excitation gate (global pool, 1x1 convs,
    HardSigmoid, the product with the map), and a product of two equally shaped maps."""
    import torch
    from torch import nn

    class SE(nn.Module):
        def __init__(self, c, r=4):
            super().__init__()
            self.f1, self.f2 = nn.Conv2d(c, c // r, 1), nn.Conv2d(c // r, c, 1)

        def forward(self, x):
            return x * nn.functional.hardsigmoid(self.f2(torch.relu(self.f1(x.mean((2, 3), keepdim=True)))))

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 16, 3, padding=1)
            self.c2 = nn.Conv2d(16, 16, 3, padding=1, groups=16)
            self.se1, self.se2 = SE(16), SE(16)
            self.fc = nn.Linear(16, 5)

        def forward(self, x):
            h = self.se1(nn.functional.hardswish(self.c1(x)))
            h = torch.relu(self.c2(h))
            h = self.se2(h) * torch.sigmoid(h)
            return self.fc(h.mean((2, 3)))

    torch.manual_seed(0)
    m = M().eval()
    x = torch.rand(32, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _dense_gate():
    """A gate computed by dense layers (Keras-style squeeze-and-excitation): the pooled (C,)
    vector through Linear, ReLU, Linear, Sigmoid, reshaped to (C, 1, 1) and unsqueezed, then
    multiplied with the map; a PRelu-free LeakyReLU head."""
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 12, 3, padding=1)
            self.f1, self.f2 = nn.Linear(12, 4), nn.Linear(4, 12)
            self.fc = nn.Linear(12 * 4 * 4, 5)

        def forward(self, x):
            h = torch.relu(self.c1(x))
            g = torch.sigmoid(self.f2(torch.relu(self.f1(h.mean((2, 3))))))
            h = h * g.view(-1, 12, 1).unsqueeze(-1)
            return self.fc(nn.functional.leaky_relu(nn.functional.max_pool2d(h, 2), 0.2).flatten(1))

    torch.manual_seed(0)
    m = M().eval()
    x = torch.rand(32, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _prelu():
    """PReLU with a slope per channel after a conv, and with one slope after a dense layer."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.PReLU(8), nn.Conv2d(8, 8, 3, stride=2), nn.PReLU(8),
                      nn.Flatten(), nn.Linear(8 * 3 * 3, 10), nn.PReLU(), nn.Linear(10, 4)).eval()
    with torch.no_grad():
        for p in m:
            if isinstance(p, nn.PReLU):
                p.weight.uniform_(-0.3, 0.6)
    x = torch.rand(32, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _decoder():
    """A small convolutional autoencoder: strided convs down, then ConvTranspose (stride 2 with
    output_padding; a grouped one with a 4x4 kernel) and nearest Resize up; its output is a map."""
    import torch
    from torch import nn

    class AE(nn.Module):
        def __init__(self):
            super().__init__()
            self.e1, self.e2 = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.d1 = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1)
            self.d2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
            self.d3 = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2)
            self.d4 = nn.Conv2d(4, 3, 1)

        def forward(self, x):
            h = torch.relu(self.e2(torch.relu(self.e1(x))))
            h = torch.relu(self.d1(h))
            h = torch.relu(self.d2(nn.functional.interpolate(h, scale_factor=2, mode="nearest")))
            return self.d4(self.d3(h))

    torch.manual_seed(0)
    m = AE().eval()
    x = torch.rand(16, 3, 8, 8)
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _differences():
    """Differences of two activations (one negation folds into a conv, one becomes a depthwise
    conv after a ReLU), a ZeroPad2d in front of a max pool of a ReLU's output, and per-feature
    PReLU and BatchNorm1d on (F,) tensors."""
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)
            self.pad, self.pool = nn.ZeroPad2d(1), nn.MaxPool2d(3, stride=2)
            self.fc1, self.act, self.bn, self.fc2 = nn.Linear(8 * 4 * 4, 10), nn.PReLU(10), nn.BatchNorm1d(10), \
                nn.Linear(10, 4)
            with torch.no_grad():
                self.act.weight.uniform_(-0.3, 0.6)
                self.bn.running_mean.uniform_(-0.5, 0.5)
                self.bn.running_var.uniform_(0.3, 3.0)

        def forward(self, x):
            h = torch.relu(self.c1(x))
            d = self.c2(h) - self.c3(h)            # c3's negation folds into its weights
            e = torch.relu(d) - h                   # after a ReLU: a depthwise 1x1 conv of -1
            p = self.pool(self.pad(torch.relu(e)))
            return self.fc2(self.bn(self.act(self.fc1(p.flatten(1)))))

    torch.manual_seed(0)
    m = M().eval()
    x = torch.rand(32, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _pads():
    """A constant Pad of value 0.75 between convs, and zeros before a max pool of signed values:
    neither folds into a window's padding, so both are pad ops."""
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 6, 3), nn.Conv2d(6, 6, 3, stride=2)
            self.p1, self.p2 = nn.ConstantPad2d((1, 2, 0, 1), 0.75), nn.ZeroPad2d(1)
            self.fc = nn.Linear(6 * 5 * 6, 4)

        def forward(self, x):
            h = self.c2(self.p1(self.c1(x)))
            return self.fc(nn.functional.max_pool2d(self.p2(h), 2, stride=1).flatten(1))

    torch.manual_seed(0)
    m = M().eval()
    x = torch.rand(16, 3, 10, 10) * 2 - 1
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


def _shuffle():
    """ShuffleNetV2's units (channel split by chunk, channel shuffle in 2 groups by a 5-D view and
    a transpose), a shuffle in 3 groups, a torch.split of unequal parts and a strided channel
    slice: every channel selection the importer makes."""
    import torch
    from torch import nn
    from wqrc.zoo import _ShuffleUnit, channel_shuffle

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 12, 3, padding=1)
            self.u1, self.u2 = _ShuffleUnit(12, 16, 2), _ShuffleUnit(16, 16, 1)
            self.c3 = nn.Conv2d(16, 12, 1)
            self.fc = nn.Linear(12 + 3 + 6, 4)

        def forward(self, x):
            h = self.u2(self.u1(torch.relu(self.stem(x))))
            a, b = torch.split(channel_shuffle(self.c3(h), 3), [2, 10], dim=1)
            parts = [a.mean((2, 3)), b[:, 1:7:2].amax((2, 3)), b[:, 4:].mean((2, 3)), h[:, :12].mean((2, 3))]
            return self.fc(torch.cat(parts[:3] + [parts[3][:, :12]], 1)[:, :21])

    torch.manual_seed(0)
    m = M().eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
    x = torch.rand(24, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        return m, x.numpy(), m(x).numpy()


MODELS = {"kws1d": _kws, "late_bn": _late_bn, "consts": _consts, "squeeze_excite": _squeeze_excite,
          "dense_gate": _dense_gate, "prelu": _prelu, "decoder": _decoder,
          "differences": _differences, "pads": _pads, "shuffle": _shuffle}


def _graph(name):
    import torch
    m, x, want = MODELS[name]()
    return wqrc.from_torch(m, torch.from_numpy(x[:1])), x, want


def test_a_1d_model_runs_at_height_one_and_takes_its_own_samples():
    g, x, want = _graph("kws1d")
    assert g.input_shape == (10, 1, 49) and any("1-D model" in n for n in g.notes)
    assert [n.op for n in g.nodes][:2] == ["conv", "maxpool"]  # BatchNorm1d folded
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)   # (N, C, L) samples
    y = wqrc.simulate_float(qm, x)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.02


def test_an_unfoldable_batchnorm_is_a_depthwise_scale_and_shift():
    g, x, want = _graph("late_bn")
    dw = [n for n in g.nodes if n.op == "conv" and n.attrs["group"] > 1]
    assert len(dw) == 2 and all(n.weight.shape[1:] == (1, 1, 1) for n in dw)
    assert dw[1].attrs.get("clip") == (0.0, None)  # the ReLU after it fused
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)
    y = wqrc.simulate_float(qm, x)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.02


def test_differences_pads_and_per_feature_layers_follow_the_float_model():
    g, x, want = _graph("differences")
    ops = [n.op for n in g.nodes]
    assert "batchnorm" not in ops and ops.count("add") == 3      # two differences, PReLU's sum
    assert ops.count("reshape") == 4                              # (F,) viewed as (F, 1, 1) twice
    pool = next(n for n in g.nodes if n.op == "maxpool")
    assert tuple(pool.attrs["pads"]) == (1, 1, 1, 1)              # the ZeroPad2d, folded
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)
    y = wqrc.simulate_float(qm, x)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.02


def test_constant_pads_are_pad_ops_with_a_quantized_value():
    g, x, want = _graph("pads")
    pads = [n for n in g.nodes if n.op == "pad"]
    assert [n.attrs["pads"] for n in pads] == [(0, 1, 1, 2), (1, 1, 1, 1)] and pads[0].attrs["value"] == 0.75
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)
    node = next(n for n in qm.nodes if n.op == "pad")
    f = qm.formats[node.inputs[0]]
    assert node.attrs["code"] == round(0.75 / 2.0 ** f.frac)    # the value, in the input's format
    xq = qm.quantize_input(x)
    ref = simulate(qm, xq, path="object")
    for path in ("auto", "torch", "int64"):
        np.testing.assert_array_equal(simulate(qm, xq, path=path), ref, err_msg=path)
    y = wqrc.simulate_float(qm, x)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.02


@needs.cc
@needs.cxx
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("scheme,bits", [("dfp", 8), ("po2", 4)])
def test_c_and_hls_equal_the_simulator(tmp_path, name, scheme, bits):
    g, x, _ = _graph(name)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=x, exponent=TARGET_RULE)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c", "hls"], vectors=5, data=x[:8])
    for folder, target, extra in ((out / "c", "run", (UBSAN,)), (out / "hls", "csim", ())):
        res = make(folder, target, *extra)
        assert res.returncode == 0 and "PASS: 5 test vectors" in res.stdout, res.stdout + res.stderr


@needs.verilator
@pytest.mark.parametrize("name", list(MODELS))
def test_rtl_equals_the_simulator(tmp_path, name):
    g, x, _ = _graph(name)
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8, calib=x, exponent=TARGET_RULE)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["rtl"], vectors=2, data=x[:8], rtl_options=dict(lanes=2))
    assert_rtl_sim_matches(out / "rtl", qm)


def test_constant_operands_fold_or_become_a_scale_and_shift():
    g, x, want = _graph("consts")
    dw = [n for n in g.nodes if n.op == "conv" and n.attrs["group"] > 1]
    assert len(dw) == 3   # the normalization, the gain after the pool, the offset after the add
    assert sum(n.op == "dense" for n in g.nodes) == 1   # * 1.5 folded into the head
    # 12-bit weights: the normalization's 1/std = 5, 4, 3.33 are DFP levels of one exponent
    qm = wqrc.quantize(g, scheme="dfp", bits=12, act_bits=16, calib=x, exponent=TARGET_RULE)
    y = wqrc.simulate_float(qm, x)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.01


@pytest.mark.parametrize("act", [8, 16])
def test_squeeze_and_excitation_products_on_every_simulator_path(act):
    g, x, want = _graph("squeeze_excite")
    muls = [n for n in g.nodes if n.op == "mul"]
    assert len(muls) == 3 and g.shapes[muls[0].inputs[1]] == (16, 1, 1)
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=act, calib=x, exponent=TARGET_RULE)
    xq = qm.quantize_input(x)
    ref = simulate(qm, xq, path="object")
    for path in ("auto", "torch", "int64", "float64"):
        np.testing.assert_array_equal(simulate(qm, xq, path=path), ref, err_msg=path)
    assert np.abs(qm.dequantize_output(ref) - want).max() / np.abs(want).max() < {8: 0.03, 16: 0.005}[act]


def test_channel_splits_and_shuffles_are_selections_copied_in_blocks():
    from wqrc.lower import lower
    g, x, want = _graph("shuffle")
    sel = [n for n in g.nodes if n.op == "select_channels"]
    assert sorted(len(n.attrs["channels"]) for n in sel)[:3] == [2, 3, 6]
    assert any(n.attrs["channels"] == tuple((k % 3) * 4 + k // 3 for k in range(12)) for n in sel)
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)
    y = wqrc.simulate_float(qm, x)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.02
    xq = qm.quantize_input(x)
    ref = simulate(qm, xq, path="object")
    for path in ("auto", "torch", "int64"):
        np.testing.assert_array_equal(simulate(qm, xq, path=path), ref, err_msg=path)
    from wqrc.sim import ort_exec
    q8 = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=8, calib=x,
                       exponent=TARGET_RULE)   # onnxruntime runs 8-bit graphs
    x8 = q8.quantize_input(x)
    np.testing.assert_array_equal(ort_exec.OrtExecutor(ort_exec.lower(q8))(x8).reshape(len(x), -1),
                                  simulate(q8, x8).reshape(len(x), -1))
    calls = {c.name: c for c in lower(qm)}
    shuffle3 = next(calls[n.name] for n in qm.nodes if n.op == "select_channels" and len(n.attrs["channels"]) == 12
                    and n.attrs["channels"][1] == 4)
    plane = 16
    assert [(p.count, p.size, p.src_offset, p.src_step, p.offset, p.dst_step) for p in shuffle3.parts] == \
        [(4, plane, r * 4 * plane, plane, r * plane, 3 * plane) for r in range(3)]


def test_a_run_of_consecutive_channels_is_a_view_on_the_c_and_hls_targets(tmp_path):
    """A split's part (one run of consecutive channels) is its input's buffer at an offset where the
    target addresses memory (C, Cortex-M, HLS arrays): no copy, no arena; a shuffle or strided slice
    is copied."""
    from wqrc.backend.planner import plan_arena
    g, x, _ = _graph("shuffle")
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=8, calib=x, exponent=TARGET_RULE)
    sel = [n for n in qm.nodes if n.op == "select_channels"]
    runs = [n for n in sel if list(n.attrs["channels"]) == list(range(n.attrs["channels"][0],
                                                                     n.attrs["channels"][0] + len(n.attrs["channels"])))]
    assert 0 < len(runs) < len(sel)
    flat, viewed = plan_arena(qm), plan_arena(qm, views=True)
    for n in sel:
        assert (viewed.alias[n.output] != n.output) == (n in runs), n.name
        assert flat.alias[n.output] == n.output
    n = runs[0]
    plane = int(np.prod(qm.shapes[n.inputs[0]][1:]))
    assert viewed.view[n.output] - viewed.view[n.inputs[0]] == n.attrs["channels"][0] * plane
    assert len(viewed.tensors) == len(flat.tensors) - len(runs) and viewed.size <= flat.size
    compile_model(qm, str(tmp_path / "out"), ["c", "hls"], vectors=0)
    src = (tmp_path / "out" / "c" / "wqrc_model.c").read_text()
    assert src.count("nothing to copy") == len(runs)
    top = (tmp_path / "out" / "hls" / "wqrc_top.cpp").read_text()
    assert top.count("not copied") == len(runs)


@needs.verilator
def test_the_descriptor_driven_rtl_reads_a_run_of_channels_in_place(tmp_path):
    """--rtl-form seq: the steps that read a channel run read its input's bank at the run's
    offset, no step copies it, and the design equals the simulator (Verilator)."""
    from wqrc.backend.rtl_seq import SeqLayout
    from wqrc.pack.rom import pack
    g, x, _ = _graph("shuffle")
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8, calib=x, exponent=TARGET_RULE)
    lay = SeqLayout(qm, pack(qm, 32), 2)
    runs = [n for n in qm.nodes if n.op == "select_channels" and lay.alias[n.output] != n.output]
    assert runs and any(lay.view[n.output] > 0 for n in runs)
    assert not [s for s in lay.steps if s.call.name in {n.name for n in runs}]
    assert [s for s in lay.steps if s.in_offset or s.in1_offset]   # their readers read at the offset
    out = tmp_path / "out"
    compile_model(qm, str(out), ["rtl"], vectors=2, data=x[:8], rtl_options=dict(lanes=2, form="seq"))
    assert_rtl_sim_matches(out / "rtl", qm)


def test_reshapes_that_move_no_data_are_aliases():
    g, x, want = _graph("dense_gate")
    reshapes = [n for n in g.nodes if n.op == "reshape"]
    assert reshapes and g.shapes[reshapes[-1].output] == (12, 1, 1)
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)
    xq = qm.quantize_input(x)
    ref = simulate(qm, xq, path="object")
    for path in ("auto", "torch", "int64"):
        np.testing.assert_array_equal(simulate(qm, xq, path=path), ref, err_msg=path)
    assert np.abs(qm.dequantize_output(ref) - want).max() / np.abs(want).max() < 0.01


def test_prelu_is_a_table_or_relu_plus_scaled_negative_part():
    g, x, want = _graph("prelu")
    ops = [n.op for n in g.nodes]
    assert ops.count("leakyrelu") == 1 and ops.count("add") == 2
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)
    y = wqrc.simulate_float(qm, x)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.01


def test_transposed_convs_and_resize_follow_the_float_model():
    g, x, want = _graph("decoder")
    assert [n.op for n in g.nodes].count("zero_insert") == 2 and [n.op for n in g.nodes].count("upsample") == 1
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent=TARGET_RULE)
    xq = qm.quantize_input(x)
    ref = simulate(qm, xq, path="object")
    for path in ("auto", "torch", "int64"):
        np.testing.assert_array_equal(simulate(qm, xq, path=path), ref, err_msg=path)
    y = qm.dequantize_output(ref).reshape(want.shape)
    assert np.abs(y - want).max() / np.abs(want).max() < 0.01


@pytest.mark.parametrize("coord,nearest,ok", [("asymmetric", "floor", True), ("half_pixel", "round_prefer_floor", True),
                                              ("align_corners", "round_prefer_floor", False),
                                              ("asymmetric", "round_prefer_floor", False)])
def test_resize_modes_against_onnxruntime(tmp_path, coord, nearest, ok):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32), "w")
    scales = numpy_helper.from_array(np.array([1, 1, 3, 2], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["u"], mode="nearest",
                              coordinate_transformation_mode=coord, nearest_mode=nearest),
             helper.make_node("Conv", ["u", "w"], ["y"], pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 15, 8])], [w, scales])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    if not ok:
        with pytest.raises(WqrcError, match="Resize"):
            wqrc.load_model(str(path))
        return
    graph = wqrc.load_model(str(path))
    x = np.random.default_rng(1).uniform(-1, 1, (4, 2, 5, 4)).astype(np.float32)
    want = np.concatenate([ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x[i:i + 1]})[0]
                           for i in range(4)])
    from wqrc.ir.to_torch import run_float
    np.testing.assert_allclose(run_float(graph, x), want, rtol=1e-5, atol=1e-5)


def test_products_of_unrelated_shapes_are_a_clear_error():
    from wqrc.ir.graph import Node
    from wqrc.ops import infer_node_shape

    node = Node("mul", "gate", ["a", "b"], "y", {}, {})
    with pytest.raises(WqrcError, match=r"node 'gate' \(mul\): input shapes \(3, 4, 4\) and \(3, 4, 1\): the "
                                        r"second must equal the first or be \(C, 1, 1\)"):
        infer_node_shape(node, [(3, 4, 4), (3, 4, 1)])


def _channels_last_onnx(path):
    """What tf2onnx writes for a small Keras CNN: an (N, H, W, C) input transposed to NCHW, a
    conv, and a transpose back to NHWC before Keras' Flatten and Dense (a MatMul and an Add)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3
    b1 = rng.standard_normal(6).astype(np.float32) * 0.1
    wd = rng.standard_normal((6 * 3 * 3, 5)).astype(np.float32) * 0.2
    bd = rng.standard_normal(5).astype(np.float32) * 0.1
    inits = [numpy_helper.from_array(v, k) for k, v in
             dict(w1=w1, b1=b1, wd=wd, bd=bd, shape=np.array([-1, 54], np.int64)).items()]
    nodes = [helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["x_nchw", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Transpose", ["r1"], ["r1_nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["r1_nhwc", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "wd"], ["mm"]),
             helper.make_node("Add", ["mm", "bd"], ["y"])]
    g = helper.make_graph(nodes, "keras", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6, 6, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_a_channels_last_export_runs_with_either_layout(tmp_path):
    import onnxruntime as ort

    path = tmp_path / "keras.onnx"
    _channels_last_onnx(path)
    g = wqrc.load_model(str(path))
    assert g.input_shape == (3, 6, 6) and g.input_layout == "nhwc" and any("channels-last" in n for n in g.notes)
    x = np.random.default_rng(1).uniform(-1, 1, (16, 6, 6, 3)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    qm = wqrc.quantize(g, scheme="dfp", bits=12, act_bits=16, calib=x, exponent=TARGET_RULE)   # NHWC samples
    assert qm.meta["input_layout"] == "nhwc"
    y_nhwc = wqrc.simulate_float(qm, x)
    np.testing.assert_array_equal(y_nhwc, wqrc.simulate_float(qm, x.transpose(0, 3, 1, 2)))
    assert np.abs(y_nhwc - want).max() / np.abs(want).max() < 0.01
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c"], vectors=4, data=x[:4])
    res = make(out / "c", "run", UBSAN)
    assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout + res.stderr


def test_a_channels_last_tensor_elsewhere_is_a_clear_error(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("Relu", ["t"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 2])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"))
    with pytest.raises(WqrcError, match=r"op type 'Relu' is not supported \(it reads 't' in channels-last order"):
        wqrc.load_model(str(tmp_path / "m.onnx"))


def test_fine_tuning_a_1d_model_takes_its_own_samples():
    """A Conv1d model fine-tuned (STE, one epoch) on (N, C, L) data: the samples are put at height 1."""
    from wqrc.data import Dataset
    from wqrc.quant.plan import make_plan
    from wqrc.train.finetune import FinetuneConfig, finetune

    g, x, want = _graph("kws1d")
    y = np.argmax(want, axis=1)
    ds = Dataset("kws", np.concatenate([x] * 4), np.concatenate([y] * 4), x, y)
    cfg = FinetuneConfig(epochs=1, lr=1e-3, method="ste", batch=32, act_bits=8)
    tuned, hist = finetune(g, ds, make_plan(g, "dfp", 4), cfg)
    assert len(hist.rows) == 1 and tuned.input_shape == (10, 1, 49)


def test_a_1d_model_from_the_command_line(tmp_path):
    """An .npz of (N, C, L) samples calibrates and tests a Conv1d export, and `wqrc simulate`
    takes (N, C, L) batches and single (C, L) samples."""
    import torch

    from test_cli import wqrc as run_wqrc
    from wqrc.frontend.torch import _export

    m, x, want = _kws()
    model = tmp_path / "kws.onnx"
    model.write_bytes(_export(m, torch.from_numpy(x[:1]), "kws").SerializeToString())
    np.savez(tmp_path / "kws.npz", x=x, y=np.argmax(want, axis=1))
    res = run_wqrc("compile", str(model), "--calib", str(tmp_path / "kws.npz"), "--data", str(tmp_path / "kws.npz"),
                   "--target", "c", "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    np.save(tmp_path / "batch.npy", x[:3])
    np.save(tmp_path / "one.npy", x[0])
    outs = []
    for name in ("batch", "one"):
        res = run_wqrc("simulate", str(tmp_path / "out"), "--input", str(tmp_path / f"{name}.npy"),
                       "--output", str(tmp_path / f"y_{name}.npy"))
        assert res.returncode == 0, res.stderr
        outs.append(np.load(tmp_path / f"y_{name}.npy"))
    np.testing.assert_array_equal(outs[0][:1], outs[1])


@needs.verilator
def test_the_descriptor_form_copies_channel_selections_block_by_block(tmp_path):
    """--rtl-form seq: a strided series of channels is one vector descriptor per block."""
    g, x, _ = _graph("shuffle")
    qm = wqrc.quantize(g, scheme="dfp", bits=6, act_bits=8, calib=x, exponent=TARGET_RULE)
    out = tmp_path / "out"
    rep = compile_model(qm, str(out), ["rtl"], vectors=2, data=x[:8], rtl_options=dict(lanes=2, form="seq"))
    assert rep["rtl"]["form"] == "seq"
    assert_rtl_sim_matches(out / "rtl", qm)
