"""Differential testing: run two versions of a function on inputs no test covers, and compare.

A candidate that passes more tests than the best so far is better on evidence. One that only
scores higher (faster, fewer lint findings) while it *behaves differently* where no test has a
say is not: its gain may be a changed answer nobody checked. ``compare`` finds such inputs; the
runner then asks for more passed tests before calling it better, and records the disagreements
(with the arguments and both answers' check line) in the attempt's history and the saved
version's ``extra["differential"]``, for the judge's credibility.

Inputs (``probe_inputs``) come from

* the argument shapes of the frozen tests' calls (``f(3, "ab")``): each literal argument
  nudged (numbers ±1, 0 and negated; strings empty, reversed, upper-cased, longer; sequences
  empty, reversed, one item longer; booleans flipped);
* the signature's type hints (``int``, ``float``, ``str``, ``bool``, ``list[...]``,
  ``tuple[...]``, ``dict``), a few typical values each;
* the model (``dise.optimize.model_inputs``): calls it proposes, weighed as hypotheses.

Both versions run in one sandboxed process (``dise.sandbox``): the current version is
``exec``-ed into its own namespace by each probe, and each probe compares ``repr`` of the two
answers (or the exception class names) on a deep copy of the arguments.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dise.config import SandboxConfig
from dise.engine.types import CancelToken, TestCase
from dise.sandbox import run_candidate

_HINT_VALUES: dict[str, list[Any]] = {
    "int": [0, 1, -1, 7, 100],
    "float": [0.0, 1.5, -2.25, 10.0],
    "str": ["", "a", "Hello, World", "abc def"],
    "bool": [True, False],
    "dict": [{}, {"a": 1}],
}


@dataclass
class Comparison:
    """What ``compare`` found: inputs tried, how many answers agreed, the disagreements
    (``{"args": "(1, 'a')", "detail": "<the probe's failure line>", "source": "tests" |
    "model"}``) and probes that could not run (the whole run failed: ``error``)."""

    inputs: int = 0
    agreed: int = 0
    disagreements: list[dict[str, str]] = field(default_factory=list)
    error: str = ""

    @property
    def disagrees(self) -> bool:
        return bool(self.disagreements)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- inputs ---------------------------------------------------------------------------------
def literal_call_args(tree: ast.AST, name: str) -> list[tuple]:
    """Argument tuples of every call ``name(<literals>)`` anywhere in ``tree``; calls with
    keyword arguments or non-literal arguments are skipped."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == name and not node.keywords:
            try:
                found.append(tuple(ast.literal_eval(a) for a in node.args))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
    return found


def _literal_calls(tests: Sequence[TestCase], name: str) -> list[tuple]:
    """Argument tuples of every call ``name(<literals>)`` in the tests (keywords skipped)."""
    found = []
    for test in tests:
        try:
            tree = ast.parse(test.code)
        except SyntaxError:
            continue
        found.extend(literal_call_args(tree, name))
    return found


def nudge(value: Any) -> list[Any]:
    """Values near ``value`` of the same type, for probing edges the tests did not."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, 0, -value]
    if isinstance(value, float):
        return [value * 2, 0.0, -value]
    if isinstance(value, str):
        return ["", value[::-1], value.upper(), value + value[:1] + "z"]
    if isinstance(value, (list, tuple)):
        kind = type(value)
        longer = list(value) + list(value[:1])
        return [kind(), kind(reversed(value)), kind(longer)]
    if isinstance(value, dict):
        return [{}]
    return []


def _hint_values(node: ast.expr | None) -> list[Any]:
    if node is None:
        return []
    if isinstance(node, ast.Name):
        return list(_HINT_VALUES.get(node.id, []))
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        outer = node.value.id.lower()
        inner = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) and node.slice.elts \
            else node.slice
        items = _hint_values(inner)[:3]
        if outer in ("list", "sequence", "iterable"):
            return [[], items[:1], items]
        if outer == "tuple":
            return [tuple(items), tuple(items[:1])]
        if outer == "dict":
            return [{}]
    return []


def _hinted(signature: str, name: str) -> list[tuple]:
    """Argument tuples from the signature's type hints (each argument cycles its values)."""
    text = signature.strip()
    if not text:
        return []
    if not text.startswith(("def ", "async def ")):
        text = f"def {name}{text if text.startswith('(') else '(' + text + ')'}"
    if not text.rstrip().endswith(":"):
        text = text.rstrip() + ":"
    try:
        tree = ast.parse(text + "\n    pass\n")
    except SyntaxError:
        return []
    fn = tree.body[0]
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    params = [a for a in fn.args.posonlyargs + fn.args.args if a.arg not in ("self", "cls")]
    values = [_hint_values(a.annotation) for a in params]
    if not params or not all(values):
        return []
    width = max(len(v) for v in values)
    return [tuple(v[i % len(v)] for v in values) for i in range(width)]


def probe_inputs(name: str, signature: str, tests: Sequence[TestCase],
                 limit: int = 12) -> list[tuple]:
    """Up to ``limit`` argument tuples that no test calls ``name`` with (see module doc)."""
    seen_in_tests = {repr(args) for args in _literal_calls(tests, name)}
    candidates: list[tuple] = []
    for args in _literal_calls(tests, name):
        for i, value in enumerate(args):
            candidates.extend(args[:i] + (other,) + args[i + 1:] for other in nudge(value))
    candidates.extend(_hinted(signature, name))
    out, seen = [], set(seen_in_tests)
    # interleave so every argument and every source gets a turn before the limit
    for args in itertools.islice(candidates, 10 * max(limit, 1)):
        key = repr(args)
        if key not in seen:
            seen.add(key)
            out.append(args)
        if len(out) >= limit:
            break
    return out


# -- comparing ------------------------------------------------------------------------------
_PROBE = '''\
import copy as _dise_copy
_dise_ref = {{}}
exec(compile({current!r}, "<current version>", "exec"), _dise_ref)
def _dise_answer(_dise_f, _dise_args={args!r}):
    try:
        return repr(_dise_f(*_dise_copy.deepcopy(_dise_args)))
    except Exception as _dise_exc:
        return "raises " + type(_dise_exc).__name__
assert _dise_answer({name}) == _dise_answer(_dise_ref[{name!r}])
'''


def probe_tests(current_code: str, name: str, inputs: Sequence[tuple]) -> list[TestCase]:
    """One sandbox test per input: the candidate's answer must equal the current version's."""
    return [TestCase(kind="differential", code=_PROBE.format(current=current_code, args=args,
                                                             name=name))
            for args in inputs]


def compare(current_code: str, candidate_code: str, name: str, inputs: Sequence[tuple],
            sandbox: SandboxConfig, cancel: CancelToken | None = None,
            sources: Sequence[str] = ()) -> Comparison:
    """Run both versions on ``inputs`` in the sandbox and report where they disagree;
    ``sources[i]`` names where input ``i`` came from ("tests" when not given).

    Raises ``Cancelled``. A probe the sandbox stopped (time, memory) counts as a disagreement:
    the two versions did not give the same answer in the same time.
    """
    if not inputs or not current_code.strip() or not candidate_code.strip():
        return Comparison()
    report = run_candidate(candidate_code, name, probe_tests(current_code, name, inputs),
                           sandbox, cancel=cancel, measure=False)
    if report.load_error:
        return Comparison(inputs=len(inputs), error=report.load_error)
    out = Comparison(inputs=len(inputs))
    for i, (args, result) in enumerate(zip(inputs, report.results)):
        if result.passed:
            out.agreed += 1
        else:
            source = sources[i] if i < len(sources) else "tests"
            out.disagreements.append({"args": repr(args), "detail": result.error,
                                      "source": source})
    return out
