"""The architectures users bring (wqrc.zoo: the MLPerf Tiny models and MobileNetV2-0.35), built in
torch with seeded random weights (no downloads), through every target and against the simulator,
and the simulator against onnxruntime's float run of the same export."""
import subprocess

import numpy as np
import pytest

import wqrc
from wqrc import zoo
from wqrc.compile import compile_model
from wqrc.frontend.torch import _export

import needs
from conftest import assert_rtl_sim_matches
from conftest import TARGET_RULE, UBSAN

pytestmark = pytest.mark.slow

MLPERF = ["ds_cnn", "resnet8", "mobilenet_v1_025", "mobilenet_v2_035", "autoencoder"]
REACH = MLPERF + ["shufflenet_v2_05"]   # and the architectures of later rounds


@pytest.fixture(scope="module")
def built():
    """name -> (graph, float ONNX model bytes, calibration inputs, test inputs), built once."""
    import torch

    cache = {}

    def get(name):
        if name not in cache:
            module, shape = zoo.build(name)
            x = np.random.default_rng(1).standard_normal((68,) + shape).astype(np.float32)
            onnx_bytes = _export(module, torch.from_numpy(x[:1]), name).SerializeToString()
            cache[name] = (wqrc.from_torch(module, x[:1]), onnx_bytes, x[:64], x[64:])
        return cache[name]
    return get


def _make(folder, target, *extra):
    return subprocess.run(["make", "-s", "-C", str(folder), target, *extra], capture_output=True, text=True,
                          timeout=600)


@needs.cc
@needs.cxx
@pytest.mark.parametrize("name", REACH)
@pytest.mark.parametrize("scheme,bits", [("dfp", 8), ("po2", 4)])
def test_zoo_model_through_c_and_hls_equals_the_simulator(tmp_path, built, name, scheme, bits):
    """The generated C (with undefined-behaviour checks) and the HLS C simulation, bit-exact."""
    g, _, calib, x = built(name)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["c", "hls"], vectors=4, data=x)
    for folder, target, extra in ((out / "c", "run", (UBSAN,)), (out / "hls", "csim", ())):
        res = _make(folder, target, *extra)
        assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]


@needs.verilator
@pytest.mark.parametrize("name", ["ds_cnn", "autoencoder", "shufflenet_v2_05"])
def test_zoo_model_through_the_rtl_equals_the_simulator(tmp_path, built, name):
    g, _, calib, x = built(name)
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8, calib=calib, exponent=TARGET_RULE)
    out = tmp_path / "out"
    compile_model(qm, str(out), ["rtl"], vectors=2, data=x, rtl_options=dict(lanes=4))
    assert_rtl_sim_matches(out / "rtl", qm)


@pytest.mark.parametrize("name", REACH)
def test_zoo_model_simulator_tracks_onnxruntime_float(built, name):
    """At DFP-8 weights and 16-bit activations the integer graph follows the float model: the
    largest output error is a small fraction of the output range (these random-weight models'
    error is larger than a trained model's: nothing was trained to be quantized)."""
    import onnxruntime as ort

    g, onnx_bytes, calib, x = built(name)
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=calib, exponent=TARGET_RULE)
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    got = wqrc.simulate_float(qm, x)
    err = np.abs(got - want).max() / np.abs(want).max()
    print(f"{name}: max error {err:.4f} of the output range")
    assert err < 0.05, err


@needs.arm
def test_shufflenet_on_the_cortex_m4_equals_the_simulator(tmp_path, built):
    """Channel split and shuffle on the MCU (QEMU, Cortex-M4 with the DSP kernels), bit-exact."""
    from conftest import assert_mcu_run_passes
    g, _, calib, x = built("shufflenet_v2_05")
    qm = wqrc.quantize(g, scheme="dfp", bits=8, act_bits=8, calib=calib, exponent=TARGET_RULE)
    assert_mcu_run_passes(tmp_path / "m4", qm, x, "cortex-m4")
