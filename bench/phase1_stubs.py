"""Phase 1 on stubs written the way people write them, judged by MBPP+ hidden inputs.

A seeded subset of MBPP+ (``../shared/data/MbppPlus-evalplus-767efcc.jsonl.gz``) becomes stub
files: the reference solution's signature, a one-paragraph docstring from the task text and
two or three examples from the MBPP asserts, each problem in one of eight notations (rotating):

    f(x) => y | f(x) == y | f(x) ➞ y | f(x) returns y | f(x) should return y | f(x) -> y |
    "For a = 1, b = 2 the output should be y" | ">>> f(x)" / "y" in an "Example:" section

Two arms per problem, from the same cache state (their order alternates per problem, so
llama.cpp's prompt cache flatters neither): ``dise`` is Phase 1 on the stub file (what
``dise generate --file F --function NAME`` runs); ``bare`` is the same model asked once at
T=0 with a plain "Complete this Python function" prompt holding the stub. Both are judged by
the MBPP+ base and plus inputs against the reference solution's outputs, in a subprocess with
a timeout; the inputs get back the tuples, sets and complex numbers JSON lost
(``bench/mbpp_inputs.py``), and a reference that rejects every input fails the verdict.

    python bench/phase1.py --stubs --n 60 --seed 1234 [--generator qwen-0.5b] [--json out.json]
    python bench/phase1.py --stubs --from-json out.json   # figures of the rows saved so far
    python bench/phase1.py --stubs --from-json out.json --rejudge [--json new.json]
        # the saved rows re-judged: today's hidden judge on the code today's Phase 1 stores
"""

from __future__ import annotations

import ast
import gzip
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "MbppPlus-evalplus-767efcc.jsonl.gz"
NOTATIONS = ("=>", "==", "➞", "returns", "should return", "->", "for ... the output should be",
             ">>> in Example:")
#: Kinds whose tests the user wrote (or that come from the user's code); the rest are guesses.
TRUSTED = ("doctest", "given", "workspace", "example")
#: An example whose call or result is longer than this is not one a person would write.
MAX_EXAMPLE_CHARS = 160
JUDGE_TIMEOUT_S = 60.0


# --- stubs -------------------------------------------------------------------------------------

def load_problems(n: int, seed: int) -> list[dict]:
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh]
    problems = [p for p in problems if _signature(p) and len(_examples(p, 3)) >= 2]
    return random.Random(seed).sample(problems, min(n, len(problems)))


def _signature(problem: dict) -> str:
    """``def name(args):`` of the entry point, as the reference solution writes it."""
    code = problem["canonical_solution"]
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == problem["entry_point"]:
            lines = code.splitlines()[node.lineno - 1:node.body[0].lineno - 1]
            header = "\n".join(lines).strip()
            if not header:  # def f(x): return x
                header = code.splitlines()[node.lineno - 1].split("):")[0] + "):"
            return header.split("\n")[0].rstrip() if header.count("\n") == 0 else header
    return ""


def _examples(problem: dict, k: int) -> list[tuple[str, list[str], str]]:
    """Up to ``k`` (call source, argument sources, expected source) from the MBPP asserts."""
    out = []
    name = problem["entry_point"]
    for line in problem["assertion"].strip().splitlines():
        try:
            node = ast.parse(line.strip()).body[0]
        except (SyntaxError, IndexError):
            continue
        if not isinstance(node, ast.Assert):
            continue
        test, call, expect = node.test, None, None
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            call, expect = test.left, ast.unparse(test.comparators[0])
        elif isinstance(test, ast.Call) and getattr(test.func, "attr", "") == "isclose":
            call, expect = test.args[0], _approximately(test)
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            call, expect = test.operand, "False"
        elif isinstance(test, ast.Call):
            call, expect = test, "True"
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == name):
            continue
        source = ast.unparse(call)
        expect = _as_literal(expect)
        if len(source) > MAX_EXAMPLE_CHARS or len(expect) > MAX_EXAMPLE_CHARS:
            continue
        out.append((source, [ast.unparse(a) for a in call.args], expect))
        if len(out) == k:
            break
    return out


#: Names an MBPP expected value may call (``chr(8)``, ``set([1, 2])``): evaluated to the
#: literal a person writes as the result.
_SAFE = {"chr": chr, "set": set, "frozenset": frozenset, "tuple": tuple, "list": list,
         "dict": dict, "float": float, "int": int, "str": str, "complex": complex, "ord": ord}


def _is_literal(source: str) -> bool:
    try:
        ast.literal_eval(source)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _as_literal(expect: str) -> str:
    """``expect`` as the literal of its value when it is an expression of literals and
    ``_SAFE`` calls (``chr(8)`` -> ``'\\x08'``), else unchanged (then the ``>>>`` notation,
    where it would be compared as text, leaves the example out)."""
    if _is_literal(expect):
        return expect
    try:
        value = eval(compile(expect, "<expect>", "eval"), {"__builtins__": {}}, dict(_SAFE))
    except Exception:  # noqa: BLE001 - anything but a plain value keeps the source
        return expect
    text = repr(value)
    return text if _is_literal(text) and ast.literal_eval(text) == value else expect


def _approximately(isclose: ast.Call) -> str:
    """``math.isclose(f(x), 62.830000000000005, rel_tol=0.001)`` as ``62.83 ± 0.063``: the
    value without binary noise and the tolerance the assert allows (rounded up), which the
    example grammar reads; the value alone would claim a precision the assert never had."""
    expect = ast.unparse(isclose.args[1])
    try:
        value = float(ast.literal_eval(isclose.args[1]))
        opts = {k.arg: float(ast.literal_eval(k.value)) for k in isclose.keywords}
    except (ValueError, TypeError, SyntaxError):
        return expect
    tol = max(opts.get("abs_tol", 0.0), opts.get("rel_tol", 1e-9) * abs(value))
    if not tol > 0:
        return expect
    scale = 10.0 ** (math.floor(math.log10(tol)) - 1)
    return f"{round(value, 10)!r} ± {round(math.ceil(tol / scale) * scale, 12)!r}"


def _task_text(problem: dict) -> str:
    text = problem["prompt"].strip().strip("'\"").strip()
    for lead in ("Write a python function to ", "Write a Python function to ",
                 "Write a function to ", "Write a function that ", "Write a python function that "):
        if text.startswith(lead):
            text = text[len(lead):]
            break
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _param_names(signature: str) -> list[str]:
    try:
        node = ast.parse(signature + "\n    pass").body[0]
    except SyntaxError:
        return []
    return [a.arg for a in node.args.args]


def make_stub(problem: dict, index: int) -> tuple[str, str]:
    """(stub source, notation) for ``problem``; the notation rotates with ``index``."""
    signature = _signature(problem)
    notation = NOTATIONS[index % len(NOTATIONS)]
    examples = _examples(problem, 2 + index % 2)
    params = _param_names(signature)
    lines: list[str] = []
    if notation == ">>> in Example:":
        lines.append("Example:")
        for call, _, expect in examples:
            if _is_literal(expect):  # a doctest compares text: no ``math.pi * 2`` outputs
                lines += [f"    >>> {call}", f"    {expect}"]
    else:
        lines.append("Examples:")
        for call, args, expect in examples:
            if notation == "for ... the output should be" and len(args) == len(params):
                given = ", ".join(f"{p} = {a}" for p, a in zip(params, args))
                lines.append(f"    For {given} the output should be {expect}.")
            elif notation == "for ... the output should be":
                lines.append(f"    For {call} the output should be {expect}.")
            else:
                lines.append(f"    {call} {notation} {expect}")
    doc = "\n".join(("    " + ln) if ln else "" for ln in [_task_text(problem), ""] + lines)
    raw = "r" if "\\" in doc else ""  # a backslash in an example stays as written
    return f'{signature}\n    {raw}"""{doc.lstrip()}\n    """\n    ...\n', notation


# --- judging -----------------------------------------------------------------------------------

JUDGE = r'''
import copy, json, math, sys
job = json.loads(sys.stdin.read())
sys.path.insert(0, job["bench"])
from mbpp_inputs import shape_inputs
def close(a, b, atol):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=max(atol, 1e-6))
        except TypeError:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(close(x, y, atol) for x, y in zip(a, b))
    return a == b
ref, cand = {}, {}
exec(job["reference"], ref)
try:
    exec(job["candidate"], cand)
    f = cand[job["name"]]
except BaseException as exc:
    print(json.dumps({"passed": False, "why": "load: " + type(exc).__name__})); sys.exit()
g = ref[job["name"]]
inputs = shape_inputs(job["assertion"], job["name"], job["inputs"]) if job["shape"] \
    else job["inputs"]
rejected = 0
for args in inputs:
    try:
        want = g(*copy.deepcopy(args))
    except BaseException:
        rejected += 1
        continue  # an input the reference itself rejects says nothing
    try:
        got = f(*copy.deepcopy(args))
    except BaseException as exc:
        print(json.dumps({"passed": False, "why": f"{type(exc).__name__} on {str(args)[:60]}"}))
        sys.exit()
    if not (bool(want) == bool(got) if job["truthiness"] else close(want, got, job["atol"])):
        print(json.dumps({"passed": False, "why": f"wrong on {str(args)[:60]}",
                          "rejected": rejected})); sys.exit()
if inputs and rejected == len(inputs):
    print(json.dumps({"passed": False, "why": "the reference rejects every input",
                      "rejected": rejected})); sys.exit()
print(json.dumps({"passed": True, "why": "", "rejected": rejected}))
'''


def truthiness_only(problem: dict) -> bool:
    """The problem's own asserts check only whether its result is truthy (``assert f(x)``,
    ``assert not f(x)``), never its value: then the stub shows ``-> True`` / ``-> False``
    (``_examples``) and the judge compares truthiness, not the reference's exact value.

    Why: Mbpp/787's reference returns ``re.search(...)`` (a match or None) and its asserts are
    ``assert not text_match_three("ac")``; a function returning False, as the stub asks, was
    judged wrong on every input."""
    calls = []
    for line in problem["assertion"].strip().splitlines():
        try:
            node = ast.parse(line.strip()).body[0]
        except (SyntaxError, IndexError):
            continue
        if isinstance(node, ast.Assert):
            calls.append(node.test)
    def calls_entry_point(test: ast.expr) -> bool:
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test = test.operand
        return isinstance(test, ast.Call) and getattr(test.func, "id", "") == \
            problem["entry_point"]

    return bool(calls) and all(map(calls_entry_point, calls))


def hidden_verdict(code: str, problem: dict) -> tuple[bool, str]:
    """Whether ``code`` agrees with the reference on every MBPP+ base and plus input."""
    result = hidden_check(code, problem)
    return bool(result["passed"]), result["why"]


def hidden_check(code: str, problem: dict, shape: bool = True) -> dict:
    """{"passed", "why", "rejected"}: ``code`` against the reference on every MBPP+ base and
    plus input, the inputs given their Python types back (``mbpp_inputs``: JSON turned the
    tuples into lists); "rejected" counts the inputs the reference itself raised on (skipped;
    when it rejects them all the verdict is a failure, never a vacuous pass). ``shape=False``
    feeds the JSON values as they are (the judge before the types came back)."""
    if not code.strip():
        return {"passed": False, "why": "no code", "rejected": 0}
    job = {"reference": problem["canonical_solution"], "candidate": code,
           "name": problem["entry_point"], "atol": float(problem.get("atol") or 0),
           "inputs": list(problem["base_input"]) + list(problem["plus_input"] or []),
           "assertion": problem["assertion"], "bench": str(ROOT / "bench"), "shape": shape,
           "truthiness": truthiness_only(problem)}
    with tempfile.TemporaryDirectory(prefix="dise-judge-") as tmp:
        try:
            done = subprocess.run([sys.executable, "-c", JUDGE], input=json.dumps(job),
                                  capture_output=True, text=True, timeout=JUDGE_TIMEOUT_S,
                                  cwd=tmp, env={"PATH": os.environ.get("PATH", "")})
        except subprocess.TimeoutExpired:
            return {"passed": False, "why": "timeout", "rejected": 0}
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"passed": False, "why": f"judge crashed ({done.stderr.strip()[-80:]})",
                "rejected": 0}
    result.setdefault("rejected", 0)
    return result


# --- the two arms ------------------------------------------------------------------------------

def bare_messages(stub: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Complete this Python function:\n```python\n{stub}```"}]


def run_bare(backend, gen, stub: str, spec) -> tuple[str, float]:
    from dise.engine import extract, prompts

    start = time.perf_counter()
    raw = backend.generate(bare_messages(stub), temperature=0.0,
                           max_tokens=prompts.answer_tokens(gen.max_tokens, spec), seed=gen.seed)
    return extract.extract_code(raw, spec.name).code, time.perf_counter() - start


def run_dise(engine, path: Path, source: str, name: str, generator: str) -> tuple[object, float]:
    from dise.engine import stubs
    from dise.engine.types import DiseError, Request

    stub = stubs.find_stub(source, name=name)
    request = Request(text=stub.spec.docstring or name, spec=stub.spec, file_source=source,
                      file_path=str(path), workspace=str(path.parent), generator=generator)
    start = time.perf_counter()
    try:
        artifact = engine.generate(request)
    except DiseError as exc:
        return exc, time.perf_counter() - start
    return artifact, time.perf_counter() - start


def stored_code(code: str, stub_source: str, name: str) -> str:
    """The code today's Phase 1 stores for a best candidate ``code`` of the stub: with the
    standard-library imports it forgot, which the run in context already tested it with
    (``StubContext.with_forgotten_imports``). Rows saved before that fix stored ``code``
    without them, so their hidden verdict was a ``NameError`` the user's file never had."""
    from dise.engine import context, stubs

    stub = stubs.find_stub(stub_source, name=name)
    ctx = context.locate(stub_source, stub.spec if stub else None)
    return ctx.with_forgotten_imports(code) if ctx is not None and code.strip() else code


def rejudge(rows: list[dict], seed: int) -> None:
    """Re-judge saved rows with today's hidden judge, on the code today's Phase 1 would store
    for the same best candidate (``stored_code``); the trusted verdicts stay as run (they
    were decided in context, with those imports). Changed verdicts are printed."""
    problems = {p["task_id"]: (i, p) for i, p in enumerate(load_problems(len(rows), seed))}
    for row in rows:
        i, problem = problems[row["task_id"]]
        source, _ = make_stub(problem, i)
        before = row["dise_pass"]
        row["dise_code"] = stored_code(row["dise_code"], source, row["name"])
        row["dise_pass"], row["dise_why"] = hidden_verdict(row["dise_code"], problem)
        row["bare_pass"], row["bare_why"] = hidden_verdict(row["bare_code"], problem)
        if before != row["dise_pass"]:
            print(f"  {row['task_id']:<10} dise {'✓' if before else '✗'} -> "
                  f"{'✓' if row['dise_pass'] else '✗'} {row['dise_why']}")


def kinds_of(artifact) -> dict[str, list[int]]:
    """kind -> [passed, total] of the artifact's own tests."""
    return {k: list(v) for k, v in (artifact.test_kinds or {}).items()}


def main(args) -> int:
    if getattr(args, "from_json", None):  # the figures of a run's saved rows (maybe partial)
        rows = json.loads(Path(args.from_json).read_text())
        if getattr(args, "rejudge", False):
            sys.path.insert(0, str(ROOT / "server"))
            rejudge(rows, args.seed)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
        report(rows, args, "(from the saved rows)", args.from_json)
        return 0
    os.environ["DISE_HOME"] = home = tempfile.mkdtemp(prefix="dise-bench-stubs-")
    if getattr(args, "threads", 0):
        Path(home, "dise.toml").write_text(f"[llamacpp]\nn_threads = {int(args.threads)}\n")
    sys.path.insert(0, str(ROOT / "server"))
    from dise.config import load_config
    from dise.engine import stubs
    from dise.engine.core import Engine
    from dise.llm.select import resolve_backend

    cfg = load_config()
    engine = Engine(cfg)
    gen = cfg.generator(args.generator)
    backend = resolve_backend(gen, cfg)
    work = Path(tempfile.mkdtemp(prefix="dise-stubs-"))
    rows = []
    for i, problem in enumerate(load_problems(args.n, args.seed)):
        source, notation = make_stub(problem, i)
        name = problem["entry_point"]
        folder = work / f"p{i}"
        folder.mkdir()
        path = folder / "stub.py"
        path.write_text(source)
        spec = stubs.find_stub(source, name=name).spec
        row: dict = {"task_id": problem["task_id"], "name": name, "notation": notation,
                     "order": "bare first" if i % 2 == 0 else "dise first"}

        def bare() -> None:
            code, seconds = run_bare(backend, gen, source, spec)
            row.update(bare_time=seconds, bare_code=code)

        def dise() -> None:
            result, seconds = run_dise(engine, path, source, name, gen.name)
            row["dise_time"] = seconds
            if isinstance(result, Exception):
                row.update(dise_code="", error=str(result), kinds={}, all_tests=False,
                           stages={}, generation=0.0)
            else:
                row.update(dise_code=result.code, kinds=kinds_of(result),
                           all_tests=bool(result.test_passed), stages=result.stage_times,
                           generation=result.stage_times.get("generation", 0.0),
                           fitness=result.fitness_score)

        for arm in ((bare, dise) if i % 2 == 0 else (dise, bare)):
            arm()
        row["bare_pass"], row["bare_why"] = hidden_verdict(row["bare_code"], problem)
        row["dise_pass"], row["dise_why"] = hidden_verdict(row["dise_code"], problem)
        trusted = [row["kinds"][k] for k in TRUSTED if k in row["kinds"]]
        row["trusted_present"] = bool(trusted) and sum(t[1] for t in trusted) > 0
        row["trusted_pass"] = row["trusted_present"] and all(p == t for p, t in trusted)
        rows.append(row)
        print(f"[{i + 1:>2}/{args.n}] {problem['task_id']:<10} {notation:<28} "
              f"bare {'✓' if row['bare_pass'] else '✗'} {row['bare_time']:5.1f}s  "
              f"dise {'✓' if row['dise_pass'] else '✗'} {row['dise_time']:5.1f}s  "
              f"kinds {row['kinds']}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
    report(rows, args, gen.name, backend.model_label)
    return 0


def _precision_recall(rows: list[dict], claim: str) -> str:
    said = [r for r in rows if r[claim]]
    good = [r for r in rows if r["dise_pass"]]
    both = [r for r in said if r["dise_pass"]]
    precision = f"{len(both) / len(said):.2f}" if said else "n/a"
    recall = f"{len(both) / len(good):.2f}" if good else "n/a"
    return (f"precision {precision} ({len(both)}/{len(said)} said pass)  "
            f"recall {recall} ({len(both)}/{len(good)} hidden pass)")


def report(rows: list[dict], args, gen_name: str, model: str) -> None:
    n = len(rows)
    med = statistics.median
    bare = sum(r["bare_pass"] for r in rows)
    dise = sum(r["dise_pass"] for r in rows)
    print(f"\nPhase 1 on stubs from MBPP+ ({n} problems, seed {args.seed}), generator {gen_name} "
          f"({model}), judged by MBPP+ base+plus inputs")
    counts = ", ".join(f"{k} {sum(r['notation'] == k for r in rows)}" for k in NOTATIONS)
    print(f"  notations: {counts}")
    print(f"  hidden pass  bare model, one prompt {bare}/{n} ({bare / n:.1%})   "
          f"DiSE Phase 1 {dise}/{n} ({dise / n:.1%})   "
          f"(target: DiSE >= bare + 5 points; {100 * (dise - bare) / n:+.1f})")
    print(f"  no code stored: DiSE {sum(1 for r in rows if not r['dise_code'])}/{n}; "
          f"bare no code {sum(1 for r in rows if not r['bare_code'])}/{n}")
    kinds = sorted({k for r in rows for k in r["kinds"]})
    print("  test kinds present (problems with >= 1 test of the kind): "
          + ", ".join(f"{k} {sum(1 for r in rows if r['kinds'].get(k, [0, 0])[1])}/{n}"
                      for k in kinds))
    print(f"  judge 'all trusted tests pass' ({', '.join(TRUSTED)}): "
          + _precision_recall(rows, "trusted_pass") + "   (target precision >= 0.9)")
    print("  judge 'all tests pass' (model tests counted as today): "
          + _precision_recall(rows, "all_tests"))
    timed = [r for r in rows if r.get("bare_time")]
    ratios = [r["dise_time"] / r["bare_time"] for r in timed]
    print(f"  Phase 1 wall / bare generation: median {med(ratios):.2f}  "
          f"sum {sum(r['dise_time'] for r in timed) / sum(r['bare_time'] for r in timed):.2f}"
          f"   (target median <= 1.5)")
    print(f"  medians: bare {med(r['bare_time'] for r in timed):.1f} s, Phase 1 "
          f"{med(r['dise_time'] for r in timed):.1f} s (its generation stage "
          f"{med(r['generation'] for r in timed):.1f} s)")
    stages = sorted({s for r in rows for s in r.get("stages", {})})
    print("  Phase 1 stage medians (s, over problems that ran the stage): " + ", ".join(
        f"{s} {med([r['stages'][s] for r in rows if s in r.get('stages', {})]):.2f}"
        for s in stages))
    for notation in NOTATIONS:
        sub = [r for r in rows if r["notation"] == notation]
        if sub:
            print(f"    {notation:<30} bare {sum(r['bare_pass'] for r in sub)}/{len(sub)}  "
                  f"dise {sum(r['dise_pass'] for r in sub)}/{len(sub)}")
