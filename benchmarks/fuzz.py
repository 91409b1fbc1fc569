"""The differential fuzzer at scale: COUNT random models against the plain-integer reference.

Every model runs through every simulator executor that accepts it; every
EVERY-th model also through the generated C (UBSan + ASan, no recovery) and
HLS C simulation. Prints the number of models, of executor runs, of backend
builds (and of layers a target refused at compile time, e.g. accumulators over
64 bits), and the mismatches, which must be 0. The models are the CI test's
(tests/fuzz_models.py), seeds START.. START+COUNT-1, so a failure reproduces
with `--start SEED --count 1`.

    python benchmarks/fuzz.py [--count 10000] [--every 50] [--start 0] [--targets c,hls,qonnx,rtl,rtl-seq,c-m4,c-m55]
                              [--widest-grids] [--wide]

--widest-grids puts every layer of the descriptor-driven form (rtl-seq) that can take a grid of
channels x columns on its widest one, whether or not the cycle model would choose it: the
draws' small maps seldom gain from grids, so without it few draws reach them.

--wide draws 14..24 channels per conv and input, 3x3 windows and mostly 8-bit activations
(tests/fuzz_models.py WIDE), so that layers take the C target's Winograd kernel; slower per model.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from fuzz_models import differential  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--every", type=int, default=50, help="every N-th model also through C and HLS (0: never)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--targets", default="c,hls,qonnx",
                    help="generated targets every EVERY-th model goes through (qonnx: needs pip install qonnx)")
    ap.add_argument("--widest-grids", action="store_true",
                    help="rtl-seq: every layer that can take a grid of channels x columns on its widest")
    ap.add_argument("--wide", action="store_true",
                    help="wide 3x3 convs of 8-bit activations (the C target's Winograd kernel takes them)")
    args = ap.parse_args()
    if args.wide:
        import fuzz_models
        fuzz_models.WIDE = True
    targets = tuple(t for t in args.targets.split(",") if t)
    if args.widest_grids:
        from wqrc.backend import rtl_seq
        every = rtl_seq.lane_grids
        rtl_seq.lane_grids = lambda geo, lanes, grid=True: every(geo, lanes, grid)[-1:]
    warnings.simplefilter("ignore")
    os.environ.setdefault("ORT_LOGGING_LEVEL", "3")
    t0 = time.time()
    runs, backends, failures = collections.Counter(), collections.Counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        for i, seed in enumerate(range(args.start, args.start + args.count)):
            with_backends = args.every and i % args.every == 0
            try:
                bad, ran = differential(seed, tmp if with_backends else None, targets=targets)
            except Exception as exc:  # the generator or quantizer failing is a finding too
                bad, ran = [f"seed {seed}: {type(exc).__name__}: {exc}"], {}
            for p in ran.get("paths", []):
                runs[p] += 1
            for target in targets:
                if target in ran:
                    backends[f"{target} {'ran' if ran[target] == 'ran' else 'refused'}"] += 1
            for b in bad:
                failures.append(b)
                print("MISMATCH", b[:2000], flush=True)
            if (i + 1) % 1000 == 0:
                print(f"... {i + 1} models, {len(failures)} mismatches, {time.time() - t0:.0f} s", flush=True)
    dt = time.time() - t0
    print(f"models: {args.count} (seeds {args.start}..{args.start + args.count - 1}), {dt:.0f} s "
          f"({args.count / dt:.1f} models/s)")
    print("executor runs: " + ", ".join(f"{k} {v}" for k, v in sorted(runs.items())))
    print("backend builds: " + (", ".join(f"{k} {v}" for k, v in sorted(backends.items())) or "none"))
    print(f"mismatches: {len(failures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
