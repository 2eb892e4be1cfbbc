"""Asserts found in the workspace's test files (``test_*.py``, ``*_test.py``) that call the
function: module-level asserts and simple pytest functions using only the function,
literals and safe builtins. The scan is bounded (files, bytes, directory entries).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from pathlib import Path

from dise.engine.sourcefile import decode_python
from dise.engine.testgen.cases import calls, dedupe, note
from dise.engine.types import TestCase

#: Test files read per workspace scan, and the largest one read.
MAX_WORKSPACE_FILES = 200
MAX_WORKSPACE_FILE_BYTES = 512 * 1024
#: Directory entries visited before a workspace scan gives up (huge trees).
MAX_WORKSPACE_ENTRIES = 20_000
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv",
                       "env", ".env", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                       ".ruff_cache", "site-packages", "dist", "build", ".eggs", ".idea",
                       ".vscode"})
#: Builtins a workspace test may use besides the function and literals.
SAFE_BUILTINS = frozenset({
    "len", "abs", "round", "min", "max", "sum", "sorted", "reversed", "list", "tuple", "set",
    "frozenset", "dict", "str", "int", "float", "bool", "bytes", "isinstance", "all", "any",
    "range", "enumerate", "zip", "map", "filter", "repr", "type", "True", "False", "None",
    "ValueError", "TypeError", "KeyError", "IndexError", "math", "chr", "ord", "divmod", "pow",
    "complex", "bytearray", "iter", "next", "hash", "id",
})


def _test_files(root: Path, max_files: int) -> Iterable[Path]:
    seen_entries = 0
    found = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(
            ".egg-info") and not (Path(dirpath, d, "pyvenv.cfg")).exists())
        seen_entries += len(dirnames) + len(filenames)
        for filename in sorted(filenames):
            if filename.endswith(".py") and (filename.startswith("test_")
                                             or filename.endswith("_test.py")):
                yield Path(dirpath, filename)
                found += 1
                if found >= max_files:
                    return
        if seen_entries >= MAX_WORKSPACE_ENTRIES:
            return


def _only_uses(node: ast.AST, allowed: set[str] | frozenset[str]) -> bool:
    return all(n.id in allowed for n in ast.walk(node) if isinstance(n, ast.Name))


def _simple_test_function(node: ast.stmt) -> bool:
    """``def test_x():`` (or a method taking only ``self``) with no fixtures or
    decorators whose body holds only asserts (and a docstring)."""
    if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
        return False
    args = node.args
    params = [a.arg for a in args.posonlyargs + args.args]
    if node.decorator_list or args.vararg or args.kwarg or args.kwonlyargs or params not in (
            [], ["self"]):
        return False
    body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
        getattr(node.body[0], "value", None), ast.Constant) else node.body
    return bool(body) and all(isinstance(s, ast.Assert) for s in body)


def _asserts_in_file(tree: ast.Module, source: str, name: str) -> list[str]:
    allowed = SAFE_BUILTINS | {name}
    found: list[str] = []
    candidates: list[ast.Assert] = [n for n in tree.body if isinstance(n, ast.Assert)]
    for node in tree.body:
        holders = [node] + (list(node.body) if isinstance(node, ast.ClassDef) else [])
        for holder in holders:
            if _simple_test_function(holder):
                asserts = [s for s in holder.body if isinstance(s, ast.Assert)]
                if all(_only_uses(a, allowed) for a in asserts):
                    candidates.extend(asserts)
    for node in candidates:
        if calls(node, name) and _only_uses(node, allowed):
            found.append(ast.get_source_segment(source, node) or ast.unparse(node))
    return found


def workspace_tests(workspace_dir: str | os.PathLike[str], name: str,
                    max_files: int = MAX_WORKSPACE_FILES,
                    max_bytes: int = MAX_WORKSPACE_FILE_BYTES,
                    notes: list[str] | None = None) -> list[TestCase]:
    """Asserts calling ``name`` in the workspace's ``test_*.py``/``*_test.py`` files: module
    level asserts and simple pytest functions that use only the function, literals and
    safe builtins (fixtures, parametrize and other names are skipped)."""
    root = Path(workspace_dir)
    if not name or not root.is_dir():
        return []
    tests: list[TestCase] = []
    for path in _test_files(root, max_files):
        try:
            if path.stat().st_size > max_bytes:
                note(notes, f"skipped large test file {path}")
                continue
            source, _ = decode_python(path.read_bytes())  # BOM and coding line honoured
            if name not in source:
                continue
            tree = ast.parse(source)
        except (OSError, SyntaxError, ValueError):  # UnicodeDecodeError is a ValueError
            continue
        for code in _asserts_in_file(tree, source, name):
            tests.append(TestCase(kind="workspace", code=code))
    return dedupe(tests)
