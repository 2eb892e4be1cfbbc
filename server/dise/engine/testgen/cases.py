"""Helpers every test source shares: ``dedupe`` (one test per syntax tree and expected
value), ``calls`` (does code call a name) and ``note`` (say what was skipped, for logs).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from dise.engine.types import TestCase


def dedupe(tests: Iterable[TestCase]) -> list[TestCase]:
    """First of each (code, expect) pair, comparing code by its syntax tree."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for test in tests:
        try:
            key_code = ast.dump(ast.parse(test.code))
        except SyntaxError:
            key_code = test.code.strip()
        key = (key_code, test.expect.strip() if test.expect is not None else None)
        if key not in seen:
            seen.add(key)
            out.append(test)
    return out


def calls(node: ast.AST, name: str) -> bool:
    """Whether ``node`` holds a call of the plain name ``name`` (``f(...)``, not ``x.f(...)``)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
               for n in ast.walk(node))


def note(notes: list[str] | None, message: str) -> None:
    """Append ``message`` (whitespace collapsed to single spaces) to ``notes`` when given."""
    if notes is not None:
        notes.append(re.sub(r"\s+", " ", message).strip())
