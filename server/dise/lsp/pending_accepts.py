"""Resolved Accepts waiting for the document change that applies them (a pure piece).

VS Code can lose the command of a resolved code action when its action list is replaced
during the resolve round trip ("Actual command not found") and still apply the edit. So a
resolved Accept is remembered here for ``PENDING_S`` seconds: the change that brings its text
records it, and whichever comes first, that change or the command, records it once.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from dise.lsp.documents import all_regions, region_hash

#: Seconds a resolved Accept waits for the document change that applies it.
PENDING_S = 120.0
#: Resolved Accepts remembered per document (the oldest are dropped).
PENDING_MAX = 8


def accept_key(uri: str, args: dict[str, Any]) -> tuple[str, str, int, str]:
    """Identity of one resolved Accept (``dise.acceptOptimized`` arguments with ``applied``):
    document, node, version and the applied digest."""
    return (uri, str(args["nodeId"]), int(args["version"]), str(args["applied"]["digest"]))


def holds(lines: Sequence[str], name: str, digest: str) -> bool:
    """Whether some ``def name`` in ``lines`` has the content hash ``digest`` (a whole-file
    scan: run it in the parse thread)."""
    return any(region_hash(lines, r) == digest for r in all_regions(lines, {name}))


class PendingAccepts:
    """Per document: (deadline, function name, command arguments) of resolved Accepts not
    yet recorded, and the keys of those recorded."""

    def __init__(self) -> None:
        self._pending: dict[str, list[tuple[float, str, dict[str, Any]]]] = {}
        self._recorded: set[tuple[str, str, int, str]] = set()

    def add(self, uri: str, name: str, args: dict[str, Any]) -> None:
        waiting = self._pending.setdefault(uri, [])
        waiting.append((time.monotonic() + PENDING_S, name, args))
        del waiting[:-PENDING_MAX]

    def any_in(self, uri: str) -> bool:
        return bool(self._pending.get(uri))

    def waiting(self, uri: str) -> list[tuple[str, dict[str, Any]]]:
        """(function name, arguments) still waiting in ``uri``; the expired are dropped."""
        now = time.monotonic()
        self._pending[uri] = [p for p in self._pending.get(uri, []) if p[0] > now]
        return [(name, args) for _, name, args in self._pending[uri]]

    def forget(self, uri: str, args: dict[str, Any]) -> None:
        key = accept_key(uri, args)
        self._pending[uri] = [p for p in self._pending.get(uri, [])
                              if accept_key(uri, p[2]) != key]

    def close(self, uri: str) -> None:
        self._pending.pop(uri, None)
        self._recorded = {k for k in self._recorded if k[0] != uri}

    def recorded(self, uri: str, args: dict[str, Any]) -> bool:
        return accept_key(uri, args) in self._recorded

    def mark_recorded(self, uri: str, args: dict[str, Any]) -> None:
        self._recorded.add(accept_key(uri, args))
        self.forget(uri, args)
