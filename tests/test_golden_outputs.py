"""Every generated file stays byte-identical unless a change says so.

The bundled examples and a network of every kernel family are compiled to every target, and each
file's SHA-256 (the output manifest's own list) is compared with
tests/data/golden_outputs.json. A refactor of the lowering, the backends or the
templates must leave them all equal; a deliberate change regenerates the file
(`WQRC_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_outputs.py`) and the
commit says why. Formats come from the static range analysis (no --calib), so
no float calibration run, which may round differently on another CPU, can move
a format.
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

GOLDEN = os.path.join(ROOT, "tests", "data", "golden_outputs.json")
CASES = {
    "digits-po2-4": ("examples/digits_cnn.onnx", ["--scheme", "po2", "--bits", "4"]),
    "digits-dfp-8": ("examples/digits_cnn.onnx", ["--scheme", "dfp", "--bits", "8"]),
    "fashion-dfp-4-channel": ("examples/fashion_cnn.onnx", ["--scheme", "dfp", "--bits", "4", "--granularity", "channel"]),
    # every kernel family the backends render (tests/data/make_families_model.py)
    "families-dfp-8": ("tests/data/families.onnx", ["--scheme", "dfp", "--bits", "8"]),
    "families-po2-4": ("tests/data/families.onnx", ["--scheme", "po2", "--bits", "4"]),
}


def _compile(case, tmp_path) -> dict:
    model, options = CASES[case]
    out = tmp_path / case
    res = subprocess.run([sys.executable, "-m", "wqrc", "compile", model, *options, "--target", "all,qonnx",
                          "-o", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr
    doc = json.loads((out / ".wqrc-output").read_text())
    return {path: entry["sha256"] for path, entry in doc["files"].items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_files_are_byte_identical_to_the_recorded_ones(case, tmp_path):
    got = _compile(case, tmp_path)
    if os.environ.get("WQRC_UPDATE_GOLDEN"):
        doc = json.load(open(GOLDEN)) if os.path.exists(GOLDEN) else {}
        doc[case] = got
        with open(GOLDEN, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.write("\n")
        pytest.skip("recorded")
    want = json.load(open(GOLDEN))[case]
    changed = sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))
    assert not changed, f"{case}: {len(changed)} generated files differ from the recorded ones: {changed[:12]}"
