"""Phase 1 on a fixed, seeded MBPP subset: pass rate, fitness, per-stage time.

Each problem is asked twice with the same prompt (the MBPP description plus its first
assert, as the MBPP paper did):
- ``dise``: the full Phase 1 pipeline (tests, auto-fix, repair, scoring, store);
- ``bare``: the same generator and prompt, code extracted, nothing else.
Both are judged on the problem's hidden asserts (all of ``test_list``) in the sandbox.
Each arm starts from the same cache state: llama.cpp's evaluated prompt is reset before each
(``llamacpp.reset_prompt_caches``; the arms share the prompt, so the second one would
otherwise skip most of its prompt evaluation), and the order alternates between problems.
Ollama keeps its own prompt cache in its server, which this cannot reset: only the
alternating order evens it out there.

    python bench/phase1.py --n 40 --seed 1234 [--generator qwen-0.5b] [--json out.json]

With ``--stubs``: stubs written the way people write them, judged by MBPP+ hidden inputs,
against the same model asked once (see ``bench/phase1_stubs.py``).

Runs against a temporary DISE_HOME; models come from the usual models directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
DATA = ROOT.parent / "shared" / "data" / "sanitized-mbpp.json"

STAGES = ("sentinel", "retrieval", "generation", "test_writing", "tests", "fix", "repair",
          "score", "store")


def load_problems(n: int, seed: int) -> list[dict]:
    problems = json.loads(DATA.read_text())
    return random.Random(seed).sample(problems, n)


def hidden_pass(code: str, problem: dict, name: str, cfg) -> bool:
    from dise.engine.types import TestCase
    from dise.sandbox import run_candidate

    if not code.strip():
        return False
    full = "\n".join(problem["test_imports"] + [code])
    tests = [TestCase(kind="given", code=t) for t in problem["test_list"]]
    report = run_candidate(full, name, tests, cfg.sandbox, measure=False)
    return report.all_passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--generator", default=None)
    parser.add_argument("--json", default=None, help="write per-problem results here")
    parser.add_argument("--stubs", action="store_true",
                        help="MBPP+ stubs with examples in mixed notations (issue 10)")
    parser.add_argument("--threads", type=int, default=0,
                        help="with --stubs: llama.cpp threads (0: one per core); 1 wastes "
                             "less on a machine other jobs share")
    parser.add_argument("--from-json", default=None,
                        help="with --stubs: print the figures of the rows a run saved (--json)")
    parser.add_argument("--rejudge", action="store_true",
                        help="with --from-json: re-judge the saved code with today's judge")
    args = parser.parse_args()
    if args.stubs:
        sys.path.insert(0, str(ROOT / "bench"))
        import phase1_stubs

        return phase1_stubs.main(args)

    os.environ["DISE_HOME"] = tempfile.mkdtemp(prefix="dise-bench-")
    from dise.config import load_config
    from dise.engine import extract, prompts
    from dise.engine.core import Engine
    from dise.engine.request_spec import spec_for
    from dise.engine.types import DiseError, Request
    from dise.llm import llamacpp
    from dise.llm.select import resolve_backend

    cfg = load_config()
    engine = Engine(cfg)
    gen = cfg.generator(args.generator)
    backend = resolve_backend(gen, cfg)
    rows = []
    for i, problem in enumerate(load_problems(args.n, args.seed), 1):
        given = problem["test_list"][:1]
        request = Request(text=problem["prompt"], asserts=given, generator=gen.name)
        spec = spec_for(request, "")
        row: dict = {"task_id": problem["task_id"], "name": spec.name}

        def bare_arm() -> None:
            start = time.perf_counter()
            raw = backend.generate(prompts.generation_messages(request, spec),
                                   temperature=gen.temperature, max_tokens=gen.max_tokens,
                                   seed=gen.seed)
            bare_code = extract.extract_code(raw, spec.name).code
            row["bare_time"] = time.perf_counter() - start
            row["bare_pass"] = hidden_pass(bare_code, problem, spec.name, cfg)

        def dise_arm() -> None:
            start = time.perf_counter()
            try:
                artifact = engine.generate(request)
                row["dise_time"] = time.perf_counter() - start
                row["dise_pass"] = hidden_pass(artifact.code, problem, spec.name, cfg)
                row["fitness"] = artifact.fitness_score
                row["own_tests_passed"] = artifact.test_passed
                row["stages"] = artifact.stage_times
                row["tools"] = artifact.tool_usage
            except DiseError as exc:
                row.update(dise_time=time.perf_counter() - start, dise_pass=False,
                           fitness=0.0, own_tests_passed=False, stages={}, error=str(exc))

        row["order"] = "bare first" if i % 2 else "dise first"
        for arm in ((bare_arm, dise_arm) if i % 2 else (dise_arm, bare_arm)):
            llamacpp.reset_prompt_caches()      # every arm from the same (empty) cache
            arm()
        rows.append(row)
        print(f"[{i:>2}/{args.n}] MBPP/{problem['task_id']:<4} bare {'✓' if row['bare_pass'] else '✗'}"
              f"  dise {'✓' if row['dise_pass'] else '✗'}  fitness {row['fitness']:.2f}"
              f"  {row['dise_time']:.1f}s", flush=True)

    report(rows, args, gen.name, backend.model_label)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def report(rows: list[dict], args, gen_name: str, model: str) -> None:
    n = len(rows)
    med = statistics.median
    print(f"\nPhase 1 on MBPP sanitized, {n} problems, seed {args.seed}, generator {gen_name} "
          f"({model}), temperature 0")
    print(f"  pass rate (hidden asserts)  bare model {sum(r['bare_pass'] for r in rows) / n:.1%}"
          f"   DiSE Phase 1 {sum(r['dise_pass'] for r in rows) / n:.1%}")
    print(f"  own tests all passed        {sum(r['own_tests_passed'] for r in rows) / n:.1%}")
    print(f"  mean fitness                {statistics.fmean(r['fitness'] for r in rows):.3f}")
    print("  per-stage wall time, median over problems (s):")
    for stage in STAGES:
        values = [r["stages"].get(stage, 0.0) for r in rows if r["stages"]]
        ran = sum(1 for r in rows if stage in r.get("stages", {}))
        label = "not built yet (retrieval: issue 5)" if stage == "retrieval" and not ran else \
            f"ran in {ran}/{n}"
        print(f"    {stage:<13} {med(values) if values else 0.0:7.3f}   {label}")
    gen_times = [r["stages"].get("generation", 0.0) for r in rows if r["stages"]]
    totals = [r["dise_time"] for r in rows if r["stages"]]
    ratios = [t / g for t, g in zip(totals, gen_times) if g > 0]
    print(f"  total / generation time     median {med(ratios):.2f}   "
          f"sum {sum(totals) / sum(gen_times):.2f}   (target <= 1.25)")
    print(f"  bare model time per problem median {med(r['bare_time'] for r in rows):.2f} s;"
          f"  DiSE median {med(r['dise_time'] for r in rows):.2f} s")


if __name__ == "__main__":
    sys.exit(main())
