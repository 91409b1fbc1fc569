"""Models with several graph outputs (a classifier with a segmentation map and a box head, as
detection and multi-task models have): every output through the simulator against torch, and
through C (UBSan), HLS csim and QONNX against the simulator; the RTL target refuses in one line."""
import warnings

import numpy as np
import onnx
import pytest

import wqrc
from wqrc.compile import compile_model
from wqrc.sim import simulate, simulate_outputs

import needs
from conftest import UBSAN, make


def _three_heads(tmp_path):
    import torch
    from torch import nn

    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 3, padding=1)
            self.cls, self.box = nn.Linear(8 * 4 * 4, 5), nn.Linear(8 * 4 * 4, 4)

        def forward(self, x):
            h = torch.relu(self.c1(x))
            f = nn.functional.max_pool2d(h, 2).flatten(1)
            return self.cls(f), self.c2(h), torch.sigmoid(self.box(f))

    torch.manual_seed(0)
    m = Heads().eval()
    x = torch.rand(24, 3, 8, 8)
    path = str(tmp_path / "heads.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, x[:1], path, dynamo=False, input_names=["x"], output_names=["cls", "seg", "box"],
                          dynamic_axes={"x": {0: "n"}})
    with torch.no_grad():
        want = [t.numpy() for t in m(x)]
    return path, x.numpy(), want


def test_every_output_follows_the_float_model(tmp_path):
    path, x, want = _three_heads(tmp_path)
    g = wqrc.load_model(path)
    assert g.outputs == ["cls", "seg", "box"]
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x)
    ys = simulate_outputs(qm, qm.quantize_input(x))
    assert np.array_equal(ys[0], simulate(qm, qm.quantize_input(x)))   # the first is simulate's output
    for y, w, t in zip(ys, want, qm.outputs):
        assert y.shape == w.shape
        assert np.abs(qm.formats[t].dequantize(y) - w).max() / np.abs(w).max() < 0.02, t
    qm.save(str(tmp_path / "m.wqrc.npz"))
    back = wqrc.quant.qmodel.QModel.load(str(tmp_path / "m.wqrc.npz"))
    assert back.outputs == qm.outputs


def test_an_output_read_by_a_later_layer_keeps_its_own_values(tmp_path):
    """A ReLU after an output's conv must not fuse into it (the output is the pre-ReLU value)."""
    import torch
    from torch import nn

    class Tap(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            t = self.c1(x)
            return self.fc(torch.relu(t).flatten(1)), t

    torch.manual_seed(1)
    m = Tap().eval()
    x = torch.rand(8, 3, 8, 8) * 2 - 1
    path = str(tmp_path / "tap.onnx")
    torch.onnx.export(m, x[:1], path, dynamo=False, input_names=["x"], output_names=["y", "t"])
    g = wqrc.load_model(path)
    assert next(n for n in g.nodes if n.name.startswith("c1") or n.op == "conv").attrs.get("clip") is None
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x.numpy())
    t = qm.formats[qm.outputs[1]].dequantize(simulate_outputs(qm, qm.quantize_input(x.numpy()))[1])
    assert t.min() < 0   # the tap holds the negative values the ReLU later removes


@needs.cc
@needs.cxx
@pytest.mark.parametrize("scheme,bits", [("dfp", 8), ("po2", 4)])
def test_c_and_hls_return_every_output_bit_exact(tmp_path, scheme, bits):
    path, x, _ = _three_heads(tmp_path)
    qm = wqrc.quantize(wqrc.load_model(path), scheme=scheme, bits=bits, act_bits=8, calib=x)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c", "hls"], vectors=5, data=x[:5])
    for folder, target, extra in ((out / "c", "run", (UBSAN,)), (out / "hls", "csim", ())):
        res = make(folder, target, *extra)
        assert res.returncode == 0 and "and 2 further output(s), bit-exact" in res.stdout, res.stdout + res.stderr
    # a wrong expectation for output 2 is caught (the testbench really compares it)
    main = (out / "c" / "main.c").read_text()
    start = main.index("test_expected2")
    first = main.index("{ ", main.index("{", start) + 1) + 2
    end = main.index(",", first)
    (out / "c" / "main.c").write_text(main[:first] + str(int(main[first:end]) + 1) + main[end:])
    res = make(out / "c", "run")
    assert res.returncode != 0 and "output 2, element 0" in res.stdout


@needs.cxx
def test_hls_stream_io_writes_every_output_on_a_stream_of_its_own(tmp_path):
    path, x, _ = _three_heads(tmp_path)
    qm = wqrc.quantize(wqrc.load_model(path), scheme="dfp", bits=8, act_bits=8, calib=x)
    out = tmp_path / "hls"
    compile_model(qm, str(out), ["hls"], vectors=4, data=x[:4], hls_options=dict(io="stream"))
    top = (out / "hls" / "wqrc_top.cpp").read_text()
    assert "hls::stream<wqrc_output2_t> &output2" in top and "axis port = output2" in top
    res = make(out / "hls", "csim")
    assert res.returncode == 0 and "and 2 further output(s), bit-exact" in res.stdout, res.stdout + res.stderr


@pytest.mark.slow
@needs.verilator
@pytest.mark.parametrize("act_bits", [8, 6])
def test_the_rtl_accelerator_unloads_every_output_one_after_another(tmp_path, act_bits):
    """The three heads (signed logits, an unsigned ReLU map, signed boxes) on the one output
    stream, each extended to the widest; the test bench and ``wqrc verify`` compare them all."""
    from conftest import assert_rtl_sim_matches
    from test_cli import wqrc as run

    path, x, _ = _three_heads(tmp_path)
    qm = wqrc.quantize(wqrc.load_model(path), scheme="dfp", bits=4, act_bits=act_bits, calib=x)
    signs = {qm.formats[t].signed for t in qm.outputs}
    out = tmp_path / "out"
    compile_model(qm, str(out), ["rtl"], vectors=3, data=x[:3])
    assert_rtl_sim_matches(out / "rtl", qm)
    sizes = [int(np.prod(qm.shapes[t])) for t in qm.outputs]
    got = np.loadtxt(out / "rtl" / "sim_out.txt", dtype=np.int64).reshape(3, -1)
    assert got.shape[1] == sum(sizes) and len(signs) == 2 and (got < 0).any()
    qm.save(str(tmp_path / "m.wqrc.npz"))
    res = run("verify", str(tmp_path / "m.wqrc.npz"), "--input", str(out / "rtl" / "inputs.npy"),
              "--outputs", str(out / "rtl" / "sim_out.txt"))
    assert res.returncode == 0 and "PASS" in res.stdout, res.stdout + res.stderr
    # a wrong element in the last output is caught
    lines = (out / "rtl" / "sim_out.txt").read_text().split()
    lines[sum(sizes) - 1] = str(int(lines[sum(sizes) - 1]) + 1)
    (out / "rtl" / "sim_out.txt").write_text("\n".join(lines) + "\n")
    res = run("verify", str(tmp_path / "m.wqrc.npz"), "--input", str(out / "rtl" / "inputs.npy"),
              "--outputs", str(out / "rtl" / "sim_out.txt"))
    assert res.returncode == 1 and f"sample 0, element {sum(sizes) - 1}" in res.stdout


def test_qonnx_writes_every_output(tmp_path):
    pytest.importorskip("qonnx", reason="pip install qonnx")
    from test_qonnx import _qonnx_run

    from wqrc.backend.qonnx import qonnx_model

    path, x, _ = _three_heads(tmp_path)
    qm = wqrc.quantize(wqrc.load_model(path), scheme="dfp", bits=4, act_bits=8, calib=x)
    model = qonnx_model(qm)
    assert len(model.graph.output) == 3
    xs = x[:3]
    ys = simulate_outputs(qm, qm.quantize_input(xs))
    xr = np.ldexp(qm.quantize_input(xs).astype(np.float64), qm.input_format.frac)
    for k, (t, y) in enumerate(zip(qm.outputs, ys)):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        keep = m.graph.output[k]
        del m.graph.output[:]
        m.graph.output.append(keep)
        got = _qonnx_run(m, xr)
        assert np.array_equal(got.astype(np.float64).reshape(y.shape), np.ldexp(y.astype(np.float64), qm.formats[t].frac))
