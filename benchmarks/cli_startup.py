"""Start-up time of the command line: `wqrc --help` next to `python -c pass`, side by side.

Target (issue: a fast CLI): `wqrc --help` <= 0.5 s on the 2-core CI machine when
idle. `wqrc --help`, `wqrc compile --help` and `wqrc --version` import neither
torch nor onnxruntime; this prints the medians of REPEAT runs and the ratios.

    python benchmarks/cli_startup.py [--repeat 15]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

LIMIT_S = 0.5


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    py = [sys.executable]
    base = wall(py + ["-c", "pass"], args.repeat)
    torch_import = wall(py + ["-c", "import torch"], max(3, args.repeat // 5))
    print(f"{'command':<28}{'median s':>10}{'÷ python':>10}{'÷ limit':>9}")
    print(f"{'python -c pass':<28}{base:>10.3f}{1:>10.2f}{base / LIMIT_S:>9.2f}")
    for label, argv in (("wqrc --help", ["--help"]), ("wqrc --version", ["--version"]),
                        ("wqrc compile --help", ["compile", "--help"])):
        t = wall(py + ["-m", "wqrc", *argv], args.repeat)
        print(f"{label:<28}{t:>10.3f}{t / base:>10.2f}{t / LIMIT_S:>9.2f}")
    print(f"{'(python -c import torch)':<28}{torch_import:>10.3f}{torch_import / base:>10.2f}"
          f"{torch_import / LIMIT_S:>9.2f}")
    print(f"limit: wqrc --help <= {LIMIT_S} s (÷ limit <= 1)")


if __name__ == "__main__":
    main()
