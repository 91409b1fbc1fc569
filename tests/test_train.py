"""Trained quantization (docs/format.md §6): regularizer values and gradients, schedules, and fine-tuning on digits."""
import csv
import os

import numpy as np
import pytest
import torch

import wqrc
from wqrc.data import load_dataset
from wqrc.errors import WqrcError
from wqrc.quant.plan import LayerSpec, make_plan
from wqrc.train.finetune import FinetuneConfig, evaluate, finetune
from wqrc.train.regularizers import QuantRegularizer, qr_terms, quantize_tensor
from wqrc.train.schedule import parse_schedule

from conftest import EXAMPLE
from test_cli import assert_user_error, wqrc as run_wqrc

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
    with capsys.disabled():
        print(f"\ndigits Po2 b=3: float {acc_m:.2%}, direct {acc_init:.2%}, after WQR fine-tuning {last['acc_Mq']:.2%}; "
              f"mean |W - Q(W)| {before:.5f} -> {last['mean_distance']:.5f} ({before / last['mean_distance']:.1f}x)")
    assert acc_init < acc_m - 0.01  # direct quantization loses accuracy
    assert last["acc_Mq"] >= acc_m - 0.01
    assert before / last["mean_distance"] >= 10
    # the returned graph holds the levels themselves, and compiles to the same accuracy
    acc_m2, acc_q2 = evaluate(trained, plan, cfg, ds)
    assert acc_q2 == pytest.approx(last["acc_Mq"], abs=0.011)
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
    assert sorted(os.listdir(tmp_path / "plots")) == ["fig8_training.png", "fig9_histograms.png"]
    # the output compiles with the same scheme and bits, and its weights are on the levels
    g = wqrc.load_model(str(out))
    qm = wqrc.quantize(g, scheme="po2", bits=4, exponent="paper", calib=load_dataset("digits").x_train[:64])
    for n in g.weighted_nodes():
        np.testing.assert_array_equal(qm.layers[n.name].dequantized().astype(np.float32), n.weight)
    res = run_wqrc("compile", str(out), "--scheme", "po2", "--bits", "4", "--exponent", "paper", "--calib", "digits",
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
    assert out.is_file() and f"after {done + 1} epochs" in res.stdout
