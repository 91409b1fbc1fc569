"""docs/format.md §1: levels, rounding, encodings and exponent rules against hand-computed values."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from wqrc.errors import WqrcError
from wqrc.quant.exponent import choose_n1, n1_paper
from wqrc.quant.plan import LayerSpec
from wqrc.quant.quantize import quantize_weights
from wqrc.quant.schemes import DFP, Po2


def test_dfp_b3_levels_from_spec():
    assert DFP.levels(0, 3).tolist() == [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize("b", range(2, 17))
def test_dfp_level_count_and_step(b):
    lv = DFP.levels(3, b)
    assert len(lv) == 2 ** b - 1  # symmetric, -2**(b-1) never produced
    assert np.allclose(np.diff(lv), 2.0 ** (3 - (b - 1)))
    assert lv.max() == 2.0 ** 3 - 2.0 ** (3 - (b - 1))


def test_po2_b4_has_15_levels_7_magnitudes():
    lv = Po2.levels(0, 4)
    assert len(lv) == 15
    assert sorted(set(np.abs(lv[lv != 0]))) == [2.0 ** -k for k in range(6, -1, -1)]


@pytest.mark.parametrize("b", range(2, 9))
def test_po2_level_count(b):
    assert len(Po2.levels(-1, b)) == 2 ** b - 1
    assert Po2.exponent(-1, b) == -1 - (2 ** (b - 1) - 1) + 1


def test_po2_ternary():
    assert Po2.levels(-2, 2).tolist() == [-0.25, 0.0, 0.25]
    # 0.125 is the midpoint between 0 and 0.25: ties go to the larger magnitude
    assert Po2.multipliers(np.array([0.1249, 0.125, -0.125, 0.3, 9.0]), -2, 2).tolist() == [0, 1, -1, 1, 1]


def test_po2_rounding_ties_and_clipping():
    # n1 = 0, b = 4: magnitudes 2**-6 .. 1 at scale n2 = -6
    w = np.array([0.75, 0.7499, 1.5, 3.0, 0.09375, 0.0937, 2.0 ** -7, 2.0 ** -7 * 0.999, -0.375, 0.0, -0.0])
    got = Po2.multipliers(w, 0, 4) * 2.0 ** -6
    want = [1.0, 0.5, 1.0, 1.0, 0.125, 0.0625, 2.0 ** -6, 0.0, -0.5, 0.0, 0.0]
    assert got.tolist() == want


def test_dfp_rounding_is_half_away_from_zero_and_clips():
    # b = 3, n1 = 0: step 0.25, K = 3
    w = np.array([0.125, -0.125, 0.375, -0.375, 0.1249, 5.0, -5.0])
    assert DFP.multipliers(w, 0, 3).tolist() == [1, -1, 2, -2, 0, 3, -3]


@pytest.mark.parametrize("b", range(2, 17))
def test_dfp_encode_roundtrip(b):
    k = np.arange(-DFP.kmax(b), DFP.kmax(b) + 1)
    codes = DFP.encode(k, b)
    assert codes.max() < 2 ** b
    assert DFP.decode(codes, b).tolist() == k.tolist()
    assert (1 << (b - 1)) not in codes.tolist()  # the code -2**(b-1) never appears


@pytest.mark.parametrize("b", range(2, 9))
def test_po2_encode_roundtrip(b):
    w = Po2.levels(2, b)
    codes = Po2.encode(w, 2, b)
    assert len(set(codes.tolist())) == len(w)
    assert (1 << (b - 1)) not in codes.tolist()  # "sign 1, m 0" never produced
    mult = Po2.decode(codes, b)
    assert [float(m) * 2.0 ** Po2.exponent(2, b) for m in mult] == w.tolist()
    # sign bit is the MSB, 1 = negative
    assert all((c >> (b - 1)) == (v < 0) for c, v in zip(codes.tolist(), w.tolist()))


def test_paper_exponent_rule():
    assert n1_paper(0.75) == 0 and n1_paper(0.7499) == -1 and n1_paper(1.4999) == 0 and n1_paper(1.5) == 1


@pytest.mark.parametrize("sch,b", [(DFP, 3), (DFP, 8), (Po2, 3), (Po2, 5)])
def test_max_rule_is_smallest_exponent_without_clipping(sch, b):
    rng = np.random.default_rng(b)
    w = rng.normal(size=200) * 0.3
    s = np.abs(w).max()
    n1 = choose_n1(w, sch, b, "max")
    assert sch.max_level(n1, b) >= s > sch.max_level(n1 - 1, b)


@pytest.mark.parametrize("sch,b", [(DFP, 2), (DFP, 4), (DFP, 8), (Po2, 2), (Po2, 4)])
def test_mse_rule_is_no_worse_than_paper_or_max(sch, b):
    rng = np.random.default_rng(b)
    w = rng.laplace(size=500) * 0.1

    def sse(n1):
        return np.sum((w - sch.multipliers(w, n1, b).astype(float) * 2.0 ** sch.exponent(n1, b)) ** 2)

    best = sse(choose_n1(w, sch, b, "mse"))
    assert best <= sse(choose_n1(w, sch, b, "paper")) and best <= sse(choose_n1(w, sch, b, "max"))


def test_all_zero_weights_give_zero_codes_and_exponent_zero():
    for scheme, b in (("dfp", 5), ("po2", 4)):
        n1, exp, codes = quantize_weights("z", np.zeros((3, 4)), LayerSpec(scheme, b), "paper")
        assert exp == 0 and not codes.any()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_rejected_naming_layer(bad):
    w = np.ones((2, 2))
    w[1, 0] = bad
    with pytest.raises(WqrcError, match="layer 'conv7'"):
        quantize_weights("conv7", w, LayerSpec("dfp", 8), "paper")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=1, max_size=40),
       st.integers(2, 8), st.sampled_from(["paper", "max", "mse"]))
def test_po2_picks_a_nearest_level(ws, b, rule):
    w = np.array(ws, np.float64)
    if not np.abs(w).max():
        return
    n1 = choose_n1(w, Po2, b, rule)
    lv = Po2.levels(n1, b)
    got = np.array([float(m) for m in Po2.multipliers(w, n1, b)]) * 2.0 ** Po2.exponent(n1, b)
    dist = np.abs(w[:, None] - lv[None, :]).min(axis=1)
    assert np.all(np.abs(w - got) <= dist + 1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=1, max_size=40), st.integers(2, 16))
def test_dfp_picks_a_nearest_level(ws, b):
    w = np.array(ws, np.float64)
    if not np.abs(w).max():
        return
    n1 = choose_n1(w, DFP, b, "max")
    lv = DFP.levels(n1, b)
    got = DFP.multipliers(w, n1, b) * 2.0 ** DFP.exponent(n1, b)
    dist = np.abs(w[:, None] - lv[None, :]).min(axis=1)
    assert np.all(np.abs(w - got) <= dist + 1e-12)


def _dense_graph(w: np.ndarray):
    from wqrc.ir.graph import Graph, Node
    n = Node("dense", "fc", ["x"], "y", {}, {"weight": w.astype(np.float32), "bias": np.zeros(len(w), np.float32)})
    return Graph([n], "x", (w.shape[1],), "y", {"x": (w.shape[1],), "y": (w.shape[0],)})


def test_output_rule_weighs_weights_by_the_inputs_they_meet():
    """A large weight on an input that is always zero sets mse's range but not the output rule's:
    the output rule keeps the other weights fine, and its exponent changes the network's output least."""
    from wqrc.quant.output_rule import OutputErrorRule, pin_by_output_error
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (8, 16))
    w[:, 0] = 0.6  # meets input 0, which is always 0
    x = rng.normal(0, 1, (64, 16)).astype(np.float32)
    x[:, 0] = 0.0
    g = _dense_graph(w)
    rule = OutputErrorRule(g, x)
    n1_mse = quantize_weights("fc", w, LayerSpec("dfp", 4), "mse")[0]
    n1_out = rule.n1("fc", "dfp", 4)
    assert n1_out < n1_mse

    def divergence(n1):
        q = np.ldexp(DFP.multipliers(w, n1, 4).astype(np.float64), DFP.exponent(n1, 4))
        logits = x @ q.T
        ref = x @ w.T
        lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        lr = ref - np.log(np.exp(ref).sum(1, keepdims=True))
        return float((np.exp(lr) * (lr - lp)).sum())  # KL(float || quantized)
    window = range(n1_paper(0.6) - 4, n1_paper(0.6) + 5)  # the rule searches paper ± 4, as mse does
    assert n1_out in window[1:-1] and all(divergence(n1_out) <= divergence(k) + 1e-6 for k in window)
    assert divergence(n1_out) < divergence(n1_mse)
    plan = pin_by_output_error(g, {"fc": LayerSpec("dfp", 4)}, x)
    assert plan["fc"] == LayerSpec("dfp", 4, n1_out)
    assert pin_by_output_error(g, {"fc": LayerSpec("dfp", 4, 2)}, x)["fc"].n1 == 2  # a pinned layer stays
    with pytest.raises(WqrcError, match="--exponent output .* calibration"):
        quantize_weights("fc", w, LayerSpec("dfp", 4), "output")


def test_the_output_rule_scores_with_the_integer_graphs_activations(monkeypatch):
    """At narrow activations the rule judges weights with every activation rounded as the integer
    graph rounds it (the activation grid), against the float network: on All-CNN-C at a8 this took
    DFP-4 from 82.00 to 85.42% (docs/results.md). quantize gives the rule the model's own grid."""
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant import output_rule
    from wqrc.quant.qmodel import activation_grid
    from conftest import EXAMPLE
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.3, (4, 6))
    x = rng.normal(0, 1, (32, 6)).astype(np.float32)
    g = _dense_graph(w)
    grid = {"x": (0.25, -4.0, 3.75), "y": (0.5, -8.0, 7.5)}
    rule = output_rule.OutputErrorRule(g, x, act_grid=grid)
    np.testing.assert_allclose(rule.ref.numpy(), x @ w.T.astype(np.float32), rtol=1e-5, atol=1e-5)  # float reference
    for t, (step, lo, hi) in grid.items():   # the candidates run on the grid
        v = rule.env[t].numpy()
        assert np.all(v >= lo) and np.all(v <= hi) and np.array_equal(v / step, np.round(v / step)), t
    assert not np.array_equal(rule.env["y"].numpy(), rule.ref.numpy())

    seen = {}
    real = output_rule.pin_by_output_error

    def spy(*args, **kwargs):
        seen["grid"] = kwargs.get("act_grid")
        return real(*args, **kwargs)
    monkeypatch.setattr(output_rule, "pin_by_output_error", spy)
    dg = wqrc.load_model(EXAMPLE)
    cal = load_dataset("digits").validation_split()[0][:64]
    for act_rule in ("mse", "max"):
        seen.clear()
        qm = wqrc.quantize(dg, scheme="dfp", bits=4, act_bits=6, calib=cal, exponent="output", act_rule=act_rule)
        assert seen["grid"] == activation_grid(qm), act_rule


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=1, max_size=40), st.integers(2, 7),
       st.integers(1, 3), st.sampled_from(["dfp", "po2"]), st.integers(-3, 2))
def test_a_narrower_level_set_is_held_exactly_by_the_wider_codes(ws, k, extra, scheme, n1):
    """LayerSpec.levels: weights rounded onto the k-bit level set of top exponent n1, stored as
    b-bit codes that decode to exactly those values (the b-bit set holds the k-bit one)."""
    from wqrc.quant.exponent import values_at
    from wqrc.quant.schemes import SCHEMES
    sch = SCHEMES[scheme]
    b = min(k + extra, sch.max_bits if scheme == "dfp" else 8)
    if b == k:
        return
    w = np.array(ws, np.float64)
    n1_, exp, codes = quantize_weights("fc", w, LayerSpec(scheme, b, n1, levels=k), "mse")
    got = np.ldexp(sch.decode(codes, b).astype(np.float64), exp)
    np.testing.assert_array_equal(got, values_at(w, sch, k, n1))


def test_a_narrower_level_set_is_checked_and_kept_in_plan_files():
    from wqrc.quant.plan import check_spec, plan_from_doc, plan_to_json
    plan = {"fc": LayerSpec("po2", 5, -1, levels=3)}
    assert plan_from_doc(plan_to_json(plan), ["fc"], "p.json") == plan
    for bad in (LayerSpec("po2", 5, None, levels=3), LayerSpec("dfp", 4, 0, levels=4), LayerSpec("dfp", 4, 0, levels=1)):
        with pytest.raises(WqrcError, match="layer 'fc': levels .* needs a pinned n1"):
            check_spec("fc", bad)
    with pytest.raises(WqrcError, match="p.json: layer 'fc': levels '3' is not an integer"):
        plan_from_doc({"layers": {"fc": {"scheme": "dfp", "bits": 4, "n1": 0, "levels": "3"}}}, ["fc"], "p.json")
    from wqrc.train.finetune import pin_levels
    with pytest.raises(WqrcError, match="layer 'fc': levels 3: fine-tuning trains towards a layer's own 5-bit"):
        pin_levels(_dense_graph(np.ones((2, 3))), plan, "mse")


@pytest.mark.slow
def test_the_output_rule_never_lets_one_more_bit_move_the_output_further():
    """--exponent output, nested: at each width the plan one bit narrower competes with its weights
    kept (LayerSpec.levels), so the calibration objective never rises with bits. On digits it
    would without that: Po2-3's exponents at 4 bits move the output further than at 3."""
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant.output_rule import OutputErrorRule, pin_by_output_error
    from wqrc.quant.plan import make_plan
    from conftest import EXAMPLE
    g = wqrc.load_model(EXAMPLE)
    x = load_dataset("digits").validation_split()[0][:256]
    rule = OutputErrorRule(g, x)
    for scheme, widths in (("po2", range(2, 6)), ("dfp", range(2, 6))):
        plans = {b: pin_by_output_error(g, make_plan(g, scheme, b), x) for b in widths}
        flat = {b: pin_by_output_error(g, make_plan(g, scheme, b), x, nested=False) for b in widths}
        objective = [rule.joint(plans[b]) for b in widths]
        assert all(b <= a for a, b in zip(objective, objective[1:])), (scheme, objective)
        assert all(rule.joint(plans[b]) <= rule.joint(flat[b]) for b in widths)
        if scheme == "po2":   # the case that needs it
            assert [rule.joint(flat[b]) for b in widths] != sorted((rule.joint(flat[b]) for b in widths), reverse=True)
            assert any(s.levels is not None for s in plans[4].values())
            qm = wqrc.quantize(g, scheme="po2", bits=4, act_bits=16, calib=x, exponent="output")
            assert any("keep the 3-bit levels in their 4-bit codes" in n for n in qm.notes)
            for name, s in plans[4].items():   # the codes hold the narrower levels' values
                if s.levels is not None:
                    from wqrc.quant.exponent import values_at
                    w = next(n for n in g.nodes if n.name == name).weight
                    np.testing.assert_array_equal(qm.layers[name].dequantized(), values_at(w, Po2, s.levels, s.n1))


@pytest.mark.slow
def test_the_nested_output_rule_stops_at_a_width_within_the_noise_floor(monkeypatch):
    """Where a width's plan is within the noise floor of float, no narrower plan can beat it by
    more (divergences are >= 0), so the rule takes it without walking the narrower widths: digits
    at DFP-16 is mse's plan after a couple of evaluations; at DFP-3 every width is refined."""
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant import output_rule
    from wqrc.quant.plan import make_plan
    from wqrc.quant.quantize import quantize_weights
    from conftest import EXAMPLE
    g = wqrc.load_model(EXAMPLE)
    x = load_dataset("digits").validation_split()[0][:256]
    runs = []
    real_run = output_rule.OutputErrorRule._run
    monkeypatch.setattr(output_rule.OutputErrorRule, "_run", lambda self, *a: runs.append(1) or real_run(self, *a))
    layers = len(g.weighted_nodes())
    plan = make_plan(g, "dfp", 16)
    wide = output_rule.pin_by_output_error(g, plan, x)
    assert output_rule.OutputErrorRule(g, x).joint(wide) <= output_rule.OutputErrorRule(g, x).noise
    assert {n: s.n1 for n, s in wide.items()} == {
        n.name: quantize_weights(n.name, n.weight, plan[n.name], "mse")[0] for n in g.weighted_nodes()}
    assert 0 < len(runs) < 8   # one descent sweep alone is 8 candidates a layer
    runs.clear()
    output_rule.pin_by_output_error(g, make_plan(g, "dfp", 3), x)
    assert len(runs) > 2 * 8 * layers   # DFP-3 and DFP-2 both refined (the narrower one competes)


def test_the_default_rule_is_output_with_calibration_data_and_mse_without():
    """auto (quantize's and compile's default, chosen by the held-out measurements in
    docs/results.md): the output rule where it has data and per-layer exponents, mse where not;
    the model states the rule that ran, and the output rule's exponents are the ones kept."""
    import warnings
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant.exponent import resolve_rule
    from conftest import EXAMPLE
    g = wqrc.load_model(EXAMPLE)
    x = load_dataset("digits").validation_split()[0][:128]
    auto = wqrc.quantize(g, scheme="po2", bits=4, calib=x)
    explicit = wqrc.quantize(g, scheme="po2", bits=4, calib=x, exponent="output")
    assert auto.meta["exponent_rule"] == "output"
    assert {n: l.n1 for n, l in auto.layers.items()} == {n: l.n1 for n, l in explicit.layers.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert wqrc.quantize(g, scheme="po2", bits=4).meta["exponent_rule"] == "mse"
    assert wqrc.quantize(g, scheme="dfp", bits=4, calib=x, granularity="channel").meta["exponent_rule"] == "mse"
    assert resolve_rule("auto", calibrated=False) == "mse" and resolve_rule("paper", True) == "paper"
    with pytest.raises(WqrcError, match="unknown rule 'median'.*auto"):
        wqrc.quantize(g, scheme="po2", bits=4, calib=x, exponent="median")


def test_the_default_rule_takes_mse_with_a_note_where_the_output_rule_would_run_past_its_budget(monkeypatch):
    """auto estimates the output rule's time from the network's size (the same choice on every
    machine) and takes mse past AUTO_BUDGET_SECONDS, saying so; --exponent output still runs it."""
    import wqrc
    from wqrc.data import load_dataset
    from wqrc.quant import output_rule
    from wqrc.quant.plan import make_plan
    from conftest import EXAMPLE
    g = wqrc.load_model(EXAMPLE)
    x = load_dataset("digits").validation_split()[0][:128]
    estimate = output_rule.search_seconds(g, make_plan(g, "po2", 4), len(x))
    assert 0 < estimate < output_rule.AUTO_BUDGET_SECONDS   # digits' CNN: a second or two
    # the estimate grows with the widths the nested rule walks and with the samples it scores
    assert output_rule.search_seconds(g, make_plan(g, "dfp", 8), len(x)) > estimate
    assert output_rule.search_seconds(g, make_plan(g, "po2", 4), 4 * len(x)) > estimate
    monkeypatch.setattr(output_rule, "AUTO_BUDGET_SECONDS", estimate / 2)
    auto = wqrc.quantize(g, scheme="po2", bits=4, calib=x)
    mse = wqrc.quantize(g, scheme="po2", bits=4, calib=x, exponent="mse")
    assert auto.meta["exponent_rule"] == "mse"
    assert {n: l.n1 for n, l in auto.layers.items()} == {n: l.n1 for n, l in mse.layers.items()}
    assert any(n.startswith("exponent rule auto chose mse: the output rule would take about") for n in auto.notes)
    assert not any("exponent rule auto" in n for n in mse.notes)
    assert wqrc.quantize(g, scheme="po2", bits=4, calib=x, exponent="output").meta["exponent_rule"] == "output"
