"""Vector memory of stored artifacts: a FAISS index kept next to the store.

The store is the source of truth; this index is a cache of one vector per artifact
version (the request text it answered, see ``dise.store.embedder``), so it can always be
repaired from the store:

* ``VectorIndex.sync(store)`` compares ids (and text hashes) with the store, embeds what is
  missing and drops what is dangling. It runs when memory is first used, so a ``kill -9``
  between the store write and the index write costs one re-embedding on the next start.
  A shared store with a change log is followed incrementally instead (``dise.store.follow``).
* On disk: a snapshot plus an append-only journal that makes each update one ~2 KB append,
  whatever the size (``dise.store.index_files``).
* Several processes (CLI, language server) may share a store: changes are made under an
  ``flock`` on ``<store>.index.lock`` and a process reloads when another one wrote.

Exact search is ``IndexIDMap2(IndexFlatIP)`` on normalised vectors (cosine similarity). It
is brute force, linear in the number of artifacts (see ``bench/retrieval.py`` for figures).
Past ``RetrievalConfig.approximate_above`` vectors the index is rebuilt once as an
``IndexIVFFlat`` (inner product, ``ivf_lists`` clusters, ``ivf_nprobe`` probed per query):
it still supports ``add_with_ids``/``remove_ids``/``reconstruct`` (hash-table direct map),
which the incremental updates need. ``IndexHNSWFlat`` would search faster at equal recall
but cannot remove vectors, so deletes would need a rebuild; prefer it only for read-mostly
stores.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dise.store.embedder import MODEL_DIM, MODEL_NAME, EmbedFn, RetrievalUnavailable, artifact_text
from dise.store.index_files import IndexFiles, journal_record, vector_b64

log = logging.getLogger(__name__)


def text_hash(text: str) -> str:
    """A short fingerprint of an embedded text (16 hex digits of its SHA-1)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise RetrievalUnavailable(
            "retrieval off: install faiss-cpu (pip install faiss-cpu) to get few-shot examples, "
            "reuse and search; everything else works without it.") from None
    return faiss


@dataclass
class IndexSettings:
    """What the index needs from ``RetrievalConfig`` (kept separate: no config import here)."""

    approximate_above: int = 200_000
    ivf_lists: int = 1024
    ivf_nprobe: int = 16
    #: FAISS OpenMP threads (process-wide); 0 leaves FAISS's default.
    threads: int = 1
    #: Texts embedded per batch while repairing the index from the store.
    sync_batch: int = 256
    #: Journal records (about 2 KB each) before they are folded into a new snapshot.
    journal_limit: int = 1000


@dataclass
class Entry:
    faiss_id: int
    node_id: str
    text_hash: str


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    total: int = 0



class VectorIndex(IndexFiles):
    """Artifact id -> unit vector, searched by cosine similarity; persisted next to the store.

    On disk: a snapshot (``.index.faiss`` + ``.index.ids.json``) and an append-only journal
    (``.index.journal``, one JSON line per add/remove, vectors in base64). A change appends
    one line (about 2 KB), so indexing a new version costs the same at 1k or 100k artifacts;
    the journal is folded into a new snapshot past ``IndexSettings.journal_limit`` records.
    The journal's header names the snapshot it extends (``epoch``): a journal left over from
    before a snapshot is ignored, a torn last line is skipped, and loading drops vectors and
    ids the two files do not agree on. Thread-safe.
    """

    def __init__(self, store_path: str | Path, embedder: EmbedFn | None, *,
                 dim: int = MODEL_DIM, model_name: str = MODEL_NAME,
                 settings: IndexSettings | None = None) -> None:
        store_path = Path(store_path)
        base = store_path.with_name(store_path.stem)
        self.faiss_path = Path(f"{base}.index.faiss")
        self.ids_path = Path(f"{base}.index.ids.json")
        self.journal_path = Path(f"{base}.index.journal")
        self.lock_path = Path(f"{base}.index.lock")
        self.embedder, self.dim, self.model_name = embedder, dim, model_name
        self.settings = settings or IndexSettings()
        self._faiss = _faiss()
        if self.settings.threads > 0:
            self._faiss.omp_set_num_threads(self.settings.threads)
        self._lock = threading.RLock()
        self._reset()
        with self._changing():  # loads; temps are only removed while no one writes
            self._remove_stale_temps()

    # -- state --------------------------------------------------------------------------
    def _reset(self) -> None:
        faiss = self._faiss
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.kind = "flat"
        self._entries: dict[str, Entry] = {}
        self._by_id: dict[int, str] = {}
        #: text hash -> a faiss id holding that text's vector (saves re-embedding).
        self._by_hash: dict[str, int] = {}
        self._next_id = 0
        #: Snapshot this state extends (None: nothing on disk yet).
        self._epoch: str | None = None
        self._ids_sig: tuple[int, int, int] | None = None
        self._journal_ino: int | None = None
        self._journal_offset = 0
        self._journal_records = 0
        self._pending: list[bytes] = []
        self._needs_snapshot = False

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._entries)

    def ids(self) -> set[str]:
        with self._lock:
            self._refresh()
            return set(self._entries)

    def entry(self, artifact_id: str) -> Entry | None:
        with self._lock:
            self._refresh()
            return self._entries.get(artifact_id)

    def latest_versions(self) -> dict[str, int]:
        """Node id -> highest indexed version: a cheap fingerprint to compare with the store."""
        with self._lock:
            self._refresh()
            latest: dict[str, int] = {}
            for aid, entry in self._entries.items():
                version = int(aid.rsplit("_v", 1)[-1]) if "_v" in aid else 0
                latest[entry.node_id] = max(latest.get(entry.node_id, 0), version)
            return latest

    def vector(self, artifact_id: str) -> np.ndarray | None:
        with self._lock:
            self._refresh()
            entry = self._entries.get(artifact_id)
            return None if entry is None else self._index.reconstruct(entry.faiss_id)

    # -- changes ------------------------------------------------------------------------
    def add(self, artifact_id: str, text: str, vector: np.ndarray | None = None, *,
            node_id: str | None = None) -> None:
        """Index one artifact version (replacing an entry with the same id); writes through."""
        node_id = node_id or artifact_id.rsplit("_v", 1)[0]
        self.add_many([(artifact_id, node_id, text)],
                      None if vector is None else np.asarray(vector, np.float32).reshape(1, -1))

    def add_many(self, items: Sequence[tuple[str, str, str]],
                 vectors: np.ndarray | None = None) -> None:
        """Index (artifact id, node id, text) items, embedding them unless ``vectors`` given."""
        with self._changing():
            self._add_many(list(items), vectors)
            self._commit()

    def remove(self, artifact_id: str) -> bool:
        with self._changing():
            found = self._remove_many([artifact_id])
            self._commit()
            return bool(found)

    def remove_node(self, node_id: str) -> int:
        """Drop every version of a node (the store deleted it); returns how many."""
        with self._changing():
            gone = self._remove_many([a for a, e in self._entries.items() if e.node_id == node_id])
            self._commit()
            return gone

    def compact(self) -> None:
        """Fold the journal into a new snapshot now."""
        with self._changing():
            self._snapshot()

    def sync(self, store: Any) -> SyncReport:
        """Make the index hold exactly the store's artifacts; embeds only what is missing."""
        wanted: dict[str, tuple[str, str]] = {}
        for rec in store.nodes():
            for artifact in store.versions(rec["node_id"]):
                wanted[artifact.artifact_id] = (artifact.node_id, artifact_text(artifact))
        with self._changing():
            stale = [aid for aid, e in self._entries.items()
                     if aid not in wanted or e.text_hash != text_hash(wanted[aid][1])]
            removed = self._remove_many(stale)
            missing = [(aid, node, text) for aid, (node, text) in wanted.items()
                       if aid not in self._entries]
            step = self.settings.sync_batch
            for start in range(0, len(missing), step):
                self._add_many(missing[start:start + step], None)
            self._commit()
            if removed or missing:
                log.info("index repaired from the store: %d added, %d removed", len(missing),
                         removed)
            return SyncReport(added=len(missing), removed=removed, total=len(self._entries))

    # -- search -------------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest artifact ids with cosine similarity, best first."""
        with self._lock:
            self._refresh()
            if not self._entries or k <= 0:
                return []
            query = np.ascontiguousarray(np.asarray(vector, np.float32).reshape(1, -1))
            scores, ids = self._index.search(query, min(k, len(self._entries)))
            return [(self._by_id[int(i)], float(s)) for s, i in zip(scores[0], ids[0])
                    if int(i) in self._by_id]

    # -- in-memory changes (each queues its journal record) -----------------------------
    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """In-process lock + cross-process flock, with the newest on-disk state loaded."""
        with self._lock:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._refresh()
                yield
            finally:
                self._pending.clear()  # a change that raised must not be half-logged
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _add_many(self, items: Sequence[tuple[str, str, str]], vectors: np.ndarray | None) -> None:
        if not items:
            return
        self._remove_many([aid for aid, _, _ in items if aid in self._entries])
        hashes = [text_hash(text) for _, _, text in items]
        if vectors is None:
            vectors = self._vectors_for([text for _, _, text in items], hashes)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.arange(self._next_id, self._next_id + len(items), dtype=np.int64)
        self._index.add_with_ids(vectors, ids)
        for (aid, node, _), digest, fid, vec in zip(items, hashes, ids, vectors):
            self._register(aid, int(fid), node, digest)
            self._pending.append(journal_record({"op": "add", "id": aid, "fid": int(fid),
                                                 "node": node, "hash": digest,
                                                 "vec": vector_b64(vec)}))
        self._maybe_go_approximate()

    def _vectors_for(self, texts: list[str], hashes: list[str]) -> np.ndarray:
        """Embed ``texts``, reusing the stored vector of any text already indexed."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = []
        for i, digest in enumerate(hashes):
            fid = self._by_hash.get(digest)
            if fid is not None and fid in self._by_id:
                out[i] = self._index.reconstruct(fid)
            else:
                todo.append(i)
        if todo:
            if self.embedder is None:
                raise ValueError("this index has no embedder: pass the vectors")
            out[todo] = self.embedder.embed([texts[i] for i in todo])
        return out

    def _register(self, aid: str, fid: int, node: str, digest: str) -> None:
        self._entries[aid] = Entry(fid, node, digest)
        self._by_id[fid] = aid
        self._by_hash.setdefault(digest, fid)
        self._next_id = max(self._next_id, fid + 1)

    def _remove_many(self, artifact_ids: Iterable[str]) -> int:
        entries = [(a, self._entries.pop(a)) for a in list(artifact_ids) if a in self._entries]
        if entries:
            self._index.remove_ids(np.array([e.faiss_id for _, e in entries], dtype=np.int64))
            for _, e in entries:
                self._by_id.pop(e.faiss_id, None)
                if self._by_hash.get(e.text_hash) == e.faiss_id:
                    del self._by_hash[e.text_hash]
            self._pending.append(journal_record({"op": "del", "ids": [a for a, _ in entries]}))
        return len(entries)

    def _maybe_go_approximate(self) -> None:
        """Rebuild as IVF once the store outgrows brute force (see the module docstring)."""
        faiss, cfg = self._faiss, self.settings
        n = len(self._entries)
        if self.kind != "flat" or cfg.approximate_above <= 0 or n <= cfg.approximate_above:
            return
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        vectors = self._index.index.reconstruct_n(0, self._index.ntotal)
        self._index = build_ivf(faiss, vectors, ids, cfg.ivf_lists, cfg.ivf_nprobe)
        self.kind = "ivf"
        self._needs_snapshot = True
        log.info("index switched to IVF (%d lists, nprobe %d) at %d vectors", cfg.ivf_lists,
                 cfg.ivf_nprobe, n)

    def _index_ids(self) -> set[int]:
        faiss = self._faiss
        if self.kind == "flat":
            return set(faiss.vector_to_array(self._index.id_map).tolist())
        lists = self._index.invlists
        found: set[int] = set()
        for n in range(self._index.nlist):
            size = lists.list_size(n)
            if size:
                found.update(faiss.rev_swig_ptr(lists.get_ids(n), size).tolist())
        return found


def build_ivf(faiss: Any, vectors: np.ndarray, ids: np.ndarray, lists: int, nprobe: int) -> Any:
    """An inner-product IVF index over ``vectors`` that supports removal and reconstruction."""
    lists = max(1, min(lists, len(vectors) // 39 or 1))  # faiss wants ~39 points per list
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], lists,
                               faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.add_with_ids(vectors, ids)
    index.nprobe = nprobe
    return index
