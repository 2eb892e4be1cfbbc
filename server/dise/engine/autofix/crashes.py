"""Crashes at import: top-level statements (a demo call at the bottom, a stray ``print``)
that crashed when the sandbox loaded the module are found from the run report and dropped.
Definitions and imports are never dropped.
"""

from __future__ import annotations

import ast
import re
import textwrap

from dise.engine.autofix.parsing import parses
from dise.engine.types import RunReport

_KEEP_AT_TOP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                ast.ClassDef)


def crashing_statements(code: str, report: RunReport) -> list[str]:
    """Source of the top-level statements of ``code`` (the code the sandbox ran) that
    crashed at import: the one holding the line in the error, or, without a line number,
    the trailing calls after the last definition."""
    tree = parses(code)
    if tree is None or not report.load_error:
        return []
    match = re.search(r"line (\d+)", report.load_error)
    if match:
        line_no = int(match.group(1))
        victims = [n for n in tree.body if n.lineno <= line_no <= (n.end_lineno or n.lineno)
                   and not isinstance(n, _KEEP_AT_TOP)]
    else:
        victims = []
        for node in reversed(tree.body):
            if isinstance(node, _KEEP_AT_TOP):
                break
            if any(isinstance(sub, ast.Call) for sub in ast.walk(node)):
                victims.append(node)
    return [ast.get_source_segment(code, n) or "" for n in victims]


def drop_statements(code: str, sources: list[str]) -> tuple[str, list[str]]:
    """Remove top-level statements whose source is in ``sources``; name each removal."""
    tree = parses(code)
    wanted = {textwrap.dedent(s).strip() for s in sources if s.strip()}
    if tree is None or not wanted:
        return code, []
    lines = code.splitlines()
    drop: set[int] = set()
    fixes = []
    for node in tree.body:
        segment = (ast.get_source_segment(code, node) or "").strip()
        if segment in wanted and not isinstance(node, _KEEP_AT_TOP):
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
            fixes.append("removed top-level statement that crashed at import: "
                         + segment.splitlines()[0])
    if not drop:
        return code, []
    return "\n".join(ln for i, ln in enumerate(lines) if i not in drop).rstrip() + "\n", fixes
