"""The RTL target (--target rtl) simulated by Verilator and synthesized by Yosys/nextpnr.

Every output element of the generated accelerator is compared with the
simulator, here in Python and in the test bench itself; the cycles it takes
per step are compared with the cycle model the report states; a fault put into
the hardware is found by `wqrc verify --trace`, down to the layer.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import needs
import wqrc
from conftest import TARGET_RULE, EXAMPLE, cached_graph, fault_located
from wqrc.compile import compile_model
from wqrc.errors import WqrcError

pytestmark = [needs.verilator, pytest.mark.slow]


def _compile(tmp_path, qm, lanes, x=None, **kw):
    out = tmp_path / f"out{lanes}"
    rep = compile_model(qm, str(out), ["rtl"], vectors=4, data=x, rtl_options=dict(lanes=lanes), **kw)
    return out, rep


def _sim(out) -> dict:
    res = subprocess.run(["make", "-s", "-C", str(out / "rtl"), "sim"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "PASS" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    with open(out / "rtl" / "sim.json") as fh:
        return json.load(fh)


def _check_against_simulator(qm, out, rep, sim):
    """The outputs the hardware streamed equal the simulator's, element for element; the cycles are the model's."""
    x = np.load(out / "rtl" / "inputs.npy")
    got = np.loadtxt(out / "rtl" / "sim_out.txt", dtype=np.int64).reshape(len(x), -1)
    want = wqrc.simulate(qm, x).reshape(len(x), -1)
    np.testing.assert_array_equal(got, want)
    assert sim["mismatches"] == 0 and sim["output_elements"] == want.size
    assert sim["cycles_per_inference"] == rep["rtl"]["cycles_per_inference"], (sim["step_cycles"], rep["rtl"])
    assert sim["compute_cycles"] == rep["rtl"]["compute_cycles"]


@pytest.fixture(scope="module")
def digits():
    from wqrc.data import load_dataset
    ds = load_dataset("digits")
    return wqrc.load_model(EXAMPLE), ds.x_train[:256], ds.split("test")[0][:4]


@pytest.mark.parametrize("scheme", ["po2", "dfp"])
@pytest.mark.parametrize("lanes", [1, 4])
def test_digits_at_4_bits_is_bit_exact_and_keeps_its_lanes_busy(tmp_path, digits, scheme, lanes):
    g, calib, x = digits
    qm = wqrc.quantize(g, scheme=scheme, bits=4, act_bits=8, calib=calib, exponent=TARGET_RULE)
    out, rep = _compile(tmp_path, qm, lanes, x)
    sim = _sim(out)
    _check_against_simulator(qm, out, rep, sim)
    macs = rep["rtl"]["macs"]
    assert macs == 117760
    # the target: within 1.2x of MACs / P (pools, requantization and the I/O included here)
    assert sim["cycles_per_inference"] <= 1.2 * macs / lanes, sim
    if scheme == "po2":
        assert rep["rtl"]["multipliers"] == 0


@pytest.mark.parametrize("name,scheme,bits,lanes", [
    ("residual", "po2", 4, 1), ("residual", "dfp", 4, 4), ("depthwise", "po2", 3, 4), ("depthwise", "dfp", 6, 1),
    ("plain", "dfp", 8, 2), ("mlp", "po2", 5, 3)])
def test_residual_depthwise_pooling_models_are_bit_exact(tmp_path, name, scheme, bits, lanes):
    """Residual add, concat, depthwise and grouped dilated convs, max/avg/global pools (padding counted
    and not), dense heads; codes that straddle ROM words (b = 3, 5, 6)."""
    g, shape = cached_graph(name, seed=5)
    calib = np.random.default_rng(2).uniform(-1, 1, (64,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, exponent=TARGET_RULE)
    out, rep = _compile(tmp_path, qm, lanes, calib[:4])
    _check_against_simulator(qm, out, rep, _sim(out))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_random_models_through_the_rtl_equal_the_integer_reference(tmp_path_factory, seed):
    import fuzz_models
    bad, ran = fuzz_models.differential(seed, tmp_path_factory.mktemp("rtl"), targets=("rtl",))
    assert not bad, bad


def test_generated_design_passes_verilator_lint(tmp_path, digits):
    g, calib, _ = digits
    qm = wqrc.quantize(g, scheme="po2", bits=4, calib=calib, exponent=TARGET_RULE)
    out, _ = _compile(tmp_path, qm, 4)
    res = subprocess.run(["make", "-s", "-C", str(out / "rtl"), "lint"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_fault_in_the_hardware_is_located_by_verify_trace(tmp_path, digits):
    g, calib, x = digits
    qm = wqrc.quantize(g, scheme="po2", bits=4, calib=calib, exponent=TARGET_RULE)
    out, _ = _compile(tmp_path, qm, 1, x)
    rtl = out / "rtl"
    bias = (rtl / "bias_s4.mem").read_text().split()   # conv3's biases (step 4, after the max pool)
    width = len(bias[0]) * 4
    bias[2] = format((int(bias[2], 16) + (1 << 12)) % (1 << width), f"0{len(bias[0])}x")
    (rtl / "bias_s4.mem").write_text("\n".join(bias) + "\n")
    res = fault_located(out)
    assert res.returncode == 1
    assert "verify: FAIL" in res.stdout and "first layer that differs: 'conv3' (conv)" in res.stdout, res.stdout


def test_codes_wider_than_rom_words_are_refused_naming_the_layer(tmp_path, digits):
    g, calib, _ = digits
    qm = wqrc.quantize(g, scheme="dfp", bits=12, calib=calib, exponent=TARGET_RULE)
    with pytest.raises(WqrcError, match=r"layer 'conv1': its 12-bit codes are wider than the 8-bit ROM words"):
        compile_model(qm, str(tmp_path / "o"), ["rtl"], word_bits=8)
    assert not (tmp_path / "o").exists()


@needs.yosys
@pytest.mark.skipif(not shutil.which("nextpnr-ice40"), reason="needs nextpnr-ice40 (apt-get install nextpnr-ice40 "
                                                              "fpga-icestorm)")
def test_digits_po2_fits_an_ice40_up5k_without_dsp_blocks(tmp_path, digits):
    """One small synthesis in CI: yosys synth_ice40 + nextpnr-ice40 --up5k, through --measure."""
    g, calib, _ = digits
    qm = wqrc.quantize(g, scheme="po2", bits=4, calib=calib, exponent=TARGET_RULE)
    out, rep = _compile(tmp_path, qm, 1, measure=["ice40"])
    ice = rep["rtl"]["measured"]["ice40"]
    assert ice["fits"] and ice["lc"] <= ice["lc_available"] and ice["ebr"] <= ice["ebr_available"]
    assert ice["dsp"] == 0                      # Po2 processing elements take no multiplier
    assert ice["fmax_mhz"] > 0 and ice["inferences_per_s"] == round(ice["fmax_mhz"] * 1e6
                                                                     / rep["rtl"]["cycles_per_inference"], 1)
    assert (out / "rtl" / "wqrc_top.asc").stat().st_size > 0 and not (out / "rtl" / "obj_dir").exists()
    saved = json.loads((out / "report.json").read_text())
    assert saved["rtl"]["measured"]["ice40"] == ice


def test_lane_roms_are_the_packers_words_unchanged(tmp_path, digits):
    """Each lane's ROM file holds words of OUT/rom/weights.mem as they are, from the word its first
    line names (then zero padding to the step's depth); together a step's lanes cover its segment."""
    import re

    from wqrc.pack.files import read_mem
    g, calib, _ = digits
    qm = wqrc.quantize(g, scheme="po2", bits=3, calib=calib, exponent=TARGET_RULE)   # 3-bit codes straddle 32-bit words
    out, _ = _compile(tmp_path, qm, 3)
    image = read_mem(str(out / "rom" / "weights.mem"))
    manifest = json.loads((out / "rom" / "manifest.json").read_text())
    files = sorted((out / "rtl").glob("rom_s*_l*.mem"))
    assert len(files) == 3 * len(manifest["layers"])
    covered = set()
    for f in files:
        head, *words = f.read_text().split("\n")
        m = re.search(r"(\d+) words from word (\d+) of \.\./rom/weights\.mem", head)
        count, first = int(m.group(1)), int(m.group(2))
        words = [int(w, 16) for w in words if w]
        assert words[:count] == [int(v) for v in image[first:first + count]], f.name
        assert not any(words[count:]), f.name
        covered.update(range(first, first + count))
    assert covered >= set(range(len(image)))
