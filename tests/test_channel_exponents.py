"""Per-channel exponents (--granularity channel, docs/format.md §1c): the quantizer, the model
file, every executor of the simulator, and the C (host with undefined-behaviour checks, and the
Cortex-M4's DSP paths in QEMU), HLS and RTL targets, element for element."""
import json
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import wqrc
from wqrc.backend.c import generate_c
from wqrc.compile import compile_model
from wqrc.errors import WqrcError
from wqrc.pack import pack
from wqrc.contract.arith import rshift_round
from wqrc.quant.exponent import MAX_CHANNEL_SPREAD
from wqrc.quant.plan import LayerSpec
from wqrc.quant.quantize import quantize_weights
from wqrc.sim import simulate

import needs
from conftest import assert_rtl_sim_matches
from conftest import UBSAN, depthwise_cnn as _depthwise_cnn, make, odd_cnn as _odd_cnn

pytestmark = pytest.mark.slow


def _spread(graph, seed=0):
    """Scale each output channel of every layer by 2**k, k in -3..3, as a BatchNorm fold with
    very different channel variances does: per-channel exponents then differ by up to 6."""
    rng = np.random.default_rng(seed)
    for n in graph.weighted_nodes():
        k = rng.integers(-3, 4, n.weight.shape[0])
        f = np.ldexp(1.0, k).astype(np.float32)
        n.params["weight"] = n.weight * f.reshape((-1,) + (1,) * (n.weight.ndim - 1))
        n.params["bias"] = n.bias * f
    return graph


def _models():
    out = {}
    for name, build in (("odd", _odd_cnn), ("depthwise", _depthwise_cnn)):
        g, shape = build()
        out[name] = (_spread(g), shape)
    return out


MODELS = _models()


def _quantize(name, scheme, bits, act=8):
    g, shape = MODELS[name]
    calib = np.random.default_rng(2).uniform(-1, 1, (32,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib, granularity="channel")
    return qm, calib


@pytest.mark.parametrize("scheme,bits", [("dfp", 4), ("dfp", 8), ("po2", 3), ("po2", 5)])
def test_each_channel_is_quantized_as_a_layer_of_its_own(scheme, bits):
    qm, _ = _quantize("odd", scheme, bits)
    g, _ = MODELS["odd"]
    spreads = []
    for n in g.weighted_nodes():
        layer = qm.layers[n.name]
        assert layer.per_channel and len(layer.channel_n1) == n.weight.shape[0]
        for c in range(n.weight.shape[0]):
            n1, _, codes = quantize_weights(n.name, n.weight[c], LayerSpec(scheme, bits), "mse")
            assert layer.channel_n1[c] == n1
            np.testing.assert_array_equal(layer.codes[c], codes)
        assert layer.n1 == max(layer.channel_n1)
        spreads.append(max(layer.channel_n1) - min(layer.channel_n1))
        # the layer's squared weight error is no larger than with one exponent for the layer
        per_layer = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8,
                                  calib=np.zeros((1,) + g.input_shape, np.float32)).layers[n.name]
        w = n.weight.astype(np.float64)
        assert ((layer.dequantized() - w) ** 2).sum() <= ((per_layer.dequantized() - w) ** 2).sum() + 1e-12
    assert max(spreads) >= 4  # the test model really has channels far apart


@settings(max_examples=200, deadline=None)
@given(acc=st.integers(-(1 << 40), 1 << 40), sh=st.integers(-12, 30), d=st.integers(0, MAX_CHANNEL_SPREAD))
def test_aligning_a_channel_keeps_its_requantization(acc, sh, d):
    """QLayer.aligned rests on rshift_round(acc * 2**d, sh + d) == rshift_round(acc, sh), d >= 0."""
    assert rshift_round(acc << d, sh + d) == rshift_round(acc, sh)


@pytest.mark.parametrize("name", ["odd", "depthwise"])
@pytest.mark.parametrize("scheme,bits,act", [("dfp", 4, 8), ("dfp", 8, 16), ("po2", 4, 8), ("dfp", 16, 16)])
def test_every_simulator_path_agrees(name, scheme, bits, act):
    qm, calib = _quantize(name, scheme, bits, act)
    x = qm.quantize_input(calib)
    ref = simulate(qm, x, path="object")
    for path in ("auto", "int64", "float64", "torch"):
        try:
            got = simulate(qm, x, path=path)
        except WqrcError:  # a path that cannot prove itself exact says so
            continue
        np.testing.assert_array_equal(got, ref, err_msg=path)
    _, layer = qm.weighted()[0]
    assert len(set(layer.requant_shift.tolist())) > 1  # channels of different shifts were run


@pytest.mark.parametrize("name", ["odd", "depthwise"])
@pytest.mark.parametrize("scheme,bits,act", [("dfp", 8, 8), ("dfp", 3, 16), ("po2", 4, 8), ("po2", 6, 8),
                                             ("dfp", 16, 16)])
def test_host_c_equals_simulator(tmp_path, monkeypatch, name, scheme, bits, act):
    """Every C kernel (dual-MAC blocks and tails, depthwise, the tap kernel for wide weights)."""
    import wqrc.backend.c as c_backend

    monkeypatch.setattr(c_backend, "WBUF_LIMIT", 40)
    qm, calib = _quantize(name, scheme, bits, act)
    out = tmp_path / "c"
    generate_c(qm, pack(qm, 32), str(out), vectors=6, data=calib[:8])
    assert "WQRC_USE_CHANNEL_SHIFTS 1" in (out / "wqrc_model.c").read_text()
    res = make(out, "run", UBSAN)
    assert res.returncode == 0 and "PASS: 6 test vectors" in res.stdout, res.stdout + res.stderr


@needs.arm
@pytest.mark.parametrize("name,scheme,bits,word_bits,limit", [
    ("odd", "dfp", 8, 32, 64), ("odd", "dfp", 8, 64, 10_000), ("odd", "po2", 4, 32, 40),
    ("depthwise", "dfp", 8, 32, 40), ("depthwise", "po2", 4, 32, 40)])
def test_cortex_m4_simd_paths_in_qemu(tmp_path, monkeypatch, name, scheme, bits, word_bits, limit):
    import wqrc.backend.c as c_backend

    monkeypatch.setattr(c_backend, "WBUF_LIMIT", limit)
    qm, calib = _quantize(name, scheme, bits)
    out = tmp_path / "mcu"
    generate_c(qm, pack(qm, word_bits), str(out), vectors=6, data=calib[:8])
    res = make(out, "mcu-run")
    assert res.returncode == 0 and "PASS: 6 test vectors" in res.stdout, res.stdout + res.stderr


@needs.cxx
@pytest.mark.parametrize("scheme,bits,parallelism", [("dfp", 4, "1"), ("po2", 4, "2")])
def test_hls_csim_equals_simulator(tmp_path, scheme, bits, parallelism):
    qm, calib = _quantize("odd", scheme, bits)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["hls"], vectors=4, data=calib[:8],
                  hls_options=dict(parallelism=parallelism))
    assert "static int shift(int oc)" in (out / "hls" / "wqrc_top.h").read_text()
    res = make(out / "hls", "csim")
    assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout + res.stderr


@needs.verilator
@pytest.mark.parametrize("name,scheme,bits,lanes", [("odd", "po2", 4, 3), ("depthwise", "dfp", 8, 2)])
def test_rtl_equals_simulator(tmp_path, name, scheme, bits, lanes):
    qm, calib = _quantize(name, scheme, bits)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["rtl"], vectors=3, data=calib[:8], rtl_options=dict(lanes=lanes))
    assert list((out / "rtl").glob("shift_s*.mem"))
    assert_rtl_sim_matches(out / "rtl", qm)
    res = make(out / "rtl", "lint")
    assert res.returncode == 0, res.stdout + res.stderr


def test_model_file_round_trip_manifest_and_w_mem(tmp_path):
    qm, calib = _quantize("odd", "dfp", 4)
    qm.save(str(tmp_path / "m.wqrc.npz"))
    back = wqrc.QModel.load(str(tmp_path / "m.wqrc.npz"))
    for name, layer in qm.layers.items():
        assert back.layers[name].channel_n1 == layer.channel_n1
        assert layer.w_mem == layer.weight_count * 4 + 8 * layer.codes.shape[0]
    x = qm.quantize_input(calib)
    np.testing.assert_array_equal(simulate(back, x), simulate(qm, x))
    manifest = pack(qm).manifest()
    first = manifest["layers"][0]
    assert first["channel_exponents"] == [int(e) for e in qm.weighted()[0][1].exponents]


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(channel_n1=[0]), r"channel_n1"),
    (lambda d: d.update(channel_n1=[d["n1"] + 1] * len(d["bias"])), r"\.n1.*largest of channel_n1"),
    (lambda d: d.update(channel_n1=[d["n1"]] + [d["n1"] - 40] * (len(d["bias"]) - 1)), r"spans 40"),
])
def test_a_corrupt_channel_exponent_table_is_refused(tmp_path, edit, message):
    qm, _ = _quantize("odd", "dfp", 4)
    doc = qm.to_json()
    edit(next(iter(doc["layers"].values())))
    arrays = {"model_json": np.frombuffer(json.dumps(doc).encode(), np.uint8)}
    for i, l in enumerate(qm.layers.values()):
        arrays[f"codes_{i}"] = l.codes.astype(np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(WqrcError, match=message):
        wqrc.QModel.load(str(tmp_path / "bad.npz"))


def _cli(*args, cwd=None):
    import sys
    return subprocess.run([sys.executable, "-m", "wqrc", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_granularity_errors_are_one_line(tmp_path):
    model = "examples/digits_cnn.onnx"
    res = _cli("compile", model, "--granularity", "channel", "--exponent", "output", "--calib", "digits",
               "-o", str(tmp_path / "a"))
    assert res.returncode != 0 and "--granularity channel" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "a").exists()
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"layers": {n: {"scheme": "dfp", "bits": 4, "n1": 0}
                                           for n in ("conv1", "conv2", "conv3", "fc")}}))
    res = _cli("compile", model, "--granularity", "channel", "--bits", str(plan), "-o", str(tmp_path / "b"))
    assert res.returncode != 0 and "pinned n1" in res.stderr and "Traceback" not in res.stderr
    res = _cli("compile", model, "--granularity", "row", "-o", str(tmp_path / "c"))
    assert res.returncode != 0 and "--granularity" in res.stderr


@needs.fashion
def test_per_channel_exponents_recover_a_batchnorm_folded_network():
    """On the converged Fashion-MNIST baseline (BatchNorm folded, channels of different scale),
    direct DFP-4 with one exponent per layer loses 16 points; per channel, under 6 (3000 test
    images, 8-bit activations)."""
    from wqrc.data import accuracy, load_dataset
    from wqrc.sim import simulate_float

    g = wqrc.load_model("examples/fashion_allconv.onnx")
    ds = load_dataset("fashion-mnist")
    x, y = ds.split("test")
    x, y = x[:3000], y[:3000]
    acc = {gran: accuracy(simulate_float(wqrc.quantize(g, scheme="dfp", bits=4, act_bits=8, calib=ds.x_train[:512],
                                                       granularity=gran), x), y)
           for gran in ("layer", "channel")}
    assert acc["channel"] > acc["layer"] + 0.05, acc
