"""Tests the user wrote with the request: doctest examples, given asserts, and examples in
prose (``f(2) -> 4``, read by ``dise.engine.examples``). These are trusted tests.
"""

from __future__ import annotations

import ast
import doctest
from collections.abc import Iterable

from dise.engine.examples import ExampleReport, read_examples
from dise.engine.testgen.cases import calls, note
from dise.engine.types import FunctionSpec, TestCase


def _is_expression(source: str) -> bool:
    try:
        ast.parse(source, mode="eval")
        return True
    except SyntaxError:
        return False


def doctest_tests(docstring: str, name: str, notes: list[str] | None = None) -> list[TestCase]:
    """Doctest examples in a docstring: ``>>> f(x)`` with output → expect test; lines
    without output → run-only tests. Examples after setup lines (``>>> x = ...``) carry the
    setup and compare ``repr`` in an assert, since a test runs alone."""
    if not docstring or ">>>" not in docstring:
        return []
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError as exc:
        note(notes, f"doctest examples skipped: {exc}")
        return []
    tests: list[TestCase] = []
    setup: list[str] = []
    bound: set[str] = set()
    for ex in examples:
        source = ex.source.strip()
        want = ex.want.rstrip("\n")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            note(notes, f"doctest example skipped, it does not parse: {source}")
            continue
        if not want:
            if calls(tree, name):
                tests.append(TestCase(kind="doctest", code=source))
            if not _is_expression(source):
                setup.append(source)
                bound |= {n.id for n in ast.walk(tree)
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            continue
        if not _is_expression(source):
            note(notes, f"doctest statement with output skipped: {source.splitlines()[0]}")
            continue
        uses_setup = any(isinstance(n, ast.Name) and n.id in bound for n in ast.walk(tree))
        if not uses_setup:
            tests.append(TestCase(kind="doctest", code=source, expect=want))
        elif source.startswith("print("):
            note(notes, f"doctest print after setup skipped: {source}")
        else:
            expr = ast.unparse(ast.parse(source, mode="eval"))
            code = "\n".join(setup + [f"assert repr({expr}) == {want!r}"])
            tests.append(TestCase(kind="doctest", code=code))
    return tests


def given_tests(asserts: Iterable[str], notes: list[str] | None = None) -> list[TestCase]:
    """Asserts given with the request; a bare comparison becomes an assert, code that does
    not parse is dropped (with a note)."""
    tests = []
    for raw in asserts:
        code = raw.strip()
        if not code:
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            note(notes, f"given test dropped, it does not parse ({exc.msg}): {code}")
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and isinstance(
                tree.body[0].value, ast.Compare):
            code = f"assert {code}"
        tests.append(TestCase(kind="given", code=code))
    return tests


def _doctests_readable(text: str) -> bool:
    try:
        return bool(doctest.DocTestParser().get_examples(text))
    except ValueError:
        return False


def example_tests(text: str, spec: FunctionSpec, known: list[TestCase],
                  found: ExampleReport | None = None) -> list[TestCase]:
    """The examples written in ``text`` (see ``dise.engine.examples``) as ``example`` tests,
    leaving out calls a doctest in ``known`` already checks. ``found`` (if given) receives
    the skipped lines and contradictions."""
    params = [name for name, _ in spec.params]
    report = read_examples(text, spec.name, params,
                           doctests_read=">>>" not in text or _doctests_readable(text))
    checked = {t.code.strip() for t in known if t.kind == "doctest"}
    tests = [t for t in report.tests if t.call not in checked]
    if found is not None:
        found.tests += tests
        found.examples += report.examples
        found.skipped += report.skipped
        found.contradictions += report.contradictions
    return tests
