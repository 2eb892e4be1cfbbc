"""The artifact store: versions with lineage, nodes, frozen tests, the optimisation queue,
the best-generator registry and the node <-> file mapping the language server needs.

One TinyDB file (``AtomicJSONStorage``) with six tables: ``artifacts`` (one document per
version, never edited), ``nodes`` (one record per function: latest version, timestamps,
usage, file location), ``tests`` (frozen per node), ``queue``, ``registry`` and ``optimizer``
(Phase 2's resumable per-node state and its global records).

Lookups must answer in milliseconds with 10,000 artifacts (LSP hover), so every key
(artifact id, node id, uri, content hash) has an in-memory index of TinyDB doc ids. The
indexes are updated with each change and rebuilt whenever the storage reloads the file
(another process wrote it). Every method is thread-safe: reads run in the storage's
``reading()`` view, changes in one ``batch()`` so each call is one atomic disk write.
"""

from __future__ import annotations

import bisect
import copy
import keyword
import re
import unicodedata
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dise.errors import DiseError
from dise.store.common import (DEFAULT_LEASE_S, add_registry_trial, add_registry_win, holder_id,
                               lease_free, stamp)
from dise.store.storage import AtomicJSONStorage, FastTable, StoreDB
from dise.types import Artifact, TestCase

#: Queue priorities, most urgent first.
PRIORITIES: tuple[str, ...] = ("high", "normal", "low")
_RANK = {p: i for i, p in enumerate(PRIORITIES)}


class NodeNotFoundError(DiseError):
    """An operation named a function that is not in the store."""


def slugify(name: str) -> str:
    """The node id for a function name: the name itself, as Python reads it.

    A Python identifier keeps every character it may hold (PEP 3131: ``größe``,
    ``minSubArraySum``), normalised to NFKC as the interpreter does, so two different
    names never share an id and ``dise status größe`` finds ``größe``. Anything else (free
    text) becomes ``Is Valid-Email`` -> ``is_valid_email``: lowercase, runs of other
    characters turn into ``_``, and a leading digit gets ``f_``.
    """
    name = unicodedata.normalize("NFKC", name.strip())
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    slug = re.sub(r"_+", "_", re.sub(r"\W+", "_", name)).strip("_").lower()
    if not slug:
        return "function"
    return f"f_{slug}" if not slug.isidentifier() or keyword.iskeyword(slug) else slug


def legacy_slug(name: str) -> str:
    """The id stores written before Unicode ids gave a name (``größe`` -> ``gr_e``)."""
    slug = re.sub(r"[^0-9a-zA-Z_]+", "_", name.strip()).strip("_").lower()
    slug = re.sub(r"_+", "_", slug)
    if not slug:
        return "function"
    return f"f_{slug}" if slug[0].isdigit() else slug


def pick_node(text: str, named: list[str], ids: Collection[str]) -> str | None:
    """The node id ``text`` names, by the rules of ``Store.resolve``: ``named`` are the ids
    (sorted) of nodes with versions whose function name is ``text`` (NFKC), ``ids`` every
    node id with versions. None when nothing matches; ``NodeNotFoundError`` when the name
    is ambiguous."""
    name = unicodedata.normalize("NFKC", text)
    for candidate in (text, name):
        if candidate in named or (candidate in ids and not named):
            return candidate
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise NodeNotFoundError(
            f"{text!r} names {len(named)} stored functions: {', '.join(named[:8])}; "
            "give one of these node ids.")
    if legacy_slug(name) in ids:
        return legacy_slug(name)
    folded = [n for n in ids if n.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


@dataclass
class _Indexes:
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


class Store:
    """Versioned artifacts and everything keyed by node, in one TinyDB file."""

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
        self._ix = _Indexes()
        with self._view():
            pass

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator["Store"]:
        """Group changes into one disk write and one cross-process lock, all or nothing.

        Use it for bulk imports: each call otherwise rewrites the whole file.
        """
        with self._storage.batch():
            yield self

    # -- consistency and indexes --------------------------------------------------------
    @contextmanager
    def _view(self) -> Iterator[_Indexes]:
        with self._storage.reading():
            self._sync()
            yield self._ix

    @contextmanager
    def _change(self) -> Iterator[_Indexes]:
        with self._storage.batch():
            self._sync()
            yield self._ix

    def _sync(self) -> None:
        data = self._storage.read()
        if self._storage.generation != self._generation:
            self._ix = self._build(data)
            self._generation = self._storage.generation

    @staticmethod
    def _build(data: dict[str, dict[str, Any]]) -> _Indexes:
        ix = _Indexes()
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

    def _node(self, ix: _Indexes, node_id: str) -> dict[str, Any] | None:
        doc_id = ix.nodes.get(node_id)
        return None if doc_id is None else self._raw(self._nodes, doc_id)

    def _put_node(self, ix: _Indexes, rec: dict[str, Any]) -> None:
        doc_id = ix.nodes.get(rec["node_id"])
        if doc_id is None:
            ix.nodes[rec["node_id"]] = self._nodes.insert(rec)
        else:
            self._nodes.replace(doc_id, rec)

    # -- nodes and versions -------------------------------------------------------------
    def allocate_node_id(self, base: str) -> str:
        """A fresh node id from a function name (``is_valid_email``, then ``_2``, ...).

        The id is reserved at once (an empty node record), so concurrent callers never
        get the same one.
        """
        slug = slugify(base)
        with self._change() as ix:
            node_id, n = slug, 1
            while node_id in ix.nodes:
                n += 1
                node_id = f"{slug}_{n}"
            now = time.time()
            self._put_node(ix, {"node_id": node_id, "function_name": base, "task_type": "",
                                "latest_version": 0, "fitness": None, "created": now,
                                "updated": now, "usage": 0, "uri": None,
                                "content_hash": None})
        return node_id

    def next_version(self, node_id: str) -> int:
        with self._view() as ix:
            return max(ix.versions.get(node_id, {0: 0})) + 1

    def save(self, artifact: Artifact) -> Artifact:
        """Store a new version and update its node record; ValueError if it exists. The
        artifact's ``extra`` gets ``made_by`` (user@host) and ``dise_version`` if unset."""
        stamp(artifact.extra)
        doc = artifact.to_dict()
        with self._change() as ix:
            if artifact.artifact_id in ix.artifacts:
                raise ValueError(f"{artifact.artifact_id} is already stored and versions are "
                                 "never edited: save it as version "
                                 f"{max(ix.versions[artifact.node_id]) + 1} instead.")
            doc_id = self._artifacts.insert(doc)
            ix.artifacts[artifact.artifact_id] = doc_id
            ix.versions.setdefault(artifact.node_id, {})[artifact.version] = doc_id
            now = time.time()
            rec = dict(self._node(ix, artifact.node_id) or {
                "node_id": artifact.node_id, "latest_version": 0, "created": now, "usage": 0,
                "uri": None, "content_hash": None})
            if artifact.version >= rec.get("latest_version", 0):
                rec.update(latest_version=artifact.version, fitness=artifact.fitness_score,
                           function_name=artifact.function_name, task_type=artifact.task_type)
            rec["updated"] = now
            self._put_node(ix, rec)
            ix.sorted_ids = None
        return artifact

    def record_use(self, node_id: str) -> int:
        """Count one more use of a function (hover, reuse); returns the new count."""
        with self._change() as ix:
            rec = self._node(ix, node_id)
            if rec is None:
                raise self._not_found(ix, node_id)
            rec = {**rec, "usage": rec.get("usage", 0) + 1}
            self._put_node(ix, rec)
            return rec["usage"]

    def get(self, artifact_id: str) -> Artifact | None:
        with self._view() as ix:
            doc_id = ix.artifacts.get(artifact_id)
            return None if doc_id is None else self._artifact(doc_id)

    def latest(self, node_id: str) -> Artifact | None:
        with self._view() as ix:
            versions = ix.versions.get(node_id)
            return self._artifact(versions[max(versions)]) if versions else None

    def versions(self, node_id: str) -> list[Artifact]:
        """Every version of a node, oldest first."""
        with self._view() as ix:
            versions = ix.versions.get(node_id, {})
            return [self._artifact(versions[v]) for v in sorted(versions)]

    def nodes(self) -> list[dict[str, Any]]:
        """Records of functions with at least one version, newest first."""
        with self._view() as ix:
            recs = [dict(self._raw(self._nodes, d)) for n, d in ix.nodes.items()
                    if n in ix.versions]
        return sorted(recs, key=lambda r: (r.get("created", 0.0), r["node_id"]), reverse=True)

    def node(self, node_id: str) -> dict[str, Any] | None:
        """One node record (a copy), or None."""
        with self._view() as ix:
            rec = self._node(ix, node_id)
            return None if rec is None else dict(rec)

    def find_by_prefix(self, text: str) -> list[str]:
        """Node ids starting with ``text`` (case-insensitive), sorted: for completion."""
        prefix = unicodedata.normalize("NFKC", text.strip()).casefold()
        with self._view() as ix:
            ids = self._sorted_ids(ix)
            start = bisect.bisect_left(ids, prefix, key=str.casefold)
            end = start
            while end < len(ids) and ids[end].casefold().startswith(prefix):
                end += 1
            return ids[start:end]

    def resolve(self, text: str, purpose: str = "") -> str:
        """The node id that ``text`` names: a node id, or a function's name.

        Why: users type what they wrote (``dise status minSubArraySum``) and stores made
        before ids kept a name's case and letters hold ``minsubarraysum``. Tried in order:
        a function of that name (the node whose id is the name, else its only node), the
        id itself, the id an older DiSE gave that name, then an id equal ignoring case.
        A name wins over an id: ``f_2`` is the function named ``f_2``, not the second
        ``f``. Raises ``NodeNotFoundError`` with suggestions (``purpose``, e.g. " to
        optimise", follows the name in its message).
        """
        text = text.strip()
        name = unicodedata.normalize("NFKC", text)
        with self._view() as ix:
            named = sorted(n for n, doc in ix.nodes.items() if n in ix.versions and
                           unicodedata.normalize("NFKC", self._raw(self._nodes, doc).get(
                               "function_name") or "") == name)
            found = pick_node(text, named, ix.versions)
            if found is not None:
                return found
            raise self._not_found(ix, text, purpose)

    def count(self) -> int:
        """Number of stored artifacts (versions, all nodes together)."""
        with self._view() as ix:
            return len(ix.artifacts)

    def delete_node(self, node_id: str) -> bool:
        """Remove a node with its versions, queue entry and frozen tests; False if unknown."""
        with self._change() as ix:
            known = node_id in ix.nodes or node_id in ix.versions or node_id in ix.tests \
                or node_id in ix.queue
            versions = ix.versions.pop(node_id, {})
            if versions:
                self._artifacts.remove(doc_ids=list(versions.values()))
                for version in versions:
                    ix.artifacts.pop(f"{node_id}_v{version}", None)
            rec = self._node(ix, node_id)
            if rec is not None:
                ix.drop_location(node_id, rec)
                self._nodes.remove(doc_ids=[ix.nodes.pop(node_id)])
            for table, index in ((self._tests, ix.tests), (self._queue, ix.queue),
                                 (self._optimizer, ix.optimizer), (self._leases, ix.leases)):
                if node_id in index:
                    table.remove(doc_ids=[index.pop(node_id)])
            ix.sorted_ids = ix.queue_order = None
        return known

    # -- frozen tests ---------------------------------------------------------------------
    def freeze_tests(self, node_id: str, tests: list[TestCase],
                     witnesses: list[str] | None = None) -> bool:
        """Freeze the tests that judge every candidate of a node; only the first call wins.

        ``witnesses`` are ids of the candidates whose verdicts already count in the model
        tests' credibility. Returns True when these tests were frozen, False when tests
        already were.
        """
        with self._change() as ix:
            if node_id in ix.tests:
                return False
            ix.tests[node_id] = self._tests.insert({
                "node_id": node_id, "tests": [t.to_dict() for t in tests],
                "witnesses": list(witnesses or []), "frozen": time.time()})
            return True

    def frozen_tests(self, node_id: str) -> list[TestCase] | None:
        with self._view() as ix:
            doc_id = ix.tests.get(node_id)
            if doc_id is None:
                return None
            return [TestCase.from_dict(copy.deepcopy(t))
                    for t in self._raw(self._tests, doc_id)["tests"]]

    def test_witnesses(self, node_id: str) -> list[str]:
        """Ids of the candidates that already voted on the node's model tests."""
        with self._view() as ix:
            doc_id = ix.tests.get(node_id)
            return [] if doc_id is None else list(
                self._raw(self._tests, doc_id).get("witnesses") or [])

    def update_test_credibility(self, node_id: str, tests: list[TestCase],
                                witness: str) -> bool:
        """Store new credibility and votes for a node's frozen tests after ``witness`` voted.

        The tests themselves stay frozen: ``tests`` must be the frozen ones (same code, same
        order); only ``credibility``/``agree``/``disagree`` change. Returns False (and
        changes nothing) when the witness already voted or the tests differ."""
        with self._change() as ix:
            doc_id = ix.tests.get(node_id)
            if doc_id is None:
                return False
            doc = self._raw(self._tests, doc_id)
            witnesses = list(doc.get("witnesses") or [])
            frozen = doc["tests"]
            if witness in witnesses or len(frozen) != len(tests) or any(
                    f["code"] != t.code or f["kind"] != t.kind for f, t in zip(frozen, tests)):
                return False
            updated = []
            for old, new in zip(frozen, tests):
                rec = copy.deepcopy(old)
                rec.update(credibility=new.credibility, agree=new.agree, disagree=new.disagree)
                updated.append(rec)
            self._tests.replace(doc_id, {**copy.deepcopy(doc), "tests": updated,
                                         "witnesses": witnesses + [witness]})
            return True

    # -- optimisation queue ---------------------------------------------------------------
    def enqueue(self, node_id: str, priority: str, reason: str) -> None:
        """Queue a node for Phase 2; again keeps the higher priority and the new reason."""
        if priority not in _RANK:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, "
                             f"not {priority!r}")
        with self._change() as ix:
            now = time.time()
            doc_id = ix.queue.get(node_id)
            if doc_id is None:
                ix.queue[node_id] = self._queue.insert({
                    "node_id": node_id, "priority": priority, "reason": reason,
                    "enqueued": now, "updated": now})
            else:
                rec = dict(self._raw(self._queue, doc_id))
                if _RANK[priority] < _RANK.get(rec.get("priority", "low"), len(PRIORITIES)):
                    rec["priority"] = priority
                rec.update(reason=reason, updated=now)
                self._queue.replace(doc_id, rec)
            ix.queue_order = None

    def _queue_order(self, ix: _Indexes) -> list[str]:
        if ix.queue_order is None:
            def key(item: tuple[str, int]) -> tuple[int, float, int]:
                rec = self._raw(self._queue, item[1])
                return (_RANK.get(rec.get("priority"), len(PRIORITIES)),
                        rec.get("enqueued", 0.0), item[1])
            ix.queue_order = [node for node, _ in sorted(ix.queue.items(), key=key)]
        return ix.queue_order

    def queue(self) -> list[dict[str, Any]]:
        """Queue entries, most urgent first, then oldest first."""
        with self._view() as ix:
            return [dict(self._raw(self._queue, ix.queue[n])) for n in self._queue_order(ix)]

    def queue_position(self, node_id: str) -> int | None:
        """1-based place in the queue, None when not queued."""
        with self._view() as ix:
            if node_id not in ix.queue:
                return None
            return self._queue_order(ix).index(node_id) + 1

    def dequeue(self, node_id: str) -> bool:
        with self._change() as ix:
            doc_id = ix.queue.pop(node_id, None)
            if doc_id is None:
                return False
            self._queue.remove(doc_ids=[doc_id])
            ix.queue_order = None
            return True

    # -- leases: one optimiser per node, across processes ---------------------------------
    def claim(self, node_id: str, holder: str | None = None,
              ttl_s: float = DEFAULT_LEASE_S) -> bool:
        """Take (or renew) the lease on a node for ``ttl_s`` seconds; False while another
        holder's lease is live. ``holder`` defaults to this process (``user@host:pid``)."""
        holder = holder or holder_id()
        with self._change() as ix:
            return self._claim(ix, node_id, holder, ttl_s)

    def _claim(self, ix: _Indexes, node_id: str, holder: str, ttl_s: float) -> bool:
        now = time.time()
        doc_id = ix.leases.get(node_id)
        lease = None if doc_id is None else self._raw(self._leases, doc_id)
        if not lease_free(lease, holder, now):
            return False
        rec = {"node_id": node_id, "holder": holder, "until": now + ttl_s}
        if doc_id is None:
            ix.leases[node_id] = self._leases.insert(rec)
        else:
            self._leases.replace(doc_id, rec)
        return True

    def claim_next(self, holder: str | None = None, ttl_s: float = DEFAULT_LEASE_S,
                   skip: tuple[str, ...] | list[str] | set[str] = ()) -> dict[str, Any] | None:
        """Lease the most urgent queued node that nobody else holds (not in ``skip``) and
        return its queue entry; None when there is none."""
        holder = holder or holder_id()
        with self._change() as ix:
            for node_id in self._queue_order(ix):
                if node_id not in skip and self._claim(ix, node_id, holder, ttl_s):
                    return dict(self._raw(self._queue, ix.queue[node_id]))
        return None

    def release(self, node_id: str, holder: str | None = None) -> bool:
        """Give a node's lease back (only its holder can); True if it was held."""
        holder = holder or holder_id()
        with self._change() as ix:
            doc_id = ix.leases.get(node_id)
            if doc_id is None or self._raw(self._leases, doc_id).get("holder") != holder:
                return False
            self._leases.remove(doc_ids=[ix.leases.pop(node_id)])
            return True

    def lease(self, node_id: str) -> dict[str, Any] | None:
        """The live lease on a node (``{"node_id", "holder", "until"}``), or None."""
        with self._view() as ix:
            doc_id = ix.leases.get(node_id)
            lease = None if doc_id is None else dict(self._raw(self._leases, doc_id))
        return lease if lease is not None and lease["until"] > time.time() else None

    def changes_since(self, cursor: int) -> None:
        """No change log here (one local file): callers compare with the store instead."""
        return None

    # -- bulk copy (``dise store migrate``) ------------------------------------------------
    TABLES: tuple[str, ...] = ("artifacts", "nodes", "tests", "queue", "registry", "optimizer")

    def export_tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every table (copies; leases are not copied: they are per run)."""
        with self._view():
            data = self._storage.read()
            return {name: copy.deepcopy(list(data.get(name, {}).values()))
                    for name in self.TABLES}

    def import_tables(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        """Add ``export_tables()`` output to this store, all or nothing."""
        with self._change():
            for name in self.TABLES:
                table = self._db.table(name)
                for doc in tables.get(name, []):
                    table.insert(copy.deepcopy(doc))
            self._ix = self._build(self._storage.read())

    # -- best-generator registry ----------------------------------------------------------
    def best_generator(self, task_type: str) -> dict[str, Any] | None:
        """``{"generator", "temperature", "fitness", "approach", "updated", ...}`` or None."""
        with self._view() as ix:
            doc_id = ix.registry.get(task_type)
            return None if doc_id is None else copy.deepcopy(self._raw(self._registry, doc_id))

    def set_best_generator(self, task_type: str, generator: str, fitness: float,
                           **details: Any) -> None:
        """Record the winner for a task type (Phase 2 decides; this just stores it). The
        tally of wins (``record_registry_win``) is kept."""
        rec = {"task_type": task_type, "generator": generator, "fitness": float(fitness),
               "temperature": details.pop("temperature", None),
               "approach": details.pop("approach", None), **details, "updated": time.time()}
        with self._change() as ix:
            doc_id = ix.registry.get(task_type)
            if doc_id is None:
                ix.registry[task_type] = self._registry.insert(rec)
            else:
                old = self._raw(self._registry, doc_id)
                rec["wins"] = old.get("wins", {})
                rec["trials"] = old.get("trials", {})
                self._registry.replace(doc_id, rec)

    def record_registry_win(self, task_type: str, setup: str, node_id: str) -> int:
        """Count a win of ``setup`` (a key like ``qwen-0.5b@0.3/plain``) on ``node_id`` for
        ``task_type``; returns the distinct functions it has won on so far. The active
        choice (``best_generator``) is unchanged: Phase 2 decides when to promote."""
        with self._change() as ix:
            doc_id = ix.registry.get(task_type)
            old = None if doc_id is None else copy.deepcopy(self._raw(self._registry, doc_id))
            rec, won = add_registry_win(old, task_type, setup, node_id)
            if doc_id is None:
                ix.registry[task_type] = self._registry.insert(rec)
            else:
                self._registry.replace(doc_id, rec)
            return won

    def record_registry_trial(self, task_type: str, setup: str, node_id: str, result: str,
                              reason: str = "") -> None:
        """Count one Phase 2 attempt of ``setup`` on ``node_id`` for ``task_type``:
        ``result`` "gain" or "no_gain" (the functions are listed once each), or "error"
        (counted, with the last ``reason``). Kept beside the wins as ``trials``; see
        ``dise.optimize.failures``."""
        with self._change() as ix:
            doc_id = ix.registry.get(task_type)
            old = None if doc_id is None else copy.deepcopy(self._raw(self._registry, doc_id))
            rec = add_registry_trial(old, task_type, setup, node_id, result, reason)
            if doc_id is None:
                ix.registry[task_type] = self._registry.insert(rec)
            else:
                self._registry.replace(doc_id, rec)

    def registry_records(self) -> list[dict[str, Any]]:
        """Every task type's registry record (copies)."""
        with self._view() as ix:
            return [copy.deepcopy(self._raw(self._registry, d)) for d in ix.registry.values()]

    # -- optimiser state (Phase 2) ----------------------------------------------------------
    def optimizer_state(self, key: str) -> dict[str, Any] | None:
        """The persisted Phase 2 record under ``key`` (a node id, or a ``__name__`` global), a
        copy; None when there is none."""
        with self._view() as ix:
            doc_id = ix.optimizer.get(key)
            return None if doc_id is None else copy.deepcopy(self._raw(self._optimizer, doc_id))

    def set_optimizer_state(self, key: str, state: dict[str, Any]) -> None:
        """Replace the Phase 2 record under ``key`` (one atomic write, or part of a batch)."""
        rec = {**copy.deepcopy(state), "key": key, "saved": time.time()}
        with self._change() as ix:
            doc_id = ix.optimizer.get(key)
            if doc_id is None:
                ix.optimizer[key] = self._optimizer.insert(rec)
            else:
                self._optimizer.replace(doc_id, rec)

    def optimizer_states(self) -> list[dict[str, Any]]:
        """Every Phase 2 record (copies), by key."""
        with self._view() as ix:
            return [copy.deepcopy(self._raw(self._optimizer, ix.optimizer[k]))
                    for k in sorted(ix.optimizer)]

    def clear_optimizer_state(self, key: str) -> bool:
        with self._change() as ix:
            doc_id = ix.optimizer.pop(key, None)
            if doc_id is None:
                return False
            self._optimizer.remove(doc_ids=[doc_id])
            return True

    # -- node <-> file mapping (language server) ------------------------------------------
    def set_location(self, node_id: str, uri: str, content_hash: str,
                     version: int | None = None, qualname: str | None = None) -> None:
        """Remember where a node's code lives, the hash of that code and (when given) which
        version it is, kept as ``placed_version`` on the node record, and its qualified name
        in the file (``Validator.validate``), kept as ``qualname``."""
        with self._change() as ix:
            rec = self._node(ix, node_id)
            if rec is None:
                raise self._not_found(ix, node_id)
            ix.drop_location(node_id, rec)
            rec = {**rec, "uri": uri, "content_hash": content_hash, "located": time.time()}
            if version is not None:
                rec["placed_version"] = version
            if qualname is not None:
                rec["qualname"] = qualname
            self._put_node(ix, rec)
            ix.add_location(node_id, rec)

    def dismiss_version(self, node_id: str, version: int) -> None:
        """Stop offering versions up to ``version`` of a node in the editor (the user kept
        theirs); kept as ``dismissed_version`` on the node record."""
        with self._change() as ix:
            rec = self._node(ix, node_id)
            if rec is None:
                raise self._not_found(ix, node_id)
            dismissed = max(int(rec.get("dismissed_version") or 0), version)
            self._put_node(ix, {**rec, "dismissed_version": dismissed})

    def location(self, node_id: str) -> dict[str, str] | None:
        """``{"uri", "content_hash"}`` of a node, or None when unknown or never placed."""
        with self._view() as ix:
            rec = self._node(ix, node_id)
            if rec is None or not rec.get("uri"):
                return None
            return {"uri": rec["uri"], "content_hash": rec.get("content_hash") or ""}

    def nodes_for_uri(self, uri: str) -> list[dict[str, Any]]:
        """Node records placed in the file ``uri``, by node id."""
        with self._view() as ix:
            return [dict(self._raw(self._nodes, ix.nodes[n]))
                    for n in sorted(ix.by_uri.get(uri, ()))]

    def node_by_hash(self, content_hash: str) -> str | None:
        """The node whose code has this hash (the latest placed, if several)."""
        with self._view() as ix:
            hit = ix.by_hash.get(content_hash)
            return None if hit is None else hit[0]

    # -- helpers --------------------------------------------------------------------------
    def _sorted_ids(self, ix: _Indexes) -> list[str]:
        """Ids with versions, sorted ignoring case (for prefix search)."""
        if ix.sorted_ids is None:
            ix.sorted_ids = sorted(ix.versions, key=lambda n: (n.casefold(), n))
        return ix.sorted_ids

    def _not_found(self, ix: _Indexes, node_id: str, purpose: str = "") -> NodeNotFoundError:
        head = node_id[:3].casefold()
        close = [n for n in self._sorted_ids(ix) if n.casefold().startswith(head)][:3]
        hint = f" Did you mean: {', '.join(close)}?" if close else \
            " Run `dise list` to see stored functions."
        return NodeNotFoundError(f"No stored function {node_id!r}{purpose}.{hint}")
