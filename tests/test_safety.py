"""Safe to point at anything: crafted model files, hostile output paths, kills and races.

Each case asserts a non-zero exit, a single-line message without a traceback,
and an output path left as it was.
"""
import copy
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from conftest import EXAMPLE, ROOT, default_sigint
from conftest import assert_user_error, wqrc


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "good.wqrc.npz"
    res = wqrc("quantize", EXAMPLE, "--scheme", "po2", "--bits", "4", "--calib", "digits", "-o", str(path))
    assert res.returncode == 0, res.stderr
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return path, json.loads(bytes(arrays["model_json"]).decode()), arrays


def _write_model(path, doc, arrays, **replace):
    arrays = dict(arrays, model_json=np.frombuffer(json.dumps(doc).encode(), np.uint8), **replace)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def _mutations():
    """(id, function mutating the JSON document, code arrays to replace or None, expected text)."""
    def setter(path, value):
        def f(doc):
            obj = doc
            for k in path[:-1]:
                obj = obj[k]
            if value is KeyError:
                del obj[path[-1]]
            else:
                obj[path[-1]] = value
        return f
    return [
        ("no-format", setter(["format"], KeyError), None, "not a wqrc quantized model"),
        ("version-2", setter(["version"], 2), None, "version 1"),
        ("no-nodes", setter(["nodes"], KeyError), None, "nodes"),
        ("empty-nodes", setter(["nodes"], []), None, "no node"),
        ("bits-0", setter(["layers", "conv1", "bits"], 0), None, "bits"),
        ("bits-str", setter(["layers", "conv1", "bits"], "x"), None, "bits"),
        ("bits-float", setter(["layers", "conv1", "bits"], 3.7), None, "bits"),
        ("scheme", setter(["layers", "conv1", "scheme"], "int4"), None, "unknown scheme"),
        ("rule", setter(["layers", "conv1", "rule"], "magic"), None, "rule"),
        ("rounding", setter(["layers", "conv1", "rounding"], "stochastic"), None, "unknown rounding"),
        ("op", setter(["nodes", 0, "op"], "lstm"), None, "unknown op"),
        ("huge-shift", setter(["layers", "conv1", "shift"], 10 ** 30), None, "shift"),
        ("wrong-shift", setter(["layers", "conv1", "shift"], 3), None, "shift"),
        ("acc-bound", setter(["layers", "fc", "acc_bound"], 1), None, "acc_bound"),
        ("bias-len", setter(["layers", "fc", "bias"], [1, 2]), None, "bias"),
        ("bias-str", setter(["layers", "fc", "bias"], ["1"] * 10), None, "bias"),
        ("shape", setter(["layers", "conv1", "shape"], [1, 2, 3]), None, "conv1"),
        ("fmt-bits", setter(["formats", "input", "bits"], 64), None, "bits"),
        ("no-format-entry", lambda d: d["formats"].pop(d["output"]), None, "no shape or no format"),
        ("stride-0", lambda d: d["nodes"][0]["attrs"].__setitem__("strides", [0, 1]), None, "strides"),
        ("pads-neg", lambda d: d["nodes"][0]["attrs"].__setitem__("pads", [-1, 0, 0, 0]), None, "pads"),
        ("group", lambda d: d["nodes"][0]["attrs"].__setitem__("group", 5), None, "group"),
        ("non-ssa", lambda d: d["nodes"][1].__setitem__("output", d["nodes"][0]["output"]), None, "already written"),
        ("reads-later", lambda d: d["nodes"][0].__setitem__("inputs", [d["nodes"][1]["output"]]), None, "before"),
        ("layers-json-list", setter(["layers"], []), None, "layers"),
        ("codes-range", None, {"codes_0": np.full(72, 200, np.uint8)}, "codes outside"),
        ("codes-float", None, {"codes_0": np.zeros(72, np.float32)}, "codes_0"),
        ("codes-missing", lambda d: d["layers"]["conv1"].__setitem__("index", 7), None, "index"),
    ]


@pytest.mark.parametrize("case", _mutations(), ids=lambda c: c[0])
def test_crafted_model_files_are_one_line_errors(tmp_path, good_model, case):
    _, doc, arrays = good_model
    name, mutate, replace, needle = case
    doc = copy.deepcopy(doc)
    if mutate:
        mutate(doc)
    bad = tmp_path / "bad.wqrc.npz"
    _write_model(bad, doc, arrays, **(replace or {}))
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    for args in (["simulate", str(bad), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")],
                 ["inspect", str(bad)]):
        assert_user_error(wqrc(*args), needle)
    assert not (tmp_path / "y.npy").exists()


def test_unmodified_model_round_trips(tmp_path, good_model):
    path, doc, arrays = good_model
    again = tmp_path / "again.wqrc.npz"
    _write_model(again, doc, arrays)
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    res = wqrc("simulate", str(again), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert res.returncode == 0, res.stderr


def test_not_a_zip_and_truncated_files(tmp_path, good_model):
    path = good_model[0]
    (tmp_path / "t.wqrc.npz").write_bytes(path.read_bytes()[:200])
    (tmp_path / "z.wqrc.npz").write_bytes(b"PK\x03\x04garbage")
    with zipfile.ZipFile(tmp_path / "nojson.wqrc.npz", "w") as z:
        z.writestr("codes_0.npy", b"")
    for f in ("t", "z", "nojson"):
        assert_user_error(wqrc("inspect", str(tmp_path / f"{f}.wqrc.npz")), f"{f}.wqrc.npz")


@pytest.mark.parametrize("data, needle", [
    (np.full((2, 1, 8, 8), np.nan, np.float32), "NaN"),
    (np.zeros((2, 1, 8, 8), np.complex64), "complex"),
    (np.full((2, 1, 8, 8), 10 ** 6, np.int64), "outside the input format"),
    (np.zeros((2, 3, 8, 8), np.float32), "shape"),
])
def test_bad_simulator_inputs(tmp_path, good_model, data, needle):
    np.save(tmp_path / "x.npy", data)
    res = wqrc("simulate", str(good_model[0]), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert_user_error(res, needle)
    assert not (tmp_path / "y.npy").exists()


def test_verify_refuses_complex_or_float_captures(tmp_path, good_model):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    np.save(tmp_path / "c.npy", np.zeros((2, 10), np.complex128))
    res = wqrc("verify", str(good_model[0]), "--input", str(tmp_path / "x.npy"), "--outputs", str(tmp_path / "c.npy"))
    assert_user_error(res, "integers")


@pytest.mark.parametrize("plan, needle", [
    ({"layers": {n: {"scheme": "dfp", "bits": "6"} for n in ("conv1", "conv2", "conv3", "fc")}}, "not an integer"),
    ({"layers": {n: {"scheme": "dfp", "bits": 3.7} for n in ("conv1", "conv2", "conv3", "fc")}}, "not an integer"),
    ({"layers": [1, 2]}, "not a wqrc plan"),
    ([], "not a wqrc plan"),
    ({"layers": {n: {"scheme": "dfp", "bits": 4, "n1": "-1"} for n in ("conv1", "conv2", "conv3", "fc")}},
     "layer 'conv1': n1 '-1' is not an integer in -120..120"),
    ({"layers": {n: {"scheme": "po2", "bits": 4, "n1": 4000} for n in ("conv1", "conv2", "conv3", "fc")}},
     "n1 4000 is not an integer"),
])
def test_bad_plan_files(tmp_path, plan, needle):
    (tmp_path / "p.json").write_text(json.dumps(plan))
    assert_user_error(wqrc("quantize", EXAMPLE, "--bits", str(tmp_path / "p.json"), "-o", str(tmp_path / "q.npz")),
                      needle)


def test_models_without_weights_or_with_a_tensor_written_twice(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from conftest import make_onnx
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    onnx.save(make_onnx([helper.make_node("Relu", ["x"], ["y"], name="r")], [x], [y]), tmp_path / "none.onnx")
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    twice = make_onnx([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                       helper.make_node("Relu", ["c"], ["c"], name="again"),
                       helper.make_node("Relu", ["c"], ["y"], name="last")], [x], [y], [w])
    onnx.save(twice, tmp_path / "twice.onnx")
    assert_user_error(wqrc("compile", str(tmp_path / "none.onnx"), "-o", str(tmp_path / "o1")), "no conv or dense")
    assert_user_error(wqrc("compile", str(tmp_path / "twice.onnx"), "-o", str(tmp_path / "o2")), "'c'")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


# -- output folders --------------------------------------------------------------------------

def _compile(out, *extra, cwd=None):
    return wqrc("compile", EXAMPLE, "--target", "rom", "-o", str(out), *extra, cwd=cwd)


def test_force_never_deletes_what_wqrc_did_not_write(tmp_path):
    home = os.path.expanduser("~")
    for target in ("/", home, ".", "..", str(tmp_path)):
        res = _compile(target, "--force", cwd=tmp_path / "sub" if os.path.isdir(tmp_path / "sub") else tmp_path)
        assert_user_error(res)
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "m.onnx"
    model.write_bytes(open(EXAMPLE, "rb").read())
    (tmp_path / "models" / ".wqrc-output").write_text("a marker cannot make an input's folder replaceable")
    assert_user_error(wqrc("compile", str(model), "--target", "rom", "-o", str(tmp_path / "models"), "--force"),
                      "holds the input")
    assert model.is_file()
    real = tmp_path / "real"
    assert _compile(real).returncode == 0
    os.symlink(real, tmp_path / "link")
    assert_user_error(_compile(tmp_path / "link", "--force"), "symbolic link")
    assert (real / ".wqrc-output").is_file() and (tmp_path / "link").is_symlink()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert_user_error(_compile(tmp_path / "mine", "--force"), "has no wqrc manifest")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    (tmp_path / "file").write_text("x")
    assert_user_error(_compile(tmp_path / "file" / "sub"))
    assert_user_error(_compile(tmp_path / "file", "--force"))
    assert (tmp_path / "file").read_text() == "x"


def test_sigkill_during_replacement_leaves_a_whole_output(tmp_path):
    out = tmp_path / "out"
    assert _compile(out).returncode == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    for delay in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        proc = subprocess.Popen([sys.executable, "-m", "wqrc", "compile", EXAMPLE, "--target", "all", "--force",
                                 "-o", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert (out / ".wqrc-output").is_file() and (out / "report.json").is_file() and (out / "rom").is_dir()
        files = sorted(p.relative_to(out) for p in out.rglob("*"))
        assert files == before or (out / "c" / "Makefile").is_file() and (out / "hls" / "Makefile").is_file()
    assert _compile(out, "--force").returncode == 0  # and a later run still replaces it


def test_concurrent_compiles_into_a_new_folder_do_not_delete_each_other(tmp_path):
    out = tmp_path / "new"
    procs = [subprocess.Popen([sys.executable, "-m", "wqrc", "compile", EXAMPLE, "--target", "rom", "--word-bits",
                               str(w), "-o", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for w in (16, 32)]
    results = [p.communicate() + (p.returncode,) for p in procs]
    ok = [r for r in results if r[2] == 0]
    assert len(ok) >= 1
    for _, err, rc in results:
        if rc:
            assert "another process" in err or "not empty" in err, err
    manifest = json.loads((out / "rom" / "manifest.json").read_text())
    assert manifest["word_bits"] in (16, 32)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".wqrc")] == []


def test_ctrl_c_at_any_point_of_a_compile_is_one_line_and_leaves_nothing_or_the_whole_output(tmp_path):
    """Ctrl-C before the output is put in place leaves nothing; after it, the output is whole and the message says so."""
    out = tmp_path / "out"
    whole = tmp_path / "whole"
    assert wqrc("compile", EXAMPLE, "--target", "all", "-o", str(whole)).returncode == 0
    expected = sorted(str(p.relative_to(whole)) for p in whole.rglob("*"))
    seen = set()
    for delay in (0.1, 0.3, 0.6, 1.0, 1.5):
        proc = subprocess.Popen([sys.executable, "-m", "wqrc", "compile", EXAMPLE, "--target", "all", "-o", str(out)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=default_sigint)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate()
        assert "Traceback" not in err, err
        last = err.strip().splitlines()[-1] if err.strip() else ""
        if proc.returncode == 0 or last.endswith("was written whole"):
            assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == expected
            shutil.rmtree(out)
            seen.add("whole")
        else:
            # 130, or death by the signal itself (-2) when Python re-raises it at exit
            assert proc.returncode in (130, -signal.SIGINT) and last == "wqrc: interrupted", err
            assert not out.exists()
            seen.add("nothing")
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".wqrc")] == []
    assert "nothing" in seen  # the earliest interrupts must have stopped a compile that was under way


def test_ctrl_c_inside_an_import_waits_for_the_import_to_finish(tmp_path):
    """A Ctrl-C that lands in a module's import is raised once the import is over: raised inside
    it, it can reach a native extension's initialisation, and torch's pybind11 then aborts the
    process (CI saw "terminate called after throwing ... error_already_set" and a death by SIGABRT)."""
    (tmp_path / "slow_module.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(0.2)\n"
        "FINISHED = True\n")
    script = (
        "import signal, sys, time\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from wqrc.console import on_sigint\n"
        "signal.signal(signal.SIGINT, on_sigint)\n"
        "try:\n"
        "    import slow_module\n"
        "    time.sleep(5)\n"
        "    print('not interrupted')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted, import finished:', getattr(sys.modules.get('slow_module'), 'FINISHED', False))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          preexec_fn=default_sigint)
    assert proc.stdout.strip() == "interrupted, import finished: True", proc.stdout + proc.stderr


def test_weights_that_are_not_numbers_are_one_line_errors(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from conftest import make_onnx
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.array(["a"] * 6, dtype=object).reshape(3, 2, 1, 1), "w")
    onnx.save(make_onnx([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [x], [y], [w]), tmp_path / "s.onnx")
    assert_user_error(wqrc("compile", str(tmp_path / "s.onnx"), "-o", str(tmp_path / "o")), "node 'conv'", "'w'")


# -- bounded reads of hostile files -----------------------------------------------------------

def _bomb(zf, name, shape, dtype="|u1"):
    """A member that declares ``shape`` and holds deflated zeros: megabytes on disk, gigabytes loaded."""
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zf.open(name + ".npy", "w", force_zip64=True) as fh:
        fh.write(header.getvalue())
        zeros = bytes(16 << 20)
        for _ in range(int(np.prod(shape)) * np.dtype(dtype).itemsize // len(zeros)):
            fh.write(zeros)


def _peak_mb(*args):
    """Run wqrc under a fresh parent and return (result, the child's peak resident memory in MB)."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stderr); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.exit(r.returncode)")
    res = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "wqrc", *args], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    return res, int(res.stdout.split()[-1]) / 1024


@pytest.fixture(scope="module")
def bombs(tmp_path_factory, good_model):
    """Each under 10 MB: a model whose conv1 codes declare 1 GiB, one whose document declares 1 GiB of
    weights consistently, a dataset and a per-layer trace that each declare 1 GiB."""
    folder = tmp_path_factory.mktemp("bombs")
    _, doc, arrays = good_model
    with zipfile.ZipFile(folder / "codes.wqrc.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("model_json.npy", _npy(np.frombuffer(json.dumps(doc).encode(), np.uint8)))
        _bomb(zf, "codes_0", (1 << 30,))
        for k, v in arrays.items():
            if k.startswith("codes_") and k != "codes_0":
                zf.writestr(k + ".npy", _npy(v))
    big = copy.deepcopy(doc)
    big["layers"]["conv1"]["shape"] = [1 << 30, 1, 1, 1]
    with zipfile.ZipFile(folder / "declared.wqrc.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("model_json.npy", _npy(np.frombuffer(json.dumps(big).encode(), np.uint8)))
        _bomb(zf, "codes_0", (1 << 30,))
    with zipfile.ZipFile(folder / "data.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _bomb(zf, "x", (1 << 28, 1), "<f4")
        zf.writestr("y.npy", _npy(np.zeros(4, np.int64)))
    with zipfile.ZipFile(folder / "trace.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _bomb(zf, f"000_{doc['nodes'][0]['name']}", (1 << 27,), "<i8")
    for f in folder.iterdir():
        assert f.stat().st_size < 10 << 20, f
    return folder


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("bomb, needle", [("codes", "its shape declares 72"), ("declared", "weights in all")])
def test_a_model_file_declaring_a_huge_array_is_refused_before_it_is_decompressed(tmp_path, bombs, bomb, needle):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 8, 8), np.float32))
    path = str(bombs / f"{bomb}.wqrc.npz")
    for args in (["inspect", path], ["simulate", path, "--input", str(x), "--output", str(tmp_path / "y.npy")],
                 ["verify", path, "--input", str(x), "--outputs", str(x)]):
        res, peak = _peak_mb(*args)
        assert_user_error(res, needle)
        assert peak < 1024, f"{args[0]}: peak {peak:.0f} MB"


def test_a_dataset_or_trace_declaring_a_huge_array_is_refused_before_it_is_decompressed(tmp_path, bombs, good_model):
    res, peak = _peak_mb("inspect", EXAMPLE, "--calib", str(bombs / "data.npz"))
    assert_user_error(res, "decompression bomb")
    assert peak < 1024, peak
    model = good_model[0]
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 1, 8, 8), np.float32))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.full((2, 10), 99, np.int64))
    res, peak = _peak_mb("verify", str(model), "--input", str(x), "--outputs", str(wrong), "--trace",
                         str(bombs / "trace.npz"))
    assert_user_error(res, "at most")
    assert peak < 1024, peak


def test_text_captures_are_bounded_and_values_beyond_int64_are_not_wrapped(tmp_path, good_model):
    model = good_model[0]
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 8, 8), np.float32))
    long = tmp_path / "long.txt"
    long.write_text("0\n" * 100000)
    assert_user_error(wqrc("verify", str(model), "--input", str(x), "--outputs", str(long)), "more than the 10 values")
    huge = tmp_path / "huge.txt"
    huge.write_text("0\n" * 9 + str(1 << 70) + "\n")
    assert_user_error(wqrc("verify", str(model), "--input", str(x), "--outputs", str(huge)), "line 10", "64 bits")


def test_a_uint64_capture_is_compared_as_the_integer_it_is():
    from wqrc.verify import compare_outputs
    expected = np.array([[-1, 5, 7]], np.int64)
    got = np.array([[2 ** 64 - 1, 5, 7]], np.uint64)   # read as int64 it would be -1 and pass
    report = compare_outputs(expected, got)
    assert report and "hardware 18446744073709551615, simulator -1" in report, report
    assert compare_outputs(np.array([[1, 5, 7]]), np.array([[1, 5, 7]], np.uint64)) is None
    mixed = np.array([[-1, 2 ** 63, 7]], dtype=object)   # a text capture with both
    assert "element 1" in compare_outputs(np.array([[-1, 5, 7]]), mixed)


def test_the_model_file_allows_the_tensor_sizes_the_op_registry_allows():
    from wqrc import ops
    from wqrc.quant import model_file
    assert model_file.MAX_ELEMENTS == ops.MAX_ELEMENTS


# -- ONNX files that break the checker's rules that carry meaning --------------------------------

def _conv_model(tmp_path, name, *, w=None, b=None, attrs=None, extra_inits=(), extra_nodes=(), outputs=True,
                out_name="y", conv_out="y"):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from conftest import make_onnx
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)
    w = np.ones((3, 2, 1, 1), np.float32) if w is None else w
    inits = [numpy_helper.from_array(w, "w")] + list(extra_inits)
    ins = ["x", "w"]
    if b is not None:
        inits.append(numpy_helper.from_array(b, "b"))
        ins.append("b")
    nodes = [helper.make_node("Conv", ins, [conv_out], name="conv", **(attrs or {}))] + list(extra_nodes)
    path = tmp_path / f"{name}.onnx"
    onnx.save(make_onnx(nodes, [x], [y] if outputs else [], inits), path)
    return path


def _malformed(tmp_path, case):
    from onnx import helper, numpy_helper
    if case == "duplicate-initializer":   # onnxruntime computes with the first, wqrc would quantize the last
        return _conv_model(tmp_path, case, extra_inits=[numpy_helper.from_array(np.zeros((3, 2, 1, 1), np.float32), "w")]), \
            "two initializers are named 'w'"
    if case == "two-writers":
        return _conv_model(tmp_path, case, extra_nodes=[helper.make_node("Relu", ["x"], ["y"], name="again")]), \
            "writes 'y', which another node writes"
    if case == "no-outputs":
        return _conv_model(tmp_path, case, outputs=False), "declares no output"
    if case == "kernel-shape":
        return _conv_model(tmp_path, case, attrs=dict(kernel_shape=[3, 3])), "kernel_shape [3, 3] contradicts"
    if case == "int-weights":
        return _conv_model(tmp_path, case, w=np.ones((3, 2, 1, 1), np.int64)), "weight ('w') is int64"
    if case == "bool-weights":
        return _conv_model(tmp_path, case, w=np.ones((3, 2, 1, 1), bool)), "weight ('w') is bool"
    if case == "int-bias":
        return _conv_model(tmp_path, case, b=np.ones(3, np.int32)), "bias ('b') is int32"
    if case == "constant-of-shape":   # a 1e12-element constant from a 16-byte shape
        shape = numpy_helper.from_array(np.array([10 ** 6, 10 ** 6], np.int64), "s")
        return _conv_model(tmp_path, case, extra_inits=[shape], conv_out="c",
                           extra_nodes=[helper.make_node("ConstantOfShape", ["s"], ["big"], name="fill"),
                                        helper.make_node("Add", ["c", "big"], ["y"], name="add")]), \
            "node 'fill' (ConstantOfShape): the constant it computes would hold 1000000000000 elements"
    if case == "broadcast":   # a (N, 1) by (1, N) product: N^2 from 2N
        col = numpy_helper.from_array(np.ones((100000, 1), np.float32), "col")
        row = numpy_helper.from_array(np.ones((1, 100000), np.float32), "row")
        return _conv_model(tmp_path, case, extra_inits=[col, row], conv_out="c",
                           extra_nodes=[helper.make_node("Mul", ["col", "row"], ["sq"], name="outer"),
                                        helper.make_node("Add", ["c", "sq"], ["y"], name="add")]), \
            "node 'outer' (Mul): the constant it computes would hold 10000000000 elements"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["duplicate-initializer", "two-writers", "no-outputs", "kernel-shape", "int-weights",
                                  "bool-weights", "int-bias", "constant-of-shape", "broadcast"])
def test_onnx_models_that_break_meaningful_checker_rules_are_one_line_errors(tmp_path, case):
    path, needle = _malformed(tmp_path, case)
    res, peak = _peak_mb("compile", str(path), "--target", "rom", "-o", str(tmp_path / "out"))
    assert_user_error(res, needle)
    assert res.returncode == 2 and not (tmp_path / "out").exists()
    assert peak < 1024, peak


@pytest.mark.parametrize("case", ["missing", "outside", "short", "length", "no-length"])
def test_external_weights_are_bounded_by_their_declared_shape(tmp_path, case):
    import onnx
    path = _conv_model(tmp_path, "ext", w=np.arange(6, dtype=np.float32).reshape(3, 2, 1, 1))
    model = onnx.load(path)
    w = model.graph.initializer[0]
    raw = w.raw_data
    w.ClearField("raw_data")
    w.data_location = onnx.TensorProto.EXTERNAL
    loc, data, length = "w.bin", raw, None
    if case == "outside":
        loc = "../w.bin"
    elif case == "short":
        data = raw[:8]
    elif case == "length":
        length = len(raw) + 4
        data = raw + b"\0" * 4
    elif case == "no-length":   # reads exactly the declared bytes, not the (large) rest of the file
        data = raw + b"\0" * (64 << 20)
    if case != "missing":
        (tmp_path / "w.bin").write_bytes(data)
    for k, v in [("location", loc)] + ([("length", str(length))] if length is not None else []):
        e = w.external_data.add()
        e.key, e.value = k, v
    onnx.save(model, path)
    res = wqrc("compile", str(path), "--target", "rom", "-o", str(tmp_path / "out"))
    if case == "no-length":
        assert res.returncode == 0, res.stderr
        return
    needle = {"missing": "missing or not a regular file", "outside": "not a file in the model's folder",
              "short": "holds fewer than the 24 bytes", "length": "28 bytes for a shape"}[case]
    assert_user_error(res, needle)


def test_unwritable_output_places_are_one_line_errors(tmp_path):
    assert_user_error(wqrc("compile", EXAMPLE, "--target", "rom", "-o", "/proc/wqrc-out"), "cannot write")
    assert_user_error(wqrc("quantize", EXAMPLE, "-o", "/proc/m.wqrc.npz"), "cannot write")
