"""A user's Python file read and written back exactly as they keep it.

``dise generate --file`` reads a module, splices a function into its text
(``dise.engine.stubs.splice``, the same splice the editor path sends as edits) and writes it
back. Everything the user did not ask to change survives the round trip:

- the encoding: a UTF-8 byte-order mark and a PEP 263 coding line are honoured on reading
  (``tokenize.detect_encoding``, as Python itself reads source) and on writing;
- line endings: the bytes are decoded without newline translation, so CRLF, CR and mixed
  files keep every line's own ending;
- the file itself: a symlink is followed and its target rewritten (the link stays a link);
  the write is atomic (a temp file beside the target, then ``os.replace``) and keeps the
  mode and, where the process may, the owner; a file with hard links, or whose owner
  cannot be kept, is rewritten in place instead so that neither is lost;
- concurrent edits: a file whose bytes changed on disk since it was read is not written.

Every problem is a one-line ``SourceFileError`` naming the file, never a traceback.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from dise.engine.types import DiseError


class SourceFileError(DiseError):
    """The file cannot be read, decoded, encoded or written; the message names it."""


@dataclass(frozen=True)
class SourceFile:
    """One read of a file: the text to edit and what writing it back needs."""

    #: The path as the user gave it.
    path: Path
    #: The file that holds the bytes (a symlink resolved).
    target: Path
    #: The text, without a byte-order mark, line endings as in the file.
    text: str
    #: A Python codec name (``utf-8``, ``utf-8-sig`` for a BOM, ``iso-8859-1``...).
    encoding: str
    #: The bytes as read, to notice a change on disk.
    raw: bytes


def decode_python(raw: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of Python source bytes, decoded as the interpreter would (BOM,
    PEP 263 coding line, else UTF-8). Raises ``SyntaxError`` for an unknown or contradicted
    encoding and ``UnicodeDecodeError`` for bytes it cannot decode."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    return raw.decode(encoding), encoding


def read_source(path: str | os.PathLike[str]) -> SourceFile:
    """Read and decode a Python file the way the interpreter would.

    Raises ``SourceFileError`` when it is missing, not a file, unreadable, declares an
    unknown encoding or holds bytes its encoding cannot decode.
    """
    path = Path(path)
    target = Path(os.path.realpath(path))
    if not target.exists():
        raise SourceFileError(f"No such file: {path}. Give the path of a Python file with a stub.")
    if not target.is_file():
        raise SourceFileError(f"{path} is not a file. Give the path of a Python file with a stub.")
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        text, encoding = decode_python(raw)
    except SyntaxError as exc:  # an unknown codec in the coding line, or a BOM that disagrees
        raise SourceFileError(f"Cannot read {path}: {exc.msg}.") from None
    except UnicodeDecodeError as exc:
        encoding = tokenize.detect_encoding(io.BytesIO(raw).readline)[0]
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceFileError(
            f"Cannot read {path}: byte 0x{raw[exc.start]:02x} on line {line} is not valid "
            f"{_label(encoding)}; save the file as UTF-8 or declare its encoding "
            "(# -*- coding: ... -*-) on line 1 or 2.") from None
    return SourceFile(path=path, target=target, text=text, encoding=encoding, raw=raw)


def _label(encoding: str) -> str:
    return "UTF-8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding


def encode_source(source: SourceFile, text: str) -> bytes:
    """``text`` in the file's encoding (with its BOM, if it had one)."""
    try:
        return text.encode(source.encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        line = exc.object[:exc.start].count("\n") + 1
        raise SourceFileError(
            f"Cannot write {source.path}: the new code has {bad!r} (line {line}), which its "
            f"encoding {_label(source.encoding)} cannot hold; nothing was written.") from None


def write_source(source: SourceFile, text: str) -> None:
    """Write ``text`` back over the file ``source`` was read from.

    Refuses (``SourceFileError``, nothing written) when the file changed on disk since it
    was read, is read-only, or ``text`` cannot be encoded in the file's encoding.
    """
    data = encode_source(source, text)
    target = source.target
    try:
        now = target.read_bytes()
        info = target.stat()
    except OSError as exc:
        raise SourceFileError(f"Cannot write {source.path}: {exc.strerror or exc}; nothing "
                              "was written.") from None
    if now != source.raw:
        raise SourceFileError(f"{source.path} changed on disk while generating; nothing was "
                              "written.")
    if not os.access(target, os.W_OK) or not info.st_mode & 0o222:  # root too: no write bit
        raise SourceFileError(f"{source.path} is read-only; nothing was written.")
    same_owner = (info.st_uid, info.st_gid) == (os.geteuid(), os.getegid())
    try:
        if info.st_nlink > 1 or (not same_owner and not _may_chown()):
            _write_in_place(target, data)
        else:
            _replace_atomically(target, data, info, chown=not same_owner)
    except OSError as exc:
        raise SourceFileError(f"Cannot write {source.path}: {exc.strerror or exc}; the file "
                              "was left as it was.") from None


def _may_chown() -> bool:
    return hasattr(os, "chown") and os.geteuid() == 0


def _replace_atomically(target: Path, data: bytes, info: os.stat_result, *, chown: bool) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".dise-tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, stat.S_IMODE(info.st_mode))
        if chown:
            os.chown(tmp, info.st_uid, info.st_gid)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_in_place(target: Path, data: bytes) -> None:
    """Keeps the inode (hard links, owner); not atomic, so only when those matter."""
    with open(target, "r+b") as handle:
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
