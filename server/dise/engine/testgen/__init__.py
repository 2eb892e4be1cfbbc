"""Tests for a function before (and besides) asking the model: doctests, given asserts,
asserts found in the workspace's test files, smoke calls from type hints, and the
model's own asserts when those are too few.

Every source produces ``TestCase`` objects (see ``dise.engine.types``); ``derive_tests``
combines the model-free ones and removes duplicates. Functions take an optional ``notes``
list to say what was skipped and why, for logs.

One module per source: ``written`` (doctests, given asserts, examples), ``workspace``,
``smoke`` (calls from type hints) and ``model`` (the prompt for model-written asserts and
reading them back); ``cases`` holds ``dedupe``. ``dedupe``, ``smoke_tests``, ``model_tests``
and ``tests_prompt`` are re-exported here: the pipeline calls them as ``testgen.X``.
"""

from __future__ import annotations

from collections.abc import Iterable

from dise.engine.examples import ExampleReport
from dise.engine.testgen.cases import dedupe
from dise.engine.testgen.model import model_tests, tests_prompt
from dise.engine.testgen.smoke import SMOKE_LIMIT, smoke_tests
from dise.engine.testgen.workspace import workspace_tests
from dise.engine.testgen.written import doctest_tests, example_tests, given_tests
from dise.engine.types import FunctionSpec, Request, TestCase

__all__ = ["dedupe", "derive_tests", "model_tests", "smoke_tests", "summarize_kinds",
           "tests_prompt"]


def derive_tests(request: Request, spec: FunctionSpec, smoke_limit: int = SMOKE_LIMIT,
                 notes: list[str] | None = None,
                 found: ExampleReport | None = None) -> list[TestCase]:
    """Every model-free test: doctests and examples (docstring, else the request text),
    given asserts, workspace asserts and smoke calls, without duplicates. ``found``
    receives what the example reader skipped or found contradictory."""
    tests = doctest_tests(spec.docstring, spec.name, notes)
    source = spec.docstring
    if not tests and ">>>" in request.text:
        tests = doctest_tests(request.text, spec.name, notes)
        source = request.text if tests else source
    tests += example_tests(source, spec, tests, found)
    if not any(t.kind == "example" for t in tests) and request.text.strip() and \
            request.text.strip() != (spec.docstring or "").strip():
        tests += example_tests(request.text, spec, tests, found)
    tests += given_tests(request.asserts, notes)
    if request.workspace:
        tests += workspace_tests(request.workspace, spec.name, notes=notes)
    tests += smoke_tests(spec, smoke_limit)
    return dedupe(tests)


def summarize_kinds(tests: Iterable[TestCase]) -> dict[str, int]:
    """How many tests of each kind, e.g. ``{"doctest": 2, "smoke": 4}``."""
    counts: dict[str, int] = {}
    for test in tests:
        counts[test.kind] = counts.get(test.kind, 0) + 1
    return counts
