"""What a stored artifact says, in words every face shows the same way: which tests are the
user's (trusted) and which are the model's guesses, whether the user's failed, and where the
request's time went.

Pure functions over an ``Artifact`` (its ``tests``, ``test_kinds`` and ``extra``); the CLI,
``dise status``, hover and the editor's diagnostic render these strings.
"""

from __future__ import annotations

from collections.abc import Mapping

from dise.engine import credibility
from dise.engine.types import TRUSTED_KINDS, Artifact, TestCase

#: The editor diagnostic's code for "the user's tests fail".
TESTS_FAILED_CODE = "tests-failed"


def trusted_counts(artifact: Artifact) -> tuple[int, int]:
    """(failed, total) over the user's tests (examples, doctests, asserts, workspace)."""
    failed = total = 0
    for kind, counts in artifact.test_kinds.items():
        if kind in TRUSTED_KINDS and len(counts) >= 2:
            total += int(counts[1])
            failed += int(counts[1]) - int(counts[0])
    if artifact.extra.get("load_error") and total:
        failed = total
    return failed, total


def authority_line(artifact: Artifact) -> str:
    """E.g. ``trusted: 2 (2 example) · checks: 4 smoke · model's guesses: 3 (mean
    credibility 0.50)``; credibilities are those frozen with the tests."""
    tests = []
    for data in artifact.tests:
        try:
            tests.append(TestCase.from_dict(dict(data)))
        except TypeError:
            continue
    return credibility.describe(tests)


def evidence_note(artifact: Artifact) -> str:
    """Why the fitness is capped, or "" when the user's tests judge the function."""
    ev = artifact.extra.get("evidence") or {}
    if ev.get("strength") in ("model", "none") and float(ev.get("cap", 1.0)) < 1.0:
        return (f"weak evidence: no example, doctest or assert of yours checks it, so fitness "
                f"is capped at {float(ev['cap']):.2f}; add examples to the docstring "
                "(e.g. f(2) => 4) to judge it by your own tests")
    return ""


def failed_line(artifact: Artifact, queue_position: int | None = None) -> str:
    """``k/n tests failed …`` when the artifact fails any of the user's tests, else ""."""
    failed, total = trusted_counts(artifact)
    if not failed:
        return ""
    first = (artifact.extra.get("trusted_failures") or [""])[0]
    detail = f" (first: {first})" if first else ""
    queued = (f"; {artifact.function_name} is queued for the optimiser"
              + (f" (position {queue_position})" if queue_position else "")
              if queue_position is not None else "")
    return f"{failed}/{total} tests failed{detail}{queued}."


def diagnostic_message(artifact: Artifact) -> str:
    """The editor's warning on a function that fails the user's tests ("" when none fail)."""
    failed, total = trusted_counts(artifact)
    if not failed:
        return ""
    first = (artifact.extra.get("trusted_failures") or [""])[0]
    return (f"DiSE: {failed}/{total} of your tests fail for {artifact.function_name}"
            + (f": {first}" if first else "") + ". It is queued for the optimiser.")


#: Phase 1's stage names (``Run.stage``) as the time line says them.
STAGE_WORDS = {"test_writing": "writing tests", "tests": "testing", "fix": "fixing",
               "sentinel": "reading the request", "score": "scoring", "store": "storing"}


def time_summary(generation_s: float, stages: Mapping[str, float]) -> str:
    """"3.7 s generating · 21.0 s in all (repair 15.0 s, retrieval 9.7 s)": the model's first
    answer, then the request's wall time (``stages["total"]``, seconds) with the other stages
    that took half a second or more, longest first; retrieval that ran beside the generation
    (the stages add up to more than the total) says so. Just "3.7 s generating" when the
    total was not recorded."""
    line = f"{generation_s:.1f} s generating"
    total = stages.get("total")
    if not total:
        return line
    beside = sum(v for k, v in stages.items() if k != "total") > total + 0.5
    others = sorted(((v, STAGE_WORDS.get(k, k)) for k, v in stages.items()
                     if k not in ("generation", "total") and v >= 0.5), reverse=True)
    parts = ", ".join(f"{name} {seconds:.1f} s"
                      + (", beside generating" if name == "retrieval" and beside else "")
                      for seconds, name in others[:4])
    return f"{line} · {total:.1f} s in all" + (f" ({parts})" if parts else "")
