"""The verdict on an expression test (a doctest example: ``>>> f(2)`` then its expected text).

The harness reports what the expression printed and the value it returned (a tagged tree);
here that output is compared with the expected text by ``doctest``'s own checker, with the
example's ``# doctest:`` directives. An expected ``Traceback (…)`` is matched against the
reported exception. A doctest whose output text differs is still passed when its expected
text is a literal equal to the value up to int/float (``240`` for ``240.0``), as
``assert f(x) == 240`` would.
"""

from __future__ import annotations

import ast
import doctest
import re
from typing import Any

from dise.sandbox.values import CannotCompare, decode, one_line, render
from dise.types import TestCase

_DIRECTIVE = re.compile(r"#\s*doctest:\s*([^\n'\"]*)$", re.MULTILINE)


def _doctest_flags(code: str) -> int:
    flags = doctest.NORMALIZE_WHITESPACE
    for match in _DIRECTIVE.finditer(code):
        for option in match.group(1).replace(",", " ").split():
            flag = doctest.OPTIONFLAGS_BY_NAME.get(option[1:])
            if flag and option[0] == "+":
                flags |= flag
            elif flag and option[0] == "-":
                flags &= ~flag
    return flags


def _expected_exception(expect: str | None) -> str | None:
    if expect is None or not expect.lstrip().startswith("Traceback ("):
        return None
    lines = [ln for ln in expect.strip().splitlines() if ln and not ln[0].isspace()]
    return lines[-1] if len(lines) > 1 else ""


def _exception_line(raised: dict) -> str:
    message = str(raised.get("message") or "")
    return f"{raised.get('type', 'Exception')}" + (f": {message}" if message else "")


def judge_expression(case: TestCase, record: dict) -> str:
    """"" when the expression test ``case`` passed, given its "test" record from the harness
    (``printed``, ``value``, ``raised``); else the one-line failure a user reads."""
    expected_exc = _expected_exception(case.expect)
    raised = record.get("raised")
    if raised:
        if expected_exc is not None and not raised.get("limit"):
            got = _exception_line(raised) + "\n"
            if doctest.OutputChecker().check_output(
                    expected_exc + "\n", got,
                    doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL):
                return ""
            return one_line(f"expected {expected_exc}, got {got}")
        return str(raised.get("text") or "the test raised")
    printed = str(record.get("printed") or "")
    tree = record.get("value")
    shown = printed
    if isinstance(tree, dict):
        if tree.get("t") == "unencodable":
            return one_line(f"{case.code.strip()} returned a value that cannot be checked "
                            f"({tree.get('why')})")
        if tree.get("t") != "none":
            try:
                decode(tree)
                shown += render(tree) + "\n"
            except CannotCompare as exc:
                return one_line(f"{case.code.strip()} returned a value that cannot be checked "
                                f"({exc})")
    if expected_exc is not None:
        return one_line(f"expected {expected_exc}, got {shown.strip()!s}")
    want = case.expect.rstrip("\n") + "\n" if case.expect.strip() else ""
    checker = doctest.OutputChecker()
    flags = _doctest_flags(case.code)
    if checker.check_output(want, shown, flags) or (
            shown == "" and checker.check_output(want, "None\n", flags)):
        return ""
    if not printed and isinstance(tree, dict) and _same_number_value(case.expect, tree):
        return ""
    return one_line(f"{case.code.strip()} expected {case.expect.strip()}, "
                    f"got {shown.strip() or 'nothing'}")


def _same_number_value(expect: str, tree: dict) -> bool:
    """Whether a doctest's expected text is a literal equal to the returned value where only
    int and float differ (``240`` for a returned ``240.0``, ``(2, 2)`` for ``(2.0, 2.0)``): the
    value the user wrote, which ``assert f(x) == 240`` would accept. Bools, strings and
    container kinds must still match."""
    try:
        want = ast.literal_eval(expect.strip())
        got = decode(tree)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, CannotCompare):
        return False
    return _numbers_equal(got, want)


def _numbers_equal(got: Any, want: Any) -> bool:
    number = (int, float)
    if isinstance(got, number) and isinstance(want, number) and \
            not isinstance(got, bool) and not isinstance(want, bool):
        return got == want
    if isinstance(want, (list, tuple)) and type(got) is type(want) and len(got) == len(want):
        return all(_numbers_equal(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict) and got.keys() == want.keys():
        return all(_numbers_equal(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want
