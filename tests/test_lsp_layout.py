"""The language server's layout holds: features reach the server only through ``ServerContext``.

Nothing under ``dise/lsp/features/`` may import ``dise.lsp.server`` (or ``dise.lsp.setup``,
which imports it), and no feature may touch a private member of another object (``x._y``
where ``x`` is not ``self``/``cls``): a refactor of the server's privates must not break a
feature silently, as it did when ``lsp/phase2.py`` called ten of ``DiseServer``'s privates.
Read with ``ast`` (nothing is imported). The checker's own cases show it catches both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LSP = Path(__file__).resolve().parents[1] / "server" / "dise" / "lsp"
FEATURES = LSP / "features"
FORBIDDEN = ("dise.lsp.server", "dise.lsp.setup")
#: Modules of dise/lsp stay small (ARCHITECTURE.md: "a page or two" per feature).
MAX_LINES = 400


def violations(source: str) -> list[str]:
    """``line: what`` for each forbidden import and private-member access in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                found.append(f"{node.lineno}: imports {name}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not (node.attr.startswith("__") and node.attr.endswith("__")):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"{node.lineno}: touches private {ast.unparse(node)}")
    return found


def feature_modules() -> list[Path]:
    return sorted(FEATURES.glob("*.py"))


def test_the_features_exist() -> None:
    names = {p.stem for p in feature_modules()}
    assert {"lifecycle", "known", "generate", "hover", "lenses", "status", "optimizer",
            "better_version"} <= names


@pytest.mark.parametrize("path", feature_modules(), ids=lambda p: p.name)
def test_a_feature_uses_only_the_public_context(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize("snippet, what", [
    ("from dise.lsp.server import DiseServer\n", "imports dise.lsp.server"),
    ("import dise.lsp.server\n", "imports dise.lsp.server"),
    ("from dise.lsp import server\n", "imports dise.lsp.server"),
    ("from dise.lsp.setup import create_server\n", "imports dise.lsp.setup"),
    ("def f(self):\n    return self.ctx._in_worker(1)\n", "private self.ctx._in_worker"),
    ("def f(server):\n    server._lenses.pop(1)\n", "private server._lenses"),
])
def test_the_check_catches_what_it_forbids(snippet: str, what: str) -> None:
    assert any(what in v for v in violations(snippet))


def test_own_private_members_are_allowed() -> None:
    assert violations("class A:\n    def f(self):\n        return self._x + A.__name__\n") == []


@pytest.mark.parametrize("path", sorted(LSP.rglob("*.py")), ids=lambda p: str(p.relative_to(LSP)))
def test_language_server_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES
