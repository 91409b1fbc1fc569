"""wqrc compile and wqrc verify, run as a user would."""
import filecmp
import json
import os
import subprocess
import sys

import numpy as np

import needs
from conftest import EXAMPLE
from conftest import assert_user_error, wqrc


def _same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files, (cmp.left_only, cmp.diff_files)
    for sub in cmp.common_dirs:
        _same_tree(f"{a}/{sub}", f"{b}/{sub}")


@needs.cc
def test_compile_c_is_deterministic_and_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = [EXAMPLE, "--scheme", "po2", "--bits", "4", "--calib", "digits", "--target", "c,rom"]
    res = wqrc("compile", *args, "-o", str(a))
    assert res.returncode == 0, res.stderr
    assert "W_mem" in res.stdout and "make -C" in res.stdout
    assert wqrc("compile", *args, "-o", str(b)).returncode == 0
    _same_tree(a, b)
    # report.json depends on the model and options only, not on the toolchains installed
    c = tmp_path / "no-toolchains"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    assert subprocess.run([sys.executable, "-m", "wqrc", "compile", *args, "-o", str(c)], env=env,
                          capture_output=True).returncode == 0
    assert (c / "report.json").read_bytes() == (a / "report.json").read_bytes()
    for f in ("model.wqrc.npz", "report.json", "rom/weights.bin", "rom/weights.mem", "rom/weights.coe",
              "rom/weights.mif", "rom/manifest.json", "c/wqrc_model.h", "c/main.c", "c/Makefile"):
        assert (a / f).is_file(), f
    rep = json.loads((a / "report.json").read_text())
    assert rep["totals"]["w_mem_bits"] <= rep["totals"]["rom_bits"] < rep["totals"]["w_mem_bits"] + 32 * 4
    assert rep["c"]["ram_bytes"] > 0
    run = subprocess.run(["make", "-s", "-C", str(a / "c"), "run"], capture_output=True, text=True)
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr
    # the folder is also a model for the simulator
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    assert wqrc("simulate", str(a), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")).returncode == 0


def test_compile_refuses_non_empty_output_and_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_user_error(wqrc("compile", EXAMPLE, "--target", "rom", "-o", str(out)), "--force")
    assert (out / "keep.txt").read_text() == "mine"
    fresh = tmp_path / "fresh"
    assert_user_error(wqrc("compile", EXAMPLE, "--bits", "8,8", "--target", "c", "-o", str(fresh)), "4 weighted layers")
    assert_user_error(wqrc("compile", EXAMPLE, "--scheme", "po2", "--bits", "7", "--target", "c", "-o", str(fresh)),
                      "accumulator needs")
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".wqrc")] == []
    assert_user_error(wqrc("compile", EXAMPLE, "--target", "vhdl", "-o", str(fresh)), "unknown target 'vhdl'")
    # --force replaces only a folder that wqrc wrote
    assert_user_error(wqrc("compile", EXAMPLE, "--target", "rom", "-o", str(out), "--force"), "has no wqrc manifest")
    assert (out / "keep.txt").read_text() == "mine"
    assert wqrc("compile", EXAMPLE, "--target", "rom", "-o", str(fresh)).returncode == 0
    (fresh / "stale.txt").write_text("old")   # a file the user added to an earlier output is never deleted
    assert_user_error(wqrc("compile", EXAMPLE, "--target", "rom", "-o", str(fresh), "--force"),
                      "stale.txt is not a file wqrc wrote")
    assert (fresh / "stale.txt").read_text() == "old"
    (fresh / "stale.txt").unlink()
    res = wqrc("compile", EXAMPLE, "--target", "rom", "-o", str(fresh), "--force")
    assert res.returncode == 0 and (fresh / "rom").is_dir()


def test_verify_pass_fail_and_first_bad_layer(tmp_path):
    q = tmp_path / "q.wqrc.npz"
    assert wqrc("quantize", EXAMPLE, "--scheme", "dfp", "--bits", "6", "--calib", "digits", "-o", str(q)).returncode == 0
    from wqrc.data import load_dataset
    x = load_dataset("digits").x_test[:10]
    np.save(tmp_path / "x.npy", x)
    assert wqrc("simulate", str(q), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                "--trace", str(tmp_path / "t.npz")).returncode == 0
    ok = wqrc("verify", str(q), "--input", str(tmp_path / "x.npy"), "--outputs", str(tmp_path / "y.npy"))
    assert ok.returncode == 0 and "PASS" in ok.stdout
    y = np.load(tmp_path / "y.npy")
    y[3, 7] += 1
    y[5, 0] -= 2
    np.save(tmp_path / "bad.npy", y)
    trace = dict(np.load(tmp_path / "t.npz"))
    key = next(k for k in trace if k.endswith("conv2"))
    trace[key] = trace[key].copy()
    trace[key].flat[0] += 1
    np.savez(tmp_path / "bad_trace.npz", **trace)
    bad = wqrc("verify", str(q), "--input", str(tmp_path / "x.npy"), "--outputs", str(tmp_path / "bad.npy"),
               "--trace", str(tmp_path / "bad_trace.npz"))
    assert bad.returncode == 1
    assert "2 of 10 samples differ" in bad.stdout and "sample 3, element 7" in bad.stdout
    assert "first layer that differs: 'conv2'" in bad.stdout
