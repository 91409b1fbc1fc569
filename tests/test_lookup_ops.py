"""Lookup-table activations (docs/format.md §3d): Sigmoid, Tanh, HardSigmoid, HardSwish and
LeakyRelu from torch and ONNX exports, through every simulator path, C (with undefined-behaviour
checks), HLS csim and the RTL in Verilator, element for element, and against the float model."""
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import wqrc
from wqrc.compile import compile_model
from wqrc.errors import WqrcError
from wqrc.ops import OPS
from wqrc.ops.lookup import LOOKUP_OPS, LUT_MAX_BITS
from wqrc.contract.formats import TensorFormat
from wqrc.sim import simulate

import needs
from conftest import TARGET_RULE, assert_rtl_sim_matches
from conftest import UBSAN, make

pytestmark = pytest.mark.slow


def _model():
    import torch
    from torch import nn

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Hardswish(), nn.Conv2d(8, 8, 3, padding=1), nn.Sigmoid(),
                      nn.Conv2d(8, 8, 3), nn.Tanh(), nn.Conv2d(8, 6, 1), nn.LeakyReLU(0.1), nn.Conv2d(6, 6, 1),
                      nn.Hardsigmoid(), nn.Flatten(), nn.Linear(6 * 6 * 6, 5)).eval()
    x = (torch.rand(40, 3, 8, 8) * 4 - 2)
    with torch.no_grad():
        want = m(x).numpy()
    return wqrc.from_torch(m, x[:1]), x.numpy(), want


GRAPH, X, WANT = _model()


def test_every_lookup_op_arrives_from_a_torch_export():
    assert [n.op for n in GRAPH.nodes if n.op in {op.name for op in LOOKUP_OPS}] == \
        ["hardswish", "sigmoid", "tanh", "leakyrelu", "hardsigmoid"]
    hs = next(n for n in GRAPH.nodes if n.op == "hardsigmoid")
    assert hs.attrs["alpha"] == pytest.approx(1 / 6)  # torch's, not ONNX's default 0.2
    assert next(n for n in GRAPH.nodes if n.op == "leakyrelu").attrs["alpha"] == pytest.approx(0.1)


@pytest.mark.parametrize("op", [op.name for op in LOOKUP_OPS])
@pytest.mark.parametrize("in_fmt,out_fmt", [(TensorFormat(True, 8, -4), TensorFormat(True, 8, -6)),
                                            (TensorFormat(False, 6, -3), TensorFormat(True, 10, -8))])
def test_the_table_is_the_rounded_function_of_every_input_code(op, in_fmt, out_fmt):
    from wqrc.ir.graph import Node
    node = Node(op, "n", ["x"], "y", OPS[op].with_defaults({}), {})
    table = OPS[op].table(node, in_fmt, out_fmt)
    assert len(table) == in_fmt.qmax - in_fmt.qmin + 1
    ref = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh,
           "hardsigmoid": lambda v: np.clip(0.2 * v + 0.5, 0, 1), "hardswish": lambda v: v * np.clip(v / 6 + 0.5, 0, 1),
           "leakyrelu": lambda v: np.where(v >= 0, v, 0.01 * v)}[op]
    for i, q in enumerate(range(in_fmt.qmin, in_fmt.qmax + 1)):
        y = ref(q * 2.0 ** in_fmt.frac) / 2.0 ** out_fmt.frac
        expect = min(max(int(np.sign(y) * np.floor(abs(y) + 0.5)), out_fmt.qmin), out_fmt.qmax)
        assert table[i] == expect, (op, q)


@pytest.mark.parametrize("act", [4, 8, 12, 16])
def test_every_simulator_path_agrees_and_tracks_the_float_model(act):
    qm = wqrc.quantize(GRAPH, scheme="dfp", bits=8, act_bits=act, calib=X, exponent=TARGET_RULE)
    xq = qm.quantize_input(X)
    ref = simulate(qm, xq, path="object")
    for path in ("auto", "torch", "int64", "float64"):
        np.testing.assert_array_equal(simulate(qm, xq, path=path), ref, err_msg=path)
    if act >= 8:
        err = np.abs(qm.dequantize_output(ref) - WANT).max() / np.abs(WANT).max()
        assert err < {8: 0.05, 12: 0.02, 16: 0.02}[act], err


def test_static_ranges_and_the_model_file(tmp_path):
    with pytest.warns(Warning):
        qm = wqrc.quantize(GRAPH, scheme="po2", bits=4, act_bits=8, input_range=(-2.0, 2.0))
    sig = next(n for n in qm.nodes if n.op == "sigmoid")
    assert not qm.formats[sig.output].signed  # sigmoid >= 0: unsigned output
    qm.save(str(tmp_path / "m.wqrc.npz"))
    back = wqrc.QModel.load(str(tmp_path / "m.wqrc.npz"))
    xq = qm.quantize_input(X)
    np.testing.assert_array_equal(simulate(back, xq), simulate(qm, xq))


def test_a_table_outside_its_format_is_refused_on_load(tmp_path):
    import json
    qm = wqrc.quantize(GRAPH, scheme="dfp", bits=8, act_bits=8, calib=X, exponent=TARGET_RULE)
    doc = qm.to_json()
    node = next(n for n in doc["nodes"] if n["op"] == "tanh")
    node["attrs"]["table"][3] = 10 ** 6
    arrays = {"model_json": np.frombuffer(json.dumps(doc).encode(), np.uint8)}
    for i, l in enumerate(qm.layers.values()):
        arrays[f"codes_{i}"] = l.codes.astype(np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(WqrcError, match=r"table.*output format"):
        wqrc.QModel.load(str(tmp_path / "bad.npz"))


def test_wide_activations_are_a_clear_error():
    with pytest.raises(WqrcError, match=rf"node '.*' \(hardswish\): a lookup-table activation needs an input of "
                                        rf"at most {LUT_MAX_BITS} bits"):
        wqrc.quantize(GRAPH, scheme="dfp", bits=8, act_bits=20, calib=X)


def test_onnx_attributes_and_defaults(tmp_path):
    """ONNX HardSigmoid's and LeakyRelu's defaults are the op definitions' (0.2, 0.5; 0.01)."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 6], np.random.default_rng(0).standard_normal(24).tolist())
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
             helper.make_node("HardSigmoid", ["h"], ["a"]), helper.make_node("LeakyRelu", ["a"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    graph = wqrc.load_model(str(path))
    hs, lr = (n for n in graph.nodes if n.op in ("hardsigmoid", "leakyrelu"))
    assert (hs.attrs["alpha"], hs.attrs["beta"], lr.attrs["alpha"]) == (0.2, 0.5, 0.01)
    bad = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
                             helper.make_node("LeakyRelu", ["h"], ["y"], alpha=float("nan"))], "g",
                            g.input, g.output, [w])
    onnx.save(helper.make_model(bad, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(WqrcError, match="alpha"):
        wqrc.load_model(str(path))


@needs.cc
@needs.cxx
@pytest.mark.parametrize("scheme,bits,act", [("po2", 4, 8), ("dfp", 8, 16), ("dfp", 4, 5)])
def test_c_and_hls_equal_the_simulator(tmp_path, scheme, bits, act):
    qm = wqrc.quantize(GRAPH, scheme=scheme, bits=bits, act_bits=act, calib=X, exponent=TARGET_RULE)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c", "hls"], vectors=5, data=X[:8])
    assert "wqrc_lut_" in (out / "c" / "wqrc_model.c").read_text()
    for folder, target, extra in ((out / "c", "run", (UBSAN,)), (out / "hls", "csim", ())):
        res = make(folder, target, *extra)
        assert res.returncode == 0 and "PASS: 5 test vectors" in res.stdout, res.stdout + res.stderr


@needs.arm
def test_cortex_m4_in_qemu_equals_the_simulator(tmp_path):
    qm = wqrc.quantize(GRAPH, scheme="po2", bits=4, act_bits=8, calib=X, exponent=TARGET_RULE)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c"], vectors=4, data=X[:8])
    res = make(out / "c", "mcu-run")
    assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout + res.stderr


@needs.verilator
@pytest.mark.parametrize("act", [8, 6])
def test_rtl_equals_the_simulator(tmp_path, act):
    qm = wqrc.quantize(GRAPH, scheme="po2", bits=4, act_bits=act, calib=X, exponent=TARGET_RULE)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["rtl"], vectors=3, data=X[:8], rtl_options=dict(lanes=2))
    assert_rtl_sim_matches(out / "rtl", qm)
    assert subprocess.run(["make", "-s", "-C", str(out / "rtl"), "lint"], capture_output=True).returncode == 0
