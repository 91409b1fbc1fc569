"""Data-parallel fine-tuning (issue 35, item 2): torchrun's two CPU processes (gloo) against one
process with the same global batch; the per-epoch figures agree up to floating-point summation
order, rank 0 alone prints and writes, and the first line it prints names the world."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import EXAMPLE

pytestmark = pytest.mark.slow

ARGS = ["finetune", EXAMPLE, "--data", "digits", "--scheme", "po2", "--bits", "3", "--epochs", "2",
        "--recipe", "paper", "--batch", "64"]


def _run(prefix: list, out, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(prefix + ["-m", "wqrc", *ARGS, "-o", str(out)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=900)


def _rows(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path):
    one = _run([sys.executable], tmp_path / "one.onnx", tmp_path)
    assert one.returncode == 0, one.stderr
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"], tmp_path / "two.onnx",
               tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.splitlines()[0] == "data-parallel over 2 processes (gloo)", two.stdout[:500]
    assert "data-parallel" not in one.stdout
    # rank 0 alone prints its result
    assert sum(line.startswith("test: float") for line in two.stdout.splitlines()) == 1, two.stdout[-2000:]
    a, b = _rows(tmp_path / "one.log.csv"), _rows(tmp_path / "two.log.csv")
    assert len(a) == len(b) == 2
    for ra, rb in zip(a, b):
        for key in ("loss", "qr", "wqr", "mean_distance"):
            assert np.isclose(float(ra[key]), float(rb[key]), rtol=1e-4, atol=1e-7), (key, ra[key], rb[key])
        for key in ("acc_tr", "acc_M", "acc_Mq"):   # a flipped level can move one sample: 1/180 of the slice
            assert abs(float(ra[key]) - float(rb[key])) <= 0.011, (key, ra[key], rb[key])
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("two"))
    assert written == ["two.ckpt.pt", "two.log.csv", "two.onnx", "two.plan.json"]
