"""The stdio channel to the editor, which notices when the editor goes away.

pygls reads the channel in a worker thread and writes to it from the event loop. When the
editor leaves (it closes our stdin, sends ``exit``, or dies), everything still running is
cancelled and tries to say so: progress ends, responses, log messages. Written to a closed
pipe, each of those became a traceback in the log the editor shows (``BrokenPipeError``,
"write to closed file"). ``ClientChannel`` turns that into one line: after the editor is
gone, writes are dropped, and ``gone`` tells the server why work is being cancelled.
"""

from __future__ import annotations

import threading
from typing import BinaryIO


class ClientChannel:
    """``reader`` and ``writer`` file objects for ``LanguageServer.start_io``.

    ``gone`` is set (once, with ``why``) when the input ends, the output is closed (pygls
    closes it on ``exit``) or a write fails; later writes are dropped silently.
    """

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO) -> None:
        self.reader = _Reader(self, rfile)
        self.writer = _Writer(self, wfile)
        self.gone = threading.Event()
        self.why = ""
        self._lock = threading.Lock()

    def mark_gone(self, why: str) -> None:
        """Record that the editor left (first reason wins)."""
        with self._lock:
            if self.gone.is_set():
                return
            self.why = why
            self.gone.set()


class _Reader:
    def __init__(self, channel: ClientChannel, rfile: BinaryIO) -> None:
        self.channel, self.rfile = channel, rfile

    def _checked(self, data: bytes) -> bytes:
        if not data:
            self.channel.mark_gone("the editor closed the connection")
        return data

    def readline(self) -> bytes:
        try:
            return self._checked(self.rfile.readline())
        except (OSError, ValueError):
            return self._checked(b"")

    def read(self, n: int = -1) -> bytes:
        try:
            return self._checked(self.rfile.read(n))
        except (OSError, ValueError):
            return self._checked(b"")

    def close(self) -> None:
        self.rfile.close()


class _Writer:
    def __init__(self, channel: ClientChannel, wfile: BinaryIO) -> None:
        self.channel, self.wfile = channel, wfile

    def write(self, data: bytes) -> int:
        if self.channel.gone.is_set() or self.wfile.closed:
            return 0
        try:
            written = self.wfile.write(data)
            self.wfile.flush()
            return written
        except (OSError, ValueError):   # BrokenPipeError, or closed under us
            self.channel.mark_gone("the editor closed the connection")
            return 0

    def flush(self) -> None:
        if not self.channel.gone.is_set() and not self.wfile.closed:
            try:
                self.wfile.flush()
            except (OSError, ValueError):
                self.channel.mark_gone("the editor closed the connection")

    def close(self) -> None:
        self.channel.mark_gone("the editor sent exit")
        try:
            self.wfile.close()
        except (OSError, ValueError):
            pass

    @property
    def closed(self) -> bool:
        return self.wfile.closed
