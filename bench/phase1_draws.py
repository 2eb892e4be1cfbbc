"""What each extra draw of Phase 1 buys on requests whose first answer fails the user's tests:
the data behind the order of best-of-k samples and the repair round (``dise.engine.pipeline
Run._test_and_fix``, ``dise.engine.best_of_k``).

For each problem (a ``bench/phase2.py`` pass-B stub), Phase 1 runs on a copy of a pass A store
(``--pass-a-home``, best-of-k evidence re-derived as ``bench/phase2.py`` does) with retrieval off,
as that bench's registry arm; where the first answer (autofixed) fails a user test, every one of
the ``[pipeline] best_of_k`` hot samples is drawn, then one repair round of the first answer,
regardless of what passed. Each draw is timed (generation; generation + test run) and judged:
the user's tests, the hidden tests (``phase1_stubs.hidden_verdict``), and whether it fails the
user's tests exactly as the first answer did (``best_of_k.failure_signature``). Then the
figures: how often a sample agrees with the first answer and what the draws after an agreeing
one bought; what the repair bought and what it cost against a sample.

    DISE_MODELS_DIR=DIR python bench/phase1_draws.py --pass-a-home HOME --ids Mbpp/3,Mbpp/641 \
        --json draws.json        # DIR: the 0.5B and the 1.5B; HOME: a phase2.py pass A store
    python bench/phase1_draws.py --from-json draws.json
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phase2  # noqa: E402  (the pass-B problems, engines and hidden judge)
from phase1_stubs import run_dise  # noqa: E402


def _signature(candidate, tests) -> tuple[str, ...]:
    from dise.engine import best_of_k

    return best_of_k.failure_signature(candidate, tests)


def recording_test_and_fix(log: dict):
    """A ``Run._test_and_fix`` that draws every sample and one repair and records each."""
    from dise.engine import autofix, best_of_k, extract, prompts
    from dise.engine.candidates import Candidate, needs_repair, repair_view

    def draw(self, kind, messages, temperature, seed, spec, tests, backend, gen, base):
        start = time.perf_counter()
        raw = backend.generate(messages, temperature=temperature, seed=seed,
                               max_tokens=prompts.answer_tokens(gen.max_tokens, spec))
        generated = time.perf_counter() - start
        code = self._code_of(raw, spec) if kind == "sample" else self._extract(raw, spec)
        code = autofix.autofix(code, spec.name, None).code if code else ""
        cand = Candidate(code, self._run(code, spec, tests), kind, tests=tests)
        return cand, {"kind": kind, "gen_s": generated, "total_s": time.perf_counter() - start,
                      "ok": not best_of_k.fails_trusted(cand, tests), "code": code,
                      "agrees": _signature(cand, tests) == _signature(base, tests)}

    def test_and_fix(self, code, raw, spec, tests, backend, gen):
        entry = log.setdefault(self.request.file_path, {"steps": []})
        best = self.first = Candidate(code, self._run(code, spec, tests), "model", tests=tests)
        entry["first"] = {"gen_s": self.generation_time, "code": code,
                          "ok": not best_of_k.fails_trusted(best, tests)}
        if not needs_repair(best.report, tests):
            return best
        best = base = self._autofixed(best, code or raw, spec, tests)
        entry["first"].update(ok=not best_of_k.fails_trusted(base, tests), code=base.code)
        if entry["first"]["ok"]:
            return best
        plan = best_of_k.policy(self.cfg, self._registry_records(), self.task_type,
                                best_of_k.sample_generators(self.cfg, gen.name))
        temperature = plan.temperature if plan.samples else 0.7
        messages = prompts.generation_messages(self.request, spec, [], self.ctx)
        for i in range(max(1, self.cfg.pipeline.best_of_k)):
            cand, step = draw(self, "sample", messages, temperature,
                              gen.seed + best_of_k.SEED_BASE + i + 1, spec, tests, backend,
                              gen, base)
            entry["steps"].append(step)
            best = cand if cand.code and cand.rank() > best.rank() else best
        messages = prompts.repair_messages(self.request, spec,
                                           base.code or extract.strip_reasoning(raw)[0],
                                           repair_view(base.report, tests))
        cand, step = draw(self, "repair", messages, gen.temperature, gen.seed, spec, tests,
                          backend, gen, base)
        entry["steps"].append(step)
        return cand if cand.code and cand.rank() > best.rank() else best

    return test_and_fix


def run(args) -> list[dict]:
    from dise.engine import pipeline

    work = Path(tempfile.mkdtemp(prefix="dise-draws-"))
    shutil.copytree(args.pass_a_home, work / "home")
    knobs = argparse.Namespace(workers=1, node_time=120, min_wins=None, generators="",
                               temperatures=None, approaches=None, max_attempts=None,
                               resample_k=None, threads=0, phase1_generator=None)
    engine = phase2.make_engine(work / "home", knobs, best_of_k="never")
    records = phase2.rederived_records(engine.store, engine.cfg.pipeline.best_of_k)
    engine.store.close()
    engine = phase2.make_engine(work / "home", knobs, retrieval=False)
    engine.store.registry_records = lambda: copy.deepcopy(records)
    _, pool = phase2.load_set(argparse.Namespace(seed=args.seed, n=args.n))
    by_id = {p["task_id"]: p for p in pool}
    log: dict = {}
    pipeline.Run._test_and_fix = recording_test_and_fix(log)
    pipeline.Run._cascade = lambda self, *a, **k: None  # the registry arm starts on the 1.5B
    rows = []
    for task_id in args.ids.split(","):
        problem = by_id[task_id]
        folder = work / task_id.replace("/", "_")
        folder.mkdir()
        path = folder / "stub.py"
        path.write_text(problem["stub"])
        phase2.same_start()
        result, seconds = run_dise(engine, path, problem["stub"], problem["entry_point"], None)
        entry = log.get(str(path), {"steps": []})
        cache: dict = {}
        for step in [entry.get("first", {})] + entry["steps"]:
            step["hidden"] = phase2.passes(step.get("code", ""), problem, cache)
        row = {"task_id": task_id, "seconds": seconds,
               "generator": getattr(result, "generator_used", None), **entry}
        rows.append(row)
        print(f"{task_id:<9} first {'✓' if row.get('first', {}).get('ok') else '✗'} "
              + " ".join(f"{s['kind'][0]}:{'✓' if s['ok'] else '✗'}{'H' if s['hidden'] else ''}"
                         f"{'=' if s['agrees'] else ''} {s['total_s']:.1f}s"
                         for s in entry["steps"]), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


def report(rows: list[dict]) -> None:
    failing = [r for r in rows if r.get("steps")]
    samples = [s for r in failing for s in r["steps"] if s["kind"] == "sample"]
    repairs = [s for r in failing for s in r["steps"] if s["kind"] == "repair"]
    agreeing = [r for r in failing if any(s["agrees"] for s in r["steps"] if s["kind"] == "sample")]
    after = [s for r in agreeing
             for s in [s for s in r["steps"] if s["kind"] == "sample"][
                 next(i for i, s in enumerate(r["steps"]) if s["agrees"]) + 1:]]
    print(f"\n{len(failing)} requests whose first answer fails the user's tests "
          f"(of {len(rows)})")
    for k in range(1, 1 + max((len([s for s in r['steps'] if s['kind'] == 'sample'])
                               for r in failing), default=0)):
        first_ok = [r for r in failing
                    if next((i for i, s in enumerate(r["steps"]) if s["ok"]), 99) == k - 1]
        print(f"  sample {k}: first to pass the user's tests on {len(first_ok)}, hidden on "
              f"{sum(r['steps'][k - 1]['hidden'] for r in first_ok)}")
    print(f"  a sample fails exactly as the first answer on {len(agreeing)}; the {len(after)} "
          f"samples after it pass the user's tests {sum(s['ok'] for s in after)}, hidden "
          f"{sum(s['hidden'] for s in after)}")
    print(f"  repair: passes the user's tests {sum(s['ok'] for s in repairs)}, hidden "
          f"{sum(s['hidden'] for s in repairs)}; same failure as the first "
          f"{sum(s['agrees'] for s in repairs)} of {len(repairs)}")
    if samples and repairs:
        print(f"  median seconds: a sample {statistics.median(s['total_s'] for s in samples):.1f}"
              f", a repair {statistics.median(s['total_s'] for s in repairs):.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pass-a-home", help="a bench/phase2.py pass A store (its DISE_HOME)")
    parser.add_argument("--ids", default="", help="pass-B task ids, comma-separated")
    parser.add_argument("--seed", type=int, default=2026, help="bench/phase2.py's --seed")
    parser.add_argument("--n", type=int, default=12, help="bench/phase2.py's --n (pass A)")
    phase2.json_options(parser)
    args = parser.parse_args()
    if args.from_json:
        report(json.loads(Path(args.from_json).read_text()))
        return 0
    if not args.pass_a_home or not args.ids:
        parser.error("--pass-a-home and --ids are needed (or --from-json)")
    report(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
