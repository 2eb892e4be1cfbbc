"""One ``$/progress`` (work-done progress) reporter per token, for generations and the
optimiser. Every method runs on the event loop; a client that refuses the token just gets no
progress bar, and the work goes on."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types as lsp

log = logging.getLogger(__name__)


class Progress:
    """``begin`` once (creates the token with the client), then ``report`` and ``end``.

    ``work_done`` is pygls's ``server.work_done_progress``; ``enabled`` is False when the
    client has no ``window.workDoneProgress`` (then every call does nothing).
    """

    def __init__(self, work_done: Any, token: str, enabled: bool) -> None:
        self.work_done, self.token, self.enabled = work_done, token, enabled
        self.begun = False

    async def begin(self, title: str, message: str, *, cancellable: bool = True,
                    percentage: int | None = None) -> bool:
        """Create the token and show the bar; False when the client refused (or has none)."""
        if not self.enabled:
            return False
        try:
            await self.work_done.create_async(self.token)
        except Exception as exc:   # a client may refuse; the work goes on without a bar
            log.info("progress refused by the client: %s", exc)
            self.enabled = False
            return False
        self.work_done.begin(self.token, lsp.WorkDoneProgressBegin(
            title=title, message=message, cancellable=cancellable, percentage=percentage))
        self.begun = True
        return True

    def report(self, message: str, percentage: int | None = None) -> None:
        if self.enabled and self.begun:
            self.work_done.report(self.token, lsp.WorkDoneProgressReport(
                message=message, percentage=percentage))

    def end(self, message: str) -> None:
        if self.enabled and self.begun:
            self.work_done.end(self.token, lsp.WorkDoneProgressEnd(message=message))
            self.work_done.tokens.pop(self.token, None)
        self.enabled = False
