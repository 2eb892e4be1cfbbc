"""Judge soundness on reference solutions: every trusted test read from a stub must pass on
the MBPP+ reference solution.

For a seeded sample of MBPP+ problems and every one of the eight example notations of
``bench/phase1_stubs.py``, the stub is rendered, its model-free trusted tests (``example`` and
``doctest``) are derived exactly as Phase 1 derives them, and they are run in the real
sandbox against the reference solution. A failing test there is a judge that would fail
correct code. Also printed: MBPP asserts vs tests read (the reader's recall; the ``>>>``
notation leaves out results that are not literals, e.g. ``62.83 ± 0.063``), and the
hidden judge's own soundness (the reference against its own MBPP+ inputs, with how many
inputs the reference rejects: a judge that skips every input passes anything).

    python bench/examples_soundness.py --n 120 --seed 1234 [--workers 2] [--show 20]
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "bench"))

import phase1_stubs as ps  # noqa: E402

TRUSTED_HERE = ("example", "doctest")
MBPP_CHECK = r'''
import json, sys
job = json.loads(sys.stdin.read())
env = {}
exec("import math\n" + job["reference"], env)
bad = []
for call, line in job["asserts"]:
    try:
        exec(line, env)
    except BaseException:
        bad.append(call)
print(json.dumps(bad))
'''


def broken_asserts(problem: dict) -> set[str]:
    """Calls whose own MBPP assert fails on the MBPP+ reference (the data set disagrees with
    itself, e.g. Mbpp/295 ``sum_div(8) == 7`` while the reference returns 15.0)."""
    asserts = []
    for line in problem["assertion"].strip().splitlines():
        try:
            tree = ast.parse(line.strip())
        except SyntaxError:
            continue
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", "") == problem["entry_point"]]
        if calls:
            asserts.append((ast.unparse(calls[0]), line.strip()))
    job = {"reference": problem["canonical_solution"], "asserts": asserts}
    try:
        done = subprocess.run([sys.executable, "-c", MBPP_CHECK], input=json.dumps(job),
                              capture_output=True, text=True, timeout=60)
        return set(json.loads(done.stdout.strip().splitlines()[-1]))
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError):
        return set()


def check(problem: dict, index: int, cfg) -> dict:
    """One (problem, notation): rendered examples, trusted tests read, and their verdicts."""
    from dise.engine import stubs
    from dise.engine.testgen import derive_tests
    from dise.engine.types import Request
    from dise.sandbox import run_candidate

    source, notation = ps.make_stub(problem, index)
    name = problem["entry_point"]
    spec = stubs.find_stub(source, name=name).spec
    tests = [t for t in derive_tests(Request(text=spec.docstring or name, spec=spec), spec)
             if t.kind in TRUSTED_HERE]
    rendered = len(ps._examples(problem, 2 + index % 2))
    row = {"task_id": problem["task_id"], "notation": notation, "rendered": rendered,
           "read": len(tests), "failed": [], "dataset": []}
    if tests:
        report = run_candidate(problem["canonical_solution"], name, tests, cfg, measure=False)
        broken = broken_asserts(problem) if not report.all_passed else set()
        for test, result in zip(tests, report.results):
            if not result.passed:
                where = "dataset" if test.call in broken or test.code in broken else "failed"
                row[where].append(f"{test.call or test.code}  —  {result.error[:160]}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show", type=int, default=20, help="failures listed")
    args = parser.parse_args(argv)
    from dise.config import load_config

    cfg = load_config().sandbox
    problems = ps.load_problems(args.n, args.seed)
    jobs = [(p, k) for p in problems for k in range(len(ps.NOTATIONS))]
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        rows = list(pool.map(lambda job: check(job[0], job[1], cfg), jobs))
    tests = sum(r["read"] for r in rows)
    failed = sum(len(r["failed"]) for r in rows)
    rendered = sum(r["rendered"] for r in rows)
    print(f"Judge soundness on reference solutions: {len(problems)} MBPP+ problems (seed "
          f"{args.seed}) x {len(ps.NOTATIONS)} notations = {len(rows)} stubs")
    print(f"  trusted tests read {tests} (of {rendered} MBPP asserts to render, "
          f"{tests / max(rendered, 1):.1%}); failing on the reference: {failed} "
          f"({failed / max(tests, 1):.2%}) in {sum(1 for r in rows if r['failed'])} stubs")
    dataset = sum(len(r["dataset"]) for r in rows)
    print(f"  not counted there: tests whose MBPP assert itself fails on the reference (the "
          f"data set disagrees with itself): {dataset} "
          f"{' '.join(sorted({r['task_id'] for r in rows if r['dataset']}))}")
    for notation in ps.NOTATIONS:
        sub = [r for r in rows if r["notation"] == notation]
        print(f"    {notation:<30} read {sum(r['read'] for r in sub):>4}/"
              f"{sum(r['rendered'] for r in sub):<4} failing "
              f"{sum(len(r['failed']) for r in sub)}")
    shown = 0
    for r in rows:
        for line in r["failed"]:
            if shown < args.show:
                print(f"  FAIL {r['task_id']:<9} [{r['notation']}] {line}")
            shown += 1
    for shaped in (False, True):
        checks = [ps.hidden_check(p["canonical_solution"], p, shape=shaped) for p in problems]
        vacuous = [p["task_id"] for p, c in zip(problems, checks)
                   if c["why"] == "the reference rejects every input"]
        print(f"  hidden judge, {'typed inputs' if shaped else 'JSON inputs as stored'}: "
              f"reference passes its own inputs {sum(c['passed'] for c in checks)}/"
              f"{len(problems)}; inputs the reference rejects "
              f"{sum(c['rejected'] for c in checks)} in "
              f"{sum(1 for c in checks if c['rejected'])} problems; rejects every input (a "
              f"judge that would pass anything) {len(vacuous)} {' '.join(vacuous[:8])}")
    return 1 if failed or vacuous else 0


if __name__ == "__main__":
    raise SystemExit(main())
