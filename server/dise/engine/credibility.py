"""How far each test is believed: the user's tests are truth, the model's are hypotheses.

Idea from CodeT (Chen et al. 2022, "CodeT: Code Generation with Generated Tests", dual
execution agreement): a model-written test is credible when independently generated
candidates agree with it, and a test no candidate agrees with is likely wrong.

* Trusted tests (``example``, ``doctest``, ``given``, ``workspace``) and ``smoke`` checks
  weigh 1.
* A model test that a trusted test contradicts (same call, a different expected value or
  exception) weighs 0, for good: it is never a repair target and never steers Phase 2.
* Any other model test weighs ``(agree + 1) / (agree + disagree + 2)`` (a Beta(1, 1)
  posterior mean: 0.5 before any evidence), where ``agree``/``disagree`` count independent
  candidates (separate generations, deduplicated by code) that passed/failed it. Only
  candidates that pass every trusted test vote: a candidate known to be wrong says nothing
  about the model's tests. A candidate is never its own witness in the run that judges it
  (Phase 1 scores with the prior; its votes count for later candidates).

Evidence strength (``evidence``): a function checked by no trusted test cannot look done:
its fitness is capped at ``MODEL_ONLY_CAP`` (below the Phase 1 queueing bar), rising with
the credibility its model tests earned to at most ``MODEL_ONLY_MAX`` (below the optimiser's
0.95 target).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dise.engine.types import TRUSTED_KINDS, TestCase

#: A model test's weight before any candidate voted on it.
PRIOR = 0.5
#: Fitness cap when no trusted test checks the function, with model tests at the prior.
MODEL_ONLY_CAP = 0.75
#: The cap with fully credible model tests (still below the optimiser's target of 0.95).
MODEL_ONLY_MAX = 0.9
#: Repair never targets a model test believed less than this (contradicted ones are 0).
REPAIR_MIN_CREDIBILITY = 1e-9


def weight(test: TestCase) -> float:
    """How much ``test`` counts in quality and fitness (0..1)."""
    if test.kind != "model":
        return 1.0
    return PRIOR if test.credibility is None else float(test.credibility)


def repairable(test: TestCase) -> bool:
    """May the repair round show this failing test to the model as something to fix?"""
    return test.kind != "model" or weight(test) >= REPAIR_MIN_CREDIBILITY


def claim(test: TestCase) -> tuple[str, Any] | None:
    """(call, expected) a test asserts, with the expected value as a Python value, or
    ``("raises", name)``-style strings for exceptions; None for other shapes."""
    if test.call and test.want:
        if test.want.startswith("raises "):
            return test.call, test.want
        return test.call, _value(test.want)
    try:
        tree = ast.parse(test.code)
    except SyntaxError:
        return None
    if test.expect is not None:  # doctest: an expression and its repr
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            return ast.unparse(tree.body[0].value), _value(test.expect.strip())
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    check = tree.body[0].test
    if isinstance(check, ast.Compare) and len(check.ops) == 1 and isinstance(
            check.ops[0], (ast.Eq, ast.Is)):
        left, right = check.left, check.comparators[0]
        if isinstance(right, ast.Call) and not isinstance(left, ast.Call):
            left, right = right, left
        if isinstance(left, ast.Call):
            return ast.unparse(left), _value(ast.unparse(right))
    return None


class _Opaque:
    """An expected value that is not a literal: compared by its source text only."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Opaque) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _Opaque(text)


def _agrees(a: Any, b: Any) -> bool:
    if isinstance(a, _Opaque) or isinstance(b, _Opaque):
        return True  # cannot tell: not a contradiction
    if isinstance(a, str) and a.startswith("raises ") or isinstance(b, str) and \
            b.startswith("raises "):
        return a == b
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(a - b) <= 1e-6 * max(1.0, abs(b))
        except TypeError:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_agrees, a, b))
    return a == b


def contradicted(test: TestCase, trusted: Sequence[TestCase]) -> TestCase | None:
    """The trusted test that says something else about ``test``'s call, if any."""
    mine = claim(test)
    if mine is None:
        return None
    call = _canonical(mine[0])
    for other in trusted:
        theirs = claim(other)
        if theirs and _canonical(theirs[0]) == call and not _agrees(mine[1], theirs[1]):
            return other
    return None


def _canonical(call: str) -> str:
    try:
        return ast.dump(ast.parse(call, mode="eval"))
    except SyntaxError:
        return call.strip()


def credibility(test: TestCase) -> float:
    """Beta(1, 1) posterior mean of the votes on a model test (see the module docstring)."""
    return (test.agree + 1) / (test.agree + test.disagree + 2)


def assess(tests: Sequence[TestCase]) -> list[TestCase]:
    """Copies of ``tests`` with every model test's credibility set: 0 when a trusted test
    contradicts it, else from its votes."""
    trusted = [t for t in tests if t.kind in TRUSTED_KINDS]
    out = []
    for test in tests:
        copy = TestCase.from_dict(test.to_dict())
        if copy.kind == "model":
            copy.credibility = 0.0 if contradicted(copy, trusted) else round(credibility(copy), 4)
        out.append(copy)
    return out


def vote(tests: Sequence[TestCase], verdicts: Sequence[bool]) -> list[TestCase]:
    """``tests`` after one independent candidate's verdicts (aligned by index) were counted.

    A candidate that failed a trusted test, or whose verdicts do not line up, does not vote.
    Credibility is reassessed."""
    if len(verdicts) != len(tests) or not all(
            ok for t, ok in zip(tests, verdicts) if t.kind in TRUSTED_KINDS):
        return assess(tests)
    out = []
    for test, ok in zip(tests, verdicts):
        copy = TestCase.from_dict(test.to_dict())
        if copy.kind == "model":
            copy.agree += int(bool(ok))
            copy.disagree += int(not ok)
        out.append(copy)
    return assess(out)


def code_id(code: str) -> str:
    """Short id of a candidate's code, so one candidate votes once."""
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()[:16]


@dataclass
class Evidence:
    """What a verdict rests on: trusted tests run/passed, model tests and their mean
    credibility, and the fitness cap that follows (1.0 when trusted tests exist)."""

    trusted_total: int = 0
    trusted_passed: int = 0
    model_total: int = 0
    model_credibility: float = 0.0
    contradicted: int = 0
    cap: float = 1.0

    @property
    def strength(self) -> str:
        """``trusted`` (the user's tests judge it), ``model`` (only the model's guesses and
        smoke checks) or ``none``."""
        if self.trusted_total:
            return "trusted"
        return "model" if self.model_total else "none"

    def to_dict(self) -> dict[str, Any]:
        return {"strength": self.strength, "trusted_total": self.trusted_total,
                "trusted_passed": self.trusted_passed, "model_total": self.model_total,
                "model_credibility": self.model_credibility,
                "contradicted": self.contradicted, "cap": self.cap}


def evidence(tests: Sequence[TestCase], passed: Sequence[bool]) -> Evidence:
    """The evidence of one run: ``passed`` aligned with ``tests`` (missing entries = failed)."""
    ev = Evidence()
    weights = []
    for i, test in enumerate(tests):
        ok = bool(passed[i]) if i < len(passed) else False
        if test.kind in TRUSTED_KINDS:
            ev.trusted_total += 1
            ev.trusted_passed += int(ok)
        elif test.kind == "model":
            ev.model_total += 1
            w = weight(test)
            weights.append(w)
            ev.contradicted += int(w == 0.0 and test.credibility == 0.0)
    ev.model_credibility = round(sum(weights) / len(weights), 4) if weights else 0.0
    if not ev.trusted_total:
        useful = [w for w in weights if w > 0]
        mean = sum(useful) / len(useful) if useful else PRIOR
        rise = max(0.0, min(1.0, (mean - PRIOR) / (1.0 - PRIOR)))
        ev.cap = round(MODEL_ONLY_CAP + (MODEL_ONLY_MAX - MODEL_ONLY_CAP) * rise, 4)
    return ev


def describe(tests: Sequence[TestCase]) -> str:
    """One line for people: which tests are the user's and which are the model's guesses,
    e.g. ``trusted: 3 (2 example, 1 doctest) · checks: 4 smoke · model's guesses: 5
    (mean credibility 0.50, 1 contradicted by an example)``."""
    trusted: dict[str, int] = {}
    smoke = model = zero = 0
    weights = []
    for t in tests:
        if t.kind in TRUSTED_KINDS:
            trusted[t.kind] = trusted.get(t.kind, 0) + 1
        elif t.kind == "smoke":
            smoke += 1
        else:
            model += 1
            weights.append(weight(t))
            zero += int(t.credibility == 0.0)
    parts = []
    n = sum(trusted.values())
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(trusted.items()))
    parts.append(f"trusted: {n}" + (f" ({kinds})" if kinds else " (no examples, doctests or "
                                                               "asserts of yours)"))
    if smoke:
        parts.append(f"checks: {smoke} smoke")
    if model:
        extra = f", {zero} contradicted by your tests" if zero else ""
        parts.append(f"model's guesses: {model} (mean credibility "
                     f"{sum(weights) / len(weights):.2f}{extra})")
    else:
        parts.append("model's guesses: 0")
    return " · ".join(parts)
