"""The candidate's stdout/stderr (capped, written straight to the pipes) and in-memory
buffers for what an expression test prints."""

from __future__ import annotations

import io
import os
import sys


class CappedStream(io.TextIOBase):
    """stdout/stderr for the candidate: writes through to the real pipe until ``cap`` bytes."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd = fd
        self._left = cap
        self.buffer = _CappedBytes(self)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._left > 0:
            self._write_bytes(text[: self._left].encode("utf-8", "replace"))
        return len(text)

    def _write_bytes(self, data: bytes) -> None:
        data = data[: max(self._left, 0)]
        self._left -= len(data)
        while data:
            try:
                written = os.write(self._fd, data)
            except OSError:
                return
            data = data[written:]

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class _CappedBytes(io.RawIOBase):
    def __init__(self, owner: CappedStream) -> None:
        self._owner = owner

    def write(self, data) -> int:  # type: ignore[override]
        data = bytes(data)
        self._owner._write_bytes(data)
        return len(data)

    def writable(self) -> bool:
        return True


class MemoryBuffer(io.TextIOBase):
    """Collects what an expression test prints (doctest compares it), up to ``cap`` characters."""

    def __init__(self, cap: int) -> None:
        self._parts: list[str] = []
        self._left = cap

    def write(self, text: str) -> int:
        if self._left > 0:
            self._parts.append(text[: self._left])
            self._left -= len(text)
        return len(text)

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self._parts)


class quiet:
    """Discards output during the measuring passes (the first run already showed it)."""

    def __enter__(self) -> None:
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = MemoryBuffer(0), MemoryBuffer(0)

    def __exit__(self, *exc) -> None:
        sys.stdout, sys.stderr = self.saved
