"""Knowledge distillation from the float model (--distill, wqrc/train/distill.py): the loss, the
teacher (the model as given, frozen) and the options' errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import wqrc
from wqrc.data import load_dataset
from wqrc.quant.plan import make_plan
from wqrc.train.distill import task_loss
from wqrc.train.finetune import FinetuneConfig, finetune

from conftest import EXAMPLE
from conftest import assert_user_error, wqrc as run_wqrc


def test_the_loss_is_cross_entropy_at_alpha_0_and_the_softened_divergence_at_1():
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(16, 10, generator=gen, requires_grad=True)
    t = torch.randn(16, 10, generator=gen)
    y = torch.randint(0, 10, (16,), generator=gen)
    assert torch.equal(task_loss(s, y, t, 0.0), F.cross_entropy(s, y))   # bit for bit: no distillation
    assert torch.equal(task_loss(s, y, None, 0.7), F.cross_entropy(s, y))
    temp = 3.0
    loss = task_loss(s, y, t, 1.0, temp)
    p_t, p_s = F.softmax(t / temp, 1), F.softmax(s / temp, 1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean() * temp ** 2
    torch.testing.assert_close(loss, kl)
    # Hinton et al.: the T² scaled soft term's gradient is T (q - p), per sample of the batch
    loss.backward()
    torch.testing.assert_close(s.grad, temp * (p_s - p_t).detach() / len(s))
    assert float(task_loss(t, y, t, 1.0)) == 0.0   # a student equal to its teacher has nothing to learn
    mixed = task_loss(s, y, t, 0.25, temp)
    torch.testing.assert_close(mixed, 0.75 * F.cross_entropy(s, y) + 0.25 * kl)


@pytest.mark.slow
def test_the_teacher_is_the_model_as_given():
    """Pure distillation (α = 1) of a float model from itself leaves its weights where they are:
    the teacher is the model fine-tuning starts from, so every gradient is zero up to rounding;
    with the labels (α = 0) the same run moves them. (SGD: Adam's step is scale-free, so it
    would turn gradients of 1e-9 from rounding into steps of the learning rate.)"""
    g = wqrc.load_model(EXAMPLE)
    ds = load_dataset("digits")
    plan = make_plan(g, "dfp", 8)
    moved = {}
    for alpha in (1.0, 0.0):
        cfg = FinetuneConfig(epochs=1, lr=0.01, optimizer="sgd", method="float", distill=alpha, keep="last", seed=0)
        _, hist = finetune(g, ds, plan, cfg)
        first, last = hist.snapshots[0], hist.snapshots[1]
        moved[alpha] = max(float(np.max(np.abs(last[n] - first[n]))) for n in first)
    assert moved[1.0] < 1e-6 and moved[0.0] > 1e-4, moved   # measured: 2e-8 and 3.5e-4


@pytest.mark.slow
def test_distill_options_are_checked_before_training_and_the_run_says_it_distills(tmp_path):
    out = str(tmp_path / "x.onnx")
    for value in ("1.5", "-0.1", "nan"):
        assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "digits", "--distill", value, "-o", out),
                          "--distill")
    assert_user_error(run_wqrc("finetune", EXAMPLE, "--data", "digits", "--distill", "0.5",
                               "--distill-temperature", "0", "-o", out), "--distill-temperature")
    assert not (tmp_path / "x.onnx").exists()
    res = run_wqrc("finetune", EXAMPLE, "--data", "digits", "--scheme", "po2", "--bits", "4", "--epochs", "1",
                   "--recipe", "ste", "--distill", "0.5", "-o", out)
    assert res.returncode == 0, res.stderr
    assert "ste (recipe ste), distilled from the float model (α 0.5, T 4), po2" in res.stdout
