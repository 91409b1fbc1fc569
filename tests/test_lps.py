"""Layer-wise precision scaling (docs/format.md §7)."""
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

import wqrc
from wqrc.data import Dataset, load_dataset
from wqrc.errors import WqrcError
from wqrc.plan_search import search_plan
from wqrc.search import best_equal_within, equal_bitwidth_curve

import needs
from conftest import ROOT
from conftest import assert_user_error, wqrc as run_wqrc

pytestmark = pytest.mark.slow

FASHION_MODEL = os.path.join(ROOT, "examples", "fashion_cnn.onnx")


def fig1_model():
    """The paper's Fig. 1 example: two layers of 600 and 900 weights."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 30)).eval()
    g = wqrc.from_torch(m, torch.rand(1, 20))
    x = np.random.default_rng(0).uniform(-1, 1, (600, 20)).astype(np.float32)
    with torch.no_grad():
        y = m(torch.from_numpy(x)).argmax(1).numpy()  # float accuracy 100% by construction
    return g, Dataset("fig1", x, y, x, y)


def search(g, ds, **kw):
    kw = dict(dict(scheme="dfp", max_drop=0.02, val_split=0.5, act_bits=16), **kw)
    return wqrc.api.precision_search(g, ds, **kw)


def test_the_bigger_layer_is_lowered_first():
    g, ds = fig1_model()
    layers = [n.name for n in g.weighted_nodes()]
    sizes = [n.weight.size for n in g.weighted_nodes()]
    assert sizes == [600, 900]
    res, _ = search(g, ds)
    assert res.steps[0].changed is None and res.steps[0].bits == {layers[0]: 8, layers[1]: 8}
    assert res.steps[1].changed == layers[1]  # 900 weights: saves the most bits
    for a, b in zip(res.steps, res.steps[1:]):  # every step lowers one layer by one bit
        diff = {n: a.bits[n] - b.bits[n] for n in layers}
        assert sorted(diff.values()) == [0, 1] and b.w_mem < a.w_mem
    assert all(s.delta_acc <= 0.02 + 1e-9 for s in res.steps)


def test_deterministic_and_ratio_criterion():
    g, ds = fig1_model()
    a, _ = search(g, ds)
    b, _ = search(g, ds)
    assert [s.bits for s in a.steps] == [s.bits for s in b.steps]
    r, _ = search(g, ds, criterion="ratio")
    assert r.steps[1].changed == a.steps[1].changed


def test_min_bits_and_start_plan_over_budget():
    g, ds = fig1_model()
    layers = [n.name for n in g.weighted_nodes()]
    res, _ = search(g, ds, start_bits=[3, 8], min_bits=3, max_drop=1.0)
    assert all(s.bits[layers[0]] == 3 for s in res.steps)  # already at --min-bits: never lowered
    assert res.final.bits[layers[1]] == 3 and "min-bits" in res.stopped_because
    res, _ = search(g, ds, scheme="po2", start_bits=2, max_drop=0.0)
    assert len(res.steps) == 1 and "already lose" in res.stopped_because
    with pytest.raises(WqrcError, match="--min-bits"):
        search(g, ds, min_bits=1)
    with pytest.raises(WqrcError, match="--val-split"):
        search(g, ds, val_split=1.5)


class FakeEvaluator:
    """Two layers of 100 and 300 weights; each bit below 8 costs a layer 1% (the big one 2%)."""
    scheme, layers, sizes, float_acc, evaluations = "dfp", ["a", "b"], {"a": 100, "b": 300}, 0.9, 0

    def accuracy(self, bits, changed=None):
        self.evaluations += 1
        return self.float_acc - 0.01 * (8 - bits["a"]) - 0.02 * (8 - bits["b"])

    commit = accuracy

    def w_mem(self, bits):
        return sum(self.sizes[n] * b for n, b in bits.items())


def test_min_cr_stops_at_the_ratio_and_gives_back_what_the_last_step_over_saved():
    from wqrc.search import layerwise_precision_scaling
    from wqrc.search.lps import CR_TOLERANCE

    res = layerwise_precision_scaling(FakeEvaluator(), max_drop=0.0, start_bits={"a": 8, "b": 8}, min_cr=10.67)
    # no accuracy limit (max_drop 0 would stop at once): the path lowers the small layer to 2 bits,
    # then the big one until CR >= 10.67, at (2, 3), W_mem 1100 (CR 11.64)
    first = next(i for i, s in enumerate(res.steps) if s.compression_ratio >= 10.67 - CR_TOLERANCE)
    assert res.steps[first].bits == {"a": 2, "b": 3} and res.steps[first].w_mem == 1100
    # then a goes back to 3 bits (W_mem 1200, CR 10.667, which 10.67 means as printed); b to 4 would not fit
    assert res.final.bits == {"a": 3, "b": 3} and res.final.accuracy > res.steps[first].accuracy
    assert len(res.steps) == first + 2 and "1 bit given back" in res.stopped_because
    assert res.plan_json()["search"]["min_cr"] == 10.67 and "max_drop" not in res.plan_json()["search"]
    with pytest.raises(WqrcError, match="--min-cr: 17 is out of reach.*CR 16.00"):   # all at 2 bits is CR 16
        layerwise_precision_scaling(FakeEvaluator(), max_drop=1.0, start_bits={"a": 8, "b": 8}, min_cr=17)


def test_min_cr_from_the_command_line(tmp_path):
    example = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    plan = tmp_path / "plan.json"
    res = run_wqrc("lps", example, "--data", "digits", "--min-cr", "12", "-o", str(plan))
    assert res.returncode == 0, res.stderr
    doc = json.loads(plan.read_text())
    final = doc["search"]["steps"][-1]
    assert final["compression_ratio"] >= 12 and doc["search"]["min_cr"] == 12
    assert {n: e["bits"] for n, e in doc["layers"].items()} == final["bits"]
    assert "reached --min-cr 12" in res.stdout
    for args, needle in ((["--min-cr", "17"], "--min-cr: 17 is out of reach"),
                         (["--min-cr", "12", "--max-drop", "0.01"], "give one budget"),
                         (["--min-cr", "12", "--method", "ranked"], "--min-cr: the ranked search")):
        out = tmp_path / "x.json"
        assert_user_error(run_wqrc("lps", example, "--data", "digits", *args, "-o", str(out)), needle)
        assert not out.exists()
    # compile --bits auto takes the same budget, and writes the same plan
    res = run_wqrc("compile", example, "--bits", "auto", "--min-cr", "12", "--data", "digits", "--target", "rom",
                   "-o", str(tmp_path / "auto"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "auto" / "plan.json").read_text())["layers"] == doc["layers"]
    for args, needle in ((["--bits", "auto", "--min-cr", "12", "--max-drop", "0.01"], "give one budget"),
                         (["--bits", "4", "--min-cr", "12"], "--min-cr is the budget of --bits auto")):
        assert_user_error(run_wqrc("compile", example, *args, "--data", "digits", "-o", str(tmp_path / "y")), needle)
        assert not (tmp_path / "y").exists()


@needs.fashion
def test_fashion_mnist_search_beats_equal_bitwidths(capsys):
    g = wqrc.load_model(FASHION_MODEL)
    res, ev = search(g, load_dataset("fashion-mnist"), max_drop=0.005, val_split=0.2, val_samples=2000, act_bits=8)
    equal = equal_bitwidth_curve(ev, range(8, 1, -1))
    best = best_equal_within(equal, 0.005)
    with capsys.disabled():
        print(f"\nfashion-mnist, DFP, max drop 0.5 points on 2000 validation samples: searched plan "
              f"{list(res.final.bits.values())} CR {res.final.compression_ratio:.2f} (dacc {res.final.delta_acc:+.4f}); "
              f"best equal bit-width {next(iter(best.bits.values()))} bits CR {best.compression_ratio:.2f} "
              f"(dacc {best.delta_acc:+.4f}); {res.evaluations} evaluations")
    assert res.final.delta_acc <= 0.005 + 1e-9
    assert res.final.compression_ratio > best.compression_ratio


def test_cli_plan_feeds_compile_and_bits_auto(tmp_path):
    example = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    plan = tmp_path / "plan.json"
    res = run_wqrc("lps", example, "--data", "digits", "--max-drop", "0.01", "-o", str(plan),
                   "--plot", str(tmp_path / "fig6.png"))
    assert res.returncode == 0, res.stderr
    doc = json.loads(plan.read_text())
    assert set(doc["layers"]) == {"conv1", "conv2", "conv3", "fc"} and doc["search"]["steps"]
    assert (tmp_path / "fig6.png").read_bytes()[:4] == b"\x89PNG"
    assert "best equal bit-width" in res.stdout and "CR" in res.stdout
    out = tmp_path / "out"
    res = run_wqrc("compile", example, "--bits", str(plan), "--calib", "digits", "--target", "rom", "-o", str(out))
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "rom" / "manifest.json").read_text())
    assert {l["name"]: l["bits"] for l in manifest["layers"]} == {n: e["bits"] for n, e in doc["layers"].items()}
    res = run_wqrc("compile", example, "--bits", "auto", "--max-drop", "0.01", "--data", "digits", "--target", "rom",
                   "-o", str(tmp_path / "auto"))
    assert res.returncode == 0 and "--bits auto" in res.stdout, res.stderr
    auto = json.loads((tmp_path / "auto" / "plan.json").read_text())
    assert set(auto["layers"]) == set(doc["layers"]) and "plan.json" in res.stdout
    assert json.loads((tmp_path / "auto" / "report.json").read_text())["plan"] == "plan.json"
    assert_user_error(run_wqrc("compile", example, "--bits", "auto", "--target", "rom", "-o", str(tmp_path / "x")),
                      "--bits auto needs")
    (tmp_path / "bad.json").write_text('{"layers": {"conv1": {"scheme": "dfp", "bits": 4}}}')
    assert_user_error(run_wqrc("compile", example, "--bits", str(tmp_path / "bad.json"), "-o", str(tmp_path / "y")),
                      "plan does not match the model", "conv2")


# --- Lin et al.'s SQNR allocation (wqrc/search/sqnr.py) --------------------------------------

def test_sqnr_allocation_is_lins_closed_form_on_straight_sqnr_curves():
    """Where every layer gains kappa dB per bit from the same intercept, the widths differ as
    10*log10(rho_j / rho_i) / kappa (Lin et al., eq. of section 4), to within the integer rounding."""
    from wqrc.search.sqnr import SqnrTable, allocate

    kappa, sizes = 6.0, {"a": 100, "b": 1600, "c": 25600, "d": 409600}
    table = SqnrTable("dfp", "mse", sizes, {n: {b: 1.0 + kappa * b for b in range(2, 17)} for n in sizes})
    for lam in (1e7, 1e9, 1e11):
        bits = allocate(table, lam)
        for i in sizes:
            for j in sizes:
                want = 10 * np.log10(sizes[j] / sizes[i]) / kappa
                assert abs((bits[i] - bits[j]) - want) <= 1.0, (lam, bits)
        assert bits["a"] > bits["d"]  # the small layer gets more bits


def test_sqnr_targets_are_met_and_monotone():
    from wqrc.search.sqnr import sqnr_search, sqnr_table

    g = wqrc.load_model(os.path.join(ROOT, "examples", "digits_cnn.onnx"))
    table = sqnr_table(g, "dfp", "mse", range(8, 1, -1))
    w_prev = 0
    for db in (10, 20, 25, 30):
        res = sqnr_search(table, target_db=db)
        assert table.total_db(res.bits) >= db and table.w_mem(res.bits) >= w_prev
        w_prev = table.w_mem(res.bits)
    res = sqnr_search(table, max_w_mem=20_000)
    assert table.w_mem(res.bits) <= 20_000
    with pytest.raises(WqrcError, match="widest plan reaches"):
        sqnr_search(table, target_db=400)


def test_sqnr_cli_plan_feeds_compile_and_bisects_on_validation_data(tmp_path):
    example = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    plan = tmp_path / "sqnr.json"
    res = run_wqrc("lps", example, "--method", "sqnr", "--target-sqnr", "25", "-o", str(plan))
    assert res.returncode == 0 and "0 evaluations" in res.stdout, res.stderr
    doc = json.loads(plan.read_text())
    assert set(doc["layers"]) == {"conv1", "conv2", "conv3", "fc"} and doc["search"]["total_sqnr_db"] >= 25
    res = run_wqrc("compile", example, "--bits", str(plan), "--calib", "digits", "--target", "rom",
                   "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    res = run_wqrc("lps", example, "--method", "sqnr", "--data", "digits", "--max-drop", "0.01", "-o", str(plan))
    assert res.returncode == 0, res.stderr
    s = json.loads(plan.read_text())["search"]
    assert s["float_accuracy"] - s["accuracy"] <= 0.01 + 1e-9 and 0 < s["evaluations"] <= 20
    res = run_wqrc("lps", example, "--method", "hybrid", "--data", "digits", "--max-drop", "0.01", "-o", str(plan))
    assert res.returncode == 0 and "SQNR start plan" in res.stdout, res.stderr
    h = json.loads(plan.read_text())
    start = h["search"]["hybrid_start"]
    assert h["search"]["steps"][0]["bits"] == start  # the greedy search began at the SQNR plan
    assert all(h["layers"][n]["bits"] <= b for n, b in start.items())
    assert h["search"]["steps"][-1]["delta_acc"] <= 0.01 + 1e-9
    assert_user_error(run_wqrc("lps", example, "--method", "sqnr", "-o", str(plan)), "exactly one of")
    assert_user_error(run_wqrc("lps", example, "--method", "sqnr", "--max-drop", "0.01", "-o", str(plan)),
                      "needs --data")
    assert_user_error(run_wqrc("lps", example, "--target-sqnr", "20", "-o", str(plan)), "--method sqnr")


def test_output_exponent_rule_end_to_end(tmp_path):
    """--exponent output: pinned by data in quantize/compile, in the search's evaluator and in fine-tuning;
    without data it is a one-line error."""
    example = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    assert_user_error(run_wqrc("quantize", example, "--exponent", "output", "-o", str(tmp_path / "q.npz")),
                      "--exponent output", "--calib")
    res = run_wqrc("quantize", example, "--exponent", "output", "--scheme", "po2", "--bits", "3", "--calib", "digits",
                   "-o", str(tmp_path / "q.npz"))
    assert res.returncode == 0, res.stderr
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant.output_rule import pin_by_output_error
    from wqrc.quant.plan import make_plan
    g = wqrc.load_model(example)
    ds = load_dataset("digits")
    qm = wqrc.QModel.load(str(tmp_path / "q.npz"))
    pinned = pin_by_output_error(g, make_plan(g, "po2", 3), ds.x_train.astype("float32"))
    assert {n: l.n1 for n, l in qm.layers.items()} == {n: s.n1 for n, s in pinned.items()}
    from wqrc.search import PlanEvaluator
    from wqrc.quant.ranges import calibrate
    x_fit, _, x_val, y_val = ds.validation_split()
    ev = PlanEvaluator(g, "po2", x_val, y_val, ranges=calibrate(g, x_fit[:256]), exponent="output", start_bits=3)
    assert {n: ev.layer(n, 3).n1 for n in ev.layers} == {
        n: s.n1 for n, s in pin_by_output_error(g, make_plan(g, "po2", 3), x_val, joint=False).items()}
    # the exponents are not mse's on this model: the rule is not a relabelled mse
    mse = make_plan(g, "po2", 3)
    from wqrc.quant.quantize import quantize_weights
    assert any(ev.layer(n, b).n1 != quantize_weights(n, g.node(n).weight, mse[n].__class__("po2", b), "mse")[0]
               for n in ev.layers for b in (2, 3, 4))
    assert 0.5 < ev.accuracy({n: 3 for n in ev.layers}) <= 1.0


def test_output_rule_joint_plan_is_never_worse_than_the_weight_rules_on_its_objective():
    """... by more than the tolerance within which it prefers their plans."""
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant.output_rule import JOINT_TOLERANCE, OutputErrorRule, pin_by_output_error
    from wqrc.quant.plan import LayerSpec, make_plan
    from wqrc.quant.quantize import quantize_weights
    g = wqrc.load_model(os.path.join(ROOT, "examples", "digits_cnn.onnx"))
    x = load_dataset("digits").x_train
    for scheme, bits in (("dfp", 3), ("po2", 2)):
        plan = make_plan(g, scheme, bits)
        rule = OutputErrorRule(g, x)
        best = pin_by_output_error(g, plan, x)
        for other in ("max", "paper", "mse"):
            pinned = {n: LayerSpec(scheme, bits, quantize_weights(n, g.node(n).weight, s, other)[0])
                      for n, s in plan.items()}
            assert rule.joint(best) <= rule.joint(pinned) * (1 + JOINT_TOLERANCE) + 1e-9, (scheme, bits, other)
        assert rule.joint(best) <= rule.joint(pin_by_output_error(g, plan, x, joint=False)) * (1 + JOINT_TOLERANCE) + 1e-9


def test_early_stopping_check_agrees_with_the_full_accuracy():
    """PlanEvaluator.passes (chunks, stopping once the wrong answers exceed the budget) says yes
    exactly when the whole split's accuracy reaches the threshold, and a failing check stops early."""
    g, ds = fig1_model()
    x_fit, _, x_val, y_val = ds.validation_split(0.5)
    from wqrc.quant.ranges import calibrate
    from wqrc.search import PlanEvaluator

    ev = PlanEvaluator(g, "dfp", x_val, y_val, ranges=calibrate(g, x_fit), act_bits=16)
    layers = ev.layers
    for b0, b1 in [(8, 8), (4, 3), (3, 2), (2, 2), (5, 2)]:
        bits = {layers[0]: b0, layers[1]: b1}
        acc = ev.accuracy(bits)
        for threshold in (acc - 0.01, acc, acc + 1e-6, acc + 0.05, 1.0):
            before = ev.samples_run
            assert ev.passes(bits, threshold, chunk=64) == (acc >= threshold - 1e-12), (bits, threshold)
            if threshold == 1.0 and acc < 0.9:  # no wrong answer allowed: the first chunk with one ends it
                assert ev.samples_run - before < len(y_val)


def test_ranked_search_stays_in_budget_with_fewer_evaluations():
    """On the fashion example: the ranked search's plan is within the budget on validation, is
    no larger than 5% above the greedy plan's W_mem, and costs fewer evaluations and images."""
    g = wqrc.load_model(FASHION_MODEL)
    ds = load_dataset("fashion-mnist") if needs.HAVE_FASHION else None
    if ds is None:
        pytest.skip("needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    kw = dict(scheme="dfp", max_drop=0.01, act_bits=16, val_samples=1000)
    greedy, ev_g = wqrc.api.precision_search(g, ds, **kw)
    ranked, ev_r = wqrc.api.precision_search(g, ds, method="ranked", **kw)
    assert ranked.final.delta_acc <= 0.01 + 1e-9
    assert ranked.final.w_mem <= 1.05 * greedy.final.w_mem, (ranked.final.bits, greedy.final.bits)
    assert ranked.evaluations < greedy.evaluations and ev_r.samples_run < ev_g.samples_run
    # the accepted plan, re-evaluated from scratch, is the accuracy the search recorded
    qm = ev_r.qmodel(ranked.final.bits)
    x_val, y_val = ds.validation_split()[2:]
    x_val, y_val = x_val[:1000], y_val[:1000]
    acc = float(np.mean(np.argmax(wqrc.simulate(qm, qm.quantize_input(x_val)).reshape(1000, -1), 1) == y_val))
    assert acc == pytest.approx(ranked.final.accuracy)


def test_ranked_search_from_the_command_line(tmp_path):
    example = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    plan = tmp_path / "plan.json"
    res = run_wqrc("lps", example, "--method", "ranked", "--data", "digits", "--max-drop", "0.01", "-o", str(plan))
    assert res.returncode == 0, res.stderr
    doc = json.loads(plan.read_text())
    assert doc["search"]["criterion"].startswith("ranked") and doc["search"]["steps"][-1]["delta_acc"] <= 0.01 + 1e-9
    res = run_wqrc("compile", example, "--bits", str(plan), "--calib", "digits", "--target", "rom",
                   "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert_user_error(run_wqrc("lps", example, "--method", "ranked", "--data", "digits", "--max-drop", "0.01",
                               "--exponent", "output", "-o", str(plan)), "--method ranked", "--exponent output")


def test_search_plan_from_python_writes_the_plan_the_cli_would():
    """plan_search.search_plan: the whole `wqrc lps` job without the CLI; its options refused in one line."""
    graph = wqrc.load_model(os.path.join(ROOT, "examples", "digits_cnn.onnx"))
    found = search_plan(graph, method="sqnr", target_sqnr=30.0, start_bits="8")
    layers = [n.name for n in graph.weighted_nodes()]
    assert sorted(found.doc["layers"]) == sorted(layers)
    assert found.summary and found.summary[0].startswith("SQNR allocation")
    qm = wqrc.quantize(graph, bits=found.doc)
    assert all(2 <= qm.layers[n].bits <= 8 for n in layers)
    with pytest.raises(WqrcError, match="--target-sqnr and --max-wmem belong to --method sqnr"):
        search_plan(graph, "digits", method="greedy", max_drop=0.01, target_sqnr=30.0)
    with pytest.raises(WqrcError, match="exactly one of"):
        search_plan(graph, method="sqnr")
