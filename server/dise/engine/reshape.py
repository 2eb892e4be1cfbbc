"""Reshaping a function's source: a method out of its class, a written function back to its stub.

``only_function`` keeps only the method when a model answered with the whole class around
it; ``restub`` empties a function the file now holds in full back to the stub it was, so Phase
2 finds it with ``dise.engine.context.locate`` and tests every candidate in the same context
as Phase 1.
"""

from __future__ import annotations

import ast
import textwrap

from dise.engine import stubs
from dise.engine.scopes import find_path, first_line


def only_function(code: str, name: str) -> str:
    """``code`` with a class that holds method ``name`` (the model answered with the whole
    class) replaced by that method alone, dedented; other code is kept. Unchanged when the
    function is already at top level or the code does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
           for n in tree.body):
        return code
    lines = code.split("\n")
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        method = next((m for m in node.body if isinstance(m, (ast.FunctionDef,
                       ast.AsyncFunctionDef)) and m.name == name), None)
        if method is not None:
            text = textwrap.dedent("\n".join(lines[first_line(method):method.end_lineno]))
            return "\n".join(lines[:first_line(node)] + text.split("\n")
                             + lines[node.end_lineno:]).strip() + "\n"
    return code


def restub(source: str, qualname: list[str]) -> str | None:
    """``source`` with the function at ``qualname`` (``["Rectangle", "area"]``) turned back into
    the stub it was: decorators, signature and docstring as written, body ``...``.

    Why: Phase 2 writes new bodies for a function the file now holds in full; emptied again, it
    is found by ``locate`` and every candidate is shown and tested in the same context as in
    Phase 1 (a method in its class). None when the file does not parse or holds no such
    function."""
    source = source.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    _, node = find_path(tree, qualname) if qualname else (None, None)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    if stubs.is_stub(node):
        return source
    documented = isinstance(node.body[0], ast.Expr) and isinstance(
        node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str)
    first = node.body[1] if documented else node.body[0]
    start = first_line(first)
    if start < (node.body[0].end_lineno if documented else node.lineno):
        return None  # the body shares a line with the def or the docstring
    lines = source.split("\n")
    indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
    return "\n".join(lines[:start] + [indent + "..."] + lines[node.end_lineno:])

