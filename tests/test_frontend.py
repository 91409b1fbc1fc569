"""Frontends: what today's exporters emit loads, matches onnxruntime in float, and bad input is named."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import wqrc
from wqrc.errors import WqrcError
from wqrc.ir.to_torch import run_float

from conftest import MODELS, build, export_bytes, make_onnx, ort_run


def _float_matches_ort(path_or_bytes, graph, shape, atol=1e-5):
    x = np.random.default_rng(0).uniform(-1, 1, (2,) + tuple(shape)).astype(np.float32)
    ref = ort_run(path_or_bytes, x)
    got = run_float(graph, x)
    if graph.notes and "Softmax" in graph.notes[0]:
        got = torch.softmax(torch.from_numpy(got), 1).numpy()
    np.testing.assert_allclose(got, ref, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dynamo", [False, True])
def test_exported_models_load_and_match_ort(name, dynamo, tmp_onnx):
    m, shape = build(name)
    data = export_bytes(m, shape, dynamo=dynamo, opset=18 if dynamo else 17)
    g = wqrc.load_model(tmp_onnx("m.onnx", data))
    assert not any(n.op in ("batchnorm", "identity", "softmax") for n in g.nodes)
    _float_matches_ort(data, g, shape)


@pytest.mark.parametrize("opset", [11, 12, 13, 15, 17, 20])
def test_legacy_exporter_opsets_without_constant_folding(opset, tmp_onnx):
    m, shape = build("residual")
    data = export_bytes(m, shape, opset=opset, fold=False)  # keeps BatchNormalization nodes
    assert any(n.op_type == "BatchNormalization" for n in onnx.load_from_string(data).graph.node)
    g = wqrc.load_model(tmp_onnx("m.onnx", data))
    assert [n.op for n in g.nodes].count("add") == 1
    _float_matches_ort(data, g, shape)


def test_external_data_weights(tmp_path):
    m, shape = build("plain")
    model = onnx.load_from_string(export_bytes(m, shape))
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.bin", size_threshold=0)
    assert (tmp_path / "ext.bin").stat().st_size > 0
    g = wqrc.load_model(str(path))
    _float_matches_ort(str(path), g, shape)


def test_from_torch_and_torchscript(tmp_path):
    m, shape = build("depthwise")
    g1 = wqrc.from_torch(m, torch.rand((1,) + shape))
    path = tmp_path / "m.pt"
    torch.jit.trace(m, torch.rand((1,) + shape)).save(str(path))
    g2 = wqrc.load_model(str(path), input_shape=shape)
    x = np.random.default_rng(1).uniform(-1, 1, (4,) + shape).astype(np.float32)
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_float(g1, x), ref, atol=1e-5)
    np.testing.assert_allclose(run_float(g2, x), ref, atol=1e-5)
    with pytest.raises(WqrcError, match="--input-shape"):
        wqrc.load_model(str(path))


def _inp(name="x", shape=(None, 3, 6, 6)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _out(name="y"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def test_gemm_alpha_beta_trans_and_matmul_add(tmp_onnx):
    rng = np.random.default_rng(0)
    w1, c1 = rng.normal(size=(4, 6)), rng.normal(size=(4,))  # transB=1: B is [out, in]
    w2, c2 = rng.normal(size=(4, 5)), rng.normal(size=(5,))  # MatMul: [in, out]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "c1"], ["h"], name="gemm", alpha=0.5, beta=2.0, transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "c2"], ["y"], name="bias"),
    ]
    model = make_onnx(nodes, [_inp(shape=(None, 6))], [_out()],
                      [_init("w1", w1), _init("c1", c1), _init("w2", w2), _init("c2", c2)])
    data = model.SerializeToString()
    g = wqrc.load_model(tmp_onnx("g.onnx", data))
    assert [n.op for n in g.nodes] == ["dense", "dense"] and g.nodes[0].attrs["clip"] == (0.0, None)
    _float_matches_ort(data, g, (6,))


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad_and_pool_ceil_mode(auto_pad, tmp_onnx):
    w = np.random.default_rng(0).normal(size=(4, 3, 2, 2))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", auto_pad=auto_pad, strides=[2, 2]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["r"], name="relu6"),
        helper.make_node("MaxPool", ["r"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    ]
    model = make_onnx(nodes, [_inp(shape=(None, 3, 7, 7))], [_out()],
                      [_init("w", w), _init("lo", 0.0), _init("hi", 6.0)])
    data = model.SerializeToString()
    g = wqrc.load_model(tmp_onnx("p.onnx", data))
    _float_matches_ort(data, g, (3, 7, 7))


def test_reducemean_without_keepdims_becomes_gap_and_flatten(tmp_onnx):
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=0)]
    model = make_onnx(nodes, [_inp()], [_out()], [numpy_helper.from_array(np.array([2, 3], np.int64), "axes")],
                      opset=18)
    data = model.SerializeToString()
    g = wqrc.load_model(tmp_onnx("r.onnx", data))
    assert [n.op for n in g.nodes] == ["global_avgpool", "flatten"]
    _float_matches_ort(data, g, (3, 6, 6))


def test_unsupported_op_is_one_short_line_naming_the_node_and_pointing_to_the_op_list(tmp_onnx):
    nodes = [helper.make_node("LRN", ["x"], ["y"], name="squash", size=3)]
    path = tmp_onnx("s.onnx", make_onnx(nodes, [_inp()], [_out()]).SerializeToString())
    with pytest.raises(WqrcError, match=r"node 'squash': op type 'LRN' is not supported.*docs/onnx_ops.md") as e:
        wqrc.load_model(path)
    assert "\n" not in str(e.value) and len(str(e.value)) < 160, str(e.value)


def test_the_op_list_in_the_docs_names_every_onnx_op_the_importer_converts():
    """docs/onnx_ops.md is the one list a refusal points to: every converter method (op_<Type>)
    and every lookup-table op must appear there as `Type`."""
    import re
    from wqrc.frontend import onnx as front
    doc = (Path(__file__).parent.parent / front.OPS_DOC).read_text()
    listed = set(re.findall(r"`([A-Z][A-Za-z]+)`", doc))
    handled = {n[3:] for n in dir(front._Converter) if n.startswith("op_") and n[3].isupper()}
    handled |= set(front._LOOKUP_BY_ONNX)
    assert handled - listed == set(), f"{front.OPS_DOC} lacks {sorted(handled - listed)}"


def test_dynamic_non_batch_dim_is_an_error(tmp_onnx):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    path = tmp_onnx("d.onnx", make_onnx(nodes, [_inp(shape=("n", 3, "h", 6))], [_out()]).SerializeToString())
    with pytest.raises(WqrcError, match="dynamic dimension 2"):
        wqrc.load_model(path)


def test_corrupt_and_truncated_files(tmp_onnx, tmp_path):
    m, shape = build("plain")
    data = export_bytes(m, shape)
    with pytest.raises(WqrcError, match="not a readable ONNX model"):
        wqrc.load_model(tmp_onnx("t.onnx", data[: len(data) // 3]))
    with pytest.raises(WqrcError, match="not a readable ONNX model"):
        wqrc.load_model(tmp_onnx("c.onnx", b"\x00garbage" * 50))
    with pytest.raises(WqrcError, match="no such file"):
        wqrc.load_model(str(tmp_path / "missing.onnx"))


def test_reshape_beyond_three_extents_is_rejected(tmp_onnx):
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="shuffle")]
    model = make_onnx(nodes, [_inp()], [_out()], [numpy_helper.from_array(np.array([-1, 3, 6, 3, 2], np.int64), "s")])
    with pytest.raises(WqrcError, match="node 'shuffle'.*at most 3 extents"):
        wqrc.load_model(tmp_onnx("r.onnx", model.SerializeToString()))


def test_softmax_in_the_middle_is_rejected(tmp_onnx):
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="sm", axis=1),
             helper.make_node("Relu", ["s"], ["y"], name="r")]
    with pytest.raises(WqrcError, match="only a trailing softmax"):
        wqrc.load_model(tmp_onnx("s.onnx", make_onnx(nodes, [_inp()], [_out()]).SerializeToString()))


class _ViewFlatten(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.size(0), -1))


@pytest.mark.parametrize("dynamo", [False, True])
def test_dynamic_batch_view_flatten_is_folded(dynamo, tmp_onnx):
    torch.manual_seed(0)
    m = _ViewFlatten().eval()
    data = export_bytes(m, (2, 6, 6), dynamo=dynamo, opset=18 if dynamo else 13)
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    if not dynamo:
        assert "Shape" in ops and "Reshape" in ops  # x.size(0) with a dynamic batch: shape arithmetic
    g = wqrc.load_model(tmp_onnx("v.onnx", data))
    assert [n.op for n in g.nodes] == ["conv", "flatten", "dense"]
    _float_matches_ort(data, g, (2, 6, 6))


def _old_opset_cnn(opset: int) -> onnx.ModelProto:
    """Conv -> BatchNormalization -> Clip (min/max attributes, as before opset 11) -> MaxPool ->
    Flatten -> Gemm, written in ``opset`` as older Keras/TF and Caffe2 exporters did."""
    rng = np.random.default_rng(opset)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(v, n) for n, v in (
        ("w", f(4, 2, 3, 3)), ("b", f(4)), ("scale", 1 + 0.2 * f(4)), ("shift", f(4)), ("mean", 0.1 * f(4)),
        ("var", 1 + np.abs(f(4))), ("fw", f(5, 4 * 3 * 3)), ("fb", f(5)))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"], epsilon=1e-5),
             helper.make_node("Clip", ["n"], ["r"], min=0.0, max=6.0),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["fl"], axis=1),
             helper.make_node("Gemm", ["fl", "fw", "fb"], ["y"], transB=1)]
    return make_onnx(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 6, 6])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])], inits, opset=opset)


@pytest.mark.parametrize("opset", [7, 8, 9, 10])
def test_opsets_7_to_10_are_upgraded_and_say_so(opset, tmp_onnx):
    from wqrc.frontend.onnx import OpsetUpgradeWarning
    model = _old_opset_cnn(opset)
    onnx.checker.check_model(model)
    path = tmp_onnx(f"old{opset}.onnx", model.SerializeToString())
    with pytest.warns(OpsetUpgradeWarning, match=rf"old{opset}\.onnx: opset {opset} upgraded to 11"):
        g = wqrc.load_model(path)
    assert [n.op for n in g.nodes] == ["conv", "maxpool", "flatten", "dense"]   # BN folded, clip fused
    assert g.nodes[0].attrs["clip"] == (0.0, 6.0)                             # the attribute-form Clip kept
    _float_matches_ort(model.SerializeToString(), g, (2, 6, 6))   # onnxruntime runs the original opset


def test_opsets_before_7_are_refused_in_one_line(tmp_onnx):
    model = _old_opset_cnn(7)
    model.opset_import[0].version = 6
    res = subprocess.run([sys.executable, "-m", "wqrc", "inspect", tmp_onnx("six.onnx", model.SerializeToString()),
                          "--scheme", "dfp", "--bits", "8"], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "six.onnx: opset 6 is not supported (supported: 7.." in res.stderr


def _padded_cnn(opset: int, pad_value: float = 0.0, mode: str = "constant", reader: str = "Conv", relu: bool = True):
    """Keras/TF-style 'same' padding at stride 2: explicit Pad nodes (one asymmetric) before Convs."""
    rng = np.random.default_rng(3)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(v, n) for n, v in (
        ("w1", f(4, 2, 3, 3)), ("w2", f(3, 4, 2, 2)), ("fw", f(5, 3 * 4 * 4)), ("fb", f(5)),
        ("p1", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), ("p2", np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64)),
        ("v", np.array(pad_value, np.float32)))]
    second = (helper.make_node("Conv", ["q", "w2"], ["c2"], kernel_shape=[2, 2]) if reader == "Conv"
              else helper.make_node(reader, ["q"], ["c2"], kernel_shape=[2, 2]))
    if reader != "Conv":  # a pool keeps 4 channels
        inits[2] = numpy_helper.from_array(f(5, 4 * 4 * 4), "fw")
    nodes = [helper.make_node("Pad", ["x", "p1", "v"], ["p"], mode=mode),
             helper.make_node("Conv", ["p", "w1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("Relu" if relu else "Identity", ["c1"], ["r"]),
             helper.make_node("Pad", ["r", "p2", "v"], ["q"], mode=mode),
             second,
             helper.make_node("Flatten", ["c2"], ["fl"], axis=1),
             helper.make_node("Gemm", ["fl", "fw", "fb"], ["y"], transB=1)]
    return make_onnx(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 7, 7])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])], inits, opset=opset)


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_zero_pad_before_conv_folds_into_its_pads(opset, tmp_onnx):
    model = _padded_cnn(opset)
    onnx.checker.check_model(model)
    g = wqrc.load_model(tmp_onnx("pad.onnx", model.SerializeToString()))
    convs = [n for n in g.nodes if n.op == "conv"]
    assert [tuple(n.attrs["pads"]) for n in convs] == [(1, 1, 1, 1), (0, 0, 1, 1)]
    _float_matches_ort(model.SerializeToString(), g, (2, 7, 7))


def test_zero_pad_before_an_average_pool_becomes_counted_padding(tmp_onnx):
    model = _padded_cnn(13, reader="AveragePool")
    g = wqrc.load_model(tmp_onnx("pad.onnx", model.SerializeToString()))
    pool = next(n for n in g.nodes if n.op == "avgpool")
    assert tuple(pool.attrs["pads"]) == (0, 0, 1, 1) and pool.attrs["count_include_pad"] == 1
    _float_matches_ort(model.SerializeToString(), g, (2, 7, 7))


def test_zero_pad_before_a_max_pool_of_a_relu_becomes_its_padding(tmp_onnx):
    model = _padded_cnn(13, reader="MaxPool")
    g = wqrc.load_model(tmp_onnx("pad.onnx", model.SerializeToString()))
    pool = next(n for n in g.nodes if n.op == "maxpool")
    assert tuple(pool.attrs["pads"]) == (0, 0, 1, 1)
    _float_matches_ort(model.SerializeToString(), g, (2, 7, 7))


@pytest.mark.parametrize("kw", [dict(pad_value=1.0), dict(reader="MaxPool", relu=False),
                                dict(pad_value=-0.5, reader="MaxPool")])
def test_pads_that_cannot_fold_are_pad_ops(kw, tmp_onnx):
    """A non-zero value, or zeros before a max pool of signed values: the pad op (docs/format.md §3g)."""
    model = _padded_cnn(13, **kw)
    g = wqrc.load_model(tmp_onnx("pad.onnx", model.SerializeToString()))
    assert [n.op for n in g.nodes].count("pad") >= 1
    _float_matches_ort(model.SerializeToString(), g, (2, 7, 7))


def test_other_pad_modes_are_refused_naming_the_node(tmp_onnx):
    model = _padded_cnn(13, mode="reflect")
    with pytest.raises(WqrcError, match="mode 'reflect': constant padding is supported"):
        wqrc.load_model(tmp_onnx("pad.onnx", model.SerializeToString()))
