"""The errors every layer shares, at the bottom of the import graph (imports nothing from dise).

Each layer's own errors subclass ``DiseError`` (``dise.llm.BackendError``,
``dise.sandbox.SandboxError``, ``dise.store.StoreCorruptError`` …), so a face catches one
type and prints its one-line message.
"""

from __future__ import annotations

__all__ = ["Cancelled", "DiseError"]


class DiseError(Exception):
    """An error a user can act on. ``str(err)`` is one line saying what happened and what to do."""


class Cancelled(DiseError):
    """The user (or a newer request) stopped the work; nothing half-done was kept."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)
