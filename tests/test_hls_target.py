"""The HLS target compiled with g++ and run: plain integer types, and Xilinx's ap_int.h."""
import re
import subprocess

import numpy as np
import pytest

import wqrc
from wqrc.backend.hls import generate_hls
from wqrc.pack import pack

import needs
from conftest import TARGET_RULE, cached_graph
from needs import AP_TYPES, HAVE_AP

pytestmark = needs.cxx
SCHEMES = [("dfp", b) for b in (2, 3, 4, 8, 16)] + [("po2", b) for b in (2, 3, 4, 5)]
def graph(name):
    return cached_graph(name, seed=5)


def generate(tmp_path, name, scheme, bits, act=8, **kw):
    g, shape = graph(name)
    calib = np.random.default_rng(2).uniform(-1, 1, (64,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=act, calib=calib, exponent=TARGET_RULE)
    out = tmp_path / f"{name}_{scheme}{bits}"
    info = generate_hls(qm, pack(qm), str(out), vectors=4, data=calib[:4], **kw)
    return qm, out, info


def make(out, target):
    return subprocess.run(["make", "-s", "-C", str(out), target, f"AP_TYPES={AP_TYPES}"],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("scheme,bits", SCHEMES)
def test_plain_and_ap_types_equal_simulator(tmp_path, scheme, bits):
    names = ["plain", "depthwise", "residual", "mlp"]
    name = names[SCHEMES.index((scheme, bits)) % 4]
    _, out, _ = generate(tmp_path, name, scheme, bits, parallelism="2")
    res = make(out, "csim")
    assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout + res.stderr
    if HAVE_AP:
        res = make(out, "csim-ap")
        assert res.returncode == 0 and "PASS: 4 test vectors" in res.stdout, res.stdout + res.stderr


@needs.ap_types
@pytest.mark.parametrize("io", ["array", "stream"])
@pytest.mark.parametrize("act", [4, 16])
def test_stream_interface_and_activation_widths(tmp_path, io, act):
    _, out, _ = generate(tmp_path, "residual", "po2", 4, act=act, io=io, parallelism="3")
    for target in ("csim", "csim-ap"):
        res = make(out, target)
        assert res.returncode == 0 and "PASS" in res.stdout, res.stdout + res.stderr


def _function_body(source: str, name: str) -> str:
    start = source.index(name + "(")
    start = source.index("{", start)
    depth, i = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        if depth == 0:
            return source[start:i + 1]
        i += 1


def test_po2_has_no_multiplier_and_dfp_accumulators_match_the_bound(tmp_path):
    qm, out, info = generate(tmp_path, "plain", "po2", 4)
    kernels = (out / "wqrc_hls.h").read_text()
    body = re.sub(r"//[^\n]*", "", _function_body(kernels, "po2_term"))
    assert "*" not in body and "<<" in body
    assert all(l["multipliers"] == 0 for l in info["layers"])
    qm, out, info = generate(tmp_path, "plain", "dfp", 4)
    top_h = (out / "wqrc_top.h").read_text()
    for (node, layer), rep in zip(qm.weighted(), info["layers"]):
        assert rep["acc_bits"] == layer.acc_bits <= 64
        # the generated config carries exactly that width
    widths = [int(w) for w in re.findall(r"ACC_BITS = (\d+);", top_h)]
    assert widths == [l.acc_bits for _, l in qm.weighted()]
    assert all(l["multipliers"] >= 1 for l in info["layers"])


def test_mismatch_is_reported_with_sample_and_element(tmp_path):
    _, out, _ = generate(tmp_path, "mlp", "dfp", 8)
    tb = (out / "tb.cpp").read_text()
    marker = "test_expected[4]["
    i = tb.index("{ ", tb.index(marker) + len(marker) + 10) + 2
    j = tb.index(",", i)
    (out / "tb.cpp").write_text(tb[:i] + str(int(tb[i:j]) + 1) + tb[j:])
    res = make(out, "csim")
    assert res.returncode != 0 and "FAIL: sample 0, element 0" in res.stdout


@pytest.mark.parametrize("name,scheme,bits,word_bits,par", [
    ("plain", "po2", 4, 32, "4"), ("plain", "dfp", 5, 32, "3"), ("depthwise", "dfp", 6, 8, "4"),
    ("residual", "po2", 3, 16, "2"), ("mlp", "dfp", 16, 8, "8")])
def test_the_stated_ii_holds_by_construction(tmp_path, name, scheme, bits, word_bits, par):
    """Every code one pipelined tap iteration reads lies in its lane's ROM slice and touches at most
    as many words as that ROM's ports serve in II cycles; the lanes' slices decode to the layer's codes;
    grouped convolutions (lanes would read different activations) get one lane."""
    from wqrc.backend.hls import _Context
    from wqrc.pack.rom import unpack_codes
    g, shape = graph(name)
    calib = np.random.default_rng(2).uniform(-1, 1, (16,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, calib=calib, exponent=TARGET_RULE)
    rom = pack(qm, word_bits)
    ctx = _Context(qm, rom, par)
    for cfg in ctx.convs:
        layer = qm.layers[next(n.name for n in qm.nodes if ctx.ids.get(n.name) == cfg["id"])]
        geo, p = cfg["geo"], cfg["parallel"]
        fan = geo["IN_C"] // geo["GROUP"] * geo["K_H"] * geo["K_W"]
        ports = 1 if cfg["rom_type"] == "rom_1p" else 2
        assert cfg["words_per_code"] <= ports * cfg["ii"]
        if geo["GROUP"] > 1:
            assert p == 1
        ocl = geo["OUT_C"] // p
        codes = layer.codes.reshape(geo["OUT_C"], fan)
        for lane in range(p):
            words = np.array([int(w.removesuffix("ULL"), 16) for w in cfg["rom"][lane]], dtype=np.uint64)
            for j in range(ocl):
                for t in range(fan):
                    pos = cfg["base"][lane] + (j * fan + t) * bits
                    touched = (pos % word_bits + bits - 1) // word_bits + 1
                    assert touched <= cfg["words_per_code"] and pos // word_bits + touched <= cfg["lane_words"]
            flat = unpack_codes(words, 1, len(words) * word_bits, word_bits)   # the slice's bits
            got = [int(sum(int(flat[cfg["base"][lane] + k * bits + i]) << i for i in range(bits)))
                   for k in range(ocl * fan)]
            assert got == codes[lane * ocl:(lane + 1) * ocl].reshape(-1).tolist()
