"""The package layers of ARCHITECTURE.md hold: arrows point down only, no import cycles.

Reads the source with the same tool a person runs (``scripts/import-graph``), counting lazy
imports (inside functions) too: a lazy upward import is still a hidden dependency.
"""

from __future__ import annotations

import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import-graph"

#: Layers, bottom first; a package may import only its own layer's peers or layers below.
BOTTOM = {"dise.types", "dise.errors", "dise.text", "dise.config"}
SERVICES = {"dise.llm", "dise.sandbox", "dise.store", "dise.hardware"}
UPPER = {"dise.engine", "dise.optimize", "dise.lsp", "dise.cli"}


def _graph() -> tuple[dict[str, dict[str, bool]], object]:
    loader = SourceFileLoader("import_graph", str(SCRIPT))
    spec = importlib.util.spec_from_loader("import_graph", loader)
    tool = importlib.util.module_from_spec(spec)
    loader.exec_module(tool)
    known = tool.modules(tool.ROOT)
    edges = {name: tool.imports(name, path, known) for name, path in known.items()}
    return edges, tool


def test_no_import_cycles_between_modules_or_packages():
    edges, tool = _graph()
    modules = {name: set(targets) for name, targets in edges.items()}
    packages = {name: set(targets) for name, targets in tool.by_package(edges).items()}
    assert tool.cycles(modules) == []
    assert tool.cycles(packages) == []


def test_services_and_the_bottom_never_import_the_layers_above():
    edges, tool = _graph()
    packages = tool.by_package(edges)
    for name in SERVICES | BOTTOM:
        upward = set(packages.get(name, {})) & UPPER
        assert not upward, f"{name} imports {sorted(upward)}"
    for name in BOTTOM:
        assert not set(packages.get(name, {})) & SERVICES, f"{name} imports a service"


def test_the_old_engine_types_module_still_names_the_same_objects():
    from dise import errors, types
    from dise.engine import types as old

    assert old.DiseError is errors.DiseError and old.Cancelled is errors.Cancelled
    assert old.Artifact is types.Artifact and old.LinkedToken is types.LinkedToken


def test_the_sandbox_harness_imports_only_itself_and_the_standard_library():
    import ast
    import sys

    folder = Path(__file__).resolve().parents[1] / "server" / "dise" / "sandbox" / "dise_harness"
    assert (folder / "__main__.py").exists()  # run as python -m dise_harness
    outside = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            outside += [f"{path.name}: {n}" for n in names  # coverage: optional, measured
                        if n.split(".")[0] not in sys.stdlib_module_names | {"coverage"}]
    assert outside == []


def test_no_test_module_imports_another():
    """Shared helpers live in tests/support/; a test module importing another would run (and
    register) that module's tests and fixtures a second time."""
    import ast

    tests = Path(__file__).resolve().parent
    found = []
    for path in sorted(p for p in tests.rglob("*.py") if "data" not in p.relative_to(tests).parts):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.relative_to(tests)}: {n}" for n in names
                      if n.split(".")[-1].startswith("test_") or n == "conftest"]
    assert found == []
