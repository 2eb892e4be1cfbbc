"""``Feature``: one part of what the server does (generation, hover, lenses, ...).

``dise.lsp.setup`` registers each LSP method once and fans the shared ones out to every
feature's hook, in order; a method only one feature answers (hover, code lens) comes from that
feature's ``methods()``, a command from its ``commands()``. A feature sees the server only as a
``ServerContext`` (``self.ctx``), reaches other features with ``ctx.get_feature(cls)`` and
``ctx.events``, and never imports ``dise.lsp.server`` (tests/test_lsp_layout.py checks).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from lsprotocol import types as lsp

from dise.lsp.context import ServerContext

#: A command's implementation: the raw ``arguments`` of ``workspace/executeCommand``.
Command = Callable[..., Awaitable[Any]]


class Feature:
    """Base class: every hook does nothing. Hooks run on the event loop."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    # -- registration ---------------------------------------------------------------------
    def methods(self) -> dict[str, tuple[Callable[..., Any], Any]]:
        """LSP methods this feature alone answers: method -> (handler(params), options)."""
        return {}

    def commands(self) -> dict[str, Command]:
        """``workspace/executeCommand`` names this feature runs."""
        return {}

    # -- lifecycle ------------------------------------------------------------------------
    def initialized(self) -> None:
        """After ``initialized`` (the settings are known, the backend is starting)."""

    def shutdown(self) -> None:
        """On ``shutdown``: cancel running work, without waiting."""

    def close(self) -> None:
        """After the connection ended (in the main thread, the loop has stopped)."""

    # -- documents ------------------------------------------------------------------------
    def did_open(self, uri: str) -> None: ...

    def did_change(self, uri: str) -> None: ...

    def did_save(self, uri: str) -> None: ...

    def did_close(self, uri: str) -> None: ...

    # -- shared requests ------------------------------------------------------------------
    def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        """This feature's actions for the range (instant: parse only what is around it)."""
        return []
