"""benchmarks/paper_tables.py's bookkeeping: the table's statistics and the runs' keys.

The runs themselves take hours (docs/results.md); what is checked here is what turns
recorded runs into the table: mean ± std over seeds, the best method, Δ against the
baseline and against the float-continued control, and the rule that one float control
per seed serves every row while every other run has its own key.
"""
import importlib.util
import os

import pytest

from conftest import ROOT
from test_lps import FakeEvaluator as _FakeEvaluator

pytestmark = pytest.mark.slow

spec = importlib.util.spec_from_file_location("paper_tables", os.path.join(ROOT, "benchmarks", "paper_tables.py"))
pt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pt)


def run(row, method, seed, test, act="a8", bits=3, epochs=6):
    return dict(job=dict(row=row, method=method, act=act, seed=seed, epochs=epochs, bits={"c1": bits, "c2": bits},
                         result=f"{row}_{method}_{act}_{seed}.json"), test=test, cr=32 / bits)


def test_table_statistics_best_method_and_deltas():
    runs = [run("dfp-eq3", "direct", 0, 0.70)]
    runs += [run("dfp-eq3", "wqr", s, t) for s, t in ((0, 0.80), (1, 0.82), (2, 0.84))]
    runs += [run("dfp-eq3", "ste", s, t) for s, t in ((0, 0.90), (1, 0.91), (2, 0.92))]
    runs += [run("dfp-eq3", "float", s, t) for s, t in ((0, 0.85), (1, 0.86), (2, 0.87))]
    runs += [run("dfp-eq3", "wqr", 0, 0.10, epochs=2)]  # another budget: not in this table
    md = pt.report("m.onnx", 6, runs, dict(test=0.93, weights=100))
    line = next(li for li in md.splitlines() if li.startswith("| DFP-eq 3"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:3] == ["DFP-eq 3", "3", "10.67"]
    assert cells[3:7] == ["70.00", "82.00 ± 2.00", "91.00 ± 1.00", "86.00 ± 1.00"]
    assert cells[7:] == ["ste", "-2.00", "+5.00"]  # best vs baseline 93; vs the control's mean 86
    assert "seeds 0,1,2" in md and "### a8" in md and "### a32" not in md


def test_float_control_is_shared_by_rows_and_other_runs_are_not(tmp_path, monkeypatch):
    class Args:
        rows = ["dfp-eq4", "po2-eq3"]
        methods = ["wqr", "float"]
        acts = ["a8"]
        seeds = [0, 1]
        epochs = [6]
        threads = 1

    model = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    jobs = pt.plan_jobs(Args, model, str(tmp_path))
    floats = [j for j in jobs if j["method"] == "float"]
    assert len(jobs) == 8 and len({j["base"] for j in floats}) == 2  # one control per seed
    assert len({j["result"] for j in jobs}) == 8  # every (row, method, act, seed) has its own result
    wqr = [j for j in jobs if j["method"] == "wqr"]
    assert len({j["base"] for j in wqr}) == 4


def test_plan_rows_run_at_seed_0_unless_plan_seeds(tmp_path, monkeypatch):
    monkeypatch.setattr(pt, "layerwise_plan", lambda *a: {"bits": {"conv1": 8, "conv2": 4, "conv3": 4, "fc": 4}})

    class Args:
        rows = ["dfp-lw-3pt"]
        methods = ["ste"]
        acts = ["a8"]
        seeds = [0, 1, 2]
        epochs = [6]
        threads = 1

    model = os.path.join(ROOT, "examples", "digits_cnn.onnx")
    assert [j["seed"] for j in pt.plan_jobs(Args, model, str(tmp_path))] == [0]
    Args.plan_seeds = True
    assert [j["seed"] for j in pt.plan_jobs(Args, model, str(tmp_path))] == [0, 1, 2]


@pytest.mark.parametrize("values, text", [([0.5], "50.00"), ([0.5, 0.7], "60.00 ± 14.14"), ([], "")])
def test_mean_std(values, text):
    assert pt.mean_std(values) == text


def test_a8_against_a32_uses_the_seeds_both_widths_have():
    """Issue 17's check: the difference of means over the common seeds only (seed 2 at a8 alone
    must not move it), per row and method, the float control left out."""
    runs = [run("dfp-eq3", "ste", s, t, act="a8") for s, t in ((0, 0.90), (1, 0.92), (2, 0.50))]
    runs += [run("dfp-eq3", "ste", s, t, act="a32") for s, t in ((0, 0.91), (1, 0.93))]
    runs += [run("dfp-eq3", "float", 0, 0.80, act=a) for a in ("a8", "a32")]
    md = pt.report("m.onnx", 6, runs, dict(test=0.93, weights=100))
    gap = md.split("### a8 against a32")[1]
    assert "| DFP-eq 3 | ste | 0,1 | 91.00 | 92.00 | -1.00 |" in gap
    assert "float" not in gap
    only_a8 = pt.report("m.onnx", 6, [r for r in runs if r["job"]["act"] == "a8"], dict(test=0.93, weights=100))
    assert "### a8 against a32" not in only_a8


def test_budget_sweep_table_says_which_method_wins_at_each_budget():
    """Issue 35's sweep: per budget the mean ± std over seeds, the best trained method against the
    baseline and the control of the same budget, WQR - STE, and the first budget where WQR reaches STE."""
    runs = [run("po2-eq3", "ste", s, t, epochs=6) for s, t in ((0, 0.90), (1, 0.92))]
    runs += [run("po2-eq3", "wqr", s, t, epochs=6) for s, t in ((0, 0.85), (1, 0.87))]
    runs += [run("po2-eq3", "float", 0, 0.80, epochs=6)]
    runs += [run("po2-eq3", "ste", s, t, epochs=12) for s, t in ((0, 0.91), (1, 0.93))]
    runs += [run("po2-eq3", "wqr", s, t, epochs=12) for s, t in ((0, 0.93), (1, 0.93))]
    runs += [run("po2-eq3", "float", 0, 0.82, epochs=12), run("po2-eq3", "direct", 0, 0.70)]
    runs += [run("dfp-eq3", "ste", 0, 0.9, epochs=6)]  # one budget only: not swept
    md = pt.budget_report(runs, dict(test=0.94, weights=100))
    rows = {li.split("|")[1].strip(): [c.strip() for c in li.strip("|").split("|")[1:]]
            for li in md.splitlines() if li.startswith("| ")}
    assert rows["method"] == ["6 epochs", "12 epochs"]
    assert rows["ste"] == ["91.00 ± 1.41 (2)", "92.00 ± 1.41 (2)"]
    assert rows["float"] == ["80.00 (1)", "82.00 (1)"]
    assert rows["best"] == ["ste", "wqr"]
    assert rows["Δ best vs baseline"] == ["-3.00", "-1.00"]
    assert rows["Δ best vs float control"] == ["+11.00", "+11.00"]
    assert rows["WQR − STE"] == ["-5.00", "+1.00"]
    assert "WQR reaches STE at 12 epochs." in md
    assert "### Po2-eq 3, a8" in md and "DFP-eq 3" not in md and "direct" not in rows
    behind = pt.budget_report([r for r in runs if not (r["job"]["method"] == "wqr" and r["job"]["epochs"] == 12)]
                              + [run("po2-eq3", "wqr", 0, 0.90, epochs=12)], dict(test=0.94, weights=100))
    assert "WQR does not reach STE at any budget measured (6, 12 epochs); closest at 12 epochs (-2.00 points)." in behind
    assert pt.budget_report([r for r in runs if r["job"]["epochs"] == 6], dict(test=0.94, weights=100)) == ""


def test_budgets_each_have_their_own_runs(tmp_path):
    class Args:
        rows = ["po2-eq3"]
        methods = ["ste", "float"]
        acts = ["a8"]
        seeds = [0]
        epochs = [6, 12]
        threads = 1

    jobs = pt.plan_jobs(Args, os.path.join(ROOT, "examples", "digits_cnn.onnx"), str(tmp_path))
    assert sorted((j["method"], j["epochs"]) for j in jobs) == [("float", 6), ("float", 12), ("ste", 6), ("ste", 12)]
    assert len({j["result"] for j in jobs}) == 4 and len({j["base"] for j in jobs}) == 4


def test_budget_plot_is_written(tmp_path):
    runs = [run("po2-eq3", m, s, 0.9 + 0.01 * s, epochs=e) for m in ("ste", "wqr", "float") for s in (0, 1) for e in (6, 12)]
    pt.plot_budget(runs, dict(test=0.94, weights=100), str(tmp_path / "b.png"))
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_the_cr_row_takes_the_greedy_paths_first_plan_at_the_ratio():
    ev = _FakeEvaluator()
    step = pt.greedy_until_cr(ev, {"a": 8, "b": 8}, 32 / 3)
    assert step.compression_ratio >= 32 / 3
    # the path lowers the cheap layer first, to min bits, then the big one until the ratio is met
    assert step.bits == {"a": 2, "b": 3}, step.bits
