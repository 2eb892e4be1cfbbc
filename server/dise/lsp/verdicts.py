"""The editor's "your tests fail" warning: a pure piece, unit-tested alone.

One Warning diagnostic (code ``tests-failed``) on the ``def`` line of every known generated
function whose version in the file fails any of the user's own tests (examples, doctests,
asserts, workspace tests). It goes away when a passing version is accepted or the function
is regenerated passing, because the index then holds the new artifact.
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types as lsp

from dise.engine import verdict
from dise.lsp.documents import split_lines
from dise.lsp.index import Known, locate

SOURCE = "DiSE"


def failing_tests_diagnostics(source: str, known: Sequence[Known]) -> list[lsp.Diagnostic]:
    """Warnings for the functions of ``source`` whose version in the file fails the user's
    tests (each node's own ``def``, found by ``dise.lsp.index.locate``, never a namesake's)."""
    failing = []
    for item in known:
        artifact = item.current or item.artifact
        message = verdict.diagnostic_message(artifact) if artifact is not None else ""
        if message:
            failing.append((item, message))
    if not failing:
        return []
    lines = split_lines(source)
    where = locate(lines, [item for item, _ in failing])
    out = []
    for item, message in failing:
        region = where.get(item.node_id)
        if region is None:
            continue
        text = lines[region.start].rstrip("\r\n")
        start = len(text) - len(text.lstrip())
        out.append(lsp.Diagnostic(
            range=lsp.Range(start=lsp.Position(line=region.start, character=start),
                            end=lsp.Position(line=region.start, character=len(text))),
            severity=lsp.DiagnosticSeverity.Warning, source=SOURCE,
            code=verdict.TESTS_FAILED_CODE, message=message,
            data={"nodeId": item.node_id}))
    return out
