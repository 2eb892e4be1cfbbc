"""Phase 2 on stub-style MBPP+ problems: Phase 1 vs after optimisation, the ceiling, and
whether what Phase 2 learned makes the next Phase 1 better on problems it never saw.

Problems are the stubs of ``bench/phase1_stubs.py`` (the trusted-tests issue's benchmark): the
reference solution's signature, a docstring from the task text and two or three examples in
one of eight notations. Hidden judge: that bench's ``hidden_verdict`` (every MBPP+ base and
plus input against the reference, types restored, in a subprocess with a timeout).

Pass A (``--n`` problems): Phase 1 on the stub file (a fresh user's: ``best_of_k_when =
"never"``, so what Phase 2 learns does not change pass A's baseline), then ``optimize_node``
on every node (failed Phase 1 requests are nodes too), then: hidden pass rate after
Phase 1 and after Phase 2, each pool model asked once at T=0 with the bare stub and the best
of them per problem (the issue's reference: what a perfect judge of the bare answers could pick),
improvements and regressions (hidden), pass@k of every candidate tried (the ceiling) and
the share of the headroom the selection captured, minutes of optimisation per function.
Pass B (``--second`` unseen problems, preferring the task types pass A learned about), Phase 1
in five arms, so learning is separated from "the bigger model wins" and from reuse:

  fresh     a fresh store (default generator, nothing learned);
  single    a fresh store, every request forced to the best single generator of the pool (the
            largest usable one; skipped, with fresh's figures, when that is the default);
  registry  pass A's store with retrieval off: only the registry acts (its promotions, and
            Phase 1's best-of-k once Phase 2's samples showed it pays, ``dise.engine.best_of_k``);
  memory    pass A's store with the registry hidden: only reuse and few-shot examples act;
  both      pass A's store as it is.

Where pass A promoted nothing for a problem's task type, "registry" is the fresh arm's run and
"both" the memory arm's (the same configuration; the rows say ``same_as``).

Then the ``registry_min_wins`` sweep: pass A records every registry win in order, so the
registry that each threshold w (1..3) would have promoted is replayed (the runner's rule: a
setup is promoted when a win brings its count to w) and Phase 1 runs with it on the pass-B
problems whose task type it changes (the others are fresh's rows: nothing differs). The bench
prints the smallest w whose registry beats the fresh store (``derive_min_wins``).

Same start for every arm: llama.cpp's evaluated prompt is reset before each Phase 1 run and
each optimisation, the arms' order rotates per problem, every arm has its own DISE_HOME.

    DISE_MODELS_DIR=DIR nice -n 10 python bench/phase2.py --n 8 --second 6 --node-time 150 \
        --json out.json          # DIR: only the models of the arm (a symlink + its .verified)
    python bench/phase2.py --from-json out.json      # the figures of the rows saved so far

``--generators`` is Phase 2's pool (default: every configured generator that is installed);
``--node-time`` the optimisation budget per function in seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "bench"))
import phase1_stubs as stubs_bench  # noqa: E402  (the stubs and the hidden judge)

ARMS = ("fresh", "single", "registry", "memory", "both")
SWEEP = (1, 2, 3)


# -- engines --------------------------------------------------------------------------------
def make_engine(home: Path, args: argparse.Namespace, *, retrieval: bool = True,
                best_of_k: str = "learned"):
    """An engine on its own DISE_HOME with the bench's knobs (``best_of_k``: ``[pipeline]
    best_of_k_when``)."""
    from dise.config import load_config
    from dise.engine.core import Engine

    optimize: dict[str, Any] = {"when_idle": False, "workers": args.workers,
                                "node_time_limit_s": float(args.node_time)}
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
    if args.resample_k is not None:
        optimize["resample_k"] = args.resample_k
    overrides: dict[str, Any] = {"home": str(home), "optimize": optimize,
                                 "retrieval": {"enabled": retrieval}}
    if args.threads:
        overrides["llamacpp"] = {"n_threads": args.threads}
    overrides["pipeline"] = {"best_of_k_when": best_of_k}
    if args.phase1_generator:
        overrides["pipeline"]["default_generator"] = args.phase1_generator
    home.mkdir(parents=True, exist_ok=True)
    return Engine(load_config(overrides))


def same_start() -> None:
    """Every run from the same (empty) llama.cpp prompt cache."""
    from dise.llm import llamacpp

    llamacpp.reset_prompt_caches()


def phase1(engine, work: Path, problem: dict, generator: str | None = None) -> dict:
    """Phase 1 on the problem's stub file (what ``dise generate --file F`` runs):
    {node, code, fitness, task_type, generator, seconds, error}."""
    folder = work / f"{problem['task_id'].replace('/', '_')}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    path = folder / "stub.py"
    path.write_text(problem["stub"])
    same_start()
    result, seconds = stubs_bench.run_dise(engine, path, problem["stub"],
                                           problem["entry_point"], generator)
    if isinstance(result, Exception):  # a failed request is kept as a node (issue 11)
        return {"node": getattr(result, "node_id", "") or None, "code": "", "fitness": 0.0,
                "task_type": None, "generator": generator, "seconds": seconds,
                "error": str(result)[:200]}
    return {"node": result.node_id, "code": result.code, "fitness": result.fitness_score,
            "task_type": result.task_type, "generator": result.generator_used,
            "temperature": result.temperature, "seconds": seconds,
            "samples": sum(t.startswith("best-of-k:") for t in result.tool_usage)}


def bare(engine, generator: str, problem: dict) -> str:
    """The reference: ``generator`` asked once at T=0 with the stub alone, no tests, no fixes
    (``phase1_stubs.run_bare``)."""
    from dise.engine import stubs
    from dise.optimize.pool import backend_for

    gen = engine.cfg.generator(generator)
    same_start()
    spec = stubs.find_stub(problem["stub"], name=problem["entry_point"]).spec
    return stubs_bench.run_bare(backend_for(engine, gen, engine.cfg), gen, problem["stub"],
                                spec)[0]


def passes(code: str, problem: dict, cache: dict) -> bool:
    """The hidden verdict, memoised per code text."""
    if code not in cache:
        cache[code] = stubs_bench.hidden_verdict(code, problem)[0] if code.strip() else False
    return cache[code]


def tally(engine, task_types: set) -> dict[str, dict[str, list[str]]]:
    return {t: {k: list(v) for k, v in ((engine.store.best_generator(t) or {}).get("wins")
                                       or {}).items()} for t in task_types if t}


# -- pass A -----------------------------------------------------------------------------------
def pass_a(engine, problems: list[dict], args, work: Path, out: dict) -> list[dict]:
    from dise.optimize import optimize_node
    from dise.optimize.variants import Variant, is_resample

    rows, win_log = out["pass_a"], out["win_log"]
    seen_types: set = set()
    for i, problem in enumerate(problems, 1):
        cache: dict[str, bool] = {}
        p1 = phase1(engine, work / "a", problem)
        row: dict[str, Any] = {"task_id": problem["task_id"], "notation": problem["notation"],
                               **{k: p1.get(k) for k in ("fitness", "task_type", "generator",
                                                         "seconds", "error")}}
        row["p1_pass"] = passes(p1["code"], problem, cache)
        row["bare"] = {g: passes(bare(engine, g, problem), problem, cache) for g in out["bare"]}
        codes = [p1["code"]]
        before = tally(engine, seen_types | {p1["task_type"]})
        start = time.perf_counter()
        if p1["node"]:
            same_start()
            result = optimize_node(engine, p1["node"], reason="bench")
            final = engine.store.latest(p1["node"])
            codes += [c["code"] for c in result.candidates if c.get("code")]
            row["samples"] = sum(1 for c in result.candidates if c.get("attempt") and is_resample(
                engine.cfg.optimize, Variant.from_dict(c["variant"])))
            row.update(task_type=final.task_type, attempts=result.attempts,
                       errors=sum(1 for c in result.candidates if c.get("error")),
                       improved=bool(result.new_artifact_ids), final_fitness=final.fitness_score,
                       final_pass=passes(final.code, problem, cache), stop=result.stop_reason,
                       registry=result.registry_updated,
                       final_setup=f"{final.generator_used}@{final.temperature:g}/"
                                   f"{final.extra.get('approach', 'phase1')}")
        else:
            row.update(attempts=0, errors=0, improved=False, final_fitness=0.0,
                       final_pass=False, stop="phase 1 failed, nothing stored", registry=False)
        row["opt_seconds"] = time.perf_counter() - start
        seen_types.add(row["task_type"])
        after = tally(engine, seen_types)
        for task_type, wins in after.items():  # the wins this node added, in order
            for setup, nodes in wins.items():
                for node in nodes[len(before.get(task_type, {}).get(setup, [])):]:
                    win_log.append([task_type, setup, node])
        row["any_pass"] = any(passes(c, problem, cache) for c in dict.fromkeys(codes))
        row["candidates"] = len(dict.fromkeys(codes))
        rows.append(row)
        print(f"A [{i:>2}/{len(problems)}] {problem['task_id']:<9} {row['task_type'] or '?':<10} "
              f"P1 {'✓' if row['p1_pass'] else '✗'} {row['fitness']:.2f} {row['seconds']:.0f}s"
              f" → P2 {'✓' if row['final_pass'] else '✗'} {row['final_fitness']:.2f} "
              f"{row['opt_seconds']:.0f}s  {row['attempts']} tries ({row['errors']} errors), "
              f"pass@k {'✓' if row['any_pass'] else '✗'}  {row['stop']}", flush=True)
        save(out, args)
    return rows


# -- pass B -----------------------------------------------------------------------------------
def phase1_generators(cfg) -> list[str]:
    """The generators Phase 1's best-of-k may sample from: the default first, then the
    pool's others (``Run._best_of_k`` asks the machine the same)."""
    from dise.optimize.pool import generator_pool

    default = cfg.pipeline.default_generator
    return [default] + [g for g in generator_pool(cfg)[0] if g != default]


def best_single_generator(cfg) -> str:
    """The pool's largest usable generator (the "just use the bigger model" baseline)."""
    from dise.llm.select import model_ram_bytes
    from dise.optimize.pool import generator_pool

    usable, _ = generator_pool(cfg)
    usable = usable or [cfg.pipeline.default_generator]
    return max(usable, key=lambda g: model_ram_bytes(cfg.generators[g], cfg))


def replay_registry(win_log: list, min_wins: int, cfg) -> dict[str, dict]:
    """The registry each task type would hold had ``registry_min_wins`` been ``min_wins``:
    the runner's rule (``versions.VersionSaving._maybe_save``) replayed over pass A's wins in order."""
    counts: dict[tuple, int] = {}
    chosen: dict[str, dict] = {}
    for task_type, setup, _node in win_log:
        counts[task_type, setup] = counts.get((task_type, setup), 0) + 1
        if counts[task_type, setup] >= min_wins:
            generator, rest = setup.split("@", 1)
            temperature, approach = rest.split("/", 1)
            few = cfg.optimize.few_shot_k if "few_shot" in approach else 0
            chosen[task_type] = {"task_type": task_type, "generator": generator,
                                 "temperature": float(temperature), "approach": approach,
                                 "setup": setup, "tool": {"few_shot_k": few}}
    return chosen


def rederived_records(store, k: int) -> list[dict]:
    """Pass A's registry records with the best-of-k evidence re-derived from its persisted
    runs by today's rule (``best_of_k.outcomes``, as ``stage1._record_samples`` records it),
    for a pass A store made under an older rule (``--pass-a-home``)."""
    from dise.engine import best_of_k
    from dise.optimize import load_state

    by_type: dict[str, dict] = {}
    for rec in store.optimizer_states():
        node = rec.get("node_id")
        state = load_state(store, node) if node else None
        latest = store.latest(node) if node else None
        if state is None or latest is None or state.baseline_fitness is None:
            continue
        trusted = sum(1 for t in store.frozen_tests(node) if t.trusted)
        if state.baseline_trusted >= trusted:
            continue
        for generator, result in best_of_k.outcomes(state.history, trusted, k).items():
            trial = by_type.setdefault(latest.task_type, {}).setdefault(
                best_of_k.evidence_key(generator),
                {"gain": [], "no_gain": [], "errors": 0, "last_error": ""})
            trial[result].append(node)
    records = []
    for rec in store.registry_records():
        trials = {key: v for key, v in (rec.get("trials") or {}).items()
                  if not key.startswith(best_of_k.PREFIX)}
        trials.update(by_type.pop(rec.get("task_type"), {}))
        records.append({**rec, "trials": trials})
    return records + [{"task_type": t, "wins": {}, "trials": tr} for t, tr in by_type.items()]


def arm_engines(engine, args, work: Path) -> dict[str, Any]:
    """One engine per pass-B arm (see the module docstring); pass A's store is copied."""
    import shutil

    source = Path(engine.cfg.home)
    engine.store.close()
    engines: dict[str, Any] = {"fresh": make_engine(work / "b-fresh", args),
                               "single": make_engine(work / "b-single", args)}
    for arm, retrieval in (("registry", False), ("memory", True), ("both", True)):
        shutil.copytree(source, work / f"b-{arm}")
        engines[arm] = make_engine(work / f"b-{arm}", args, retrieval=retrieval)
    if getattr(args, "records", None) is not None:  # --pass-a-home: re-derived evidence
        for arm in ("registry", "both"):
            engines[arm].store.registry_records = lambda: copy.deepcopy(args.records)
    engines["memory"].store.best_generator = lambda task_type: None  # hide the registry
    engines["memory"].store.registry_records = lambda: []  # and its best-of-k evidence
    for w in SWEEP:  # a fresh store whose registry is the replayed one (retrieval off)
        engines[f"w{w}"] = make_engine(work / f"b-w{w}", args, retrieval=False)
    return engines


def pass_b(engine, pool: list[dict], args, work: Path, out: dict) -> list[dict]:
    """Unseen problems (the task types pass A learned about first) through Phase 1 in the
    five arms and the registry_min_wins sweep."""
    from dise.engine import best_of_k, sentinel

    rows_a, rows = out["pass_a"], out["pass_b"]
    records = engine.store.registry_records()
    out["best_of_k"] = {g: {t: list(c) for t, c in best_of_k.counts(records, g).items()}
                        for g in phase1_generators(engine.cfg)}
    learned = {t for t, _, _ in out["win_log"]} | {t for by in out["best_of_k"].values()
                                                  for t in by}
    types = learned or {r.get("task_type") for r in rows_a if r.get("task_type")}
    of_type = [p for p in pool if sentinel.classify(p["doc"]).task_type in types]
    picked = {id(p) for p in of_type}
    chosen = (of_type + [p for p in pool if id(p) not in picked])[:args.second]
    cfg = engine.cfg
    print_wins(engine, out["win_log"])
    single = best_single_generator(cfg)
    skip_single = single == cfg.pipeline.default_generator
    replays = {w: replay_registry(out["win_log"], w, cfg) for w in SWEEP}
    out["replays"] = {str(w): {t: r["setup"] for t, r in m.items()} for w, m in replays.items()}
    engines = arm_engines(engine, args, work)
    for w in SWEEP:
        engines[f"w{w}"].store.best_generator = replays[w].get
    print(f"\nPass B: {len(chosen)} unseen problems ({len(of_type)} of the task types "
          f"{sorted(t for t in types if t)} available); best single generator {single}"
          f"{' = the default: its arm is the fresh arm' if skip_single else ''}", flush=True)
    for i, problem in enumerate(chosen, 1):
        cache: dict[str, bool] = {}
        task_type = sentinel.classify(problem["doc"]).task_type
        row: dict[str, Any] = {"task_id": problem["task_id"], "task_type": task_type}
        order = ARMS[i % len(ARMS):] + ARMS[:i % len(ARMS)]  # rotates: no arm always first
        promoted = bool((engines["registry"].store.best_generator(task_type) or {})
                        .get("generator")) or best_of_k.policy(
            engines["registry"].cfg, engines["registry"].store.registry_records(), task_type,
            phase1_generators(cfg)).samples > 0
        same = {"single": "fresh"} if skip_single else {}
        if not promoted:  # identical configurations: the same run, not run twice
            same.update(registry="fresh", both="memory")
        for arm in order:
            if arm in same:
                continue
            got = phase1(engines[arm], work / f"b-{arm}-files", problem,
                         single if arm == "single" else None)
            row[arm] = {k: got.get(k) for k in ("fitness", "generator", "seconds", "error",
                                                "samples")}
            row[arm]["pass"] = passes(got["code"], problem, cache)
        for arm, twin in same.items():
            row[arm] = {**row[twin], "same_as": twin}
        for w in SWEEP:  # only where the replayed registry changes this task type's setup
            if task_type in replays[w]:
                got = phase1(engines[f"w{w}"], work / f"b-w{w}-files", problem)
                row[f"w{w}"] = {"pass": passes(got["code"], problem, cache),
                                "fitness": got.get("fitness"), "seconds": got.get("seconds"),
                                "setup": replays[w][task_type]["setup"]}
            else:
                row[f"w{w}"] = {**row["fresh"], "setup": None}
        rows.append(row)
        print(f"B [{i:>2}/{len(chosen)}] {problem['task_id']:<9} {task_type:<10} " + "  ".join(
            f"{arm} {'✓' if row[arm]['pass'] else '✗'} {row[arm]['fitness'] or 0:.2f}"
            for arm in ARMS + tuple(f"w{w}" for w in SWEEP)), flush=True)
        save(out, args)
    return rows


def print_wins(engine, win_log: list) -> None:
    """The registry's tally after pass A and what the store promoted."""
    print(f"\nRegistry wins after pass A, in order (promoted at registry_min_wins = "
          f"{engine.cfg.optimize.registry_min_wins}):")
    for task_type in sorted({t for t, _, _ in win_log}):
        wins = [s for t, s, _ in win_log if t == task_type]
        rec = engine.store.best_generator(task_type) or {}
        chosen = rec.get("generator")
        print(f"  {task_type}: {', '.join(wins)}" + (
            f"  → promoted {chosen}@{rec.get('temperature')}/{rec.get('approach')}"
            if chosen else "  → nothing promoted"))
    if not win_log:
        print("  none (no function improved by more than registry_gain)")
    from dise.engine import best_of_k

    import dataclasses

    cfg, records = engine.cfg, engine.store.registry_records()
    cfg = dataclasses.replace(cfg, pipeline=dataclasses.replace(  # pass B's arms: "learned"
        cfg.pipeline, best_of_k_when="learned"))
    names, types = phase1_generators(cfg), set()
    for name in names:
        evidence = best_of_k.counts(records, name)
        types |= set(evidence)
        print(f"Best-of-k evidence of {name} (first {cfg.pipeline.best_of_k} plain answers): " + (
            ", ".join(f"{t} fixed {f} of {n}" for t, (f, n) in sorted(evidence.items()))
            or "none"))
    timed = best_of_k.answer_seconds(engine.store.optimizer_states())
    print("Phase 2's median seconds an answer: " + (", ".join(
        f"{g} {t:.1f} s ({n} answers)" for g, (t, n) in sorted(timed.items())) or "none"))
    for task_type in sorted(types):
        plan = best_of_k.policy(cfg, records, task_type, names)
        start = best_of_k.learned_start(cfg, engine.store, task_type, names[0])
        print(f"  Phase 1 for {task_type}: starts with {start[0] if start else names[0]}"
              f"{f' ({start[1]})' if start else ''}; {plan.samples} samples "
              f"{plan.generator} ({plan.reason})")


def derive_min_wins(rows_b: list[dict], current: int) -> tuple[int, str]:
    """The smallest w of the sweep whose replayed registry passes more held-out problems than
    the fresh store, with no problem lost that fresh passes more often than it wins; when
    none does, ``max(SWEEP) + 1`` if some w promoted anything and lost (promotion hurt or
    did not help), else ``current`` (nothing was promoted: no evidence). Returns (w, why)."""
    fresh = sum(r["fresh"]["pass"] for r in rows_b)
    tried = []
    for w in SWEEP:
        changed = [r for r in rows_b if r[f"w{w}"].get("setup")]
        if not changed:
            tried.append(f"w={w}: promotes nothing")
            continue
        got = sum(r[f"w{w}"]["pass"] for r in rows_b)
        won = sum(r[f"w{w}"]["pass"] and not r["fresh"]["pass"] for r in changed)
        lost = sum(r["fresh"]["pass"] and not r[f"w{w}"]["pass"] for r in changed)
        tried.append(f"w={w}: {got} vs fresh {fresh} on {len(rows_b)} (changed {len(changed)}:"
                     f" +{won} -{lost})")
        if got > fresh:
            return w, "; ".join(tried)
    if any("promotes nothing" not in t for t in tried):
        return max(SWEEP) + 1, "; ".join(tried)
    return current, "; ".join(tried) + " (no evidence: kept)"


# -- report -----------------------------------------------------------------------------------
def save(out: dict, args) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


def report(out: dict) -> None:
    rows, second = out["pass_a"], out["pass_b"]
    med, mean = statistics.median, statistics.fmean
    if rows:
        n = len(rows)
        p1 = sum(r["p1_pass"] for r in rows)
        after = sum(r["final_pass"] for r in rows)
        ceiling = sum(r["any_pass"] for r in rows)
        headroom = ceiling - p1
        seed = out.get("pass_a_seed", out["seed"])  # reused pass A rows: their own run's seed
        print(f"\nPhase 2 on {n} stub problems (MBPP+, seed {seed}; hidden: base + plus "
              f"inputs); pool {out['pool']}; {out['node_time']:.0f} s a function at most")
        print(f"  hidden pass     Phase 1 {p1}/{n} ({p1 / n:.1%})   after Phase 2 {after}/{n} "
              f"({after / n:.1%})   {100 * (after - p1) / n:+.1f} points")
        models = out.get("bare") or []
        if models and all("bare" in r for r in rows):
            best = sum(any(r["bare"].values()) for r in rows)
            each = "   ".join(f"{g} {sum(r['bare'][g] for r in rows)}/{n}" for g in models)
            print(f"  bare, T=0 once  {each}   best of them per problem {best}/{n}; after "
                  f"Phase 2 {'≥' if after >= best else '<'} that by {after - best:+d}")
        print(f"  improved        {sum(r['improved'] for r in rows)} functions got a new version;"
              f" hidden ✗→✓ {sum(r['final_pass'] and not r['p1_pass'] for r in rows)}, "
              f"regressions ✓→✗ {sum(r['p1_pass'] and not r['final_pass'] for r in rows)}")
        print(f"  mean fitness    Phase 1 {mean(r['fitness'] for r in rows):.3f}   after "
              f"{mean(r['final_fitness'] for r in rows):.3f}")
        print(f"  experiments     {sum(r['attempts'] for r in rows)} attempts, "
              f"{sum(r['errors'] for r in rows)} errors (not attempts), "
              f"{sum(r.get('samples', 0) for r in rows)} of them best-of-k samples")
        print(f"  failed Phase 1  {sum(1 for r in rows if r.get('error'))} "
              f"(kept as nodes and optimised)")
        print(f"  pass@k ceiling  {ceiling}/{n} ({ceiling / n:.1%}), "
              f"k = {mean(r['candidates'] for r in rows):.1f} distinct candidates on average")
        captured = f"{(after - p1) / headroom:.0%}" if headroom else "n/a (no headroom)"
        print(f"  captured        {after - p1:+d} of {headroom:+d} → {captured}")
        spent = [r["opt_seconds"] for r in rows]
        print(f"  optimisation    {mean(spent) / 60:.2f} min mean a function, "
              f"{med(spent) / 60:.2f} median; Phase 1 {med(r['seconds'] for r in rows):.0f} s "
              f"median")
    if second:
        m = len(second)
        print(f"\nPass B: {m} unseen problems, Phase 1 in five arms")
        for arm in ARMS + tuple(f"w{w}" for w in SWEEP):
            got = sum(r[arm]["pass"] for r in second)
            secs = med(r[arm]["seconds"] or 0.0 for r in second)
            label = arm if not arm.startswith("w") else f"registry@{arm[1:]}"
            extra = ""
            if arm.startswith("w"):
                extra = f"  (setup changed on {sum(1 for r in second if r[arm].get('setup'))})"
            drew = sum(1 for r in second if r[arm].get("samples"))
            if drew:
                extra += f"  (best-of-k samples drawn on {drew})"
            print(f"  {label:<11} {got}/{m} ({got / m:.1%}), median {secs:.1f} s{extra}")
        w, why = derive_min_wins(second, out.get("min_wins", 2))
        print(f"  registry_min_wins from this run: {w}  ({why})")


def load_set(args) -> tuple[list[dict], list[dict]]:
    """Pass A's problems and the rest (pass B's pool), each with its stub and notation."""
    from dise.engine import stubs

    problems = stubs_bench.load_problems(10 ** 6, args.seed)  # a seeded shuffle of all
    for i, problem in enumerate(problems):
        problem["stub"], problem["notation"] = stubs_bench.make_stub(problem, i)
        spec = stubs.find_stub(problem["stub"], name=problem["entry_point"]).spec
        problem["doc"] = spec.docstring or problem["entry_point"]
    return problems[:args.n], problems[args.n:]


def excluded(files: str) -> set[str]:
    """Task ids of the pass A and pass B rows in the comma-separated rows files ``files``."""
    ids: set[str] = set()
    for name in filter(None, files.split(",")):
        saved = json.loads(Path(name).read_text())
        ids |= {r["task_id"] for part in ("pass_a", "pass_b") for r in saved.get(part, [])}
    return ids


def json_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` (write the rows as they come) and ``--from-json`` (print saved rows' figures)."""
    parser.add_argument("--json", default=None, help="write the rows here as they come")
    parser.add_argument("--from-json", default=None, help="print the figures of saved rows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="pass A problems (default 8)")
    parser.add_argument("--second", type=int, default=6, help="pass B problems (default 6)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--node-time", type=float, default=150.0,
                        help="optimisation budget a function, seconds (default 150)")
    parser.add_argument("--generators", default="",
                        help="Phase 2's pool, comma-separated (default: every installed one)")
    parser.add_argument("--phase1-generator", default=None,
                        help="Phase 1's default generator (default: the configured one)")
    parser.add_argument("--temperatures", default=None, help="e.g. 0,0.3,0.7")
    parser.add_argument("--approaches", default=None, help="e.g. plain,repair,few_shot")
    parser.add_argument("--max-attempts", type=int, default=None)
    parser.add_argument("--resample-k", type=int, default=None,
                        help="[optimize] resample_k (default: configured; 0 turns it off)")
    parser.add_argument("--min-wins", type=int, default=None,
                        help="[optimize] registry_min_wins for pass A (default: configured)")
    parser.add_argument("--workers", type=int, default=1,
                        help="concurrent experiments (default 1: a shared machine)")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: cores)")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the reference of each pool model asked once at T=0")
    parser.add_argument("--pass-a-home", default=None,
                        help="skip pass A: a copy of this pass A store (its DISE_HOME) and the "
                        "rows of --pass-a-json; best-of-k evidence re-derived by today's rule")
    parser.add_argument("--pass-a-json", default=None)
    parser.add_argument("--exclude", default="",
                        help="comma-separated rows files (--json output) whose pass A and pass B "
                        "problems pass B leaves out: a check on problems no earlier run saw")
    json_options(parser)
    args = parser.parse_args()
    if args.from_json:
        report(json.loads(Path(args.from_json).read_text()))
        return 0
    os.environ.setdefault("DISE_MODELS_DIR", str(Path("~/.cache/dise-models").expanduser()))
    from dise.optimize.pool import generator_pool

    work = Path(tempfile.mkdtemp(prefix="dise-bench2-"))
    engine = make_engine(work / "home-a", args, best_of_k="never")  # a fresh user's Phase 1
    cfg = engine.cfg
    usable, missing = generator_pool(cfg)
    first, pool = load_set(args)
    out: dict[str, Any] = {"seed": args.seed, "pool": ", ".join(usable) or "none",
                           "unavailable": [m["generator"] for m in missing],
                           "node_time": args.node_time,
                           "min_wins": cfg.optimize.registry_min_wins,
                           "resample_k": cfg.optimize.resample_k,
                           "pass_a": [], "pass_b": [], "win_log": [],
                           "bare": [] if args.no_bare else usable}
    print(f"Phase 2 bench: {len(first)} + {args.second} stub problems (seed {args.seed}); "
          f"Phase 1 {cfg.pipeline.default_generator}; Phase 2 pool {out['pool']} (not "
          f"usable: {', '.join(out['unavailable']) or 'none'}); {args.node_time:.0f} s a "
          f"function; registry_min_wins {cfg.optimize.registry_min_wins}; resample_k "
          f"{cfg.optimize.resample_k}", flush=True)
    if args.pass_a_home:
        import shutil

        engine.store.close()
        shutil.rmtree(work / "home-a")
        shutil.copytree(args.pass_a_home, work / "home-a")
        engine = make_engine(work / "home-a", args, best_of_k="never")
        saved = json.loads(Path(args.pass_a_json).read_text())
        out.update(pass_a=saved["pass_a"], win_log=saved["win_log"], bare=saved.get("bare", []),
                   pass_a_seed=saved.get("pass_a_seed", saved["seed"]))
        args.records = rederived_records(engine.store, engine.cfg.pipeline.best_of_k)
        engine.store.registry_records = lambda: copy.deepcopy(args.records)
        print(f"Pass A reused from {args.pass_a_home} ({len(out['pass_a'])} rows of "
              f"{args.pass_a_json}); best-of-k evidence re-derived", flush=True)
    else:
        pass_a(engine, first, args, work, out)
    report(out)
    seen = {r["task_id"] for r in out["pass_a"]} | excluded(args.exclude)
    if args.second:
        pass_b(engine, [p for p in pool if p["task_id"] not in seen], args, work, out)
    report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
