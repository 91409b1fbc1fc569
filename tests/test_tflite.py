"""TFLite import (issue 33, item 5): an int8 .tflite model, as TFLite's post-training quantization
writes it (per-channel int8 weights, int32 biases, int8 activations with zero points), read as
its float graph, re-quantized onto wqrc's formats, compared with LiteRT's own interpreter and
compiled to C bit-exact with the simulator. The model is written with the TFLite schema in
tests/tflite_models.py (no TensorFlow)."""
import numpy as np
import pytest

import wqrc
from wqrc.ir.to_torch import run_float

import needs
from conftest import UBSAN, assert_user_error, make
from conftest import wqrc as wqrc_cli

pytest.importorskip("tflite", reason="pip install tflite (the .tflite reader)")
from tflite_models import float_net, int8_cnn  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfl") / "int8_cnn.tflite"
    path.write_bytes(int8_cnn(0))
    return str(path)


def _litert_logits(path: str, x: np.ndarray) -> np.ndarray:
    """LiteRT's integer interpreter (reference kernels), the dequantized logits before the softmax."""
    interp = pytest.importorskip("ai_edge_litert.interpreter", reason="pip install ai-edge-litert (LiteRT, the judge)")
    it = interp.Interpreter(model_path=path, experimental_preserve_all_tensors=True,
                            experimental_op_resolver_type=interp.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    s, z = inp["quantization"]
    logits = next(d for d in it.get_tensor_details() if d["name"] == "logits")
    out = []
    for i in range(len(x)):
        it.set_tensor(inp["index"], np.clip(np.round(x[i:i + 1] / s) + z, -128, 127).astype(np.int8))
        it.invoke()
        sc, zp = logits["quantization"]
        out.append((it.get_tensor(logits["index"]).astype(np.float64) - zp) * sc)
    return np.concatenate(out)


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_an_int8_tflite_model_reads_as_its_float_graph(model):
    g = wqrc.load_model(model)
    assert [n.op for n in g.nodes] == ["conv", "conv", "conv", "add", "maxpool", "avgpool", "concat", "flatten", "dense"]
    assert g.input_shape == (3, 8, 8) and g.input_layout == "nhwc" and g.nodes[1].attrs["group"] == 8
    x = np.random.default_rng(5).uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32)
    _, forward = float_net(0)
    # the dequantized int8 weights compute the float network up to their own rounding
    assert _rel(run_float(g, x), forward(x.astype(np.float64))["logits"]) < 0.02


def test_outputs_against_litert(model):
    """LiteRT runs the model's own integers; wqrc re-grids them onto power-of-two formats, with an
    exponent per channel where the model's weights had a scale per channel (the default). On this
    random-weight model LiteRT itself is 3.3% from the float network; wqrc is 3.5% from LiteRT at
    16-bit activations and 4.6% at 8-bit (7.6% before a concat kept its inputs' format, and 5.2%
    with one exponent per layer)."""
    x = np.random.default_rng(5).uniform(-1, 1, (64, 8, 8, 3)).astype(np.float32)
    theirs = _litert_logits(model, x)
    g = wqrc.load_model(model)
    assert g.weight_granularity == "channel"
    cal = np.random.default_rng(1).uniform(-1, 1, (512, 8, 8, 3)).astype(np.float32)
    err = {a: _rel(wqrc.simulate_float(wqrc.quantize(g, calib=cal, act_bits=a), x), theirs) for a in (8, 16)}
    layer = _rel(wqrc.simulate_float(wqrc.quantize(g, calib=cal, granularity="layer"), x), theirs)
    print(f"relative error against LiteRT: {err}; one exponent per layer at 8 bits: {layer:.4f}")
    assert err[16] < 0.04 and err[8] < 0.05 and layer < 0.06, (err, layer)


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """The network trained on digits and converted to int8 the way TFLite's post-training
    quantization does it (calibrated on 256 training images): a model as users bring them."""
    from wqrc.data import load_dataset
    from tflite_models import digits_nhwc, trained_on_digits

    ds = load_dataset("digits")
    x, y = ds.split("train")
    weights = trained_on_digits(digits_nhwc(x), y, epochs=40)
    path = tmp_path_factory.mktemp("tfl") / "digits_int8.tflite"
    path.write_bytes(int8_cnn(0, weights, digits_nhwc(x[:256])))
    return str(path), ds


def test_a_trained_int8_model_stays_within_5_percent_of_litert_on_digits(digits_model):
    """Issue 33's target on real data: the defaults (8-bit activations, per-channel exponents as
    the model had them, calibration on 512 training images) against LiteRT's integers on the 360
    test images: logits within 5% relative error, the same top-1 class on 97% or more and test
    accuracy within a point of LiteRT's (measured: 3.9%, 98.3%, 93.6% against 91.9%)."""
    from tflite_models import digits_nhwc

    path, ds = digits_model
    x, y = ds.split("test")
    x = digits_nhwc(x).astype(np.float32)
    theirs = _litert_logits(path, x)
    g = wqrc.load_model(path)
    ours = wqrc.simulate_float(wqrc.quantize(g, calib=digits_nhwc(ds.split("train")[0][:512]).astype(np.float32)), x)
    err, agree = _rel(ours, theirs), float(np.mean(ours.argmax(1) == theirs.argmax(1)))
    acc = {k: float(np.mean(v.argmax(1) == y)) for k, v in (("wqrc", ours), ("litert", theirs))}
    print(f"against LiteRT on digits: relative error {err:.4f}, top-1 agreement {agree:.3f}, accuracy {acc}")
    assert err < 0.05 and agree >= 0.97 and acc["wqrc"] >= acc["litert"] - 0.01, (err, agree, acc)


@needs.cc
def test_a_tflite_model_compiles_to_c_bit_exact(model, tmp_path):
    cal = np.random.default_rng(1).uniform(-1, 1, (64, 8, 8, 3)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal, y=np.zeros(len(cal), np.int64))
    out = tmp_path / "out"
    res = wqrc_cli("compile", model, "--calib", str(tmp_path / "cal.npz"), "--target", "c", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "quantization health: output SQNR" in res.stdout
    import json
    lite = json.loads((out / "report.json").read_text())["health"]["litert_reference"]
    if isinstance(lite, dict):   # LiteRT installed: the compile measured itself against it
        assert lite["output_relative_error"] < 0.10 and "against LiteRT running" in res.stdout, lite
    r = make(out / "c", "run", UBSAN)
    assert r.returncode == 0 and "bit-exact" in r.stdout, r.stdout + r.stderr


def test_a_damaged_tflite_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x10\x00\x00\x00TFL3" + b"\xff" * 40)
    assert_user_error(wqrc_cli("inspect", str(bad)), "bad.tflite", "not a readable TFLite model")
