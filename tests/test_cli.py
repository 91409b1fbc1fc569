"""The command line, run as a user runs it: a real subprocess, real files."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper

from conftest import EXAMPLE, ROOT, assert_user_error, make_onnx, wqrc


def test_quantize_simulate_inspect_end_to_end(tmp_path):
    q = tmp_path / "m.wqrc.npz"
    res = wqrc("quantize", EXAMPLE, "--scheme", "po2", "--bits", "4", "--calib", "digits", "-o", str(q))
    assert res.returncode == 0, res.stderr
    from wqrc.data import load_dataset
    ds = load_dataset("digits")
    np.save(tmp_path / "x.npy", ds.x_test[:20])
    res = wqrc("simulate", str(q), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
               "--trace", str(tmp_path / "trace.npz"))
    assert res.returncode == 0, res.stderr
    import wqrc as api
    qm = api.QModel.load(str(q))
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int64 and np.array_equal(y, api.simulate(qm, qm.quantize_input(ds.x_test[:20])))
    trace = np.load(tmp_path / "trace.npz")
    assert len(trace.files) == len(qm.nodes)
    res = wqrc("simulate", str(q), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "yf.npy"), "--float")
    assert np.array_equal(np.load(tmp_path / "yf.npy"), qm.dequantize_output(y))
    res = wqrc("inspect", str(q), "--data", "digits", "--json")
    rep = json.loads(res.stdout)
    assert [r["name"] for r in rep["layers"]] == ["conv1", "conv2", "conv3", "fc"]
    assert rep["totals"]["compression_ratio"] == pytest.approx(8.0)
    assert rep["accuracy"]["acc_Mq"] > 0.5
    res = wqrc("inspect", EXAMPLE, "--bits", "8,6,4,4", "--calib", "digits", "--data", "digits")
    assert res.returncode == 0 and "acc_M" in res.stdout and "CR" in res.stdout


def test_without_calibration_warns(tmp_path):
    res = wqrc("quantize", EXAMPLE, "-o", str(tmp_path / "q.npz"))
    assert res.returncode == 0
    assert "static range analysis" in res.stderr and "--calib" in res.stderr


def test_bits_out_of_range(tmp_path):
    out = tmp_path / "q.npz"
    assert_user_error(wqrc("quantize", EXAMPLE, "--scheme", "po2", "--bits", "9", "-o", str(out)),
                      "--bits: 9 is out of range for po2 (2..8)")
    assert_user_error(wqrc("quantize", EXAMPLE, "--scheme", "dfp", "--bits", "1", "-o", str(out)), "(2..16)")
    assert_user_error(wqrc("quantize", EXAMPLE, "--act-bits", "40", "-o", str(out)), "--act-bits")
    assert not out.exists()


def test_per_layer_list_of_wrong_length_lists_layers(tmp_path):
    res = wqrc("quantize", EXAMPLE, "--bits", "8,4", "-o", str(tmp_path / "q.npz"))
    assert_user_error(res, "2 bit-widths", "4 weighted layers", "conv1, conv2, conv3, fc")


def test_corrupt_truncated_and_unsupported_models(tmp_path):
    data = open(EXAMPLE, "rb").read()
    (tmp_path / "trunc.onnx").write_bytes(data[: len(data) // 2])
    assert_user_error(wqrc("quantize", str(tmp_path / "trunc.onnx"), "-o", str(tmp_path / "q.npz")),
                      "trunc.onnx", "not a readable ONNX model")
    m = make_onnx([helper.make_node("LRN", ["x"], ["y"], name="leaky", size=3)],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    (tmp_path / "u.onnx").write_bytes(m.SerializeToString())
    assert_user_error(wqrc("inspect", str(tmp_path / "u.onnx")), "node 'leaky'", "'LRN'", "docs/onnx_ops.md")
    assert not (tmp_path / "q.npz").exists()


def test_missing_and_mismatched_data(tmp_path):
    assert_user_error(wqrc("inspect", EXAMPLE, "--calib", str(tmp_path / "nope.npz")), "no such data file")
    assert_user_error(wqrc("inspect", EXAMPLE, "--calib", "imagenet"), "unknown dataset 'imagenet'")
    np.savez(tmp_path / "wrong.npz", x=np.zeros((4, 1, 5, 5), np.float32), y=np.zeros(4, np.int64))
    assert_user_error(wqrc("inspect", EXAMPLE, "--calib", str(tmp_path / "wrong.npz")), "(1, 5, 5)", "(1, 8, 8)")
    assert_user_error(wqrc("simulate", str(tmp_path / "none.wqrc.npz"), "--input", "x.npy", "--output", "y.npy"),
                      "no such file")


def test_fashion_mnist_missing_says_how_to_install(tmp_path):
    env = dict(os.environ, WQRC_FASHION_MNIST_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-m", "wqrc", "inspect", EXAMPLE, "--data", "fashion-mnist"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert_user_error(res, "apt-get install dataset-fashion-mnist")


def test_bad_option_values_are_one_line_errors():
    res = wqrc("inspect", EXAMPLE, "--scheme", "int4")
    assert res.returncode != 0 and "Traceback" not in res.stderr and "int4" in res.stderr
    assert_user_error(wqrc("inspect", EXAMPLE, "--input-range", "1,0"), "--input-range")


def test_shared_options_have_one_definition():
    import click

    from wqrc.cli import cli

    seen = {}
    for name, cmd in cli.commands.items():
        for p in cmd.params:
            if isinstance(p, click.Option):
                key = (p.name, p.opts[0] if p.opts[0].startswith("--") else p.opts[-1])
                desc = (p.default, type(p.type).__name__, repr(sorted(vars(p.type).items())), p.is_flag)
                seen.setdefault(key, {})[name] = desc
    shared = {k: v for k, v in seen.items() if len(v) > 1}
    for opt in ("scheme", "act_bits", "exponent", "calib_samples", "input_shape", "data"):
        assert any(k[0] == opt for k in shared), opt
    for key, by_cmd in shared.items():
        if key[0] in ("output", "data", "trace_path"):  # written by one command, read by another
            continue
        if key[0] == "method":  # each command's choice of its own algorithm: finetune wqr|ste, lps greedy|sqnr
            continue
        if key[0] in ("exponent", "granularity"):  # finetune quantizes every epoch: its own default (checked below)
            by_cmd = {c: d for c, d in by_cmd.items() if c != "finetune"}
        assert len(set(by_cmd.values())) == 1, (key, by_cmd)
    assert {c: d[0] for c, d in seen[("exponent", "--exponent")].items()} == dict(
        dict.fromkeys(("quantize", "inspect", "lps", "compile"), "auto"), finetune="mse")
    assert {c: d[0] for c, d in seen[("granularity", "--granularity")].items()} == dict(
        dict.fromkeys(("quantize", "inspect", "compile"), "auto"), finetune="layer")


@pytest.mark.parametrize("args, needle", [
    (["quantize", EXAMPLE, "--percentile", "nan", "-o", "q.npz"], "--percentile"),
    (["quantize", EXAMPLE, "--percentile", "101", "-o", "q.npz"], "--percentile"),
    (["quantize", EXAMPLE, "--calib-samples", "0", "-o", "q.npz"], "--calib-samples"),
    (["quantize", EXAMPLE, "--input-range", "-inf,inf", "-o", "q.npz"], "--input-range"),
    (["quantize", EXAMPLE, "-o", "."], "is a folder"),
    (["quantize", EXAMPLE, "-o", "README.md/sub.npz"], "does not exist"),
    (["finetune", EXAMPLE, "--data", "digits", "--lr", "-1", "-o", "x.onnx"], "--lr"),
    (["finetune", EXAMPLE, "--data", "digits", "--lr", "nan", "-o", "x.onnx"], "--lr"),
    (["finetune", EXAMPLE, "--data", "digits", "--shift", "-2", "-o", "x.onnx"], "--shift"),
    (["finetune", EXAMPLE, "--data", "digits", "--plots", "README.md", "-o", "x.onnx"], "--plots"),
    (["lps", EXAMPLE, "--data", "digits", "--max-drop", "nan", "-o", "p.json"], "--max-drop"),
    (["lps", EXAMPLE, "--data", "digits", "--max-drop", "0.01", "--calib-samples", "0", "-o", "p.json"],
     "--calib-samples"),
    (["finetune", EXAMPLE, "--data", "digits", "--lr-drop", "1:nan", "-o", "x.onnx"], "--lr-drop"),
    (["finetune", EXAMPLE, "--data", "digits", "--lr-drop", "1:-1", "-o", "x.onnx"], "--lr-drop"),
    (["finetune", EXAMPLE, "--data", "digits", "--lambda2", "-1", "-o", "x.onnx"], "--lambda2"),
    (["compile", EXAMPLE, "-o", ""], "empty"),
    (["compile", EXAMPLE, "--vectors", "0", "-o", "never"], "--vectors"),
    (["compile", "no-such-model.onnx", "-o", "never"], "no such file"),
    (["inspect", EXAMPLE, "--scheme", "int4"], "int4"),
])
def test_option_values_are_checked_before_work(tmp_path, args, needle):
    res = wqrc(*args, cwd=tmp_path if "README.md" not in " ".join(args) else None)
    assert_user_error(res, needle)
    assert sorted(os.listdir(tmp_path)) == []


HEAVY = ("torch", "onnx", "onnxruntime")


def _run_counting_imports(cwd, *args):
    """Run the CLI in a fresh interpreter; (exit code, stderr, which heavy libraries it imported)."""
    code = ("import sys; from wqrc.cli import main; rc = main(sys.argv[1:]); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True)
    return res.returncode, res.stderr, res.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args, needle", [
    (["compile", EXAMPLE, "--bits", "1", "-o", "o"], "--bits: 1 is out of range for dfp (2..16)"),
    (["compile", EXAMPLE, "--scheme", "po2", "--bits", "8,9", "-o", "o"], "--bits: 9 is out of range for po2"),
    (["compile", EXAMPLE, "--calib", "mnist", "-o", "o"], "--calib: unknown dataset 'mnist'"),
    (["compile", EXAMPLE, "--data", "nope.npz", "-o", "o"], "--data: nope.npz: no such data file"),
    (["compile", EXAMPLE, "--bits", "auto", "-o", "o"], "--bits auto needs --data"),
    (["compile", EXAMPLE, "--bits", "plan.json", "-o", "o"], "no such plan file"),
    (["compile", EXAMPLE, "--target", "c", "--parallelism", "4", "-o", "o"], "--parallelism applies to --target hls"),
    (["compile", EXAMPLE, "--target", "c,hls", "--lanes", "4", "-o", "o"], "--lanes applies to --target rtl"),
    (["quantize", EXAMPLE, "--bits", "auto", "-o", "q.npz"], "only wqrc compile searches"),
    (["finetune", EXAMPLE, "--data", "mnist", "-o", "t.onnx"], "--data: unknown dataset"),
    (["lps", EXAMPLE, "--data", "digits", "--start-bits", "20", "-o", "p.json"], "--start-bits: 20 is out of range"),
])
def test_mistakes_the_arguments_show_answer_before_any_model_is_loaded(tmp_path, args, needle):
    # the latency target (benchmarks/cli_latency.py): no torch or onnx import before these errors
    rc, err, imported = _run_counting_imports(tmp_path, *args)
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert imported == "[]", imported
    assert os.listdir(tmp_path) == []


def test_verify_and_simulate_of_a_quantized_model_import_neither_torch_nor_onnx(tmp_path):
    res = wqrc("quantize", EXAMPLE, "--bits", "4", "--calib", "digits", "-o", str(tmp_path / "m.wqrc.npz"))
    assert res.returncode == 0, res.stderr
    x = np.random.default_rng(0).uniform(0, 1, (3, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rc, err, imported = _run_counting_imports(tmp_path, "simulate", "m.wqrc.npz", "--input", "x.npy",
                                              "--output", "y.npy")
    assert rc == 0 and imported == "[]", (err, imported)
    rc, err, imported = _run_counting_imports(tmp_path, "verify", "m.wqrc.npz", "--input", "x.npy",
                                              "--outputs", "y.npy")
    assert rc == 0 and imported == "[]", (err, imported)
    y = np.load(tmp_path / "y.npy")
    y.flat[5] += 1
    np.save(tmp_path / "bad.npy", y)
    rc, err, imported = _run_counting_imports(tmp_path, "verify", "m.wqrc.npz", "--input", "x.npy",
                                              "--outputs", "bad.npy")
    assert rc == 1 and imported == "[]", (err, imported)


def test_internal_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    # a .wqrc.npz whose JSON is not an object reaches code that does not expect it
    import zipfile
    with zipfile.ZipFile(tmp_path / "bad.wqrc.npz", "w") as z:
        z.writestr("model_json.npy", b"garbage")
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    res = wqrc("simulate", str(tmp_path / "bad.wqrc.npz"), "--input", str(tmp_path / "x.npy"),
               "--output", str(tmp_path / "y.npy"))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_every_option_of_every_command_says_what_it_does():
    import click

    from wqrc.cli import cli
    missing = [f"{name} {p.opts[-1]}" for name, cmd in cli.commands.items() for p in cmd.params
               if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert missing == []
    assert "auto" in cli.commands["compile"].params[[p.name for p in cli.commands["compile"].params].index("bits")].help
    for name in ("quantize", "inspect", "finetune"):
        bits = next(p for p in cli.commands[name].params if p.name == "bits")
        assert "auto" not in bits.help, name


def test_pytorch_files_that_are_not_torchscript_say_what_to_do(tmp_path):
    import torch
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
    torch.save(model.state_dict(), tmp_path / "weights.pth")
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    torch.save(model, tmp_path / "whole.pth")
    (tmp_path / "junk.pt").write_bytes(b"not torch at all")
    for name, needle in (("weights.pth", "a state_dict"), ("ckpt.pt", "a state_dict"),
                         ("whole.pth", "torch.save(model) is a pickle"), ("junk.pt", "not a TorchScript file")):
        res = wqrc("compile", str(tmp_path / name), "--input-shape", "1,8,8", "-o", str(tmp_path / "out"))
        assert_user_error(res, needle, "torch.onnx.export", "wqrc.from_torch")
    assert not (tmp_path / "out").exists()
    torch.jit.trace(model, torch.zeros(1, 1, 8, 8)).save(str(tmp_path / "traced.pt"))
    res = wqrc("compile", str(tmp_path / "traced.pt"), "--input-shape", "1,8,8", "--target", "c",
               "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr


def test_data_whose_test_split_is_its_training_split_is_named_in_a_warning(tmp_path):
    from wqrc.data import load_dataset

    ds = load_dataset("digits")
    np.savez(tmp_path / "xy.npz", x=ds.x_test, y=ds.y_test)
    np.savez(tmp_path / "split.npz", x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
    np.savez(tmp_path / "copy.npz", x_train=ds.x_test, y_train=ds.y_test, x_test=ds.x_test, y_test=ds.y_test)
    for name, warned in (("xy.npz", True), ("split.npz", False), ("copy.npz", True)):
        res = wqrc("compile", EXAMPLE, "--target", "rom", "--data", str(tmp_path / name),
                   "-o", str(tmp_path / f"out_{name}"))
        assert res.returncode == 0, res.stderr
        lines = [l for l in res.stderr.splitlines() if "the test split is the training split" in l]
        assert len(lines) == (1 if warned else 0), res.stderr
        assert not warned or lines[0].startswith(f"wqrc: warning: {name}:")


def test_a_quantized_model_compiles_and_refuses_quantization_options(tmp_path):
    q = tmp_path / "m.wqrc.npz"
    assert wqrc("quantize", EXAMPLE, "--bits", "4", "--calib", "digits", "-o", str(q)).returncode == 0
    res = wqrc("compile", str(q), "--target", "rom", "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    for flag, value in (("--bits", "6"), ("--scheme", "po2"), ("--calib", "digits")):
        res = wqrc("compile", str(q), flag, value, "--target", "rom", "-o", str(tmp_path / "o2"))
        assert_user_error(res, f"{flag}: {q} is quantized already")
    assert not (tmp_path / "o2").exists()


def test_scheme_mixed_takes_po2_at_three_bits_or_fewer_and_is_refused_by_the_searches(tmp_path):
    """--scheme mixed (quant/plan.py): each layer's scheme by its width; a search compares widths of
    one scheme, so lps and compile --bits auto refuse it in one line, before any work."""
    import wqrc as lib
    from wqrc.quant.plan import make_plan
    g = lib.load_model(EXAMPLE)
    plan = make_plan(g, "mixed", [8, 3, 2, 4])
    assert [(s.scheme, s.bits) for s in plan.values()] == [("dfp", 8), ("po2", 3), ("po2", 2), ("dfp", 4)]
    qm = lib.quantize(g, scheme="mixed", bits=[8, 3, 2, 4])
    assert [l.scheme for l in qm.layers.values()] == ["dfp", "po2", "po2", "dfp"]
    out = tmp_path / "q.npz"
    res = wqrc("quantize", EXAMPLE, "--scheme", "mixed", "--bits", "6,3,3,16", "-o", str(out))
    assert res.returncode == 0 and out.is_file(), res.stderr
    assert_user_error(wqrc("quantize", EXAMPLE, "--scheme", "mixed", "--bits", "17", "-o", str(out)),
                      "--bits: 17 is out of range for mixed")
    plan_file = tmp_path / "plan.json"
    assert_user_error(wqrc("lps", EXAMPLE, "--data", "digits", "--scheme", "mixed", "-o", str(plan_file)),
                      "--scheme mixed: the search compares widths of one scheme")
    assert_user_error(wqrc("compile", EXAMPLE, "--bits", "auto", "--data", "digits", "--max-drop", "0.01",
                           "--scheme", "mixed", "-o", str(tmp_path / "c")), "--scheme mixed: the search")
    assert not plan_file.exists() and not (tmp_path / "c").exists()
