"""Cleaning a generated module: what demonstrates or tests the function goes, with its comments.

Models add example calls, prints, ``assert``s, ``__main__`` blocks, test functions and
classes, and comments announcing them ("# Example usage", "# Check function to verify the
correctness of the solution"). None of it belongs in the user's file or the store.
"""

from __future__ import annotations

import ast
import re

_EXAMPLE_CALLS = frozenset({"print", "input", "exit", "quit", "breakpoint", "help"})


def _parses(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _used_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _defined_names(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _calls_any(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
               and sub.func.id in names for sub in ast.walk(node))


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(sub, ast.Name) and sub.id in names for sub in ast.walk(node))


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__")


def _is_example(node: ast.stmt, names: set[str]) -> bool:
    """Top-level code that only demonstrates the function (and may crash at import)."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)):
        return False
    if _is_main_guard(node) or isinstance(node, (ast.Assert, ast.Pass)):
        return True
    if isinstance(node, ast.Expr):
        value = node.value
        # Keep module setup such as sys.setrecursionlimit(...) or random.seed(0); drop
        # docstrings, stray names, literals and every other call.
        setup = (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                 and not _mentions(value, names | _EXAMPLE_CALLS))
        return not setup
    return _calls_any(node, names | _EXAMPLE_CALLS)


def _is_docstring(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _node_start(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators]) - 1


#: Top-level functions and classes with these names test or demonstrate the function.
_TEST_DEF = re.compile(r"^(?:_*(?:test|tests|check|verify|demo|example|examples|main|run_tests?|"
                       r"run_examples?)(?:_|$)|Test)|(?:_test|_tests|_check|_demo)$", re.IGNORECASE)


def _is_test_code(node: ast.stmt, function_name: str | None) -> bool:
    """A function or class written to test the answer (``check_solution``, ``test_f``,
    ``class TestF(unittest.TestCase)``), as opposed to a helper the answer needs."""
    if isinstance(node, ast.ClassDef):
        bases = {getattr(b, "attr", getattr(b, "id", "")) for b in node.bases}
        return "TestCase" in bases or bool(re.match(r"Test", node.name))
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not function_name:
        return False
    if node.name == function_name:
        return False
    if not _calls_any(node, {function_name}):
        return False      # a helper, used or not, never a test of the function
    body = [n for n in node.body if not _is_docstring(n)]
    only_checks = bool(body) and all(
        isinstance(n, (ast.Assert, ast.For, ast.Assign, ast.Try))
        or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)) for n in body)
    checks = any(isinstance(n, ast.Assert) or _calls_any(n, {"print"}) for n in ast.walk(node))
    return checks and (bool(_TEST_DEF.search(node.name)) or only_checks)


def _bound_names(node: ast.Import | ast.ImportFrom) -> set[str]:
    return {alias.asname or alias.name.split(".")[0] for alias in node.names}


def _needed_defs(tree: ast.Module, function_name: str | None) -> set[str]:
    """Top-level names the function uses, directly or through other definitions."""
    defs = {n.name: n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    if not function_name or function_name not in defs:
        return set(defs)
    needed, todo = set(), [function_name]
    while todo:
        name = todo.pop()
        if name in needed or name not in defs:
            continue
        needed.add(name)
        todo.extend(_used_names(defs[name]) & set(defs))
    return needed


def strip_examples(code: str, function_name: str | None = None) -> tuple[str, list[str]]:
    """Drop top-level demos (calls, prints, asserts, ``input()``, ``__main__`` blocks), test
    functions and classes the function does not use, repeated definitions, and the comments
    that belonged to what was dropped ("# Example usage", "# Output: 3", a trailing "# Check
    function to verify ..." whose code was cut off); keep imports, helpers, classes and
    constants."""
    tree = _parses(code)
    if tree is None:
        return code, []
    # Calls to the module's functions are demos; instances of its classes may be constants.
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    names |= {function_name} if function_name else set()
    needed = _needed_defs(tree, function_name)
    lines = code.splitlines()
    drop: set[int] = set()
    seen: set[str] = set()
    spans: list[tuple[int, int, bool]] = []   # (first line, last line + 1, dropped)
    removed_examples = removed_repeats = removed_tests = 0
    test_nodes: list[ast.stmt] = []
    for index, node in enumerate(tree.body):
        start, end = _node_start(node), (node.end_lineno or node.lineno)
        dropped = True
        is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if index == 0 and _is_docstring(node):
            dropped = False
        elif is_def and node.name in seen:
            removed_repeats += 1
        elif is_def and node.name not in needed and _is_test_code(node, function_name):
            removed_tests += 1
            test_nodes.append(node)
        elif is_def:
            seen.add(node.name)
            dropped = False
        elif _is_example(node, names):
            removed_examples += 1
        else:
            dropped = False
        spans.append((start, end, dropped))
    # Imports that only removed test functions and classes used (``import unittest``) go
    # with them; other imports stay (module setup may need them).
    kept_used = set().union(*(_used_names(n) for n, (_, _, gone) in zip(tree.body, spans)
                              if not gone and not isinstance(n, (ast.Import, ast.ImportFrom))))
    dropped_used = set().union(*(_used_names(n) for n in test_nodes))
    for index, node in enumerate(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not spans[index][2]:
            bound = _bound_names(node)
            if bound and not bound & kept_used and bound & dropped_used:
                spans[index] = (spans[index][0], spans[index][1], True)
    for start, end, dropped in spans:
        if dropped:
            drop.update(range(start, end))
    drop |= _orphaned_comments(lines, spans)
    notes = []
    if removed_examples:
        notes.append(f"removed {removed_examples} top-level example statement(s)")
    if removed_tests:
        notes.append(f"removed {removed_tests} test function(s) or class(es)")
    if removed_repeats:
        notes.append(f"dropped {removed_repeats} repeated definition(s)")
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    return _tidy("\n".join(kept)), notes


def _orphaned_comments(lines: list[str], spans: list[tuple[int, int, bool]]) -> set[int]:
    """Comment lines between top-level statements that belonged to dropped code: those
    right after a dropped statement (up to a blank line), those introducing a dropped
    statement, and those after the last statement, which introduce nothing."""
    out: set[int] = set()
    gaps: list[tuple[int, int, bool | None, bool | None]] = []  # (from, to, prev, next dropped)
    previous_end, previous_dropped = 0, None
    for start, end, dropped in spans:
        gaps.append((previous_end, start, previous_dropped, dropped))
        previous_end, previous_dropped = end, dropped
    gaps.append((previous_end, len(lines), previous_dropped, None))
    for first, last, before, after in gaps:
        comments = [i for i in range(first, last) if lines[i].lstrip().startswith("#")]
        if not comments or before is None and after is not None and not after:
            continue      # a header (shebang, licence) before kept code stays
        if after is None or after:
            out.update(comments)   # introduces dropped code, or nothing at all
            continue
        if before:
            for i in range(first, last):   # the tail of the dropped statement above
                if not lines[i].strip():
                    break
                out.add(i)
    return out


def _tidy(code: str) -> str:
    """Trailing spaces off, at most two blank lines in a row, one final newline."""
    lines = [ln.rstrip() for ln in code.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and len(out) >= 2 and not out[-1] and not out[-2]:
            continue
        out.append(line)
    text = "\n".join(out).strip("\n")
    return text + "\n" if text else ""
