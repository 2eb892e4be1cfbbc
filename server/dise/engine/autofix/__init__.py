"""Deterministic repairs of generated code, no model involved.

Small models get the logic right more often than the packaging: code in fences with
chatter, tabs or a body that lost its indentation, a function with another name, a
forgotten ``import re``, a demo call at the bottom that crashes when the module loads.
Each repair here is cheap, named in ``FixResult.fixes`` and safe to apply blindly: it only
changes code that would not load or not be found otherwise.

This module is the driver (``autofix``); each repair lives in its own module: ``imports``,
``indentation``, ``renaming`` and ``crashes``. ``split_imports``, ``merge_import_lines`` and
``missing_imports`` are re-exported here: the engine and the optimiser call them as
``autofix.X``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from dise.engine.autofix.crashes import crashing_statements, drop_statements
from dise.engine.autofix.imports import (
    import_for,
    import_lines,
    insert_imports,
    merge_import_lines,
    missing_imports,
    name_errors,
    split_imports,
)
from dise.engine.autofix.indentation import fix_indentation
from dise.engine.autofix.parsing import parses
from dise.engine.autofix.renaming import rename_function, rename_target
from dise.engine.extract import NON_PYTHON_LANGS, extract_code
from dise.engine.types import RunReport

__all__ = ["FixResult", "autofix", "merge_import_lines", "missing_imports", "split_imports"]


@dataclass
class FixResult:
    """The repaired code and one line per repair applied, in order."""

    code: str
    fixes: list[str] = field(default_factory=list)


def _raw_code(text: str) -> str:
    """The Python fenced block's text (or the whole text) for indentation repair."""
    blocks = re.findall(r"(?:`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:`{3,}|~{3,}|\Z)",
                        text, flags=re.DOTALL)
    for lang, body in blocks:
        if lang.lower() not in NON_PYTHON_LANGS and body.strip():
            return body
    return text


def autofix(code: str, function_name: str, report: RunReport | None = None,
            budget_s: float | None = None) -> FixResult:
    """Apply the deterministic repairs in order and name each one that changed the code.

    Steps: extract code from chatter/fences, fix indentation, rename a lone function to
    ``function_name``, add missing standard-library imports, drop a top-level statement
    that crashed at import. Stops early (keeping what is done) once ``budget_s`` is spent.
    """
    deadline = time.monotonic() + budget_s if budget_s else None
    fixes: list[str] = []
    # Line numbers in the report refer to ``code`` as run, so find the culprits now.
    crashed = crashing_statements(code, report) if report is not None else []

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() > deadline

    # 1. fences and chatter. Code that only fails to parse because of its indentation is
    # repaired first, or extraction would trim the lines after the first bad indent.
    text = code
    raw = _raw_code(code)
    if raw.strip() and parses(raw) is None:
        repaired, indent_fixes = fix_indentation(raw)
        if parses(repaired) is not None:
            text = code.replace(raw, repaired + "\n", 1)
            fixes.extend(indent_fixes)
    extracted = extract_code(text, function_name)
    if not extracted.code:
        return FixResult("", fixes + ["nothing to fix: " + "; ".join(extracted.notes)])
    current = extracted.code
    if current.strip() != text.strip():
        if extracted.notes:
            fixes.extend(extracted.notes)
        else:
            fixes.extend(fix_indentation(text)[1] or ["normalised whitespace"])

    # 2. indentation
    if not out_of_time():
        current, indent_fixes = fix_indentation(current)
        fixes.extend(f for f in indent_fixes if f not in fixes)

    # 3. rename
    if not out_of_time():
        old = rename_target(current, function_name)
        if old:
            current = rename_function(current, old, function_name)
            fixes.append(f"renamed {old} to {function_name}")

    # 4. imports
    if not out_of_time():
        wanted = missing_imports(current)
        tree = parses(current)
        if tree is not None:
            bound = {b for _, b in import_lines(tree)}
            for name in name_errors(report):
                line = import_for(name, tree)
                if line and line not in wanted and name not in bound:
                    wanted.append(line)
        if wanted:
            current = insert_imports(current, wanted)
            fixes.extend(f"added {line}" for line in wanted)

    # 5. crash at import
    if crashed and not out_of_time():
        current, crash_fixes = drop_statements(current, crashed)
        fixes.extend(crash_fixes)

    return FixResult(current, fixes)
