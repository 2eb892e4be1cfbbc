"""Keeps a machine's FAISS index in step with a shared store through its change log.

A store with a change log (``PgStore``: ``change_log = True``, ``changes_since``,
``change_head``) lists every version added or removed by anyone, in commit order. Each
machine keeps its own index (``dise.store.index.VectorIndex``, beside the store's local
name) and a cursor file ``<base>.index.cursor``: the last change it applied. On start and
before each use only the changes after the cursor are applied (embedding only what is new),
so a server never rebuilds the index from a large shared store just because it restarted.

Without a cursor (first start, or the file was lost) the index is repaired by one full
``VectorIndex.sync``, and the cursor set to the log's head as read *before* that sync, so
nothing committed meanwhile is skipped (replaying a change is harmless). Stores without a
log (the TinyDB file) use the full sync as before.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from dise.store.embedder import artifact_text
from dise.store.index import SyncReport, VectorIndex

log = logging.getLogger(__name__)


def has_change_log(store: Any) -> bool:
    return bool(getattr(store, "change_log", False))


class ChangeFollower:
    """Applies a store's changes to one ``VectorIndex``; thread-safe."""

    def __init__(self, index: VectorIndex, store: Any) -> None:
        self.index, self.store = index, store
        base = Path(store.path).with_name(Path(store.path).stem)
        self.cursor_path = Path(f"{base}.index.cursor")
        self._lock = threading.Lock()
        self.cursor: int | None = self._read()

    def _read(self) -> int | None:
        try:
            data = json.loads(self.cursor_path.read_text())
            return int(data["cursor"]) if data.get("store") == self._identity() else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _identity(self) -> str:
        return str(getattr(self.store, "identity", "") or getattr(self.store, "url", ""))

    def _write(self, cursor: int) -> None:
        self.cursor = cursor
        self.cursor_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.cursor_path.parent, suffix=".tmp",
                                   prefix=f".{self.cursor_path.name}.")
        with os.fdopen(fd, "w") as fh:
            json.dump({"store": self._identity(), "cursor": cursor}, fh)
        os.replace(tmp, self.cursor_path)

    def catch_up(self) -> SyncReport:
        """Apply what changed since the cursor (a full sync when there is no cursor)."""
        with self._lock:
            if self.cursor is None:
                head = self.store.change_head()
                report = self.index.sync(self.store)
                self._write(head)
                return report
            cursor, changes = self.store.changes_since(self.cursor)
            if not changes:
                return SyncReport(added=0, removed=0, total=len(self.index))
            final: dict[str, tuple[str, str]] = {}
            for op, aid, node in changes:  # only the last change of an id counts
                final.pop(aid, None)
                final[aid] = (op, node)
            added, removed = [], 0
            for aid, (op, node) in final.items():
                if op == "del":
                    removed += self.index.remove(aid)
                    continue
                artifact = self.store.get(aid)
                if artifact is not None:
                    added.append((aid, node, artifact_text(artifact)))
            if added:
                self.index.add_many(added)
            self._write(cursor)
            log.info("index caught up with the shared store: %d added, %d removed",
                     len(added), removed)
            return SyncReport(added=len(added), removed=removed, total=len(self.index))
