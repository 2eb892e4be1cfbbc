"""The TinyDB store's core: one file, its tables and the in-memory indexes over them.

One TinyDB file (``AtomicJSONStorage``) with seven tables: ``artifacts`` (one document per
version, never edited), ``nodes`` (one record per function: latest version, timestamps,
usage, file location), ``tests`` (frozen per node), ``queue``, ``leases``, ``registry`` and
``optimizer`` (Phase 2's resumable per-node state and its global records).

Lookups must answer in milliseconds with 10,000 artifacts (LSP hover), so every key
(artifact id, node id, uri, content hash) has an in-memory index of TinyDB doc ids. The
indexes are updated with each change and rebuilt whenever the storage reloads the file
(another process wrote it). Every method is thread-safe: reads run in the storage's
``reading()`` view, changes in one ``batch()`` so each call is one atomic disk write.
The operations on the tables live in ``tinydb_nodes``, ``tinydb_records`` and
``tinydb_queue``; ``artifacts.Store`` puts them together.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dise.store.storage import AtomicJSONStorage
from dise.store.storage_table import FastTable, StoreDB
from dise.types import Artifact


@dataclass
class Indexes:
    """Key -> TinyDB doc id maps; derived data, rebuilt from the file on every reload."""

    artifacts: dict[str, int] = field(default_factory=dict)
    versions: dict[str, dict[int, int]] = field(default_factory=dict)
    nodes: dict[str, int] = field(default_factory=dict)
    tests: dict[str, int] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)
    registry: dict[str, int] = field(default_factory=dict)
    optimizer: dict[str, int] = field(default_factory=dict)
    leases: dict[str, int] = field(default_factory=dict)
    by_uri: dict[str, set[str]] = field(default_factory=dict)
    #: content hash -> (node id, when it was set); the latest setter wins.
    by_hash: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: Lazily sorted node ids (with at least one version) for prefix completion.
    sorted_ids: list[str] | None = None
    #: Lazily computed queue order (node ids).
    queue_order: list[str] | None = None

    def add_location(self, node_id: str, rec: dict[str, Any]) -> None:
        if rec.get("uri"):
            self.by_uri.setdefault(rec["uri"], set()).add(node_id)
        digest, when = rec.get("content_hash"), rec.get("located", 0.0)
        if digest and (digest not in self.by_hash or self.by_hash[digest][1] <= when):
            self.by_hash[digest] = (node_id, when)

    def drop_location(self, node_id: str, rec: dict[str, Any]) -> None:
        ids = self.by_uri.get(rec.get("uri") or "")
        if ids is not None:
            ids.discard(node_id)
            if not ids:
                del self.by_uri[rec["uri"]]
        digest = rec.get("content_hash")
        if digest and self.by_hash.get(digest, ("",))[0] == node_id:
            del self.by_hash[digest]


class StoreCore:
    """The file, its tables and their indexes; the base of every TinyDB ``Store`` part."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = StoreDB(self.path)
        self._storage: AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
        self._artifacts: FastTable = self._db.table("artifacts")  # type: ignore[assignment]
        self._nodes: FastTable = self._db.table("nodes")  # type: ignore[assignment]
        self._tests: FastTable = self._db.table("tests")  # type: ignore[assignment]
        self._queue: FastTable = self._db.table("queue")  # type: ignore[assignment]
        self._registry: FastTable = self._db.table("registry")  # type: ignore[assignment]
        self._optimizer: FastTable = self._db.table("optimizer")  # type: ignore[assignment]
        self._leases: FastTable = self._db.table("leases")  # type: ignore[assignment]
        self._generation = -1
        self._ix = Indexes()
        with self._view():
            pass

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "StoreCore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator["StoreCore"]:
        """Group changes into one disk write and one cross-process lock, all or nothing.

        Use it for bulk imports: each call otherwise rewrites the whole file.
        """
        with self._storage.batch():
            yield self

    # -- consistency and indexes --------------------------------------------------------
    @contextmanager
    def _view(self) -> Iterator[Indexes]:
        with self._storage.reading():
            self._sync()
            yield self._ix

    @contextmanager
    def _change(self) -> Iterator[Indexes]:
        with self._storage.batch():
            self._sync()
            yield self._ix

    def _sync(self) -> None:
        data = self._storage.read()
        if self._storage.generation != self._generation:
            self._ix = self._build(data)
            self._generation = self._storage.generation

    @staticmethod
    def _build(data: dict[str, dict[str, Any]]) -> Indexes:
        ix = Indexes()
        for key, doc in data.get("artifacts", {}).items():
            node_id, version = doc.get("node_id"), doc.get("version")
            if node_id is None or version is None:
                continue
            ix.artifacts[doc.get("artifact_id") or f"{node_id}_v{version}"] = int(key)
            ix.versions.setdefault(node_id, {})[version] = int(key)
        for key, rec in data.get("nodes", {}).items():
            if rec.get("node_id"):
                ix.nodes[rec["node_id"]] = int(key)
                ix.add_location(rec["node_id"], rec)
        for name, table in (("tests", ix.tests), ("queue", ix.queue), ("leases", ix.leases)):
            for key, rec in data.get(name, {}).items():
                if rec.get("node_id"):
                    table[rec["node_id"]] = int(key)
        for key, rec in data.get("registry", {}).items():
            if rec.get("task_type"):
                ix.registry[rec["task_type"]] = int(key)
        for key, rec in data.get("optimizer", {}).items():
            if rec.get("key"):
                ix.optimizer[rec["key"]] = int(key)
        return ix

    def _raw(self, table: FastTable, doc_id: int) -> dict[str, Any]:
        """The stored document itself (not a copy): callers must copy before handing out."""
        return self._storage.read()[table.name][str(doc_id)]

    def _artifact(self, doc_id: int) -> Artifact:
        return Artifact.from_dict(copy.deepcopy(self._raw(self._artifacts, doc_id)))

    def _node(self, ix: Indexes, node_id: str) -> dict[str, Any] | None:
        doc_id = ix.nodes.get(node_id)
        return None if doc_id is None else self._raw(self._nodes, doc_id)

    def _put_node(self, ix: Indexes, rec: dict[str, Any]) -> None:
        doc_id = ix.nodes.get(rec["node_id"])
        if doc_id is None:
            ix.nodes[rec["node_id"]] = self._nodes.insert(rec)
        else:
            self._nodes.replace(doc_id, rec)
