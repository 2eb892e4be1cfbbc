"""A TinyDB storage that survives crashes, other processes and 10,000 artifacts.

Why not TinyDB's ``JSONStorage``: it re-reads and re-parses the whole file on every access
and rewrites it in place, so a crash mid-write leaves half a file, and a CLI run while the
language server is up can interleave writes with it. Here:

* The data lives in memory. The file is read once on open and again only when one
  ``os.stat`` shows that its inode, size or mtime changed since our last read or write
  (another process wrote it).
* Every write goes to a temp file in the same directory, is flushed and fsynced, then
  ``os.replace``-d over the store: readers see the old file or the new one, never half.
* A ``threading.RLock`` serialises threads. Across processes, ``transaction()`` takes an
  exclusive ``fcntl.flock`` on the sibling ``<name>.lock`` file for a whole
  read-modify-write, and re-reads the file first if someone else changed it, so two
  processes never lose each other's updates. Plain reads need no flock: the rename is atomic.
* ``batch()`` defers the disk write to the end of the outermost batch (all or nothing).
* Encoded JSON is cached per document and per table (``storage_json``), so a write at
  10,000 artifacts re-encodes only the documents that changed and re-joins only the tables
  they live in. ``FastTable`` (``storage_table``) reports each document it inserts,
  replaces or removes (``touch``); any other TinyDB update goes through
  ``Table._update_table``, which drops the table's cache (``forget``). Whoever edits the
  live data some other way must call one of the two.
* A file that is not valid JSON is never overwritten: it is copied aside and every access
  raises ``StoreCorruptError`` until someone fixes or moves it.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tinydb.storages import Storage

from dise.errors import DiseError
from dise.store.storage_json import Data, EncodedTable, encode_tables

try:  # POSIX only; elsewhere only threads of one process are serialised.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: (inode, size, mtime in ns): any write by anyone (always a rename) changes it.
_Signature = tuple[int, int, int] | None


class StoreCorruptError(DiseError):
    """The store file is damaged; it is left untouched and a copy is kept beside it."""


class StoreIOError(DiseError):
    """The store file could not be read or written (permissions, disk full, ...)."""


def _signature_of(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class AtomicJSONStorage(Storage):
    """TinyDB storage: in memory, reloaded on outside change, written atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock = threading.RLock()
        self._data: Data | None = None
        self._signature: _Signature = None
        #: Bumped whenever the data is (re)loaded from disk: caches keyed on it go stale.
        self.generation = 0
        self._pinned = 0
        self._txn_depth = 0
        self._batch_depth = 0
        self._dirty = False
        self._lock_fd: int | None = None
        self._encoded: dict[str, EncodedTable] = {}
        with self._lock:
            self._refresh()
            self._remove_stale_temps()

    # -- TinyDB's Storage interface -----------------------------------------------------
    def read(self) -> Data:
        """The live data (not a copy); reloaded first if another process changed the file."""
        with self._lock:
            if self._data is None or not (self._pinned or self._txn_depth):
                self._refresh()
            assert self._data is not None
            return self._data

    def write(self, data: Data) -> None:
        """Persist ``data`` now, or at the end of the current batch."""
        with self.transaction():
            self._data = data
            if self._batch_depth:
                self._dirty = True
            else:
                self._flush()

    def close(self) -> None:
        with self._lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # -- consistency scopes -------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[Data]:
        """A consistent view: at most one stat/reload at entry, none inside; blocks writers
        of this process (not other processes, whose renames cannot tear our view)."""
        with self._lock:
            data = self.read()
            self._pinned += 1
            try:
                yield data
            finally:
                self._pinned -= 1

    @contextmanager
    def transaction(self) -> Iterator[Data]:
        """Exclusive read-modify-write across threads and processes (RLock + flock).

        On entry the file is re-read if another process changed it, so updates start
        from the latest data.
        """
        with self._lock:
            if self._txn_depth == 0:
                self._acquire_flock()
            self._txn_depth += 1
            try:
                if self._txn_depth == 1:
                    self._refresh()
                assert self._data is not None
                yield self._data
            finally:
                self._txn_depth -= 1
                if self._txn_depth == 0:
                    self._release_flock()

    @contextmanager
    def batch(self) -> Iterator[Data]:
        """A transaction whose writes reach the disk once, at the end of the outermost batch.

        If the block raises, the whole batch is dropped and the data reloaded from disk.
        """
        with self.transaction() as data:
            self._batch_depth += 1
            try:
                yield data
            except BaseException:
                self._batch_depth -= 1
                if self._batch_depth == 0 and self._dirty:
                    self._dirty = False
                    self._invalidate()
                raise
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._dirty:
                self._dirty = False
                self._flush()

    def touch(self, table: str, doc_id: str) -> None:
        """Document ``doc_id`` of ``table`` was inserted, replaced or removed."""
        with self._lock:
            encoded = self._encoded.get(table)
            if encoded is not None:
                encoded.changed.add(str(doc_id))
                encoded.body = None

    def forget(self, table: str) -> None:
        """Drop the cached JSON of ``table``: it changed in ways ``touch`` did not hear of."""
        with self._lock:
            self._encoded.pop(table, None)

    # -- loading ------------------------------------------------------------------------
    def _refresh(self) -> None:
        try:
            signature: _Signature = _signature_of(os.stat(self.path))
        except FileNotFoundError:
            signature = None
        if self._data is not None and signature == self._signature:
            return
        self._load()

    def _load(self) -> None:
        self._data = None
        self._encoded.clear()
        self.generation += 1
        try:
            with open(self.path, "rb") as fh:
                signature = _signature_of(os.fstat(fh.fileno()))
                raw = fh.read()
        except FileNotFoundError:
            self._data, self._signature = {}, None
            return
        except OSError as exc:
            raise StoreIOError(f"Cannot read the DiSE store {self.path} ({exc.strerror}); "
                               "check its permissions.") from None
        if not raw.strip():  # an empty file (e.g. `touch`) holds nothing to lose
            self._data, self._signature = {}, signature
            return
        try:
            data = json.loads(raw)
        except ValueError as exc:
            reason = getattr(exc, "msg", str(exc))
            where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
            self._refuse(f"not valid JSON: {reason}{where}")
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            self._refuse("not a DiSE store: the top level is not an object of tables")
        self._data, self._signature = data, signature

    def _refuse(self, reason: str) -> None:
        backup = self._backup_damaged()
        raise StoreCorruptError(
            f"The DiSE store {self.path} is damaged ({reason}); a copy is at {backup}. "
            "Fix it, or move it away to start a fresh store; DiSE will not overwrite it.")

    def _backup_damaged(self) -> Path:
        """Copy the damaged file aside once (an identical earlier copy is reused)."""
        size = self.path.stat().st_size
        for old in sorted(self.path.parent.glob(f"{self.path.name}.corrupt-*")):
            if old.stat().st_size == size and filecmp.cmp(old, self.path, shallow=False):
                return old
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while backup.exists():
            n += 1
            backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        shutil.copy2(self.path, backup)
        return backup

    def _invalidate(self) -> None:
        """Forget the in-memory data: the next access reloads what is on disk."""
        self._data = None
        self._signature = None

    # -- writing ------------------------------------------------------------------------
    def _encode(self, data: Data) -> list[bytes]:
        """The file's bytes, one piece per table, re-encoding only what changed."""
        return encode_tables(self._encoded, data)

    def _flush(self) -> None:
        """Temp file + fsync + rename; on any failure the old file stays and memory reloads."""
        assert self._data is not None
        tmp: str | None = None
        try:
            pieces = self._encode(self._data)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                       suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.writelines(pieces)
                fh.flush()
                os.fsync(fh.fileno())
                signature = _signature_of(os.fstat(fh.fileno()))
            os.replace(tmp, self.path)
            tmp = None
            self._signature = signature
            self._fsync_dir()
        except BaseException as exc:
            self._invalidate()
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            if isinstance(exc, OSError):
                raise StoreIOError(
                    f"Could not save the DiSE store {self.path} ({exc.strerror or exc}); "
                    "the previous version is intact: check free disk space and permissions, "
                    "then retry.") from exc
            raise

    def _fsync_dir(self) -> None:
        """Make the rename itself durable (best effort: not every platform allows it)."""
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- cross-process lock -------------------------------------------------------------
    def _open_lock(self) -> int | None:
        if fcntl is None:
            return None
        if self._lock_fd is None:
            try:
                self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StoreIOError(f"Cannot open the lock file {self.lock_path} "
                                   f"({exc.strerror}); check the folder's permissions.") from None
        return self._lock_fd

    def _acquire_flock(self) -> None:
        fd = self._open_lock()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)

    def _release_flock(self) -> None:
        if self._lock_fd is not None and fcntl is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _remove_stale_temps(self) -> None:
        """Delete temp files left by a writer that died; only when no writer holds the lock."""
        if fcntl is None or not self.path.parent.is_dir():
            return
        try:
            fcntl.flock(self._open_lock(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (OSError, StoreIOError):
            return  # someone is writing right now (their temp is not stale), or read-only
        try:
            for tmp in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass
        finally:
            self._release_flock()
