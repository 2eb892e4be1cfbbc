"""How ``VectorIndex`` keeps itself on disk: a snapshot plus an append-only journal.

* A snapshot: ``<store>.index.faiss`` (vectors keyed by int ids) and ``<store>.index.ids.json``
  (artifact id -> int id, node id, text hash; with the model, format and ``epoch``).
* A journal, ``<store>.index.journal``: a header naming the snapshot it extends (``epoch``),
  then one JSON line per add/remove (vectors in base64), so each update is one ~2 KB append
  whatever the size; it is folded into a new snapshot past ``IndexSettings.journal_limit``.
* Files are replaced atomically (temp file + ``os.replace``; no fsync, see
  ``_atomic_write``); loading keeps only what the files agree on: a journal from before the
  snapshot is ignored, a torn last line skipped, vectors and ids the files disagree on
  dropped. Another process's writes are picked up by ``_refresh`` (reload or replay).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Bumped when the ids file layout changes: an older file is rebuilt from the store.
INDEX_FORMAT = 1


class IndexFiles:
    """``VectorIndex``'s persistence (a mixin): commit, snapshot, reload and journal replay.

    Works on the state ``VectorIndex`` keeps (``_entries``, ``_index``, ``_epoch``, the
    journal position, ...) and calls its ``_reset``, ``_register``, ``_remove_many`` and
    ``_index_ids``; callers hold the index's lock (and, to change files, its flock).
    """

    # -- persistence --------------------------------------------------------------------
    def _commit(self) -> None:
        """Persist the queued records: append them, or write a snapshot when due."""
        records, self._pending = self._pending, []
        if not records and not self._needs_snapshot:
            return
        if (self._needs_snapshot or self._epoch is None or self._journal_ino is None
                or self._journal_records + len(records) > self.settings.journal_limit):
            self._snapshot()
            return
        try:
            fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:  # removed behind our back: start over from a snapshot
            self._snapshot()
            return
        with os.fdopen(fd, "ab") as fh:
            st = os.fstat(fh.fileno())
            torn = st.st_size != self._journal_offset  # a crash left half a line: start afresh
            if st.st_ino != self._journal_ino or torn:
                fh.close()
                self._snapshot()
                return
            try:
                fh.write(b"".join(records))
            except OSError:
                self._needs_snapshot = True  # what reached the file is unknown
                raise
        self._journal_offset += sum(len(r) for r in records)
        self._journal_records += len(records)

    def _snapshot(self) -> None:
        """Vectors, then ids (new epoch), then an empty journal; each file replaced atomically."""
        self._needs_snapshot = True  # until the last file is in place (a failed write retries)
        epoch = os.urandom(8).hex()
        meta = {"format": INDEX_FORMAT, "model": self.model_name, "dim": self.dim,
                "kind": self.kind, "next_id": self._next_id, "epoch": epoch,
                "entries": {aid: [e.faiss_id, e.node_id, e.text_hash]
                            for aid, e in self._entries.items()}}
        _atomic_write(self.faiss_path, memoryview(self._faiss.serialize_index(self._index)))
        self._write_ids(json.dumps(meta, separators=(",", ":")).encode("utf-8"))
        header = journal_record({"epoch": epoch})
        _atomic_write(self.journal_path, header)
        self._epoch, self._needs_snapshot = epoch, False
        self._ids_sig = _sig(self.ids_path)
        st = os.stat(self.journal_path)
        self._journal_ino, self._journal_offset, self._journal_records = st.st_ino, len(header), 0

    def _write_ids(self, data: bytes) -> None:
        _atomic_write(self.ids_path, data)

    def _refresh(self) -> None:
        """Catch up with other processes: reload a new snapshot, or replay new journal lines."""
        try:
            journal = os.stat(self.journal_path)
        except FileNotFoundError:
            journal = None
        if _sig(self.ids_path) != self._ids_sig or \
                (journal.st_ino if journal else None) != self._journal_ino:
            self._load()
        elif journal is not None and journal.st_size > self._journal_offset:
            self._replay(None)

    def _load(self) -> None:
        """Snapshot, then journal; keep only what the files agree on. Unreadable -> empty."""
        self._reset()
        self._ids_sig = _sig(self.ids_path)
        if self._ids_sig is None or not self.faiss_path.is_file():
            self._skip_journal()
            return
        try:
            meta = json.loads(self.ids_path.read_text("utf-8"))
            index = self._faiss.read_index(str(self.faiss_path))
        except (OSError, ValueError, RuntimeError) as exc:  # damaged: rebuilt from the store
            log.warning("vector index unreadable (%s); it will be rebuilt from the store", exc)
            self._skip_journal()
            return
        if (meta.get("format") != INDEX_FORMAT or meta.get("model") != self.model_name
                or meta.get("dim") != self.dim or index.d != self.dim):
            log.info("vector index from another model or format; rebuilding from the store")
            self._skip_journal()
            return
        self._index, self.kind, self._epoch = index, meta.get("kind", "flat"), meta.get("epoch")
        if self.kind == "ivf":
            index.nprobe = self.settings.ivf_nprobe
        for aid, (fid, node, digest) in meta.get("entries", {}).items():
            self._register(aid, int(fid), node, digest)
        self._next_id = max(self._next_id, int(meta.get("next_id", 0)))
        present = self._index_ids()
        self._replay(present)
        present = self._index_ids()
        orphans = [i for i in present if i not in self._by_id]
        if orphans:  # vectors written by a snapshot that crashed before its ids
            self._index.remove_ids(np.array(orphans, dtype=np.int64))
        for aid in [a for a, e in self._entries.items() if e.faiss_id not in present]:
            entry = self._entries.pop(aid)
            self._by_id.pop(entry.faiss_id, None)
        if orphans or len(present) != len(self._entries):
            self._needs_snapshot = True
        self._next_id = max([self._next_id, *(i + 1 for i in present)])
        self._pending.clear()

    def _skip_journal(self) -> None:
        """Ignore the journal on disk (it does not extend what we hold); snapshot on next change."""
        try:
            st = os.stat(self.journal_path)
        except FileNotFoundError:
            self._journal_ino = None
        else:
            self._journal_ino, self._journal_offset = st.st_ino, st.st_size
        self._needs_snapshot = True

    def _replay(self, present: set[int] | None) -> None:
        """Apply journal lines after ``_journal_offset``; ``present``: ids in a fresh snapshot."""
        try:
            with open(self.journal_path, "rb") as fh:
                st = os.fstat(fh.fileno())
                fh.seek(self._journal_offset)
                data = fh.read()
        except FileNotFoundError:
            self._journal_ino = None
            return
        self._journal_ino = st.st_ino
        end = data.rfind(b"\n") + 1  # a torn last line waits (or is ignored after a crash)
        lines = data[:end].splitlines()
        if self._journal_offset == 0 and lines:
            header = _parse(lines[0])
            if header is None or header.get("epoch") != self._epoch:
                # from before the current snapshot (already in it): ignore, start afresh
                self._journal_offset, self._needs_snapshot = st.st_size, True
                return
            lines = lines[1:]
        for line in lines:
            rec = _parse(line)
            if rec is None:
                log.warning("skipping a damaged line in %s", self.journal_path)
                self._needs_snapshot = True
                continue
            self._apply(rec, present)
            self._journal_records += 1
        self._journal_offset += end

    def _apply(self, rec: dict[str, Any], present: set[int] | None) -> None:
        if rec.get("op") == "del":
            self._remove_many(rec.get("ids", []))
        elif rec.get("op") == "add":
            aid, fid = rec["id"], int(rec["fid"])
            old = self._entries.get(aid)
            if old is not None and old.faiss_id == fid:
                return
            self._remove_many([aid])
            if present is None or fid not in present:
                vec = np.frombuffer(base64.b64decode(rec["vec"]), dtype=np.float32)
                self._index.add_with_ids(vec.reshape(1, -1), np.array([fid], dtype=np.int64))
            self._register(aid, fid, rec["node"], rec["hash"])
        self._pending.clear()

    def _remove_stale_temps(self) -> None:
        for tmp in self.faiss_path.parent.glob(f".{self.faiss_path.stem}*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _sig(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def vector_b64(vector: np.ndarray) -> str:
    """A vector as the journal stores it: float32 bytes in base64."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).decode()


def journal_record(obj: dict[str, Any]) -> bytes:
    """One journal line: compact JSON and a newline."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n"


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _atomic_write(path: Path, data: bytes | memoryview) -> None:
    """Temp file + ``os.replace``: readers see the old file or the new one, never a mix.

    No fsync: the index is a cache of the store, and a file lost or torn by a power cut is
    rebuilt from the store on start, while an fsync of a 150 MB index would cost seconds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
