"""Sandbox cost: wall time of one run (5 tests, a trivial function) per isolation level, and the
throughput of parallel runs as Phase 2 does them, for this branch and for another checkout's
sandbox (the "before", e.g. main: ``--before /work/main/server``).

    PYTHONPATH=server python bench/sandbox.py --runs 30 --before /work/main/server

Each figure comes from a fresh subprocess importing ``dise`` from the given source tree, so
the two versions never share a module. Prints median and p95 per level, and runs/s with
``--workers`` threads (Phase 2 runs its experiments' tests in parallel threads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
from concurrent.futures import ThreadPoolExecutor
from dise.config import SandboxConfig
from dise.engine.types import TestCase
from dise.sandbox import run_candidate

level, runs, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cfg = SandboxConfig()
if level != "old":
    cfg.isolation = level
code = "def double(x):\n    return 2 * x\n"
tests = [TestCase("doctest", "double(2)", "4"), TestCase("given", "assert double(3) == 6"),
         TestCase("given", "assert double(-1) == -2"), TestCase("given", "assert double(0) == 0"),
         TestCase("smoke", "double(10)")]
def once(_=None):
    start = time.perf_counter()
    report = run_candidate(code, "double", tests, cfg, measure=False)
    assert report.all_passed, [r.error for r in report.results] + [report.load_error]
    return time.perf_counter() - start, getattr(report, "isolation", "old")
once()  # warm: imports, the level probe
walls = []
for _ in range(runs):
    wall, used = once()
    walls.append(wall)
walls.sort()
start = time.perf_counter()
with ThreadPoolExecutor(workers) as pool:
    list(pool.map(once, range(runs)))
throughput = runs / (time.perf_counter() - start)
print(json.dumps({"level": used, "median_ms": 1000 * statistics.median(walls),
                  "p95_ms": 1000 * walls[int(0.95 * (len(walls) - 1))],
                  "runs_per_s": throughput}))
"""


def measure(source: str, level: str, runs: int, workers: int) -> dict:
    env = dict(os.environ, PYTHONPATH=source)
    done = subprocess.run([sys.executable, "-c", CHILD, level, str(runs), str(workers)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"level": level, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", help="server/ folder of the checkout to compare with")
    args = parser.parse_args()
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server")
    rows = []
    if args.before:
        rows.append(("before", measure(args.before, "old", args.runs, args.workers)))
    for level in ("process", "namespaces", "bubblewrap"):
        rows.append(("after", measure(os.path.abspath(here), level, args.runs, args.workers)))
    print(f"{'code':<7} {'level':<11} {'median ms':>10} {'p95 ms':>8} "
          f"{'runs/s (' + str(args.workers) + ' threads)':>22}")
    for which, row in rows:
        if "error" in row:
            print(f"{which:<7} {row['level']:<11} error: {row['error']}")
            continue
        print(f"{which:<7} {row['level']:<11} {row['median_ms']:>10.1f} {row['p95_ms']:>8.1f} "
              f"{row['runs_per_s']:>22.2f}")


if __name__ == "__main__":
    main()
