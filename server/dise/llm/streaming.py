"""The caller's side of a streamed answer that a helper thread reads (Ollama and
OpenAI-compatible backends), so cancel and the whole-request timeout take effect at once,
even before the server has sent anything."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from dise.errors import Cancelled
from dise.llm.base import TextFn
from dise.types import CancelToken

#: Seconds between looks at cancel and the deadline while the reader has sent nothing.
WAIT_POLL_S = 0.05

#: What a backend's reader thread is given: it puts ("text", str), ("end", finished: bool)
#: or ("error", exception) on the queue, and stops at its next chunk once the event is set.
Reader = Callable[["queue.Queue[tuple[str, Any]]", threading.Event], None]


def collect_stream(read: Reader, *, thread_name: str, timeout_s: float,
                   cancel: CancelToken | None, on_text: TextFn | None,
                   timeout_error: Callable[[], BaseException],
                   dropped_error: Callable[[str], BaseException], cut_short: str) -> str:
    """Run ``read`` on a daemon thread and join the text it streams; ``on_text`` gets each
    piece as it comes.

    Raises ``Cancelled`` when ``cancel`` is set, ``timeout_error()`` after ``timeout_s``
    seconds in all, the reader's own error, or ``dropped_error(cut_short)`` (some text came)
    / ``dropped_error("no answer at all")`` when the stream ended unfinished. The reader is
    told to stop (its event set) however this returns.
    """
    deadline = time.monotonic() + timeout_s
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    abandon = threading.Event()
    threading.Thread(target=read, args=(events, abandon), name=thread_name,
                     daemon=True).start()
    pieces: list[str] = []
    try:
        while True:
            try:
                kind, value = events.get(timeout=WAIT_POLL_S)
            except queue.Empty:
                if cancel is not None and cancel.cancelled:
                    raise Cancelled() from None
                if time.monotonic() > deadline:
                    raise timeout_error() from None
                continue
            if kind == "error":
                raise value
            if kind == "end":
                if not value:
                    raise dropped_error(cut_short if pieces else "no answer at all")
                return "".join(pieces)
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            pieces.append(value)
            if on_text is not None:
                on_text(value)
    finally:
        abandon.set()  # the reader closes the stream at its next chunk


def log_reasoning(log: logging.Logger, model: str, reasoning: list[str]) -> None:
    """Debug-log a thinking model's reasoning (never used as the answer), when there was any."""
    if reasoning:
        log.debug("%s reasoned (%d chars, not used as the answer): %.2000s",
                  model, sum(map(len, reasoning)), "".join(reasoning))
