"""Trained quantization (docs/format.md §6): regularizer values and gradients, schedules, and fine-tuning on digits."""
import csv
import json
import os

import numpy as np
import pytest
import torch

import wqrc
from wqrc.data import load_dataset
from wqrc.errors import WqrcError
from wqrc.quant.plan import LayerSpec, make_plan
from wqrc.train.finetune import FinetuneConfig, check_config, evaluate, finetune
from wqrc.train.regularizers import QuantRegularizer, qr_terms, quantize_tensor
from wqrc.train.schedule import parse_schedule

from conftest import EXAMPLE
from conftest import assert_user_error, wqrc as run_wqrc

pytestmark = pytest.mark.slow

# Fig. 7's example levels {0, ±0.25, ±0.5, ±0.75}: DFP b = 3 with n1 = 0
LEVELS = np.array([-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75])


def test_fig7_levels_and_qr_wqr_values():
    w = torch.tensor([0.75, 0.6, -0.1, 0.3, -0.4], dtype=torch.float64, requires_grad=True)
    q, m = quantize_tensor(w, LayerSpec("dfp", 3), "paper")
    assert m == 0.75 and q.tolist() == [0.75, 0.5, 0.0, 0.25, -0.5]
    assert set(q.tolist()) <= set(LEVELS.tolist())
    qr, wqr = qr_terms([w], [q], [m])
    dist = np.array([0, 0.1, 0.1, 0.05, 0.1])
    assert qr.item() == pytest.approx(dist.sum() / (0.75 * 5))
    assert wqr.item() == pytest.approx((dist * np.abs(w.detach().numpy())).sum() / (0.75 ** 2 * 5))
    (qr + wqr).backward()
    # Wq is constant: d|w - q|/dw = sign(w - q); dWQR/dw = sign(w-q)|w| + |w-q| sign(w), scaled
    sgn = np.sign(w.detach().numpy() - q.numpy())
    expected = sgn / (0.75 * 5) + (sgn * np.abs(w.detach().numpy()) + dist * np.sign(w.detach().numpy())) / (0.75 ** 2 * 5)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12, atol=1e-15)


def test_mixed_schemes_and_bits_sum_per_layer():
    ws = [torch.randn(30, dtype=torch.float64) * 0.2, torch.randn(50, dtype=torch.float64)]
    specs = [LayerSpec("po2", 4), LayerSpec("dfp", 5)]
    qs, ms = zip(*[quantize_tensor(w, s, "max") for w, s in zip(ws, specs)])
    qr, wqr = qr_terms(list(ws), list(qs), list(ms))
    parts = [qr_terms([w], [q], [m]) for w, q, m in zip(ws, qs, ms)]
    assert qr.item() == pytest.approx(sum(p[0].item() for p in parts))
    assert wqr.item() == pytest.approx(sum(p[1].item() for p in parts))


def test_schedules():
    assert parse_schedule("0.5")(7) == 0.5
    assert parse_schedule("10*epoch")(3) == 30 and parse_schedule("epoch*2")(4) == 8
    s = parse_schedule("0 until 150 then 100")
    assert (s(0), s(149), s(150), s(300)) == (0, 0, 100, 100)
    assert parse_schedule("1 until 5 then 2*epoch")(6) == 12
    for bad in ("ten", "0 until x then 1", "0 until 5 then 1 until 3 then 2", "epoch**2"):
        with pytest.raises(WqrcError, match="--lambda2"):
            parse_schedule(bad, "--lambda2")


def test_user_loop_api():
    g = wqrc.load_model(EXAMPLE)
    from wqrc.ir.to_torch import GraphModule
    module = GraphModule(g)
    reg = wqrc.QuantRegularizer(module, make_plan(g, "po2", 3), lambda2="10*epoch", rule="paper")
    out = reg(2)
    assert out.requires_grad and out.item() == pytest.approx(20 * reg.last_wqr)
    out.backward()
    assert all(module.weight_of(n).grad is not None for n in ["conv1", "fc"])


def test_digits_po2_3_recovers_within_one_point(tmp_path, capsys):
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "po2", 3)
    cfg = FinetuneConfig(epochs=15, lr=2e-3, lambda2="20*epoch", exponent="paper", batch=64)
    acc_m, acc_init = evaluate(g, plan, cfg, ds)
    from wqrc.ir.to_torch import GraphModule
    before = QuantRegularizer(GraphModule(g), plan, rule="paper").mean_distance()
    trained, hist = finetune(g, ds, plan, cfg, checkpoint=str(tmp_path / "c.pt"), log_csv=str(tmp_path / "log.csv"))
    last = hist.rows[-1]
    test_q = evaluate(trained, hist.plan, cfg, ds)[1]
    with capsys.disabled():
        print(f"\ndigits Po2 b=3: test float {acc_m:.2%}, direct {acc_init:.2%}, after WQR fine-tuning {test_q:.2%} "
              f"(kept epoch {hist.best_epoch}); mean |W - Q(W)| {before:.5f} -> {last['mean_distance']:.5f} "
              f"({before / last['mean_distance']:.1f}x)")
    assert acc_init < acc_m - 0.01  # direct quantization loses accuracy
    assert test_q >= acc_m - 0.01
    assert before / last["mean_distance"] >= 10
    # the returned graph holds the kept epoch's weights on their (pinned) levels: the same validation accuracy
    kept = hist.rows[hist.best_epoch - 1]
    assert kept["acc_Mq"] == max(r["acc_Mq"] for r in hist.rows)
    assert evaluate(trained, hist.plan, cfg, ds, split="val")[1] == kept["acc_Mq"]
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert len(rows) == 15 and {"acc_tr", "acc_M", "acc_Mq", "qr", "wqr", "loss", "lambda2"} <= set(rows[0])


def test_resume_continues_and_rejects_other_models(tmp_path):
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "po2", 3)
    ck = str(tmp_path / "c.pt")
    cfg = FinetuneConfig(epochs=2, lr=2e-3, lambda2="20*epoch", exponent="paper")
    _, h1 = finetune(g, ds, plan, cfg, checkpoint=ck)
    cfg4 = FinetuneConfig(epochs=3, lr=2e-3, lambda2="20*epoch", exponent="paper")
    _, h2 = finetune(g, ds, plan, cfg4, checkpoint=ck, resume=ck)
    assert [r["epoch"] for r in h2.rows] == [1, 2, 3] and h2.rows[:2] == h1.rows
    from test_lps import fig1_model
    other, _ = fig1_model()
    with pytest.raises(WqrcError, match="another model"):
        finetune(other, ds, make_plan(other, "po2", 3), cfg, resume=ck)


def test_cli_finetune_ste_compiles_and_bad_inputs(tmp_path):
    out = tmp_path / "ste.onnx"
    res = run_wqrc("finetune", EXAMPLE, "--data", "digits", "--scheme", "po2", "--bits", "4", "--epochs", "2",
                   "--method", "ste", "--flip", "--shift", "1", "--plots", str(tmp_path / "plots"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "acc_Mq" in res.stdout and out.is_file() and (tmp_path / "ste.log.csv").is_file()
    assert f"compile with: wqrc compile {out} --bits {tmp_path / 'ste.plan.json'}" in res.stdout
    assert sorted(os.listdir(tmp_path / "plots")) == ["fig8_training.png", "fig9_histograms.png"]
    # the output compiles with the same scheme and bits, and its weights are on the levels
    g = wqrc.load_model(str(out))
    pinned = json.load(open(tmp_path / "ste.plan.json"))
    assert all(isinstance(e["n1"], int) for e in pinned["layers"].values())
    qm = wqrc.quantize(g, bits=pinned, calib=load_dataset("digits").x_train[:64])
    for n in g.weighted_nodes():
        np.testing.assert_array_equal(qm.layers[n.name].dequantized().astype(np.float32), n.weight)
    res = run_wqrc("compile", str(out), "--bits", str(tmp_path / "ste.plan.json"), "--calib", "digits",
                   "--target", "c", "-o", str(tmp_path / "c"))
    assert res.returncode == 0, res.stderr
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "cifar", "-o", str(tmp_path / "x.onnx")),
                      "unknown dataset 'cifar'")
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "digits", "--lambda2", "lots", "-o", str(tmp_path / "x.onnx")),
                      "--lambda2", "lots")
    np.savez(tmp_path / "many.npz", x=np.zeros((4, 1, 8, 8), np.float32), y=np.array([0, 3, 12, 40]))
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", str(tmp_path / "many.npz"), "-o", str(tmp_path / "x.onnx")),
                      "labels up to 40", "10 outputs")
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "digits", "--resume", str(tmp_path / "ste.log.csv"),
                               "-o", str(tmp_path / "x.onnx")), "not a wqrc checkpoint")
    assert not (tmp_path / "x.onnx").exists()
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "digits", "--scale", "learned",
                               "-o", str(tmp_path / "x.onnx")), "--scale learned", "--method ste")


def test_ctrl_c_leaves_a_checkpoint_that_resumes(tmp_path):
    import signal
    import subprocess
    import sys

    from conftest import ROOT, default_sigint
    out = tmp_path / "m.onnx"
    ck = tmp_path / "m.ckpt.pt"
    args = [sys.executable, "-m", "wqrc", "finetune", EXAMPLE, "--data", "digits", "--scheme", "po2", "--bits", "3",
            "--epochs", "200", "-o", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=default_sigint)
    # the event: the first epoch's line, printed after its checkpoint is written
    for line in proc.stdout:
        if line.lstrip().startswith("epoch   1:"):
            break
    assert ck.exists(), "no checkpoint after the first epoch"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode != 0 and "--resume" in err and "Traceback" not in err
    assert not out.exists()
    state = torch.load(ck, weights_only=False)
    done = state["epoch"]
    res = run_wqrc("finetune", EXAMPLE, "--data", "digits", "--scheme", "po2", "--bits", "3",
                   "--epochs", str(done + 1), "--resume", str(ck), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert out.is_file() and (f"of {done + 1} (best on the validation slice)" in res.stdout
                              or f"none of the {done + 1} epoch" in res.stdout), res.stdout


# -- fixed level sets, recipes, activation-aware training, the float control -------------------------

def test_levels_are_chosen_once_and_pinned_through_training(tmp_path):
    """Algorithm 2 takes Q_n as an input: no exponent moves unless --scale reestimate or learned asks."""
    from wqrc.train.finetune import pin_levels
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "dfp", 3)
    start = pin_levels(g, plan, "paper")
    assert all(s.n1 is not None for s in start.values())
    # the ratchet's setting: the paper rule at DFP-3 with a strong WQR pull
    cfg = FinetuneConfig(epochs=3, lr=2e-3, lambda2="200", exponent="paper", keep="last")
    trained, hist = finetune(g, ds, plan, cfg)
    assert hist.plan == start and all(r["relevels"] == 0 for r in hist.rows)
    qm = wqrc.quantize(trained, bits={"layers": {n: dict(scheme="dfp", bits=3, n1=s.n1) for n, s in start.items()}},
                       calib=ds.x_train[:64])
    for n in trained.weighted_nodes():
        assert qm.layers[n.name].n1 == start[n.name].n1
        np.testing.assert_array_equal(qm.layers[n.name].dequantized().astype(np.float32), n.weight)


def test_reestimated_levels_move_only_past_the_hysteresis_margin():
    from wqrc.train.finetune import relevel
    w = torch.tensor(np.linspace(-0.3, 0.3, 101), dtype=torch.float64)
    pinned_far = {"l": LayerSpec("dfp", 4, 3)}  # levels 8x too wide: the rule's exponent is far better
    plan, moved = relevel([("l", w)], pinned_far, "mse", 0.1)
    assert moved and plan["l"].n1 == moved[0][2] != 3
    plan2, moved2 = relevel([("l", w)], plan, "mse", 0.1)  # already the rule's choice: nothing moves
    assert not moved2 and plan2 == plan
    # a candidate that is better, but by less than the margin, is not taken
    w_edge = torch.tensor([0.49, -0.2, 0.1, 0.05], dtype=torch.float64)
    ours = {"l": LayerSpec("dfp", 4, -1)}
    alt = LayerSpec("dfp", 4, 0)
    from wqrc.train.finetune import _sq_error
    e_ours, e_alt = _sq_error(w_edge.numpy(), ours["l"], "l"), _sq_error(w_edge.numpy(), alt, "l")
    plan3, moved3 = relevel([("l", w_edge)], ours, "mse", 1.0)  # margin 100%: never moves
    assert not moved3 and plan3 == ours and e_alt != e_ours


def test_detached_wqr_weight_only_weighs_the_pull():
    w = torch.tensor([0.75, 0.6, -0.1, 0.3, -0.4], dtype=torch.float64, requires_grad=True)
    q, m = quantize_tensor(w, LayerSpec("dfp", 3), "paper")
    _, wqr = qr_terms([w], [q], [m], "detached")
    wqr.backward()
    sgn = np.sign(w.detach().numpy() - q.numpy())
    np.testing.assert_allclose(w.grad.numpy(), sgn * np.abs(w.detach().numpy()) / (0.75 ** 2 * 5), rtol=1e-12)
    from wqrc.ir.to_torch import GraphModule
    g = wqrc.load_model(EXAMPLE)
    with pytest.raises(WqrcError, match="--wqr-weight: unknown 'half'"):
        QuantRegularizer(GraphModule(g), make_plan(g, "dfp", 3), wqr_weight="half")


def test_paper_recipe_scales_the_200_epoch_schedule():
    from wqrc.train.recipes import recipe, schedule_lines
    r = recipe("paper", 8, 1e-3)
    lam1, lam2 = parse_schedule(r.lambda1), parse_schedule(r.lambda2)
    assert r.method == "wqr" and [lam2(e) for e in range(8)] == [250.0 * e for e in range(8)]
    assert [lam1(e) for e in range(8)] == [0] * 6 + [100, 100] and r.lr_drops == [(6, pytest.approx(1e-4))]
    # 200 epochs: the paper's own numbers
    r200 = recipe("paper", 200, 1e-4)
    assert parse_schedule(r200.lambda2)(150) == 1500 and parse_schedule(r200.lambda1)(149) == 0
    assert parse_schedule(r200.lambda1)(150) == 100 and r200.lr_drops == [(150, pytest.approx(1e-5))]
    lines = schedule_lines(FinetuneConfig(epochs=8, lr=1e-3, lambda1=r.lambda1, lambda2=r.lambda2,
                                          lr_drops=r.lr_drops))
    assert len(lines) == 8 and "λ2 1750" in lines[-1] and "λ1 100" in lines[-1] and "lr 0.0001" in lines[-1]
    long = schedule_lines(FinetuneConfig(epochs=200, lr=1e-4, lambda1=r200.lambda1, lambda2=r200.lambda2,
                                         lr_drops=r200.lr_drops))
    assert len(long) == 2 and "epoch   1-150" in long[0] and "0..1490" in long[0] and "1500..1990" in long[1]
    assert recipe("float", 5, 1e-3).method == "float" and recipe("ste", 5, 1e-3).method == "ste"
    with pytest.raises(WqrcError, match="--recipe"):
        recipe("fast", 5, 1e-3)


def test_combined_recipes_put_the_regularizer_on_a_straight_through_forward():
    """wqr-ste: the paper's terms on an STE forward from the first epoch; wqr-then-ste: WQR's ramp
    alone for the first half, STE alone after (λ2 back to 0). The CLI lists every recipe."""
    from wqrc.train.recipes import RECIPES, recipe
    both, then = recipe("wqr-ste", 8, 1e-3), recipe("wqr-then-ste", 8, 1e-3)
    assert both.method == then.method == "wqr" and both.ste_from == 0 and then.ste_from == 4
    assert both.lambda1 == recipe("paper", 8, 1e-3).lambda1 and both.lambda2 == recipe("paper", 8, 1e-3).lambda2
    lam2 = parse_schedule(then.lambda2)
    assert [lam2(e) for e in range(8)] == [250.0 * e for e in range(4)] + [0.0] * 4
    assert parse_schedule(then.lambda1)(7) == 0
    import click
    from wqrc.cli import finetune as cmd
    choices = next(p for p in cmd.params if p.name == "recipe").type
    assert isinstance(choices, click.Choice) and sorted(choices.choices) == sorted(RECIPES)
    with pytest.raises(WqrcError, match="ste_from"):
        check_config(FinetuneConfig(method="ste", ste_from=2))
    # one epoch of each: wqr-ste regularizes on the STE forward; the switch changes the forward
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "po2", 3)
    losses = {}
    for name in ("ste", "wqr-ste", "wqr-then-ste"):
        r = recipe(name, 2, 1e-3)
        cfg = FinetuneConfig(epochs=2, lr=1e-3, lr_drops=r.lr_drops, method=r.method, lambda1=r.lambda1,
                             lambda2=r.lambda2, ste_from=r.ste_from, batch=64, seed=3, act_bits=32)
        _, h = finetune(g, ds, plan, cfg)
        losses[name] = [row["loss"] for row in h.rows]
    assert losses["wqr-ste"][0] == losses["ste"][0]           # epoch 1: λ1 = λ2 = 0, the same STE steps
    assert losses["wqr-ste"][1] > losses["ste"][1]            # epoch 2: the same forward plus the terms
    assert losses["wqr-then-ste"][0] != losses["ste"][0]      # epoch 1: a float forward
    assert losses["wqr-then-ste"][1] != losses["wqr-ste"][1]


def test_activation_aware_forward_is_what_the_simulator_runs():
    """With the quantized weights and the integer graph's formats, the fake-quantized torch forward
    agrees with the bit-exact simulator: what training sees is what the hardware runs."""
    from wqrc.ir.to_torch import GraphModule
    from wqrc.sim import simulate_float
    from wqrc.train.finetune import activation_grid, quantize_module_graph, quantized_model
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    cfg = FinetuneConfig(act_bits=6)
    plan = make_plan(g, "po2", 4)
    gq = quantize_module_graph(GraphModule(g), plan, "mse")
    qm = quantized_model(gq, plan, cfg, ds.x_train)
    m = GraphModule(gq)
    plain = m(torch.from_numpy(ds.x_test)).detach().numpy()
    m.act_quant = activation_grid(qm)
    fake = m(torch.from_numpy(ds.x_test)).detach().numpy()
    sim = simulate_float(qm, ds.x_test)
    step = 2.0 ** qm.output_format.frac
    # the output sits on the simulator's grid; the two differ only where a rounding (bias, requantization) does
    np.testing.assert_array_equal(np.round(fake / step), fake / step)
    close = np.abs(fake - sim) <= 2 * step
    assert close.mean() >= 0.97, close.mean()
    assert np.abs(fake - sim).mean() < 0.5 * np.abs(plain - sim).mean()
    # argmax differs only at ties on the coarse 6-bit grid (measured 98.6% agreed, 97.0% for the float forward)
    assert (fake.argmax(1) == sim.argmax(1)).mean() >= max(0.98, (plain.argmax(1) == sim.argmax(1)).mean())


def test_float_control_and_act_aware_training_run(tmp_path):
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "dfp", 4)
    ctl, h = finetune(g, ds, plan, FinetuneConfig(epochs=2, lr=1e-3, method="float", act_bits=4))
    scores = [h.start_score] + [r["acc_M"] for r in h.rows]   # epoch 0: the model as given
    kept = 0   # a later epoch wins a tie with an earlier one; epoch 0 must be beaten
    for e in (1, 2):
        if scores[e] > scores[kept] or (scores[e] == scores[kept] and kept > 0):
            kept = e
    assert h.best_epoch == kept
    aware, h2 = finetune(g, ds, plan, FinetuneConfig(epochs=2, lr=1e-3, method="ste", act_bits=4))
    blind, h3 = finetune(g, ds, plan, FinetuneConfig(epochs=2, lr=1e-3, method="ste", act_bits=4, act_aware=False))
    w = lambda gr: np.concatenate([n.weight.ravel() for n in gr.weighted_nodes()])  # noqa: E731
    assert not np.array_equal(w(aware), w(blind))  # the forward pass differed
    with pytest.raises(WqrcError, match="--scale"):
        finetune(g, ds, plan, FinetuneConfig(epochs=1, scale="sometimes"))


def test_cli_recipe_conflicts_and_prints_its_schedule(tmp_path):
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "digits", "--recipe", "paper", "--lambda2", "5",
                               "-o", str(tmp_path / "x.onnx")), "--recipe paper sets --lambda2")
    res = run_wqrc("finetune", EXAMPLE, "--data", "digits", "--scheme", "dfp", "--bits", "4", "--recipe", "paper",
                   "--epochs", "2", "--lr", "1e-3", "-o", str(tmp_path / "p.onnx"))
    assert res.returncode == 0, res.stderr
    assert "epoch       1: lr 0.001  λ1 0  λ2 0" in res.stdout
    assert "epoch       2: lr 0.0001  λ1 100  λ2 1000" in res.stdout
    assert not (tmp_path / "x.onnx").exists()


def test_learned_exponent_gradient_and_value():
    """Bae et al.'s learned scale: the value is Q(W) at the rounded exponent; dQ/dt = ln2·(Q − W) inside the
    range and ln2·Q where clipped; dQ/dW = 1 inside, 0 where clipped."""
    import math
    from wqrc.train.scales import LearnedScales
    for scheme in ("dfp", "po2"):
        w = torch.tensor([0.9, -0.3, 0.12, 0.04, -2.5, 0.0], dtype=torch.float64, requires_grad=True)
        sc = LearnedScales({"l": LayerSpec(scheme, 3, -1)})
        q_ref, _ = quantize_tensor(w, LayerSpec(scheme, 3, -1), "mse")
        q = sc.fake_quantized("l", w)
        np.testing.assert_array_equal(q.detach().numpy(), q_ref.numpy())
        up = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0, 1.0], dtype=torch.float64)
        (q * up).sum().backward()
        top = 0.5 * (0.75 if scheme == "dfp" else 1.0)  # DFP-3 n1=-1: levels ±0.125..0.375; Po2-3: 0.125..0.5
        clip = np.abs(w.detach().numpy()) > (0.375 + 0.0625 if scheme == "dfp" else 0.75)
        inside = ~clip
        assert top and clip[0] and clip[4] and inside[1:4].all()
        np.testing.assert_array_equal(w.grad.numpy(), np.where(inside, up.numpy(), 0.0))
        dq_dt = np.where(clip, q_ref.numpy(), q_ref.numpy() - w.detach().numpy()) * math.log(2)
        assert sc.param("l").grad.item() == pytest.approx(float((dq_dt * up.numpy()).sum()), rel=1e-12)


def test_learned_exponents_move_towards_the_data_and_are_pinned_at_the_end(tmp_path):
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    from wqrc.train.finetune import pin_levels
    good = pin_levels(g, make_plan(g, "dfp", 4), "mse")
    low = {n: LayerSpec("dfp", 4, s.n1 - 3) for n, s in good.items()}  # 8x too narrow: most weights clip
    cfg = FinetuneConfig(epochs=3, lr=3e-2, method="ste", scale="learned", keep="last", act_bits=16)
    trained, hist = finetune(g, ds, low, cfg)
    moved_up = [n for n in low if hist.plan[n].n1 > low[n].n1]
    assert len(moved_up) >= 3, (low, hist.plan)
    assert any(r["relevels"] for r in hist.rows)
    acc_low = evaluate(g, low, cfg, ds, split="val")[1]
    assert evaluate(trained, hist.plan, cfg, ds, split="val")[1] > acc_low
    with pytest.raises(WqrcError, match="--scale learned .* --method ste"):
        finetune(g, ds, low, FinetuneConfig(epochs=1, method="wqr", scale="learned"))


def test_stable_exponents_freeze_at_their_running_average_for_the_last_part_of_the_budget():
    """--scale-stable 0.5 of 4 epochs: epochs 3 and 4 train against exponents frozen at the rounded
    running average of those used so far (which lags the last ones: epoch 3 may still move some),
    so no exponent moves in epoch 4; the state resumes too."""
    from wqrc.train.scales import LearnedScales, load_scales_state, scales_state
    sc = LearnedScales({"l": LayerSpec("po2", 3, -1)})
    w = torch.tensor([0.9, -0.3, 0.12, 0.04], dtype=torch.float64)
    for _ in range(300):
        sc.fake_quantized("l", w)
    e = sc.exponent("l", w)
    assert abs(sc.ema["l"] - e) < 0.1
    sc.freeze()
    with torch.no_grad():
        sc.param("l").add_(5.0)   # t far away: a frozen exponent does not follow it
    assert sc.exponent("l", w) == e and sc.frozen == {"l": e}
    other = LearnedScales({"l": LayerSpec("po2", 3, -1)})
    load_scales_state(other, scales_state(sc))
    assert other.frozen == sc.frozen and other.ema == sc.ema

    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    from wqrc.train.finetune import pin_levels
    low = {n: LayerSpec("dfp", 4, s.n1 - 3) for n, s in pin_levels(g, make_plan(g, "dfp", 4), "mse").items()}
    cfg = FinetuneConfig(epochs=4, lr=3e-2, method="ste", scale="learned", scale_stable=0.5, keep="last", act_bits=16)
    _, hist = finetune(g, ds, low, cfg)
    assert sum(r["relevels"] for r in hist.rows[:2]) >= 1 and hist.rows[3]["relevels"] == 0
    with pytest.raises(WqrcError, match="--scale-stable .* --scale learned"):
        finetune(g, ds, low, FinetuneConfig(epochs=1, method="ste", scale_stable=0.5))


def test_the_exponents_learning_rate_is_the_weights_times_scale_lr():
    """Adam moves a parameter about lr per step: with lr 1e-3 over 2 epochs (~22 steps) an exponent
    that starts 3 below MSQE's can move one step at --scale-lr 1 (floor/ceil of t), several at 100."""
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    from wqrc.train.finetune import pin_levels
    low = {n: LayerSpec("dfp", 4, s.n1 - 3) for n, s in pin_levels(g, make_plan(g, "dfp", 4), "mse").items()}
    moves = {}
    for mult in (1.0, 100.0):
        cfg = FinetuneConfig(epochs=2, lr=1e-3, method="ste", scale="learned", scale_lr=mult, keep="last", act_bits=16)
        _, hist = finetune(g, ds, low, cfg)
        moves[mult] = max(hist.plan[n].n1 - low[n].n1 for n in low)
    assert moves[1.0] <= 1 and moves[100.0] >= 2, moves
    with pytest.raises(WqrcError, match="--scale-lr"):
        finetune(g, ds, low, FinetuneConfig(epochs=1, method="ste", scale="learned", scale_lr=0.0))


def test_finetune_with_the_output_rule_pins_its_exponents_from_the_training_data():
    from wqrc.quant.output_rule import pin_by_output_error
    from wqrc.train.finetune import splits
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "dfp", 4)
    cfg = FinetuneConfig(epochs=1, exponent="output")
    acc_m, acc_q = evaluate(g, plan, cfg, ds, split="val")  # direct quantization: pinned on the fly
    assert 0.5 < acc_q <= 1.0
    _, hist = finetune(g, ds, plan, cfg)
    assert hist.plan == pin_by_output_error(g, plan, splits(ds, cfg)[0], nested=False)


def test_training_device_is_an_option_and_a_missing_gpu_is_a_one_line_error(tmp_path):
    """--device auto trains where torch finds a GPU and on the host otherwise: on a host without one
    it is the CPU run exactly; --device cuda without one is refused before any work."""
    from wqrc.train.finetune import training_device
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "dfp", 4)
    if torch.cuda.is_available():
        pytest.skip("this host has a CUDA GPU: test_training_on_a_gpu_matches_the_host covers it")
    assert training_device(FinetuneConfig(device="auto")).type == "cpu"
    runs = [finetune(g, ds, plan, FinetuneConfig(epochs=1, method="ste", device=d))[1] for d in ("cpu", "auto")]
    assert runs[0].rows == runs[1].rows
    with pytest.raises(WqrcError, match="--device cuda: torch sees no CUDA device"):
        finetune(g, ds, plan, FinetuneConfig(epochs=1, device="cuda"))
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "digits", "--epochs", "1", "--device", "cuda",
                               "-o", str(tmp_path / "t.onnx")), "--device cuda")
    assert not (tmp_path / "t.onnx").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU visible to torch (pip's CUDA build of torch)")
def test_training_on_a_gpu_matches_the_host():
    """The same seeded run on the GPU and on the host: the same batches and levels, so the same
    pinned plan and nearly the same accuracy (only float summation order differs); with act-aware
    training and the learned exponents' parameters on the GPU too."""
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "dfp", 4)
    for cfg in (dict(method="ste"), dict(method="wqr", lambda1="1", lambda2="10"),
                dict(method="ste", scale="learned", scale_lr=20.0)):
        host, gpu = (finetune(g, ds, plan, FinetuneConfig(epochs=2, lr=1e-3, device=d, **cfg))[1] for d in ("cpu", "cuda"))
        assert gpu.plan == host.plan or cfg.get("scale") == "learned", cfg
        assert abs(gpu.rows[-1]["acc_Mq"] - host.rows[-1]["acc_Mq"]) <= 0.03, (cfg, gpu.rows[-1], host.rows[-1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU visible to torch (pip's CUDA build of torch)")
def test_a_checkpoint_resumes_on_the_other_device(tmp_path):
    """Checkpoints are read onto the host and moved to the run's device: one epoch on the GPU,
    the second resumed on the host, gives the same plan and two rows as two epochs on the GPU."""
    ds = load_dataset("digits")
    g = wqrc.load_model(EXAMPLE)
    plan = make_plan(g, "dfp", 4)
    ckpt = str(tmp_path / "run.ckpt.pt")
    finetune(g, ds, plan, FinetuneConfig(epochs=1, method="ste", device="cuda"), checkpoint=ckpt)
    _, resumed = finetune(g, ds, plan, FinetuneConfig(epochs=2, method="ste", device="cpu"), checkpoint=ckpt, resume=ckpt)
    _, straight = finetune(g, ds, plan, FinetuneConfig(epochs=2, method="ste", device="cuda"))
    assert len(resumed.rows) == 2 and resumed.plan == straight.plan
    assert abs(resumed.rows[-1]["acc_Mq"] - straight.rows[-1]["acc_Mq"]) <= 0.03


def test_api_finetune_returns_a_record_of_what_it_wrote(tmp_path):
    """The Python path of `wqrc finetune`: one epoch on digits; the record's test accuracy is the
    written model's, compiled from its own plan."""
    from wqrc import api
    from wqrc.data import accuracy, load_dataset
    from wqrc.sim import simulate_float
    from wqrc.train.finetune import FinetuneConfig

    seen = []
    res = api.finetune(EXAMPLE, "digits", output=str(tmp_path / "t.onnx"), scheme="po2", bits="3",
                       config=FinetuneConfig(epochs=1, lr=1e-3, batch=64), on_start=lambda *a: seen.append(a))
    assert len(seen) == 1 and 0 < seen[0][1] <= 1 and 0 < seen[0][2] <= 1
    for f in res.files.values():
        assert os.path.isfile(f), f
    assert len(res.history.rows) == 1 and 0 < res.test_final <= 1
    ds = load_dataset("digits")
    x, y = ds.split("test")
    qm = api.quantize(api.load_model(res.files["model"]), bits=res.files["plan"], act_bits=8,
                      calib=ds.split("train")[0])
    assert abs(accuracy(simulate_float(qm, x), y) - res.test_final) < 0.02


def test_finetune_keeps_direct_quantization_when_no_epoch_beats_it(tmp_path):
    # a learning rate too small to move a weight off its level: no epoch can beat the model as given
    out = tmp_path / "t.onnx"
    res = run_wqrc("finetune", EXAMPLE, "--data", "digits", "--scheme", "po2", "--bits", "3", "--epochs", "1",
                   "--method", "ste", "--lr", "1e-12", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "none of the 1 epoch beat direct quantization on the validation slice" in res.stdout, res.stdout
    assert f"checkpoint {tmp_path / 't.ckpt.pt'}" in res.stdout and (tmp_path / "t.ckpt.pt").is_file()
    # the written model is the given one, its weights on the direct quantization's levels
    plan = json.load(open(tmp_path / "t.plan.json"))
    given, kept = wqrc.load_model(EXAMPLE), wqrc.load_model(str(out))
    calib = load_dataset("digits").x_train[:64]
    a, b = wqrc.quantize(given, scheme="po2", bits=plan, calib=calib), wqrc.quantize(kept, bits=plan, calib=calib)
    for name in a.layers:
        np.testing.assert_array_equal(a.layers[name].codes, b.layers[name].codes)
    cmd = next(l for l in res.stdout.splitlines() if l.startswith("compile with:"))
    assert cmd.endswith("--calib digits"), cmd


def test_printed_commands_and_paths_are_never_hard_wrapped(capsys):
    # rich breaks text at the console's width (220 columns in a log); the compile command finetune
    # prints, and a report note naming a file, must copy whole from a log however long the path
    from wqrc.report import build_report, render
    from wqrc.train.display import FinetuneDisplay

    path = "/tmp/" + "deep/" * 60 + "t.onnx"
    with FinetuneDisplay(FinetuneConfig(epochs=1), "po2") as show:
        show.print(f"compile with: wqrc compile {path} --calib digits")
    rep = build_report(wqrc.quantize(wqrc.load_model(EXAMPLE), scheme="po2", bits=4, exponent="mse"))
    rep["notes"] = [f"calibration data read from {path}"]
    render(rep)
    out = capsys.readouterr().out
    assert f"compile with: wqrc compile {path} --calib digits" in out.splitlines()
    assert f"note: calibration data read from {path}" in out.splitlines()


def test_per_channel_fine_tuning_trains_towards_each_channels_levels_and_compiles_to_them(tmp_path):
    """--granularity channel: each output channel's exponent chosen once (as quantize chooses it),
    the STE forward on those levels, the written plan pins them, and the compiled model stores
    exactly the trained weights and scores what fine-tuning reported."""
    from wqrc import api
    from wqrc.data import accuracy
    from wqrc.quant.quantize import quantize_channels
    from wqrc.sim import simulate_float

    g = wqrc.load_model(EXAMPLE)
    res = api.finetune(EXAMPLE, "digits", output=str(tmp_path / "t.onnx"), scheme="dfp", bits="3",
                       config=FinetuneConfig(epochs=1, method="ste", granularity="channel", keep="last"))
    doc = json.load(open(res.files["plan"]))
    for n in g.weighted_nodes():
        chosen, _ = quantize_channels(n.name, np.asarray(n.weight, np.float64), LayerSpec("dfp", 3), "mse")
        assert res.plan[n.name].channel_n1 == tuple(chosen) and res.plan[n.name].n1 is None
        assert doc["layers"][n.name]["channel_n1"] == chosen and "n1" not in doc["layers"][n.name]
    assert len({e for s in res.plan.values() for e in s.channel_n1}) > 1   # channels differ: not one per layer
    ds = load_dataset("digits")
    qm = api.quantize(api.load_model(res.files["model"]), bits=res.files["plan"], act_bits=8,
                      calib=ds.split("train")[0])   # the default (output) rule must keep the pins
    for n in res.graph.weighted_nodes():
        layer = qm.layers[n.name]
        assert list(layer.channel_n1) == list(res.plan[n.name].channel_n1)
        np.testing.assert_array_equal(layer.dequantized().astype(np.float32), n.weight)
    x, y = ds.split("test")
    assert abs(accuracy(simulate_float(qm, x), y) - res.test_final) < 0.02


@pytest.mark.parametrize("options, message", [
    (dict(exponent="output"), "--granularity channel: --exponent output chooses one exponent per layer"),
    (dict(scale="learned", method="ste"), "--granularity channel keeps each channel's exponent fixed: --scale learned"),
    (dict(scale="reestimate"), "--granularity channel keeps each channel's exponent fixed: --scale reestimate"),
    (dict(granularity="tensor"), "--granularity: unknown 'tensor'"),
])
def test_per_channel_fine_tuning_refuses_what_moves_one_exponent_per_layer(options, message):
    with pytest.raises(WqrcError, match=message.replace("(", r"\(")):
        check_config(FinetuneConfig(**{"granularity": "channel", **options}))


def test_a_plan_file_pins_channel_exponents_and_refuses_bad_ones(tmp_path):
    from wqrc.quant.plan import load_plan, plan_to_json
    plan = {"a": LayerSpec("dfp", 3, None, (0, -1)), "b": LayerSpec("po2", 4, 2)}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(plan_to_json(plan)))
    assert load_plan(str(path), ["a", "b"]) == plan
    for entry, message in [({"channel_n1": [0, "x"]}, "channel_n1 must be a list of integers"),
                           ({"channel_n1": []}, "channel_n1 must be a list of integers"),
                           ({"channel_n1": [0, 1], "n1": 1}, "channel_n1 pins each channel's exponent; drop n1")]:
        path.write_text(json.dumps({"layers": {"a": {"scheme": "dfp", "bits": 3, **entry},
                                               "b": {"scheme": "dfp", "bits": 3}}}))
        with pytest.raises(WqrcError, match=message):
            load_plan(str(path), ["a", "b"])
