"""What a stored artifact's tests say, in words every face shows the same way: which tests
are the user's (trusted) and which are the model's guesses, and whether the user's failed.

Pure functions over an ``Artifact`` (its ``tests``, ``test_kinds`` and ``extra``); the CLI,
``dise status``, hover and the editor's diagnostic render these strings.
"""

from __future__ import annotations

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
