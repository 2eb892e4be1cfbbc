"""``parses``: the syntax tree of generated code, or ``None`` when it does not parse.

Every fixer uses it to know whether code loads and whether a repair worked.
"""

from __future__ import annotations

import ast


def parses(code: str) -> ast.Module | None:
    """The module's syntax tree; ``None`` on a ``SyntaxError`` or ``ValueError`` (null bytes)."""
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None
