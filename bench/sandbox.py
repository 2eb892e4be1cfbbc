"""Sandbox cost: wall time of one run (5 tests, a trivial function) per isolation level, and the
throughput of parallel runs as Phase 2 does them, for this branch and for another checkout's
sandbox (the "before", e.g. main: ``--before /work/main/server``).

    PYTHONPATH=server python bench/sandbox.py --runs 40 --rounds 5 --before /work/main/server

Each figure comes from a fresh subprocess importing ``dise`` from the given source tree, so
the two versions never share a module. Prints median and p95 per level, and runs/s with
``--workers`` threads (Phase 2 runs its experiments' tests in parallel threads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
start = time.perf_counter()
with ThreadPoolExecutor(workers) as pool:
    list(pool.map(once, range(runs)))
print(json.dumps({"level": used, "walls": walls, "parallel_s": time.perf_counter() - start,
                  "runs": runs}))
"""


def measure(source: str, level: str, runs: int, workers: int) -> dict:
    env = dict(os.environ, PYTHONPATH=source)
    done = subprocess.run([sys.executable, "-c", CHILD, level, str(runs), str(workers)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"level": level, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def startup_overhead(iterations: int) -> None:
    """Wall of starting an empty interpreter at each level (with the cgroup the runner adds),
    the levels interleaved per iteration so the machine's load drifts equally over them."""
    import tempfile
    import time

    from dise.sandbox import isolation

    python = sys.executable
    base = tempfile.mkdtemp(prefix="dise-bench-")
    os.makedirs(os.path.join(base, "in"))
    os.makedirs(os.path.join(base, "work"))
    levels = [lv for lv in isolation.LEVELS if isolation.available(lv)]
    walls: dict[str, list[float]] = {lv: [] for lv in levels}
    for _ in range(iterations):
        for level in levels:
            start = time.perf_counter()
            cgroup = isolation.CgroupLimits(1024, 64)
            if level != "process":
                cgroup.create()
            if level == "bubblewrap":
                args = isolation.bubblewrap_command(python, __file__, "job",
                                                    os.path.join(base, "in"),
                                                    os.path.join(base, "work"), 64)
                command = args[:args.index("--") + 1] + [python, "-S", "-c", "pass"]
            elif level == "namespaces":
                command = isolation.namespaces_command([python, "-S", "-c", "pass"])
            else:
                command = [python, "-S", "-c", "pass"]
            subprocess.run(cgroup.wrap(command), check=True)
            cgroup.release()
            walls[level].append(time.perf_counter() - start)
    base_median = statistics.median(walls["process"])
    print(f"{'level':<11} {'start median ms':>16} {'p95 ms':>8} {'added vs process':>17}")
    for level, values in walls.items():
        values.sort()
        median = statistics.median(values)
        print(f"{level:<11} {median * 1000:>16.1f} {values[int(0.95 * (len(values) - 1))] * 1000:>8.1f}"
              f" {(median - base_median) * 1000:>+16.1f}")
    import shutil

    shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per configuration")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleave the configurations over this many rounds, so a "
                             "change in the machine's load hits them all alike")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", help="server/ folder of the checkout to compare with")
    parser.add_argument("--startup", type=int, default=0, metavar="N",
                        help="only measure N interleaved empty-interpreter starts per level")
    args = parser.parse_args()
    if args.startup:
        startup_overhead(args.startup)
        return
    here = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "server"))
    configs = ([("before", args.before, "old")] if args.before else []) + [
        ("after", here, level) for level in ("process", "namespaces", "bubblewrap")]
    totals = {c: {"walls": [], "parallel_s": 0.0, "runs": 0, "level": c[2]} for c in configs}
    per_round = max(1, args.runs // args.rounds)
    for _ in range(args.rounds):
        for config in configs:
            row = measure(config[1], config[2], per_round, args.workers)
            total = totals[config]
            if "error" in row:
                total["error"] = row["error"]
                continue
            total["level"] = row["level"]
            total["walls"] += row["walls"]
            total["parallel_s"] += row["parallel_s"]
            total["runs"] += row["runs"]
    print(f"{'code':<7} {'level':<11} {'median ms':>10} {'p95 ms':>8} "
          f"{'runs/s (' + str(args.workers) + ' threads)':>22}")
    for (which, _, _), row in totals.items():
        if "error" in row or not row["walls"]:
            print(f"{which:<7} {row['level']:<11} error: {row.get('error')}")
            continue
        walls = sorted(row["walls"])
        median = statistics.median(walls) * 1000
        p95 = walls[int(0.95 * (len(walls) - 1))] * 1000
        print(f"{which:<7} {row['level']:<11} {median:>10.1f} {p95:>8.1f} "
              f"{row['runs'] / row['parallel_s']:>22.2f}")


if __name__ == "__main__":
    main()
