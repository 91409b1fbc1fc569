"""QONNX in and out (issue 16, item 2), judged by qonnx's own executor and by Brevitas.

- ``--target qonnx``: the simulator's integers, in real units, computed by qonnx's executor
  (``qonnx.core.onnx_exec``) on the exported file, for random models of every op the exporter
  writes (the fuzzer's graphs, at widths float32 holds exactly);
- the export read back: the same QModel (codes, level sets, formats), so the same outputs;
- a Brevitas model with power-of-two (fixed-point) quantizers, exported by Brevitas's own
  ``export_qonnx``: its integer weights are wqrc's codes, its formats wqrc's formats, its
  layers round ties to even as Brevitas's ``ROUND`` does, and wqrc's outputs are Brevitas's
  own, exactly (and qonnx's, with the same model rewritten to the contract's ties-up);
- every quantizer wqrc cannot map exactly is refused in one line naming the node.
"""
from __future__ import annotations

import copy
import itertools
import os
import subprocess
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import wqrc
from wqrc.backend.qonnx import qonnx_model
from wqrc.errors import WqrcError
from wqrc.sim.simulator import simulate

import needs
from fuzz_models import random_graph
from conftest import TARGET_RULE, UBSAN

pytestmark = pytest.mark.slow

LOOKUPS = {"sigmoid", "tanh", "hardswish", "hardsigmoid", "leakyrelu"}
VARIANTS = [("dfp", 4, "layer", 8), ("po2", 4, "channel", 6), ("dfp", 8, "layer", 4), ("po2", 3, "layer", 10),
            ("dfp", 2, "channel", 8)]


def _quantized(seed: int, even: bool = False):
    """A fuzzer graph quantized; with ``even`` every conv/dense layer rounds ties to even (§3)."""
    rng = np.random.default_rng(seed)
    g = random_graph(seed)
    if even:
        g.act_rounding.update({n.output: "half_even" for n in g.weighted_nodes()})
    scheme, bits, gran, act = VARIANTS[seed % len(VARIANTS)]
    calib = rng.uniform(-1, 1, (16,) + tuple(g.input_shape)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib, granularity=gran,
                           exponent=TARGET_RULE)
    x = qm.quantize_input(rng.uniform(-1.2, 1.2, (3,) + tuple(g.input_shape)))
    x[0] = qm.input_format.qmax  # the extremes are among the samples
    x[1] = qm.input_format.qmin
    return g, qm, x


def _qonnx_run(model: onnx.ModelProto, xs: np.ndarray) -> np.ndarray:
    """qonnx's executor, one sample at a time (QONNX graphs have batch 1)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    mw = ModelWrapper(copy.deepcopy(model)).transform(InferShapes())
    name_in, name_out = mw.graph.input[0].name, mw.graph.output[0].name
    return np.concatenate([execute_onnx(mw, {name_in: xs[i:i + 1].astype(np.float32)})[name_out]
                           for i in range(len(xs))])


def _exportable(seed: int) -> bool:
    try:
        qonnx_model(_quantized(seed)[1])
    except WqrcError:   # sums past float32's exact range: refused at export, in one line
        return False
    return True


# Computed at collection, also where the quick tier deselects this module: stop at the 17th.
EXPORTABLE = list(itertools.islice(filter(_exportable, range(0, 80)), 17))


@pytest.mark.parametrize("seed", EXPORTABLE)
def test_qonnx_executor_computes_the_simulators_values(seed):
    pytest.importorskip("qonnx", reason="pip install qonnx (the judge of --target qonnx)")
    g, qm, x = _quantized(seed)
    model = qonnx_model(qm)
    got = _qonnx_run(model, np.ldexp(x.astype(np.float64), qm.input_format.frac))
    want = np.ldexp(simulate(qm, x).astype(np.float64), qm.output_format.frac)
    assert np.array_equal(got.astype(np.float64).reshape(want.shape), want), [n.op for n in g.nodes]


def test_the_exported_quantizers_carry_every_format():
    _, qm, _ = _quantized(3)
    model = qonnx_model(qm)
    quants = [n for n in model.graph.node if n.op_type == "Quant"]
    assert all(n.domain == "qonnx.custom_op.general" for n in quants)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    names = {n.output[0]: n for n in quants}
    for layer in qm.layers.values():  # each layer's weights behind a Quant of its bits (DFP) and exponent
        q = names[layer.name + ".weight"]
        scale = inits[q.input[1]]
        assert np.array_equal(np.log2(scale).reshape(-1), np.broadcast_to(layer.exponents, scale.reshape(-1).shape)
                              if scale.size > 1 else [layer.exponent])
    out = qm.output_format
    assert np.isclose(2.0 ** out.frac, [inits[n.input[1]] for n in quants][-1])


def _round_trippable(g) -> bool:
    """Lookup tables and average pools over windows that are not a power of two are exported
    in exact forms (Gather, a float64 division chain) that wqrc does not read back."""
    if any(n.op in LOOKUPS for n in g.nodes):
        return False
    for n in g.nodes:
        if n.op == "global_avgpool":
            h, w = g.shapes[n.inputs[0]][1:]
            if h * w & (h * w - 1):
                return False
        if n.op == "avgpool":
            k = n.attrs["kernel"][0] * n.attrs["kernel"][1]
            if k & (k - 1) or (any(n.attrs["pads"]) and not n.attrs.get("count_include_pad")):
                return False
    return True


ROUND_TRIP = [s for s in EXPORTABLE + list(range(80, 120)) if _round_trippable(random_graph(s))
              and _exportable(s)][:14]


@pytest.mark.parametrize("seed", ROUND_TRIP)
def test_an_export_reads_back_as_the_same_quantized_model(seed, tmp_path):
    g, qm, x = _quantized(seed, even=seed % 2 == 1)  # half of them with ties-to-even layers (ROUND)
    path = tmp_path / "m.onnx"
    onnx.save(qonnx_model(qm), path)
    g2 = wqrc.load_model(str(path))
    assert any("QONNX quantizers" in note for note in g2.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the scheme, bits and activation width given here must not matter: the model fixes them
        qm2 = wqrc.quantize(g2, scheme="dfp", bits=8, act_bits=16, input_range=(-1, 1))
    assert sorted(qm2.layers) == sorted(qm.layers)
    for name, layer in qm.layers.items():
        other = qm2.layers[name]
        assert (other.scheme, other.bits) == (layer.scheme, layer.bits)
        assert np.array_equal(other.codes, layer.codes) and np.array_equal(other.exponents, layer.exponents)
        assert other.bias == layer.bias
        assert other.rounding == layer.rounding == ("half_even" if seed % 2 else "half_up")
    assert qm2.input_format == qm.input_format and qm2.output_format == qm.output_format
    assert np.array_equal(simulate(qm2, x), simulate(qm, x).reshape(simulate(qm2, x).shape))


def test_a_model_too_wide_for_float32_is_refused_naming_why():
    g = random_graph(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=32, input_range=(-1, 1))
    with pytest.raises(WqrcError, match="--target qonnx: tensor .* is 32-bit"):
        qonnx_model(qm)


def test_the_cli_writes_qonnx_only_when_asked_and_refuses_before_writing(tmp_path):
    from conftest import assert_user_error, wqrc as run

    from conftest import EXAMPLE

    out = tmp_path / "o"
    res = run("compile", EXAMPLE, "--target", "qonnx,rom", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "qonnx/model.onnx" in res.stdout
    assert (out / "qonnx" / "model.onnx").is_file() and not (out / "c").exists()
    res = run("compile", EXAMPLE, "--target", "all", "-o", str(tmp_path / "all"))
    assert res.returncode == 0 and not (tmp_path / "all" / "qonnx").exists()
    bad = tmp_path / "wide"
    res = run("compile", EXAMPLE, "--target", "qonnx", "--act-bits", "32", "-o", str(bad))
    assert_user_error(res, "--target qonnx", "32-bit")
    assert not bad.exists()
    # wqrc's QONNX reads back through the CLI, its formats fixed by its quantizers
    res = run("compile", str(out / "qonnx" / "model.onnx"), "--target", "c", "-o", str(tmp_path / "again"))
    assert res.returncode == 0, res.stderr


# -- foreign quantizers: refusals ---------------------------------------------------------------

def _quant_model(scale, zero_point=0.0, bits=4.0, signed=1, narrow=1, on_weights=True, act_scale=0.125):
    """x -> Quant(x) -> Conv(W: Quant(W)) -> y, with the given quantizer parameters."""
    w = np.random.default_rng(0).normal(size=(2, 1, 3, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.asarray(scale, np.float32), "s"),
             numpy_helper.from_array(np.asarray(zero_point, np.float32), "z"),
             numpy_helper.from_array(np.asarray(bits, np.float32), "b"),
             numpy_helper.from_array(np.asarray(act_scale, np.float32), "sa"),
             numpy_helper.from_array(np.asarray(8.0, np.float32), "b8"),
             numpy_helper.from_array(np.asarray(0.0, np.float32), "z0")]
    dom = "qonnx.custom_op.general"
    nodes = [helper.make_node("Quant", ["x", "sa", "z0", "b8"], ["xq"], name="in_quant", domain=dom,
                              signed=1, narrow=0, rounding_mode="ROUND")]
    if on_weights:
        nodes.append(helper.make_node("Quant", ["w", "s", "z", "b"], ["wq"], name="w_quant", domain=dom,
                                      signed=signed, narrow=narrow, rounding_mode="ROUND"))
        nodes.append(helper.make_node("Conv", ["xq", "wq"], ["y"], name="conv"))
    else:
        nodes.append(helper.make_node("Conv", ["xq", "w"], ["c"], name="conv"))
        nodes.append(helper.make_node("Quant", ["c", "s", "z", "b"], ["y"], name="out_quant", domain=dom,
                                      signed=signed, narrow=narrow, rounding_mode="ROUND"))
    g = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(dom, 1)])


@pytest.mark.parametrize("kw, message", [
    (dict(scale=0.125, zero_point=1.0), "node 'w_quant' \\(QONNX Quant, the weights of layer 'conv'\\): "
                                        "a non-zero zero point"),
    (dict(scale=[[[[0.125]]], [[[0.25]]]], on_weights=False), "node 'out_quant' .*a scale per channel"),
    (dict(scale=0.125, on_weights=False, narrow=1), "node 'out_quant' .*narrow-range"),
    (dict(scale=0.125, bits=2.5), "node 'w_quant' .*bit width .* is not one integer"),
])
def test_quantizers_wqrc_cannot_map_exactly_are_refused_in_one_line(tmp_path, kw, message):
    if isinstance(kw.get("scale"), list) and np.asarray(kw["scale"]).ndim == 1:
        kw["scale"] = np.asarray(kw["scale"]).reshape(2, 1, 1, 1)
    path = tmp_path / "q.onnx"
    onnx.save(_quant_model(**kw), path)
    with pytest.raises(WqrcError, match=message) as exc:
        wqrc.load_model(str(path))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("scale", [0.1, [0.125, 0.1]], ids=["per-tensor", "per-channel"])
def test_a_scale_that_is_not_a_power_of_two_is_regridded(tmp_path, scale):
    """The model's own values (codes times 0.1) on the power-of-two grid that holds them best:
    at 4 bits 0.1 * k is within 1% RMS only with more bits, so the layer is widened and says so."""
    scale = np.asarray(scale, np.float32).reshape(-1, 1, 1, 1)
    path = tmp_path / "q.onnx"
    onnx.save(_quant_model(scale=scale), path)
    g = wqrc.load_model(str(path))
    pin = g.weight_formats["conv"]
    assert pin["regrid"] and pin["per_channel"] == (scale.size > 1) and any("re-gridded" in n for n in g.notes)
    qm = wqrc.quantize(g, input_range=(-1, 1), act_rule="max")
    layer = qm.layers["conv"]
    w = numpy_helper.to_array(onnx.load(path).graph.initializer[0]).astype(np.float64)
    theirs = np.clip(np.round(w / scale), -7, 7) * scale           # the model's own weights (narrow, 4 bits)
    err = np.linalg.norm(layer.dequantized() - theirs) / np.linalg.norm(theirs)
    assert err < 0.01 and layer.bits > 4, (err, layer.bits)


def test_regridding_picks_the_fewest_bits_within_one_percent():
    from wqrc.quant.regrid import regrid
    ternary = np.array([[-0.1, 0.0, 0.1, 0.1]])
    pin = regrid(ternary, 2, per_channel=False)
    assert pin["bits"] == 5 and pin["exponents"] == [-7] and pin["widened_from"] == 2   # 13 * 2^-7 = 0.1016
    exact = np.array([[-0.25, 0.125, 0.0, 0.375]])                                      # k * 2^-3, |k| <= 3
    pin = regrid(exact, 3, per_channel=False)
    assert pin["bits"] == 3 and pin["exponents"] == [-3] and pin["regrid_db"] == float("inf")
    per_channel = regrid(np.array([[0.5, -0.25], [0.03, 0.01]]), 4, per_channel=True, widen=False)
    assert per_channel["exponents"] == [-3, -7] and per_channel["bits"] == 4   # 0.03 ~ 4 * 2^-7, 0.01 ~ 2^-7


def test_a_power_of_two_weight_quantizer_fixes_the_layers_level_set(tmp_path):
    path = tmp_path / "q.onnx"
    onnx.save(_quant_model(scale=np.asarray([0.125, 0.25], np.float32).reshape(2, 1, 1, 1)), path)
    g = wqrc.load_model(str(path))
    assert g.weight_formats["conv"] == {"scheme": "dfp", "bits": 4, "exponents": [-3, -2]}
    assert g.act_formats["x"] == (True, 8, -3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = wqrc.quantize(g, scheme="po2", bits=2, input_range=(-1, 1))
    layer = qm.layers["conv"]
    assert layer.scheme == "dfp" and layer.bits == 4 and list(layer.exponents) == [-3, -2]
    w = numpy_helper.to_array(onnx.load(path).graph.initializer[0]).astype(np.float64)
    scale = np.array([0.125, 0.25]).reshape(2, 1, 1, 1)
    assert np.array_equal(layer.dequantized(), np.clip(np.round(w / scale), -7, 7) * scale)


# -- Brevitas: a quantization-aware training library's own export -------------------------------

def _brevitas_model(per_channel: bool):
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas", reason="pip install brevitas onnxoptimizer (the Brevitas import judge)")
    pytest.importorskip("onnxoptimizer", reason="pip install onnxoptimizer (Brevitas's QONNX export needs it)")
    import brevitas.nn as qnn
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerChannelFixedPointMSE,
                                Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint)
    from brevitas.quant.scaled_int import Int32Bias

    wq = Int8WeightPerChannelFixedPointMSE if per_channel else Int8WeightPerTensorFixedPoint

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
            self.c1 = qnn.QuantConv2d(1, 8, 3, padding=1, weight_quant=wq, weight_bit_width=4, bias=True,
                                      bias_quant=Int32Bias, return_quant_tensor=True)
            self.r1 = qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4, return_quant_tensor=True)
            self.pool = torch.nn.MaxPool2d(2)
            self.c2 = qnn.QuantConv2d(8, 8, 3, padding=1, weight_quant=wq, weight_bit_width=4, bias=True,
                                      bias_quant=Int32Bias, return_quant_tensor=True)
            self.r2 = qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(8 * 4 * 4, 10, weight_quant=Int8WeightPerTensorFixedPoint, bias=True,
                                      bias_quant=Int32Bias, output_quant=Int8ActPerTensorFixedPoint)

        def forward(self, x):
            x = self.r2(self.c2(self.pool(self.r1(self.c1(self.inp(x))))))
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    net = Net().train()
    with torch.no_grad():  # let the activation quantizers settle their scales
        for _ in range(10):
            net(torch.rand(16, 1, 8, 8))
    return net.eval(), torch


def _contract_rounding(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same QONNX model with every activation quantizer rounding as wqrc's contract does:
    half away from zero at the input, floor(v + 1/2) at every requantization (docs/format.md §3)."""
    m = copy.deepcopy(model)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    nodes = []
    for n in m.graph.node:
        if n.op_type == "Quant" and n.input[0] not in inits:
            first = n.input[0] == m.graph.input[0].name
            for a in n.attribute:
                if a.name == "rounding_mode":
                    a.s = b"HALF_UP" if first else b"FLOOR"
            if not first:
                half, added = n.output[0] + "_half", n.output[0] + "_plus_half"
                m.graph.initializer.append(numpy_helper.from_array(
                    np.asarray(inits[n.input[1]] / 2, np.float32), half))
                nodes.append(helper.make_node("Add", [n.input[0], half], [added]))
                n.input[0] = added
        nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return m


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
def test_a_brevitas_model_imports_with_its_own_integers(tmp_path, per_channel):
    net, torch = _brevitas_model(per_channel)
    pytest.importorskip("qonnx", reason="pip install qonnx")
    from brevitas.export import export_qonnx

    path = str(tmp_path / "brevitas.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(net, torch.rand(1, 1, 8, 8), export_path=path)
        g = wqrc.load_model(path)
        qm = wqrc.quantize(g, act_bits=8, input_range=(0, 1))
    # the weights: Brevitas's integers are wqrc's codes, at Brevitas's scales
    layers = [qm.layers[n.name] for n, _ in qm.weighted()]
    for layer, mod in zip(layers, (net.c1, net.c2, net.fc)):
        qt = mod.quant_weight()
        assert np.array_equal(layer.multipliers, qt.int().detach().numpy().astype(np.int64))
        assert np.allclose(np.ldexp(1.0, layer.exponents), qt.scale.detach().numpy().reshape(-1))
    assert layers[0].per_channel == per_channel
    # with calibration data the default rule is output: it must keep the model's own exponents too
    qc = wqrc.quantize(g, act_bits=8, calib=np.random.default_rng(0).uniform(0, 1, (64, 1, 8, 8)).astype(np.float32))
    for layer in layers:
        np.testing.assert_array_equal(qc.layers[layer.name].exponents, layer.exponents)
    # the formats: 4-bit unsigned after each ReLU, as Brevitas quantized them
    assert {(f.signed, f.bits) for f in (qm.formats[n.output] for n, _ in qm.weighted()[:2])} == {(False, 4)}

    # Brevitas's activation quantizers round ties to even (ROUND): so do the layers that write them
    assert {l.rounding for l in layers} == {"half_even"}
    x = torch.rand(48, 1, 8, 8)
    xs = x.numpy()
    with torch.no_grad():
        theirs = net(x).numpy()
    model = onnx.load(path)
    assert np.array_equal(_qonnx_run(model, xs).reshape(theirs.shape), theirs)  # qonnx's executor is Brevitas
    for path_ in ("auto", "object"):  # onnxruntime's Round, and the NumPy kernels' rshift_round_even
        ours = qm.dequantize_output(simulate(qm, qm.quantize_input(xs), path=path_))
        assert np.array_equal(ours.reshape(theirs.shape), theirs), path_
    # the same model with the contract's rounding everywhere (ties up) imports with half-up layers
    contract = tmp_path / "contract.onnx"
    onnx.save(_contract_rounding(model), str(contract))
    qc = wqrc.quantize(wqrc.load_model(str(contract)), act_bits=8, input_range=(0, 1))
    assert {l.rounding for l in qc.layers.values()} == {"half_up"}
    ours = qc.dequantize_output(simulate(qc, qc.quantize_input(xs)))
    assert np.array_equal(_qonnx_run(_contract_rounding(model), xs).reshape(ours.shape), ours)


@needs.cc
def test_a_brevitas_import_compiles_to_c_that_matches_the_simulator(tmp_path):
    """Mixed activation widths (s8 input, u4 after each ReLU, s8 output) through the C target, UBSan on."""
    net, torch = _brevitas_model(False)
    from brevitas.export import export_qonnx

    from wqrc.compile import compile_model

    path = str(tmp_path / "brevitas.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(net, torch.rand(1, 1, 8, 8), export_path=path)
        qm = wqrc.quantize(wqrc.load_model(path), act_bits=8, input_range=(0, 1))
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c"], vectors=8)
    res = subprocess.run(["make", "-s", "-C", str(out / "c"), "run", UBSAN], capture_output=True, text=True)
    assert res.returncode == 0 and "PASS" in res.stdout, res.stdout + res.stderr


QKERAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def test_a_qkeras_model_converted_by_qonnx_gives_qkeras_outputs_exactly(tmp_path):
    """QKeras's own judge: a QKeras CNN (power-of-two quantizers, channels-last) converted by qonnx's
    converter, and QKeras's outputs on 32 inputs, made by tests/data/make_qkeras_model.py (TensorFlow
    is not a test dependency, so its outputs are stored beside the model). Every quantizer rounds
    with ROUND, so wqrc's layers round ties to even; with ties up 60% of the outputs differ."""
    io = np.load(os.path.join(QKERAS, "qkeras_cnn_io.npz"))
    x, want = io["x"], io["y"]
    g = wqrc.load_model(os.path.join(QKERAS, "qkeras_cnn.onnx"))
    # the converter drops QKeras's input quantizer: the inputs are on its 8-bit grid, s8 f=-7
    qm = wqrc.quantize(g, act_bits=8, input_range=(-0.99, 0.99))
    assert qm.input_format.frac == -7
    assert {l.rounding for l in qm.layers.values()} == {"half_even"}
    for path_ in ("auto", "object"):
        got = qm.dequantize_output(simulate(qm, qm.quantize_input(x), path=path_))
        assert np.array_equal(got.reshape(want.shape), want), path_
    if needs.HAVE_CC:  # and the generated C, UBSan on, on the same inputs
        from wqrc.compile import compile_model
        compile_model(qm, str(tmp_path / "out"), ["c"], vectors=8, data=x[:8])
        res = subprocess.run(["make", "-s", "-C", str(tmp_path / "out" / "c"), "run", UBSAN],
                             capture_output=True, text=True)
        assert res.returncode == 0 and "PASS" in res.stdout, res.stdout + res.stderr


def _brevitas_as_trained():
    """A network as Brevitas users write it: the default float-scale quantizers (Int8 weights,
    Int8/Uint8 activations), QuantConv2d -> BatchNorm2d -> QuantReLU blocks, a constant-scale
    ternary layer, a binary (BipolarQuant) layer, and an average-pool head whose Int32Bias takes
    its scale from its input's."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas", reason="pip install brevitas onnxoptimizer (the Brevitas import judge)")
    pytest.importorskip("onnxoptimizer", reason="pip install onnxoptimizer (Brevitas's QONNX export needs it)")
    import brevitas.nn as qnn
    from brevitas.quant import (Int8ActPerTensorFloat, Int8WeightPerTensorFloat, SignedBinaryWeightPerTensorConst,
                                SignedTernaryWeightPerTensorConst, Uint8ActPerTensorFloat)
    from brevitas.quant.scaled_int import Int32Bias

    def block(cin, cout, wq, stride=1):
        return [qnn.QuantConv2d(cin, cout, 3, stride=stride, padding=1, weight_quant=wq, bias=False),
                torch.nn.BatchNorm2d(cout), qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)]

    net = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True),
        *block(1, 8, Int8WeightPerTensorFloat), *block(8, 16, SignedTernaryWeightPerTensorConst, 2),
        *block(16, 16, SignedBinaryWeightPerTensorConst), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        qnn.QuantLinear(16, 10, weight_quant=Int8WeightPerTensorFloat, bias=True, bias_quant=Int32Bias))
    torch.manual_seed(0)
    net.train()
    with torch.no_grad():   # let the activation quantizers and the BatchNorm statistics settle
        for _ in range(10):
            net(torch.rand(16, 1, 8, 8))
    return net.eval(), torch


@pytest.mark.slow
def test_brevitas_as_people_train_it_compiles_bit_exact_and_near_brevitas(tmp_path):
    net, torch = _brevitas_as_trained()
    import json
    import shutil
    from brevitas.export import export_qonnx
    from conftest import assert_rtl_sim_matches, make, wqrc as run
    from wqrc.quant.qmodel import QModel

    path = str(tmp_path / "brevitas.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(net, torch.rand(1, 1, 8, 8), export_path=path)
    assert {"BipolarQuant", "BatchNormalization", "Quant"} <= {n.op_type for n in onnx.load(path).graph.node}
    x = torch.rand(80, 1, 8, 8)
    np.savez(tmp_path / "cal.npz", x=x.numpy()[:64], y=np.zeros(64, np.int64))
    out = tmp_path / "out"
    res = run("compile", path, "--calib", str(tmp_path / "cal.npz"), "--target", "c,hls,rtl", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "against the QONNX model's own values" in res.stdout and "re-gridded" in res.stdout
    rep = json.loads((out / "report.json").read_text())
    ref = rep["health"].get("qonnx_reference")
    if isinstance(ref, dict):   # qonnx installed: the compile measured itself against the model's own values
        assert ref["output_relative_error"] < 0.05, ref
    qm = QModel.load(str(out / "model.wqrc.npz"))
    bits = {l.name: l.bits for l in qm.layers.values()}
    assert len(bits) == 4 and min(bits.values()) >= 2
    with torch.no_grad():
        theirs = net(x[64:]).numpy()
    ours = wqrc.simulate_float(qm, x[64:].numpy())
    assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 0.05
    for folder, target, extra in ((out / "c", "run", (UBSAN,)), (out / "hls", "csim", ())):
        r = make(folder, target, *extra)
        assert r.returncode == 0 and "bit-exact" in r.stdout, r.stdout + r.stderr
    if shutil.which("verilator"):
        assert_rtl_sim_matches(out / "rtl", qm)
