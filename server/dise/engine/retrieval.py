"""Retrieval memory: what DiSE already verified, used for few-shot context, reuse and search.

Every stored artifact version is remembered by the request it answered, embedded with
all-MiniLM-L6-v2 (``dise.store.embedder``) into the FAISS index next to the store
(``dise.store.index``). From it:

* ``examples``: the closest *passing* artifacts as (request, code) few-shot pairs, within
  an approximate token budget (characters / ``chars_per_token``);
* ``reuse_match``: a request nearly identical (cosine >= ``reuse_threshold``) to one already
  answered with a passing artifact; the node's best passing version is offered, and the
  caller re-tests it against the new request's own tests before answering with it;
* ``search``: similar stored functions, one line per node, for ``dise search`` and
  ``dise.findSimilar``;
* ``classify_by_prototypes``: task type by nearest labelled prototypes in the same space
  (the keyword sentinel stays the default; see ``bench/retrieval.py`` for the comparison).

When the model or a library is missing, ``Memory`` logs one line saying what to install and
every method answers "nothing found": DiSE keeps working without retrieval.

The prototype classifier lives in ``dise.engine.prototypes``; what rules a reuse out
(``contradiction``) and the offer itself (``ReuseMatch``) in ``dise.engine.reuse``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from dise.engine.prototypes import SEED_PROTOTYPES, PrototypeClassifier, load_prototypes
from dise.engine.reuse import ReuseMatch, contradiction
from dise.engine.types import Artifact
from dise.store.follow import ChangeFollower, has_change_log
from dise.store.embedder import Embedder, RetrievalUnavailable, artifact_text, request_key
from dise.store.index import IndexSettings, VectorIndex

log = logging.getLogger(__name__)


from dise.config import RetrievalConfig  # noqa: E402  (kept importable from here)


def retrieval_config(cfg: Any) -> RetrievalConfig:
    """``cfg.retrieval``, or the defaults for a config object without it."""
    return getattr(cfg, "retrieval", None) or RetrievalConfig()


class Memory:
    """Retrieval over one store; thread-safe, loads the model on first use (or ``warm_up``)."""

    def __init__(self, cfg: Any, store: Any, *, embedder: Embedder | None = None) -> None:
        self.rcfg = retrieval_config(cfg)
        self.store = store
        self.embedder = embedder or Embedder(self.rcfg.model_path or None,
                                             batch_size=self.rcfg.embed_batch,
                                             threads=self.rcfg.embed_threads)
        self._index: VectorIndex | None = None
        self._prototypes: PrototypeClassifier | None = None
        self._lock = threading.RLock()
        self._reason = "" if self.rcfg.enabled else "retrieval off: disabled in the config."
        self._warmer: threading.Thread | None = None
        #: The store file as of our last look: a change we did not make means another
        #: process (or a crash) may have left the index behind.
        self._store_seen: tuple[int, int, int] | None = None
        #: A shared store's change log, followed incrementally (dise.store.follow).
        self._follower: ChangeFollower | None = None

    # -- readiness ----------------------------------------------------------------------
    @property
    def reason(self) -> str:
        """Why retrieval is off ("" while it is on or not tried yet)."""
        return self._reason

    def ready(self) -> bool:
        """Load the model and the index (once); False, with ``reason`` set, if it cannot."""
        if self._index is not None:
            return True
        with self._lock:
            if self._index is not None:
                return True
            if self._reason:
                return False
            try:
                self.embedder.load()
                index = VectorIndex(self.store.path, self.embedder, dim=self.embedder.dim,
                                    model_name=self.embedder.name,
                                    settings=IndexSettings(self.rcfg.approximate_above,
                                                           self.rcfg.ivf_lists,
                                                           self.rcfg.ivf_nprobe,
                                                           threads=self.rcfg.search_threads))
                self._follower = ChangeFollower(index, self.store) \
                    if has_change_log(self.store) else None
                (self._follower.catch_up if self._follower else lambda: index.sync(self.store))()
                self._store_seen = self._store_signature()
            except OSError as exc:
                self._reason = (f"retrieval off: cannot use the index next to {self.store.path} "
                                f"({exc.strerror or exc}); check permissions and free space.")
                log.info("%s", self._reason)
                return False
            except RetrievalUnavailable as exc:
                # Said once to the user by the caller (CLI line, LSP message, progress);
                # logged at info so a terminal does not show it twice.
                self._reason = str(exc)
                log.info("%s", exc)
                return False
            self._index = index
            return True

    @property
    def loaded(self) -> bool:
        """Whether the embedding model and index are in memory (recall then costs ms)."""
        return self._index is not None

    def warm_up(self) -> threading.Thread:
        """Load in a background thread (the language server calls this at start)."""
        with self._lock:
            if self._warmer is None:
                self._warmer = threading.Thread(target=self.ready, name="dise-memory-warmup",
                                                daemon=True)
                self._warmer.start()
            return self._warmer

    def _store_signature(self) -> tuple[int, int, int] | None:
        try:
            st = Path(self.store.path).stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _current(self) -> VectorIndex | None:
        """The index, repaired first if the store changed behind it (another process).

        Cheap checks on every call: the artifact count, then (only when the store file
        changed since we last looked) each node's latest version. A full ``sync`` runs only
        when they disagree; what they cannot see is repaired by the sync at the next start.
        A shared store with a change log is followed instead: one query, then only what
        others added or removed is applied (``dise.store.follow``).
        """
        if not self.ready():
            return None
        index = self._index
        assert index is not None
        if self._follower is not None:
            with self._lock:
                self._follower.catch_up()
            return index
        with self._lock:
            seen = self._store_signature()
            stale = len(index) != self.store.count()
            if not stale and seen != self._store_seen:
                latest = {r["node_id"]: r.get("latest_version", 0) for r in self.store.nodes()}
                stale = latest != index.latest_versions()
            if stale:
                index.sync(self.store)
            self._store_seen = seen
        return index

    # -- the three uses -----------------------------------------------------------------
    def _hits(self, text: str, wanted: int) -> list[tuple[Artifact, float]]:
        """Nearest artifacts (all versions, best first) to ``text``."""
        index = self._current()
        if index is None or not text.strip():
            return []
        vector = self.embedder.embed([request_key(text)])[0]
        found = []
        for aid, score in index.search(vector, wanted * self.rcfg.search_oversample):
            artifact = self.store.get(aid)
            if artifact is not None:
                found.append((artifact, score))
        return found

    def search(self, query: str, k: int | None = None) -> list[tuple[Artifact, float]]:
        """Similar stored functions, one per node (its latest version), best match first."""
        k = k or self.rcfg.search_k
        seen: set[str] = set()
        out: list[tuple[Artifact, float]] = []
        for artifact, score in self._hits(query, k):
            if score < self.rcfg.search_min_score:
                break
            if artifact.node_id in seen:
                continue
            seen.add(artifact.node_id)
            latest = self.store.latest(artifact.node_id) or artifact
            out.append((latest, score))
            if len(out) == k:
                break
        return out

    def examples(self, request_text: str, k: int | None = None,
                 max_tokens: int | None = None) -> list[tuple[str, str]]:
        """Few-shot (request, code) pairs: closest passing artifacts within a token budget."""
        k = self.rcfg.few_shot_k if k is None else k
        budget = (self.rcfg.few_shot_max_tokens if max_tokens is None else max_tokens) \
            * self.rcfg.chars_per_token
        if k <= 0 or budget <= 0:
            return []
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for artifact, score in self._hits(request_text, k):
            if score < self.rcfg.few_shot_min_score:
                break
            if artifact.node_id in seen or not artifact.test_passed:
                continue
            seen.add(artifact.node_id)
            best = self._best_passing(artifact.node_id) or artifact
            size = len(best.prompt) + len(best.code)
            if size > budget:
                continue
            budget -= size
            out.append((best.prompt, best.code))
            if len(out) == k:
                break
        return out

    def reuse_match(self, request_text: str, threshold: float | None = None) -> ReuseMatch | None:
        """A stored passing artifact for a near-identical request, or None."""
        threshold = self.rcfg.reuse_threshold if threshold is None else threshold
        for artifact, score in self._hits(request_text, 1):
            if score < threshold:
                break
            why_not = contradiction(request_text, artifact.prompt)
            if why_not:
                log.info("not reusing %s (similarity %.2f): %s", artifact.artifact_id, score,
                         why_not)
                continue
            best = self._best_passing(artifact.node_id)
            if best is not None and best.fitness_score >= self.rcfg.reuse_min_fitness:
                return ReuseMatch(best, score, artifact.artifact_id)
        return None

    def reuse_candidate(self, request_text: str, threshold: float | None = None) -> Artifact | None:
        match = self.reuse_match(request_text, threshold)
        return None if match is None else match.artifact

    def _best_passing(self, node_id: str) -> Artifact | None:
        """The node's passing version with the best fitness (the latest on ties)."""
        passing = [a for a in self.store.versions(node_id) if a.test_passed]
        return max(passing, key=lambda a: (a.fitness_score, a.version), default=None)

    # -- keeping the index current ------------------------------------------------------
    def on_saved(self, artifact: Artifact) -> None:
        """Index a newly stored version (call right after ``store.save``); never raises for
        the index: a version it misses is added by the next sync."""
        if self.ready():
            assert self._index is not None
            with self._lock:
                try:
                    self._index.add(artifact.artifact_id, artifact_text(artifact),
                                    node_id=artifact.node_id)
                except OSError as exc:
                    log.warning("could not index %s (%s); the next start repairs it",
                                artifact.artifact_id, exc)
                self._store_seen = self._store_signature()

    def on_deleted(self, node_id: str) -> None:
        """Forget every version of a node the store deleted."""
        if self.ready():
            assert self._index is not None
            with self._lock:
                try:
                    self._index.remove_node(node_id)
                except OSError as exc:
                    log.warning("could not unindex %s (%s); the next start repairs it",
                                node_id, exc)
                self._store_seen = self._store_signature()

    # -- sentinel by prototypes ---------------------------------------------------------
    def prototypes(self) -> PrototypeClassifier | None:
        if not self.ready():
            return None
        with self._lock:
            if self._prototypes is None:
                labelled = list(SEED_PROTOTYPES)
                if self.rcfg.prototypes_file:
                    labelled += load_prototypes(self.rcfg.prototypes_file)
                self._prototypes = PrototypeClassifier(self.embedder, labelled,
                                                       self.rcfg.prototype_k)
            return self._prototypes

    def classify_by_prototypes(self, text: str) -> tuple[str, float]:
        """(task type, vote share) from the nearest labelled prototypes; ("other", 0) if off."""
        classifier = self.prototypes()
        if classifier is None or not text.strip():
            return "other", 0.0
        return classifier.classify(text)
