"""The simulator against onnxruntime (float) and against its own exact integer paths."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wqrc
from wqrc.ir.graph import Graph, Node, infer_shapes
from wqrc.ir.to_torch import run_float
from wqrc.contract.arith import avgpool_divisor, rshift_round
from wqrc.quant.qmodel import QModel
from wqrc.sim import fast as fast_exec, ort_exec
from wqrc.sim.simulator import chosen_path

from conftest import MODELS, build, export_bytes, ort_run
from fuzz_models import edge_inputs


@pytest.mark.parametrize("name", sorted(MODELS))
def test_16bit_activations_8bit_dfp_agree_with_onnxruntime(name, tmp_onnx):
    """Error stays within what the formats allow: a few output LSBs of activation rounding on
    top of 8-bit weight rounding, which we bound by rerunning ORT-equivalent float math with
    the dequantized weights."""
    m, shape = build(name)
    data = export_bytes(m, shape)
    g = wqrc.load_model(tmp_onnx("m.onnx", data))
    rng = np.random.default_rng(0)
    calib = rng.uniform(-1, 1, (256,) + shape).astype(np.float32)
    x = rng.uniform(-1, 1, (64,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=calib)
    ref = ort_run(data, x)
    got = wqrc.simulate_float(qm, x)
    if "residual" == name:  # the ONNX ends in softmax, the integer graph in logits
        got = np.exp(got - got.max(1, keepdims=True))
        got /= got.sum(1, keepdims=True)
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= 0.03 * scale, (np.abs(got - ref).max(), scale)

    # With the quantized weights in float, only activation rounding is left: a few LSBs.
    gq = g.copy()
    for n in gq.weighted_nodes():
        layer = qm.layers[n.name]
        n.params["weight"] = layer.dequantized().astype(np.float32)
        fx = qm.formats[n.inputs[0]].frac
        n.params["bias"] = (np.array(layer.bias, np.float64) * 2.0 ** (fx + layer.exponent)).astype(np.float32)
    fq = run_float(gq, x)
    lsb = 2.0 ** qm.output_format.frac
    got_logits = wqrc.simulate_float(qm, x)
    assert np.abs(got_logits - fq).max() <= max(64 * lsb, 1e-3 * np.abs(fq).max())


def test_trace_returns_every_tensor_and_ends_in_the_output():
    m, shape = build("residual")
    import torch
    g = wqrc.from_torch(m, torch.rand((1,) + shape))
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8, calib=np.random.rand(32, *shape).astype(np.float32))
    xq = qm.quantize_input(np.random.rand(5, *shape))
    env = wqrc.simulate(qm, xq, trace=True)
    assert set(env) == {qm.input} | {n.output for n in qm.nodes}
    for n in qm.nodes:
        f = qm.formats[n.output]
        assert env[n.output].dtype == np.int64 and f.qmin <= env[n.output].min() and env[n.output].max() <= f.qmax
    assert np.array_equal(env[qm.output], wqrc.simulate(qm, xq))


def test_save_load_roundtrip_is_bit_identical(tmp_path):
    m, shape = build("depthwise")
    import torch
    g = wqrc.from_torch(m, torch.rand((1,) + shape))
    g.act_rounding[g.weighted_nodes()[0].output] = "half_even"  # one layer rounds ties to even (§3)
    qm = wqrc.quantize(g, scheme="po2", bits=8, act_bits=16)  # 8-bit Po2: >64-bit accumulators
    p1, p2 = tmp_path / "a.wqrc.npz", tmp_path / "b.wqrc.npz"
    qm.save(str(p1))
    qm2 = QModel.load(str(p1))
    assert [l.rounding for l in qm2.layers.values()] == [l.rounding for l in qm.layers.values()]
    assert "half_even" in [l.rounding for l in qm2.layers.values()]
    qm2.save(str(p2))
    assert p1.read_bytes() == p2.read_bytes()
    xq = qm.quantize_input(np.random.default_rng(0).uniform(-1, 1, (6,) + shape))
    assert np.array_equal(wqrc.simulate(qm, xq), wqrc.simulate(qm2, xq))
    assert any(l.acc_bits > 64 for l in qm.layers.values())


def test_avgpool_divisor_matches_spec():
    assert avgpool_divisor(4) == (1, 2)
    assert avgpool_divisor(9) == (round(2 ** 20 / 9), 20)
    assert avgpool_divisor(49) == (round(2 ** 22 / 49), 22)
    assert rshift_round(np.array([-3, -2, -1, 1, 2, 3]), 1).tolist() == [-1, -1, 0, 1, 1, 2]
    assert rshift_round(np.array([5]), -2).tolist() == [20]


# --- fast paths vs exact paths on random models --------------------------------------------

def _random_graph(rng, kind: str, c: int) -> Graph:
    """A small conv/dense graph exercising groups, pads, pools, add, concat, clamps."""
    def conv(name, inp, out, cin, cout, k, group=1, stride=1, pad=1, dil=1, clip=(0.0, None)):
        w = rng.normal(size=(cout, cin // group, k, k)).astype(np.float32) * 0.4
        return Node("conv", name, [inp], out, dict(strides=(stride, stride), pads=(pad,) * 4,
                                                   dilations=(dil, dil), group=group, clip=clip),
                    dict(weight=w, bias=rng.normal(size=cout).astype(np.float32) * 0.2))
    nodes = [conv("c1", "x", "t1", c, 6, 3, clip=None)]
    if kind == "dw":
        nodes += [conv("dw", "t1", "t2", 6, 6, 3, group=6, stride=2),
                  conv("g", "t2", "t3", 6, 6, 3, group=3, pad=2, dil=2, clip=(0.0, 6.0)),
                  Node("avgpool", "ap", ["t3"], "t4", dict(kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1),
                                                           count_include_pad=0))]
    else:
        nodes += [conv("c2", "t1", "t2", 6, 6, 3, clip=None),
                  Node("add", "res", ["t1", "t2"], "t3", dict(clip=(0.0, None))),
                  Node("concat", "cat", ["t3", "t1"], "t4", {}),
                  Node("maxpool", "mp", ["t4"], "t5", dict(kernel=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0)))]
    last = nodes[-1].output
    nodes += [Node("global_avgpool", "gap", [last], "g", {}), Node("flatten", "fl", ["g"], "f", {})]
    feat = 6 if kind == "dw" else 12
    nodes.append(Node("dense", "fc", ["f"], "y", dict(clip=None),
                      dict(weight=rng.normal(size=(5, feat)).astype(np.float32),
                           bias=rng.normal(size=5).astype(np.float32))))
    return infer_shapes(Graph(nodes, "x", (c, 7, 7), "y"))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31), kind=st.sampled_from(["dw", "res"]),
       scheme_bits=st.sampled_from([("dfp", 2), ("dfp", 4), ("dfp", 8), ("dfp", 12), ("dfp", 16),
                                    ("po2", 2), ("po2", 3), ("po2", 5), ("po2", 6), ("po2", 7), ("po2", 8)]),
       act_bits=st.sampled_from([2, 4, 6, 8, 8, 10, 12, 16, 24, 32]), rule=st.sampled_from(["paper", "max", "mse"]),
       edge=st.sampled_from(["max", "min", "alternate", "random"]))
def test_fast_paths_equal_exact_integer_path(seed, kind, scheme_bits, act_bits, rule, edge):
    rng = np.random.default_rng(seed)
    g = _random_graph(rng, kind, 2)
    scheme, bits = scheme_bits
    calib = rng.uniform(-1, 1, (16, 2, 7, 7)).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act_bits, exponent=rule, calib=calib)
    xq = edge_inputs(qm.input_format, (4, 2, 7, 7), edge, rng)
    fast = wqrc.simulate(qm, xq, trace=True)
    exact = wqrc.simulate(qm, xq, trace=True, path="object")
    for t in exact:
        assert np.array_equal(fast[t], exact[t]), t
    # whole-model executors (onnxruntime lowering, torch) where they can prove exactness
    assert np.array_equal(wqrc.simulate(qm, xq), exact[qm.output])
    if ort_exec.lower(qm) is not None:
        assert np.array_equal(wqrc.simulate(qm, xq, path="ort"), exact[qm.output])
    every = ort_exec.lower(qm, "all")  # QLinearConv wherever exact, not only where it pays
    if every is not None:
        assert np.array_equal(ort_exec.OrtExecutor(every)(xq), exact[qm.output])
    if fast_exec.eligible(qm):
        trace_t = wqrc.simulate(qm, xq, path="torch", trace=True)
        for t in exact:
            assert np.array_equal(trace_t[t], exact[t]), t
    if all(l.acc_bits <= 64 for l in qm.layers.values()):
        i64 = wqrc.simulate(qm, xq, trace=True, path="int64")
        for t in exact:
            assert np.array_equal(i64[t], exact[t]), t


@pytest.mark.parametrize("offset_in,offset_out", [(0, 0), (128, 128), (0, 128), (128, 0)])
def test_qlinearconv_requantizes_every_accumulator_as_the_contract(offset_in, offset_out):
    """onnxruntime's QLinearConv with the lowering's tie-breaking scale (ort_exec._qlinear),
    run on this machine's kernels: every accumulator value from below the output range to
    beyond it (each tie included) at every shift the lowering allows, for unsigned and signed
    inputs and outputs (uint8 codes with offsets 0 and 128), against sat(rshift_round(.))."""
    for s in range(-3, ort_exec.QL_MAX_SHIFT + 1):
        assert ort_exec.qlinear_mismatches(s, offset_in, offset_out) == 0, s


def test_a_qlinearconv_that_rounds_otherwise_is_not_used(monkeypatch):
    """The lowering probes onnxruntime's QLinearConv once (ort_exec._qlinear_rounds_as_the_contract):
    with the tie-breaking factor gone it rounds ties to even, the probe sees it, a warning says
    so, and every layer runs as a float32 Conv, still exact."""
    g = wqrc.load_model("examples/allcnn_c.onnx")
    rng = np.random.default_rng(4)
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8, calib=rng.uniform(0, 1, (16, 1, 28, 28)).astype(np.float32))
    monkeypatch.setattr(ort_exec, "QL_EPS", 0.0)
    monkeypatch.setattr(ort_exec, "_PROBED", [])
    qm.runtime_cache.clear()
    with pytest.warns(RuntimeWarning, match="QLinearConv does not requantize"):
        assert ort_exec._qlinear_plan(qm) == {}
    assert chosen_path(qm) == "onnxruntime float32"
    xq = edge_inputs(qm.input_format, (4, 1, 28, 28), "random", rng)
    assert np.array_equal(wqrc.simulate(qm, xq), wqrc.simulate(qm, xq, path="int64"))


@pytest.mark.parametrize("scheme,bits,vnni", [("dfp", 8, None), ("dfp", 8, False), ("po2", 4, False), ("dfp", 3, None)])
def test_large_layers_run_as_qlinearconv_and_stay_exact(monkeypatch, scheme, bits, vnni):
    """All-CNN-C's layers from the second on are large enough for QLinearConv to pay
    (ort_exec.QL_MIN_MACS); the first (one input channel) stays a float32 Conv, and the head's
    signed output takes the offset codes. Weights beyond 64 in magnitude take it only where the
    CPU sums u8 x s8 in int32 (VNNI; vnni False: as on a CPU without, where VPMADDUBSW would
    saturate). Equal to the NumPy kernels at the input format's edges and on random inputs."""
    if vnni is not None:
        monkeypatch.setattr(ort_exec, "_wide_weights_exact", lambda: vnni)
    wide = ort_exec._wide_weights_exact()
    g = wqrc.load_model("examples/allcnn_c.onnx")
    rng = np.random.default_rng(4)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=rng.uniform(0, 1, (16, 1, 28, 28)).astype(np.float32))
    qm.runtime_cache.clear()
    plan = ort_exec._qlinear_plan(qm)
    narrow = {n for n, l in qm.layers.items() if np.abs(l.aligned().multipliers).max() <= ort_exec.QL_SAFE_WEIGHT}
    assert "conv1" not in plan
    assert set(plan) == set(qm.layers) - {"conv1"} if wide else set(plan) <= narrow, (plan, narrow)
    if plan:
        assert chosen_path(qm) == "onnxruntime float32/QLinearConv"
    xq = edge_inputs(qm.input_format, (6, 1, 28, 28), "random", rng)
    xq[0], xq[1] = qm.input_format.qmax, qm.input_format.qmin
    assert np.array_equal(wqrc.simulate(qm, xq), wqrc.simulate(qm, xq, path="int64"))


def test_input_codes_of_any_integer_type_give_the_same_outputs():
    """simulate keeps the codes in their own type (each executor converts once): every NumPy
    integer type that holds them gives the int64 result, on every executor."""
    from conftest import EXAMPLE
    from wqrc.data import load_dataset

    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    for act in (8, 16):
        qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=act, calib=ds.x_train[:64])
        xq = qm.quantize_input(ds.x_test[:20])
        want = wqrc.simulate(qm, xq, path="int64")
        for dt in (np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.uint64):
            if xq.max() <= np.iinfo(dt).max:
                for path in ("auto", "torch", "int64"):
                    assert np.array_equal(wqrc.simulate(qm, xq.astype(dt), path=path), want), (act, dt, path)


def test_every_torch_layer_plan_is_exact():
    """The torch executor's layer plans (direct float32/float64, two float32 input limbs, limbs
    of input and weights recombined in float64 or int64) each run on models that need them,
    with inputs at the format's edges, and equal the Python-integer reference."""
    seen = set()
    for i, (scheme, bits, act) in enumerate([("dfp", 8, 8), ("dfp", 8, 16), ("dfp", 4, 16), ("dfp", 12, 16),
                                             ("dfp", 16, 16), ("dfp", 8, 24), ("dfp", 16, 32), ("po2", 5, 16),
                                             ("po2", 6, 24), ("dfp", 2, 32), ("po2", 4, 32), ("po2", 6, 32),
                                             ("po2", 7, 32)]):
        for kind in ("dw", "res"):
            rng = np.random.default_rng(100 + i)
            g = _random_graph(rng, kind, 2)
            calib = rng.uniform(-1, 1, (16, 2, 7, 7)).astype(np.float32)
            qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib)
            if not fast_exec.eligible(qm):
                continue
            ex = fast_exec.FastExecutor(qm)
            seen |= {l.kind for l in ex.layers.values()}
            for edge in ("max", "min", "alternate"):
                xq = edge_inputs(qm.input_format, (3, 2, 7, 7), edge, rng)
                exact = wqrc.simulate(qm, xq, trace=True, path="object")
                got = ex(xq, trace=True)
                for t in exact:
                    assert np.array_equal(got[t], exact[t]), (scheme, bits, act, kind, edge, t)
    assert {"float32", "float32 2 limbs"} <= seen and {"float32 limbs", "float64 limbs"} & seen, seen
    assert {"float32 limbs, mod 2^64", "float64 limbs, mod 2^64"} & seen, seen  # accumulators beyond 2**63


def test_the_torch_executor_stays_exact_without_onednn():
    """Where oneDNN is absent (or off), torch convolves batches of 16 and more by NNPACK's fast
    transforms, which round even small integers (off by one here before the executor turned
    NNPACK off): the executor must then fall to the exact direct convolution."""
    import torch
    from conftest import EXAMPLE
    from wqrc.data import load_dataset

    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    for act in (8, 16):  # one float32 convolution per layer, and two input limbs
        qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=act, calib=ds.x_train[:256])
        xq = qm.quantize_input(ds.x_test[:64])
        with torch.backends.mkldnn.flags(enabled=False):
            got = fast_exec.FastExecutor(qm)(xq)
        assert np.array_equal(got, wqrc.simulate(qm, xq, path="int64")), act


def test_digits_8bit_dfp_loses_at_most_one_point(capsys):
    from conftest import EXAMPLE
    from wqrc.data import accuracy, load_dataset

    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=8, calib=ds.x_train[:512])
    acc_f = accuracy(run_float(g, ds.x_test), ds.y_test)
    acc_q = accuracy(wqrc.simulate_float(qm, ds.x_test), ds.y_test)
    with capsys.disabled():
        print(f"\ndigits test split: float {acc_f:.2%}, 8-bit DFP direct (8-bit activations) {acc_q:.2%}, "
              f"delta {acc_q - acc_f:+.2%}")
    assert acc_f > 0.9
    assert acc_q >= acc_f - 0.01


def test_every_executor_is_used_and_exact_on_the_example():
    """The digits example at 8/8 bits goes through onnxruntime, at 16-bit activations through
    torch float32 limbs, 16-bit weights at 32 through torch limbs recombined in int64, Po2-7 at
    32 bits (accumulators beyond int64) through NumPy's Python integers; all agree with the
    Python-integer reference."""
    from conftest import EXAMPLE
    from wqrc.data import load_dataset

    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    for scheme, bits, act, expect, path in (("dfp", 8, 8, "ort", "onnxruntime float32"),
                                            ("dfp", 4, 16, "torch", "float32 2 limbs"),
                                            ("dfp", 16, 32, "torch", "limbs"), ("po2", 7, 32, "numpy", "numpy")):
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=ds.x_train[:256])
        assert path in chosen_path(qm), chosen_path(qm)
        assert (ort_exec.lower(qm) is not None) == (expect == "ort")
        assert fast_exec.eligible(qm) == (expect != "numpy")
        xq = qm.quantize_input(ds.x_test)
        xq[:3] = qm.input_format.qmax  # edges of the input format
        xq[3:6] = qm.input_format.qmin
        assert np.array_equal(wqrc.simulate(qm, xq), wqrc.simulate(qm, xq, path="object"))
