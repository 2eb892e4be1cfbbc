"""The trusted half of a test run: the verdict on each test, from what the sandbox reported.

``judge`` reads the harness's records (data only: tagged value trees, see ``values``) for one
``TestPlan`` (``probes.plan``) and decides pass/fail per kind of check, by comparing decoded
plain data — never by calling a method of anything the candidate made:

* an ``assert`` probe: Python's own operator on the literal kept here and the reported value
  (``==``, ``<``, ``in``, …; floats compare exactly, as before), ``_dise_close`` within a
  tolerance (``close``), ``_dise_returns`` against the return annotation (``returns.fits``);
* an expression (doctest) test: its output against the expected text (``expressions``);
* ``f(-1) raises ValueError``: the reported exception's classes (``raises``);
* an allowed exception, the harness's own error, or an assert the sandbox never reported.

Values that cannot be encoded (class instances with their own ``__eq__``, cycles, too much
data) fail with the reason.
"""

from __future__ import annotations

import operator
from typing import Any

from dise.sandbox.expressions import judge_expression
from dise.sandbox.probes import Probe, TestPlan
from dise.sandbox.raises import expected_raise, raise_matches
from dise.sandbox.returns import fits
from dise.sandbox.values import REPR_CHARS, CannotCompare, decode, one_line, short
from dise.types import TestResult

_OPS = {"Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le,
        "Gt": operator.gt, "GtE": operator.ge, "In": lambda a, b: a in b,
        "NotIn": lambda a, b: a not in b, "Is": operator.is_, "IsNot": operator.is_not}
_OP_TEXT = {"Eq": "expected {}", "NotEq": "expected anything but {}"}
#: The relative tolerance ``close`` adds to a test's absolute one.
REL_TOL = 1e-9


def close(got: Any, want: Any, tol: float) -> bool:
    """``got == want``, floats within ``tol`` (+ relative 1e-9), recursing into lists, tuples
    (same type and length) and dicts (same keys); an int is close to a float, a bool is not."""
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return got == want or abs(got - want) <= tol + REL_TOL * abs(want)
    if isinstance(want, (list, tuple)):
        return (type(got) is type(want) and len(got) == len(want)
                and all(close(g, w, tol) for g, w in zip(got, want)))
    if isinstance(want, dict):
        return (isinstance(got, dict) and got.keys() == want.keys()
                and all(close(got[k], want[k], tol) for k in want))
    return got == want


def _check_probe(probe: Probe, values: list[Any]) -> str:
    """"" when the probe holds, else the one-line failure."""
    if probe.op == "returns":
        return _check_returns(probe, values)
    operands, shown = [], []
    slots = iter(values if isinstance(values, list) else [])
    for kind, value in probe.sides:
        if kind == "lit":
            operands.append(value)
            shown.append(one_line(repr(value), REPR_CHARS))
            continue
        tree = next(slots, None)
        if tree is None:
            return f"assert {probe.source} failed: the sandbox reported no value"
        try:
            operands.append(decode(tree))
        except CannotCompare as exc:
            return one_line(f"assert {probe.source} failed: {value} returned a value that "
                            f"cannot be checked ({exc})")
        shown.append(short(tree))
    first_src = probe.sides[0][1] if probe.sides[0][0] == "probe" else shown[0]
    verb = "returned" if first_src.rstrip().endswith(")") else "was"
    try:
        if probe.op == "close":
            holds = close(operands[0], operands[1], probe.tolerance)
        elif probe.op == "truth":
            holds = bool(operands[0])
        elif probe.op == "not":
            holds = not operands[0]
        else:
            holds = bool(_OPS[probe.op](operands[0], operands[1]))
    except TypeError as exc:
        return one_line(f"assert {probe.source} failed: {exc}")
    if holds:
        return ""
    got = f"{first_src} {verb} {shown[0]}"
    if probe.op == "close":
        return one_line(f"{got}, expected {shown[1]} (± {probe.tolerance:g})")
    if probe.op in _OP_TEXT:
        got += ", " + _OP_TEXT[probe.op].format(shown[1])
    elif len(shown) > 1:
        got += f"; right side was {shown[1]}"
    return one_line(f"assert {probe.source} failed: {got}")


def _check_returns(probe: Probe, values: list[Any]) -> str:
    """"" when the probed value fits the annotation (``sandbox.returns.fits``)."""
    tree = values[0] if isinstance(values, list) and values else None
    call, annotation = probe.sides[0][1], probe.sides[1][1]
    if tree is None:
        return f"{call}: the sandbox reported no value"
    if fits(tree, annotation):
        return ""
    return one_line(f"{call} returned {short(tree)}, not a value of its return annotation "
                    f"-> {annotation}")


def judge(test: TestPlan, record: dict | None, probes: list[dict], unfinished: str
          ) -> TestResult:
    """The verdict on one test from the harness's records (``record``: its "test" record,
    None when the run stopped first; ``probes``: its probe records in the order sent)."""
    case = test.case
    if test.not_runnable:
        return TestResult(case.kind, case.code, False, test.not_runnable, runnable=False)
    failure, seen = "", set()
    for entry in probes:
        probe = test.probes.get(entry.get("key")) if isinstance(entry.get("key"), int) else None
        if probe is None:
            continue
        seen.add(probe.key)
        failure = failure or _check_probe(probe, entry.get("values"))
    if record is None:
        return TestResult(case.kind, case.code, False, failure or unfinished)
    seconds = float(record.get("seconds") or 0.0) if isinstance(
        record.get("seconds"), (int, float)) else 0.0
    if failure:
        return TestResult(case.kind, case.code, False, failure, seconds)
    if record.get("error"):
        return TestResult(case.kind, case.code, False, str(record["error"]), seconds)
    if case.expect is not None:
        error = judge_expression(case, record)
        return TestResult(case.kind, case.code, not error, error, seconds)
    raised = record.get("raised")
    expected = expected_raise(case)
    if expected:  # ``f(-1) raises ValueError``: decided here from the reported MRO
        if raised and raise_matches(raised, expected):
            return TestResult(case.kind, case.code, True, "", seconds)
        got = (f"raised {raised.get('text') or raised.get('type')}, expected {expected}"
               if raised else f"did not raise {expected}")
        return TestResult(case.kind, case.code, False, one_line(f"{case.call.strip()} {got}"),
                          seconds)
    if raised:
        allowed = set(case.allowed_exceptions or [])
        if allowed & set(raised.get("mro") or []) and not raised.get("limit"):
            return TestResult(case.kind, case.code, True, "", seconds)
        return TestResult(case.kind, case.code, False, str(raised.get("text") or "raised"),
                          seconds)
    missing = [p for p in test.probes.values() if p.required and p.key not in seen]
    if missing:
        return TestResult(case.kind, case.code, False, one_line(
            f"assert {missing[0].source} was never checked: the sandbox did not report it"),
            seconds)
    return TestResult(case.kind, case.code, True, "", seconds)
