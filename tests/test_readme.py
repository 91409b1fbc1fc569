"""The README's Python block runs as written and leaves what it says on disk."""
import os
import re
import subprocess
import sys

from conftest import ROOT


def test_the_readme_python_block_runs_and_writes_its_targets(tmp_path):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    res = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "out_py"
    for f in ("c/wqrc_model.c", "rtl/wqrc_top.v", "model.wqrc.npz", "report.json", ".wqrc-output"):
        assert (out / f).is_file(), f
