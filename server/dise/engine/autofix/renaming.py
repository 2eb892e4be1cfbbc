"""Renaming: the model's function under another name (``validate`` for
``is_valid_email``) is renamed to the one asked for, with every reference to it.
"""

from __future__ import annotations

import ast
import io
import tokenize

from dise.engine.autofix.parsing import parses


def _top_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def rename_target(code: str, function_name: str) -> str | None:
    """The top-level function to rename to ``function_name``: the only one, or the only
    one no other function calls (the entry point); ``None`` when unclear or not needed."""
    tree = parses(code)
    if tree is None:
        return None
    funcs = _top_functions(tree)
    names = [f.name for f in funcs]
    if not funcs or function_name in names or any(
            isinstance(n, ast.ClassDef) and n.name == function_name for n in tree.body):
        return None
    if len(funcs) == 1:
        return funcs[0].name
    called = {n.func.id for f in funcs for n in ast.walk(f)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id != f.name}
    entry = [f.name for f in funcs if f.name not in called and not f.name.startswith("_")
             and f.name not in ("main", "test", "solve_all")]
    return entry[0] if len(entry) == 1 else None


def rename_function(code: str, old: str, new: str) -> str:
    """Rename every reference to the name ``old`` (not attributes ``x.old``) to ``new``."""
    lines = code.splitlines(keepends=True)
    spots: list[tuple[int, int]] = []
    prev = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.NAME and tok.string == old and not (
                    prev is not None and prev.type == tokenize.OP and prev.string == "."):
                spots.append(tok.start)
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                prev = tok
    except (tokenize.TokenError, SyntaxError):
        return code
    for row, col in reversed(spots):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "".join(lines)
