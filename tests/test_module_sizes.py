"""Every module of the ``dise`` package stays under 400 lines (issue 14: "Keep every module under
~400 lines"; ARCHITECTURE.md: small, single-purpose modules).

Counted as ``wc -l`` would, for every ``*.py`` under ``server/dise/`` (the sandbox harness
included). ``tests/test_lsp_layout.py`` keeps its own check of ``dise/lsp`` alone.
"""

from __future__ import annotations

from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "server" / "dise"
#: The most lines a module may have.
MAX_LINES = 400


def oversized(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``"path: N lines"`` (relative to ``root``'s parent) for each module over ``limit``,
    largest first."""
    sizes = [(len(path.read_text(encoding="utf-8").splitlines()), path)
             for path in sorted(root.rglob("*.py"))]
    return [f"{path.relative_to(root.parent)}: {lines} lines"
            for lines, path in sorted(sizes, key=lambda s: -s[0]) if lines > limit]


def test_no_module_of_the_package_passes_400_lines() -> None:
    found = oversized(PACKAGE)
    assert found == [], f"{len(found)} modules over {MAX_LINES} lines:\n" + "\n".join(found)


def test_the_check_names_each_module_over_the_limit_with_its_size(tmp_path: Path) -> None:
    root = tmp_path / "dise"
    (root / "sub").mkdir(parents=True)
    (root / "small.py").write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    (root / "sub" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    (root / "bigger.py").write_text("x = 1\n" * 900, encoding="utf-8")
    (root / "notes.txt").write_text("x\n" * 900, encoding="utf-8")
    assert oversized(root) == ["dise/bigger.py: 900 lines", "dise/sub/big.py: 401 lines"]
