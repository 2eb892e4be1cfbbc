"""Phase 2 on a fixed, seeded MBPP subset: Phase 1 vs after optimisation, the ceiling, and
whether the next Phase 1 of the same task types starts better.

Problems are MBPP+ (evalplus) tasks that sanitized MBPP also holds. The request is the MBPP
description plus its first assert (as bench/phase1.py and the MBPP paper do); everything else
is hidden. Hidden scoring: every MBPP+ input (``base_input`` + ``plus_input``, ~108 a task)
with the expected answer from running ``canonical_solution`` in the sandbox; a function passes
when it answers all of them (floats to rel 1e-7 / the task's atol). Inputs come from JSON, so
arguments are shaped like the task's first assert (tuples where it passes tuples).

Pass A (``--n`` problems): Phase 1, then ``optimize_node`` on every function, then:
  pass rate (hidden), mean fitness (own frozen tests), number improved, time spent;
  pass@k of every candidate tried, Phase 1's included (the ceiling), and the share of the
  headroom (ceiling - Phase 1) the selection captured.
Pass B (``--second`` new problems of the task types pass A learned about), Phase 1 in five
arms, so what was learned is separated from "the bigger model wins" and from reuse:

  fresh     a fresh store (default generator, nothing learned);
  single    a fresh store, every request forced to the best single generator of the pool (the
            largest usable one; skipped, with fresh's figures, when that is the default);
  registry  pass A's store with retrieval off: only the registry's promotions act;
  memory    pass A's store with the registry hidden: only reuse and few-shot examples
            (``--memory-k`` examples) act;
  both      pass A's store as it is, with ``--memory-k`` examples.

The registry's win tally (setups and the functions they won on) is printed, which is what
``[optimize] registry_min_wins`` is set from.

    python bench/phase2.py --n 40 --seed 1234 [--second 20] [--generators qwen-0.5b]
    python bench/phase2.py --quick            # n=8, second=4, a small experiment grid

Runs against temporary DISE_HOMEs; models come from the usual models directory.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
DATA = ROOT.parent / "shared" / "data"
MBPP = DATA / "sanitized-mbpp.json"
MBPP_PLUS = DATA / "MbppPlus-evalplus-767efcc.jsonl.gz"
MARK = "@@dise-out"
#: Relative tolerance for float answers (evalplus's).
FLOAT_RTOL = 1e-7


# -- problems -------------------------------------------------------------------------------
def load_problems() -> list[dict]:
    """MBPP+ tasks joined with sanitized MBPP (prompt, asserts), in task id order."""
    sanitized = {p["task_id"]: p for p in json.loads(MBPP.read_text())}
    problems = []
    with gzip.open(MBPP_PLUS, "rt") as fh:
        for line in fh:
            plus = json.loads(line)
            number = int(plus["task_id"].split("/")[1])
            if number in sanitized:
                problems.append({**sanitized[number], "plus": plus})
    return problems


def _template(node: ast.expr) -> Any:
    """The container shape of a literal argument: ("tuple"|"list"|"set", inner) or None."""
    kinds = {ast.Tuple: "tuple", ast.List: "list", ast.Set: "set"}
    kind = kinds.get(type(node))
    if kind is None:
        return None
    elts = getattr(node, "elts", [])
    return (kind, _template(elts[0]) if elts else None)


def _shape(template: Any, value: Any) -> Any:
    if template is None or not isinstance(value, list):
        return value
    kind, inner = template
    items = [_shape(inner, v) for v in value]
    return tuple(items) if kind == "tuple" else set(items) if kind == "set" else items


def arg_templates(plus: dict) -> list[Any]:
    """Argument shapes from the first call of the entry point in the task's assertion."""
    try:
        tree = ast.parse(plus["assertion"])
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == plus["entry_point"]:
            return [_template(a) for a in node.args]
    return []


def inputs_of(plus: dict) -> list[tuple]:
    templates = arg_templates(plus)
    out = []
    for args in list(plus["base_input"]) + list(plus["plus_input"]):
        shaped = [_shape(templates[i] if i < len(templates) else None, a)
                  for i, a in enumerate(args)]
        out.append(tuple(shaped))
    return out


def expected_answers(problem: dict, cfg) -> list[tuple[tuple, Any]]:
    """(args, answer) for every input the reference solution answers with a literal."""
    from dise.engine.types import TestCase
    from dise.sandbox import run_candidate

    plus = problem["plus"]
    entry = plus["entry_point"]
    code = "\n".join(problem.get("test_imports", []) + [plus["canonical_solution"]])
    inputs = inputs_of(plus)
    tests = [TestCase(kind="given", code=f"print({MARK!r}, {i}, repr({entry}(*{args!r})))")
             for i, args in enumerate(inputs)]
    report = run_candidate(code, entry, tests, cfg.sandbox, measure=False)
    answers = []
    for line in report.stdout.splitlines():
        if not line.startswith(MARK):
            continue
        _, index, shown = line.split(" ", 2)
        try:
            answers.append((inputs[int(index)], ast.literal_eval(shown)))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue  # not a literal (nan, objects): not comparable across processes
    return answers


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple, set)):
        return any(_has_float(v) for v in value)
    return False


def hidden_tests(problem: dict, answers: list[tuple[tuple, Any]]) -> list:
    from dise.engine.types import TestCase

    entry, atol = problem["plus"]["entry_point"], float(problem["plus"].get("atol") or 0)
    tests = []
    for args, answer in answers:
        call = f"{entry}(*{args!r})"
        if isinstance(answer, float) and math.isfinite(answer):
            check = (f"__import__('math').isclose({call}, {answer!r}, rel_tol={FLOAT_RTOL}, "
                     f"abs_tol={atol})")
        elif _has_float(answer):
            continue
        else:
            check = f"({call}) == ({answer!r})"
        tests.append(TestCase(kind="given", code=check, expect="True"))
    return tests


def usable(problems: list[dict], n: int, cfg) -> tuple[list[dict], list[dict]]:
    """The first ``n`` problems whose reference solution passes its own hidden tests (with
    those tests attached), and the rest."""
    chosen: list[dict] = []
    for i, problem in enumerate(problems):
        if len(chosen) == n:
            return chosen, problems[i:]
        problem["hidden"] = hidden_tests(problem, expected_answers(problem, cfg))
        if hidden_pass(problem["plus"]["canonical_solution"], problem, cfg):
            chosen.append(problem)
    return chosen, []


def hidden_pass(code: str, problem: dict, cfg) -> bool:
    from dise.sandbox import run_candidate

    if not code.strip() or not problem["hidden"]:
        return False
    full = "\n".join(problem.get("test_imports", []) + [code])
    report = run_candidate(full, problem["plus"]["entry_point"], problem["hidden"], cfg.sandbox,
                           measure=False)
    return report.all_passed


# -- runs -----------------------------------------------------------------------------------
def make_engine(home: Path, args: argparse.Namespace, *, retrieval: bool = True,
                few_shot_k: int | None = None):
    from dise.config import load_config
    from dise.engine.pipeline import Engine

    optimize: dict[str, Any] = {"when_idle": False}
    if args.min_wins:
        optimize["registry_min_wins"] = args.min_wins
    if args.generators:
        optimize["experiment_generators"] = args.generators.split(",")
    if args.temperatures:
        optimize["temperatures"] = [float(t) for t in args.temperatures.split(",")]
    if args.approaches:
        optimize["approaches"] = args.approaches.split(",")
    if args.max_attempts:
        optimize["max_attempts"] = args.max_attempts
    overrides = {"home": str(home), "optimize": optimize,
                 "sandbox": {"wall_timeout_s": 60.0, "cpu_seconds": 60,
                             "output_cap_bytes": 16 * 1024 * 1024}}
    if args.phase1_generator:
        overrides["pipeline"] = {"default_generator": args.phase1_generator}
    overrides["retrieval"] = {"enabled": retrieval}
    if few_shot_k is not None:
        overrides["retrieval"]["few_shot_k"] = few_shot_k
    return Engine(load_config(overrides))


def phase1(engine, problem: dict, generator: str | None = None) -> dict:
    from dise.engine.types import DiseError, Request

    request = Request(text=problem["prompt"], asserts=problem["test_list"][:1],
                      generator=generator)
    start = time.perf_counter()
    row: dict[str, Any] = {"task_id": problem["task_id"]}
    try:
        artifact = engine.generate(request)
    except DiseError as exc:  # a failed request is kept as a node (issue 11): optimise it
        row.update(error=str(exc), node=getattr(exc, "node_id", "") or None, fitness=0.0,
                   code="", seconds=time.perf_counter() - start, generator=generator,
                   temperature=None)
        return row
    row.update(node=artifact.node_id, fitness=artifact.fitness_score, code=artifact.code,
               task_type=artifact.task_type, generator=artifact.generator_used,
               temperature=artifact.temperature, seconds=time.perf_counter() - start)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="pass A problems (default 40)")
    parser.add_argument("--second", type=int, default=None,
                        help="pass B problems (default n/2)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--quick", action="store_true",
                        help="n=8, second=4, temperatures 0,0.7, approaches plain,repair, "
                             "at most 3 experiments a function")
    parser.add_argument("--phase1-generator", default=None,
                        help="Phase 1's default generator (default: the configured one)")
    parser.add_argument("--generators", default="qwen-0.5b",
                        help="comma-separated generators to experiment with")
    parser.add_argument("--temperatures", default=None, help="e.g. 0,0.3,0.7")
    parser.add_argument("--approaches", default=None, help="e.g. plain,repair,few_shot")
    parser.add_argument("--max-attempts", type=int, default=None)
    parser.add_argument("--json", default=None, help="write per-problem results here")
    parser.add_argument("--min-wins", type=int, default=None,
                        help="[optimize] registry_min_wins for pass A (default: configured)")
    parser.add_argument("--memory-k", type=int, default=1,
                        help="few-shot examples in pass B's memory arms (default 1)")
    args = parser.parse_args()
    if args.quick:
        args.n = min(args.n, 8)
        args.second = 4 if args.second is None else args.second
        args.temperatures = args.temperatures or "0,0.7"
        args.approaches = args.approaches or "plain,repair"
        args.max_attempts = args.max_attempts or 3
    if args.second is None:
        args.second = args.n // 2

    os.environ.setdefault("DISE_MODELS_DIR", str(Path("~/.cache/dise-models").expanduser()))
    from dise.optimize import optimize_node

    work = Path(tempfile.mkdtemp(prefix="dise-bench2-"))
    engine = make_engine(work / "a", args)
    cfg = engine.cfg
    problems = load_problems()
    random.Random(args.seed).shuffle(problems)
    pass_a, pool = usable(problems, args.n, cfg)
    print(f"Phase 2 bench: {len(pass_a)} MBPP+ problems (seed {args.seed}), experiments with "
          f"{', '.join(cfg.optimize.experiment_generators) or 'the default pool'}; temperatures "
          f"{cfg.optimize.temperatures}; approaches {cfg.optimize.approaches}; "
          f"at most {cfg.optimize.max_attempts} experiments a function", flush=True)

    rows = []
    for i, problem in enumerate(pass_a, 1):
        row = phase1(engine, problem)
        row["p1_pass"] = hidden_pass(row["code"], problem, cfg)
        row["hidden_inputs"] = len(problem["hidden"])
        start = time.perf_counter()
        codes = [row["code"]]
        if row["node"]:
            result = optimize_node(engine, row["node"], reason="bench")
            final = engine.store.latest(row["node"])
            codes += [c["code"] for c in result.candidates if c.get("code")]
            row.update(opt_seconds=time.perf_counter() - start, attempts=result.attempts,
                       improved=bool(result.new_artifact_ids), final_fitness=final.fitness_score,
                       final_pass=hidden_pass(final.code, problem, cfg),
                       stop=result.stop_reason, registry=result.registry_updated,
                       final_setup=f"{final.generator_used}@{final.temperature:g}/"
                                   f"{final.extra.get('approach', 'phase1')}")
        else:
            row.update(opt_seconds=0.0, attempts=0, improved=False, final_fitness=0.0,
                       final_pass=False, stop="phase 1 failed", registry=False)
        row["any_pass"] = any(hidden_pass(c, problem, cfg) for c in dict.fromkeys(codes))
        row["candidates"] = len(codes)
        row.pop("code", None)
        rows.append(row)
        print(f"[{i:>2}/{len(pass_a)}] {problem['task_id']:<5} P1 "
              f"{'✓' if row['p1_pass'] else '✗'} {row['fitness']:.2f} → "
              f"{'✓' if row['final_pass'] else '✗'} {row['final_fitness']:.2f}  "
              f"{row['attempts']} tries, ceiling {'✓' if row['any_pass'] else '✗'}  "
              f"{row.get('seconds', 0):.0f}+{row['opt_seconds']:.0f}s  {row['stop']}", flush=True)

    second = second_pass(engine, pool, rows, args, work)
    report(rows, second, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"pass_a": rows, "pass_b": second}, indent=1,
                                              default=str))
    return 0


ARMS = ("fresh", "single", "registry", "memory", "both")


def best_single_generator(cfg) -> str:
    """The pool's largest usable generator (the "just use the bigger model" baseline)."""
    from dise.llm.select import model_ram_bytes
    from dise.optimize.experiments import generator_pool

    usable, _ = generator_pool(cfg)
    usable = usable or [cfg.pipeline.default_generator]
    return max(usable, key=lambda g: model_ram_bytes(cfg.generators[g], cfg))


def arm_engines(engine, args, work: Path) -> dict[str, Any]:
    """One engine per pass-B arm (see the module docstring); pass A's store is copied."""
    import shutil

    source = Path(engine.cfg.home)
    engine.store.close()
    engines: dict[str, Any] = {"fresh": make_engine(work / "b-fresh", args),
                               "single": make_engine(work / "b-single", args)}
    for arm, retrieval in (("registry", False), ("memory", True), ("both", True)):
        shutil.copytree(source, work / f"b-{arm}")
        engines[arm] = make_engine(work / f"b-{arm}", args, retrieval=retrieval,
                                   few_shot_k=args.memory_k if retrieval else None)
    engines["memory"].store.best_generator = lambda task_type: None  # hide the registry
    return engines


def second_pass(engine, pool: list[dict], rows: list[dict], args, work: Path) -> list[dict]:
    """New problems of the task types pass A changed the registry for (else: pass A's types),
    through Phase 1 in the five arms."""
    from dise.engine import sentinel

    learned = {r["task_type"] for r in rows if r.get("registry")}
    types = learned or {r.get("task_type") for r in rows if r.get("task_type")}
    same_types = [p for p in pool if sentinel.classify(p["prompt"]).task_type in types]
    chosen, _ = usable(same_types, args.second, engine.cfg)
    if not chosen:
        return []
    print_wins(engine, types)
    single = best_single_generator(engine.cfg)
    skip_single = single == engine.cfg.pipeline.default_generator
    engines = arm_engines(engine, args, work)
    print(f"\nPass B: {len(chosen)} new problems of task types {sorted(types)} "
          f"(registry: {', '.join(sorted(learned)) or 'nothing learned'}); best single "
          f"generator {single}{' = the default: its arm is the fresh arm' if skip_single else ''}",
          flush=True)
    out = []
    cfg = engine.cfg
    for i, problem in enumerate(chosen, 1):
        row: dict[str, Any] = {"task_id": problem["task_id"]}
        for arm in ARMS:
            if arm == "single" and skip_single:
                row[arm] = dict(row["fresh"])
                continue
            got = phase1(engines[arm], problem, single if arm == "single" else None)
            row[arm] = {k: got.get(k) for k in ("fitness", "generator", "temperature",
                                                "seconds")}
            row[arm]["pass"] = hidden_pass(got["code"], problem, cfg)
        out.append(row)
        print(f"[{i:>2}/{len(chosen)}] {problem['task_id']:<5} " + "  ".join(
            f"{arm} {'✓' if row[arm]['pass'] else '✗'} {row[arm]['fitness'] or 0:.2f}"
            for arm in ARMS), flush=True)
    return out


def print_wins(engine, types: set) -> None:
    """The registry's tally: for each task type, each setup and how many functions it won."""
    print("\nRegistry wins after pass A (setup: functions won; promoted at "
          f"registry_min_wins = {engine.cfg.optimize.registry_min_wins}):")
    for task_type in sorted(t for t in types if t):
        rec = engine.store.best_generator(task_type) or {}
        wins = rec.get("wins") or {}
        chosen = rec.get("generator")
        shown = ", ".join(f"{k}: {len(v)}" for k, v in sorted(wins.items())) or "none"
        print(f"  {task_type}: {shown}" + (f"  → promoted {chosen}@{rec.get('temperature')}/"
                                           f"{rec.get('approach')}" if chosen else ""))


def report(rows: list[dict], second: list[dict], args) -> None:
    n = len(rows)
    mean = statistics.fmean
    p1 = sum(r["p1_pass"] for r in rows)
    after = sum(r["final_pass"] for r in rows)
    ceiling = sum(r["any_pass"] for r in rows)
    headroom = ceiling - p1
    print(f"\nPhase 2 on {n} MBPP+ problems, seed {args.seed} (hidden: base + plus inputs)")
    print(f"  pass rate (hidden)        Phase 1 {p1 / n:.1%}   after optimisation "
          f"{after / n:.1%}")
    print(f"  mean fitness (own tests)  Phase 1 {mean(r['fitness'] for r in rows):.3f}   "
          f"after {mean(r['final_fitness'] for r in rows):.3f}")
    print(f"  functions improved        {sum(r['improved'] for r in rows)} of {n} "
          f"(registry updated by {sum(r['registry'] for r in rows)})")
    print(f"  experiments               {sum(r['attempts'] for r in rows)} in all, "
          f"{mean(r['attempts'] for r in rows):.1f} a function")
    spent = sum(r["opt_seconds"] for r in rows)
    print(f"  time optimising           {spent:.0f} s in all, "
          f"{statistics.median(r['opt_seconds'] for r in rows):.0f} s median a function; "
          f"Phase 1 {sum(r.get('seconds', 0) for r in rows):.0f} s")
    print(f"  minutes optimising a function  {spent / 60 / n:.2f} mean")
    print(f"  failed Phase 1 requests   {sum(1 for r in rows if r.get('error'))} "
          f"(kept and optimised: {sum(1 for r in rows if r.get('error') and r['node'])})")
    print(f"  ceiling (pass@k, every candidate tried) {ceiling / n:.1%}   "
          f"(k = {mean(r['candidates'] for r in rows):.1f} distinct on average)")
    captured = f"{(after - p1) / headroom:.0%}" if headroom else "n/a (no headroom)"
    print(f"  headroom captured         {after - p1:+d} of {headroom:+d} → {captured}")
    if second:
        m = len(second)
        print(f"  pass B ({m} unseen problems), Phase 1 in five arms:")
        for arm in ARMS:
            rate = sum(r[arm]["pass"] for r in second) / m
            fit = mean(r[arm]["fitness"] or 0.0 for r in second)
            secs = statistics.median(r[arm]["seconds"] or 0.0 for r in second)
            print(f"    {arm:<9} pass {rate:.1%}, mean fitness {fit:.3f}, median {secs:.1f} s")

if __name__ == "__main__":
    sys.exit(main())
