"""Where a function sits in a module's syntax tree, and which top-level statements it needs.

Small ``ast`` helpers shared by ``dise.engine.context`` (composing the module a stub's tests
run in) and ``dise.engine.reshape`` (a method out of its class, a function back to its stub):
first lines with decorators, names bound and read by a statement, the scopes around a def,
the top-level definitions reachable from a function and its tests, and whether a nested
function reads its enclosing function's names.
"""

from __future__ import annotations

import ast
import builtins
import re

_BUILTINS = frozenset(dir(builtins))


def first_line(node: ast.AST) -> int:
    """0-based first line of a statement, decorators included."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1


def names_in(text: str) -> list[str]:
    """Identifier-like words of ``text`` (a docstring, a signature, a test), in order."""
    return re.findall(r"[A-Za-z_]\w*", text or "")


def bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds: a def or class, assignment targets, imports."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return set()


def loaded_names(node: ast.AST) -> set[str]:
    """Names used in ``node``: every ``Name``, and the ``x`` of each ``x.attr``."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
        {n.value.id for n in ast.walk(node)
         if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}


def needed_statements(tree: ast.Module, holder: ast.stmt, test_codes: list[str]) -> set[ast.stmt]:
    """Imports, the holder, and the top-level definitions reachable from them and the tests."""
    defs = [n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
                              ast.AnnAssign))]
    keep: set[ast.stmt] = {n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    keep.add(holder)
    wanted = loaded_names(holder)
    for code in test_codes:
        wanted |= set(names_in(code))
    changed = True
    while changed:
        changed = False
        for node in defs:
            if node not in keep and bound_names(node) & wanted:
                keep.add(node)
                wanted |= loaded_names(node)
                changed = True
    return keep


def scope_path(tree: ast.Module, lineno: int, name: str) -> tuple[list[str], list[str]] | None:
    """Names and kinds ("class"/"def") of the scopes around the def at ``lineno``."""
    def walk(node: ast.AST, names: list[str], kinds: list[str]):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    child.name == name and child.lineno == lineno:
                return names + [name], kinds
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(child, ast.ClassDef) else "def"
                found = walk(child, names + [child.name], kinds + [kind])
                if found:
                    return found
        return None

    return walk(tree, [], [])


def find_path(tree: ast.Module, qualname: list[str]):
    """(top-level statement holding the function, the function node) for ``qualname``."""
    holder = next((n for n in tree.body if getattr(n, "name", None) == qualname[0]), None)
    node = holder
    for name in qualname[1:]:
        node = next((n for n in getattr(node, "body", []) if getattr(n, "name", None) == name),
                    None)
        if node is None:
            return holder, None
    return holder, node


def span_of(module: str, qualname: list[str]) -> tuple[int, int]:
    """1-based first (decorators included) and last line of ``qualname`` in ``module``;
    (0, 0) when it is not there."""
    tree = ast.parse(module)
    _, node = find_path(tree, qualname)
    if node is None:
        return (0, 0)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return start, node.end_lineno


def uses_enclosing(tree: ast.Module, qualname: list[str]) -> bool:
    """Whether the nested function reads a name bound by an enclosing function."""
    _, node = find_path(tree, qualname)
    if node is None:
        return True
    own = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    own |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store)}
    module_names = {n for s in tree.body for n in bound_names(s)}
    free = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)} - own - module_names - _BUILTINS
    return bool(free)
