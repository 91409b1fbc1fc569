"""docs/quickstart.md, run as a user would: every ```sh and ```python block, in order, in one
empty folder (issue 34). A block that fails fails the test with its output."""
import os
import re
import subprocess
import sys

import pytest

import needs
from conftest import ROOT

QUICKSTART = os.path.join(ROOT, "docs", "quickstart.md")
TOOLS = ("cmake", "ctest", "cc", "arm-none-eabi-gcc", "qemu-system-arm", "verilator", "yosys", "nextpnr-ice40",
         "icepack")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not needs.have(*TOOLS),
                                 reason="needs cmake gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm "
                                        "verilator yosys nextpnr-ice40 fpga-icestorm (apt-get install them)")]


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks to run, (language, code), in document order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(sh|python)\n(.*?)^```\n", text, re.S | re.M)]


def test_the_quickstart_runs_end_to_end(tmp_path):
    found = blocks(open(QUICKSTART, encoding="utf-8").read())
    assert [lang for lang, _ in found].count("sh") >= 6 and any(lang == "python" for lang, _ in found)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    log = []
    for k, (lang, code) in enumerate(found):
        cmd = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail", "-c", code]
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        log.append(res.stdout + res.stderr)
        assert res.returncode == 0, f"block {k} ({lang}):\n{code}\n--- output ---\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    out = "\n".join(log)
    # what the walk promises: a bit-exact firmware library and RTL, a Cortex-M4 run, a bitstream
    assert out.count("verify: PASS") == 2, out[-3000:]
    assert "100% tests passed" in out and "PASS:" in out
    assert (tmp_path / "out" / "rtl" / "wqrc_icebreaker.bin").stat().st_size == 104090   # a UP5K image
    assert (tmp_path / "out" / "report.html").is_file()
    assert len((tmp_path / "captured.txt").read_text().split()) == 20 * 10
