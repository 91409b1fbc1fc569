"""The quantization health check and the activation rule chosen by measurement (issue 33, item 4).

A compile with calibration data measures every tensor of the integer model against the float
model's (SQNR on calibration samples), reports it, and warns in one line naming the node that
loses the most when the output falls below the threshold; activation formats are each tensor's
max-abs or least-squared-error format, whichever puts the output nearer the float model's.
"""
import json
import math

import numpy as np
import pytest

import wqrc
from wqrc.data import load_dataset
from wqrc.quant import health
from wqrc.quant.ranges import calibrate

from conftest import EXAMPLE, assert_user_error
from conftest import wqrc as wqrc_cli


# The models judged here are built with mse's exponents (exponent="mse"): these tests judge the
# health report and its advice on known good and starved models, not the default exponent rule.
@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return wqrc.load_model(EXAMPLE), ds.x_train[:256]


def test_sqnr_is_signal_over_error_power_in_db():
    ref = np.array([3.0, -4.0])
    assert health.sqnr_db(ref, ref) == math.inf
    assert health.sqnr_db(ref, ref * 0.9) == pytest.approx(20.0)     # error a tenth of the signal
    assert health.sqnr_db(np.zeros(2), ref) == -math.inf


def test_a_model_near_float_passes_and_a_starved_one_warns_naming_the_node(digits):
    g, x = digits
    good = health.measure(g, wqrc.quantize(g, scheme="dfp", bits=8, act_bits=16, calib=x, exponent="mse"), x)
    assert good.ok and good.warning() is None and good.output_db > 40
    assert [r["name"] for r in good.rows][:1] == [g.nodes[0].name] and len(good.rows) >= len(g.weighted_nodes())
    bad = health.measure(g, wqrc.quantize(g, scheme="po2", bits=2, act_bits=3, calib=x, exponent="mse"), x)
    assert not bad.ok and bad.output_db < good.output_db - 20
    line = bad.warning()
    assert "\n" not in line and f"node '{bad.worst['name']}'" in line and "--" in line, line
    assert bad.worst["drop_db"] == max(r["drop_db"] for r in bad.rows)
    doc = json.loads(json.dumps(bad.as_json()))          # report.json holds it as it is
    assert doc["ok"] is False and doc["worst"]["name"] == bad.worst["name"] and len(doc["nodes"]) == len(bad.rows)


def test_the_advice_is_measured_and_a_classifier_that_keeps_its_decisions_is_healthy(digits):
    """The option named is the one the measurement points to: the float graph with the quantized
    weights tells the weights' loss from the activation formats'; Po2 levels gain no resolution
    from more bits, so a Po2 layer is pointed at fine-tuning or DFP. A classifier whose top-1
    class is the float model's on AGREE_OK of the samples passes at any SQNR."""
    g, x = digits
    starved = health.measure(g, wqrc.quantize(g, scheme="dfp", bits=8, act_bits=3, calib=x, exponent="mse"), x)
    assert not starved.ok and "--act-bits 16" in starved.warning()
    po2 = health.measure(g, wqrc.quantize(g, scheme="po2", bits=4, act_bits=16, calib=x, exponent="mse"), x)
    assert not po2.ok and "--act-bits" not in po2.advice and "--scheme dfp" in po2.advice
    assert po2.top1_agreement < health.AGREE_OK and "agrees with the float model's on" in po2.warning()
    coarse = health.measure(g, wqrc.quantize(g, scheme="dfp", bits=3, act_bits=16, calib=x, exponent="mse"), x)
    assert coarse.output_db < health.WARN_DB and coarse.top1_agreement >= health.AGREE_OK
    assert coarse.ok and coarse.warning() is None and coarse.as_json()["top1_agreement"] >= health.AGREE_OK


def test_the_least_squared_error_rule_saturates_tails_where_that_errs_less():
    """A tensor with one outlier: max-abs spends the 8 bits on it, mse clips it and keeps the bulk
    finer; its range is the one its format holds. The graph's output keeps max-abs."""
    g = wqrc.load_model(EXAMPLE)
    x = load_dataset("digits").x_train[:128]
    by_max, by_mse = calibrate(g, x), calibrate(g, x, rule="mse", act_bits=4)
    inner = [t for t in by_max if t not in (g.input, g.output)]
    assert all(abs(by_mse[t][1]) <= abs(by_max[t][1]) + 1e-12 for t in inner)
    assert any(by_mse[t][1] < by_max[t][1] for t in inner)   # at 4 bits some tail is worth clipping
    assert by_mse[g.output] == by_max[g.output] and by_mse[g.input] == by_max[g.input]


def test_auto_keeps_the_rule_whose_output_is_nearer_float(digits):
    g, x = digits
    qms = {r: wqrc.quantize(g, scheme="dfp", bits=4, act_bits=4, calib=x, act_rule=r, exponent="mse") for r in ("max", "mse", "auto")}
    score = {r: health.measure(g, qm, x).output_db for r, qm in qms.items()}
    chosen = qms["auto"].meta["act_rule"]
    assert chosen in ("max", "mse") and score["auto"] == pytest.approx(score[chosen])
    assert score["auto"] >= min(score["max"], score["mse"]) and score["auto"] == pytest.approx(max(score["max"],
                                                                                                     score["mse"]))
    assert "output SQNR" in qms["auto"].meta["activation_ranges"]
    with pytest.raises(wqrc.WqrcError, match="--act-rule: unknown value 'median'"):
        wqrc.quantize(g, calib=x, act_rule="median")


def test_compile_reports_health_and_warns_in_one_line(tmp_path):
    res = wqrc_cli("compile", EXAMPLE, "--calib", "digits", "--scheme", "po2", "--bits", "2", "--act-bits", "3",
                   "--target", "c", "-o", str(tmp_path / "bad"))
    assert res.returncode == 0, res.stderr
    warn = [ln for ln in res.stderr.splitlines() if "quantization health" in ln]
    assert len(warn) == 1 and warn[0].startswith("wqrc: warning: quantization health: the output's SQNR"), res.stderr
    rep = json.loads((tmp_path / "bad" / "report.json").read_text())
    assert rep["health"]["ok"] is False and rep["health"]["worst"]["name"] in warn[0]
    assert "quantization health: output SQNR" in res.stdout
    res = wqrc_cli("compile", EXAMPLE, "--calib", "digits", "--act-rule", "max", "--target", "c",
                   "-o", str(tmp_path / "good"))
    assert res.returncode == 0 and "quantization health" not in res.stderr, res.stderr
    rep = json.loads((tmp_path / "good" / "report.json").read_text())
    assert rep["health"]["ok"] is True and "(max-abs)" in rep["activation_ranges"]
    assert_user_error(wqrc_cli("compile", EXAMPLE, "--calib", "digits", "--act-rule", "median", "-o",
                               str(tmp_path / "x")), "--act-rule")
