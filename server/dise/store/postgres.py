"""The artifact store on PostgreSQL: one store shared by a team's servers and optimisers.

Same interface as the TinyDB ``Store`` (``dise.store.artifacts``); chosen by
``[store] url = "postgresql://..."``. Every change is one transaction (``batch()`` groups
several, all or nothing). Tables (``dise_`` prefix, made on
first connect under an advisory lock so several processes may start at once):

* ``dise_artifacts``: one row per version, never edited, with ``made_by``/``dise_version``.
* ``dise_nodes``, ``dise_tests``, ``dise_registry``, ``dise_optimizer``: one JSON document
  per key, changed under ``SELECT ... FOR UPDATE``.
* ``dise_queue`` and ``dise_leases``: a node is worked by one optimiser at a time. A lease is
  taken by one atomic upsert that succeeds only if the old lease expired (database clock, so
  machines' clocks need not agree); ``claim_next`` walks the queue with ``FOR UPDATE SKIP
  LOCKED`` so concurrent workers never wait on, nor take, the same entry.
* ``dise_changes``: an append-only log of versions added and removed, read through
  ``changes_since(cursor)`` so each server keeps its FAISS index in step incrementally. Its
  writers take a transaction-scoped advisory lock, so sequence order is commit order and a
  reader never skips a change that commits late.

Connections are per thread (psycopg 3, autocommit; ``transaction()`` opens BEGIN/COMMIT).
Deadlocks and serialisation failures of a single call are retried; inside a ``batch()``
they surface to the caller, who owns the transaction.
"""

from __future__ import annotations

import copy
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dise.errors import DiseError
from dise.store.artifacts import PRIORITIES, _RANK, NodeNotFoundError, pick_node, slugify
from dise.store.common import (DEFAULT_LEASE_S, add_registry_trial, add_registry_win, holder_id,
                               stamp)
from dise.types import Artifact, TestCase

_SCHEMA_LOCK = 0x0D15E001
_CHANGES_LOCK = 0x0D15E002

SCHEMA = """
CREATE TABLE IF NOT EXISTS dise_artifacts (
    artifact_id text PRIMARY KEY, node_id text NOT NULL, version int NOT NULL,
    doc jsonb NOT NULL, made_by text, dise_version text, stored float8 NOT NULL);
CREATE INDEX IF NOT EXISTS dise_artifacts_node ON dise_artifacts (node_id, version);
CREATE TABLE IF NOT EXISTS dise_nodes (node_id text PRIMARY KEY, doc jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS dise_nodes_uri ON dise_nodes ((doc->>'uri'));
CREATE INDEX IF NOT EXISTS dise_nodes_hash ON dise_nodes ((doc->>'content_hash'));
CREATE TABLE IF NOT EXISTS dise_tests (node_id text PRIMARY KEY, doc jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS dise_queue (
    node_id text PRIMARY KEY, rank int NOT NULL, enqueued float8 NOT NULL,
    seq bigserial, doc jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS dise_leases (
    node_id text PRIMARY KEY, holder text NOT NULL, until float8 NOT NULL);
CREATE TABLE IF NOT EXISTS dise_registry (task_type text PRIMARY KEY, doc jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS dise_optimizer (key text PRIMARY KEY, doc jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS dise_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO dise_meta VALUES ('store_id', md5(random()::text || clock_timestamp()::text))
    ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS dise_changes (
    seq bigserial PRIMARY KEY, artifact_id text NOT NULL, node_id text NOT NULL,
    op text NOT NULL);
"""
_NOW = "extract(epoch from clock_timestamp())"
_KEYS = {"dise_nodes": "node_id", "dise_tests": "node_id", "dise_registry": "task_type",
         "dise_optimizer": "key"}


class PgStoreError(DiseError):
    """The PostgreSQL store cannot be reached or used; the message says what to check."""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise PgStoreError("[store] url names PostgreSQL but psycopg is not installed: "
                           "pip install 'psycopg[binary]' (or dise[team]).") from None
    return psycopg


def redact(url: str) -> str:
    """The url without its password, for messages and logs."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, creds = head.partition("//")
    return f"{scheme}//{creds.split(':', 1)[0]}:***@{tail}"


class PgStore:
    """Versioned artifacts and everything keyed by node, in one PostgreSQL database.

    ``url``: a libpq connection string (``postgresql://user@host:5432/dise``). ``path``: a
    local file name that names this store for what stays per machine (the FAISS index is
    kept beside it); nothing is written to it by the store.
    """

    def __init__(self, url: str, path: Path | str | None = None) -> None:
        self.url = url
        self.path = Path(path).expanduser() if path else Path("dise-shared.json")
        self._psycopg = _psycopg()
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            cur.execute(SCHEMA)
            cur.execute("SELECT value FROM dise_meta WHERE key = 'store_id'")
            #: Names this database for good (a cursor file from another one is ignored).
            self.identity: str = cur.fetchone()[0]

    # -- connections and transactions ---------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except self._psycopg.OperationalError as exc:
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "refused"
                raise PgStoreError(f"Cannot reach the shared DiSE store at {redact(self.url)} "
                                   f"({reason}); check [store] url and that PostgreSQL is "
                                   "running.") from None
            self._local.conn = conn
            if not hasattr(self._local, "depth"):
                self._local.depth = 0
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """The outermost call opens the transaction; nested ones join it (no savepoint: a
        round trip each, and every error a method raises on purpose comes before it writes,
        while any other aborts the whole transaction anyway)."""
        conn = self._conn()
        self._local.depth += 1
        try:
            if self._local.depth == 1:
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            else:
                with conn.cursor() as cur:
                    yield cur
        finally:
            self._local.depth -= 1

    def _do(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(cursor)`` in a transaction; retried on deadlock or serialisation failure
        when it is the outermost one, and once on a new connection if the old one broke
        (the server restarted); a lost server is a ``PgStoreError``."""
        errors = self._psycopg.errors
        for attempt in range(5):
            try:
                with self._tx() as cur:
                    return fn(cur)
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if self._local.depth or attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))
            except self._psycopg.OperationalError as exc:
                self._lost(exc, retry=attempt == 0)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        for attempt in range(2):
            try:
                with self._conn().cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall()
            except self._psycopg.OperationalError as exc:
                self._lost(exc, retry=attempt == 0)
        raise AssertionError("unreachable")

    def _lost(self, exc: Exception, retry: bool) -> None:
        """A broken connection: dropped, then retried (outside a batch) or reported."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            raise exc  # a real error of the statement, not of the connection
        if conn is not None:
            conn.close()
        if retry and not self._local.depth:
            self._local.conn = None
            return
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection lost"
        raise PgStoreError(f"Lost the shared DiSE store at {redact(self.url)} ({reason}); "
                           "check that PostgreSQL is running, then retry.") from None

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass

    def __enter__(self) -> "PgStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator["PgStore"]:
        """Group changes into one transaction, all or nothing (nested: a savepoint)."""
        with self._tx():
            yield self

    # -- documents ----------------------------------------------------------------------
    def _json(self, doc: Any) -> Any:
        return self._psycopg.types.json.Jsonb(doc)

    def _doc(self, table: str, key: str) -> dict[str, Any] | None:
        rows = self._query(f"SELECT doc FROM {table} WHERE {_KEYS[table]} = %s", (key,))
        return rows[0][0] if rows else None

    def _modify(self, cur: Any, table: str, key: str,
                fn: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> Any:
        """Read-modify-write one document under its row lock; ``fn`` returns the new
        document (None: leave it). Returns the new document (or the old one)."""
        col = _KEYS[table]
        while True:
            cur.execute(f"SELECT doc FROM {table} WHERE {col} = %s FOR UPDATE", (key,))
            row = cur.fetchone()
            old = row[0] if row else None
            new = fn(copy.deepcopy(old))
            if new is None:
                return old
            if row:
                cur.execute(f"UPDATE {table} SET doc = %s WHERE {col} = %s",
                            (self._json(new), key))
                return new
            cur.execute(f"INSERT INTO {table} ({col}, doc) VALUES (%s, %s) "
                        f"ON CONFLICT DO NOTHING RETURNING 1", (key, self._json(new)))
            if cur.fetchone():
                return new  # else someone inserted it meanwhile: lock theirs and retry

    def _log_changes(self, cur: Any, rows: list[tuple[str, str, str]]) -> None:
        if rows:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CHANGES_LOCK,))
            cur.executemany("INSERT INTO dise_changes (artifact_id, node_id, op) "
                            "VALUES (%s, %s, %s)", rows)

    # -- nodes and versions -------------------------------------------------------------
    def allocate_node_id(self, base: str) -> str:
        """A fresh node id from a function name (``f``, then ``f_2``, ...), reserved at once:
        servers sharing the store never get the same one."""
        slug = slugify(base)
        pattern = slug.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "\\_%"

        def run(cur: Any) -> str:
            cur.execute("SELECT node_id FROM dise_nodes WHERE node_id = %s OR node_id LIKE %s",
                        (slug, pattern))
            taken = {r[0] for r in cur.fetchall()}
            n = 1
            while True:
                node_id = slug if n == 1 else f"{slug}_{n}"
                n += 1
                if node_id in taken:
                    continue
                now = time.time()
                rec = {"node_id": node_id, "function_name": base, "task_type": "",
                       "latest_version": 0, "fitness": None, "created": now, "updated": now,
                       "usage": 0, "uri": None, "content_hash": None}
                cur.execute("INSERT INTO dise_nodes (node_id, doc) VALUES (%s, %s) "
                            "ON CONFLICT DO NOTHING RETURNING 1", (node_id, self._json(rec)))
                if cur.fetchone():
                    return node_id
                taken.add(node_id)

        return self._do(run)

    def next_version(self, node_id: str) -> int:
        rows = self._query("SELECT coalesce(max(version), 0) FROM dise_artifacts "
                           "WHERE node_id = %s", (node_id,))
        return rows[0][0] + 1

    def save(self, artifact: Artifact) -> Artifact:
        """Store a new version and update its node record; ValueError if it exists. The
        artifact's ``extra`` gets ``made_by`` (user@host) and ``dise_version`` if unset."""
        stamp(artifact.extra)
        doc = artifact.to_dict()

        def run(cur: Any) -> None:
            cur.execute("INSERT INTO dise_artifacts (artifact_id, node_id, version, doc, "
                        "made_by, dise_version, stored) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING RETURNING 1",
                        (artifact.artifact_id, artifact.node_id, artifact.version,
                         self._json(doc), artifact.extra.get("made_by"),
                         artifact.extra.get("dise_version"), time.time()))
            if cur.fetchone() is None:
                cur.execute("SELECT max(version) FROM dise_artifacts WHERE node_id = %s",
                            (artifact.node_id,))
                top = cur.fetchone()[0] or artifact.version
                raise ValueError(f"{artifact.artifact_id} is already stored and versions are "
                                 f"never edited: save it as version {top + 1} instead.")
            now = time.time()

            def update(rec: dict[str, Any] | None) -> dict[str, Any]:
                rec = rec or {"node_id": artifact.node_id, "latest_version": 0,
                              "created": now, "usage": 0, "uri": None, "content_hash": None}
                if artifact.version >= rec.get("latest_version", 0):
                    rec.update(latest_version=artifact.version, fitness=artifact.fitness_score,
                               function_name=artifact.function_name,
                               task_type=artifact.task_type)
                rec["updated"] = now
                return rec

            self._modify(cur, "dise_nodes", artifact.node_id, update)
            self._log_changes(cur, [(artifact.artifact_id, artifact.node_id, "add")])

        self._do(run)
        return artifact

    def record_use(self, node_id: str) -> int:
        """Count one more use of a function (hover, reuse); returns the new count."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            if rec is None:
                raise self._not_found(node_id)
            rec["usage"] = rec.get("usage", 0) + 1
            return rec

        return self._do(lambda cur: self._modify(cur, "dise_nodes", node_id, update))["usage"]

    def _artifacts(self, where: str, params: tuple) -> list[Artifact]:
        rows = self._query(f"SELECT doc FROM dise_artifacts WHERE {where} ORDER BY version",
                           params)
        return [Artifact.from_dict(r[0]) for r in rows]

    def get(self, artifact_id: str) -> Artifact | None:
        found = self._artifacts("artifact_id = %s", (artifact_id,))
        return found[0] if found else None

    def latest(self, node_id: str) -> Artifact | None:
        rows = self._query("SELECT doc FROM dise_artifacts WHERE node_id = %s "
                           "ORDER BY version DESC LIMIT 1", (node_id,))
        return Artifact.from_dict(rows[0][0]) if rows else None

    def versions(self, node_id: str) -> list[Artifact]:
        """Every version of a node, oldest first."""
        return self._artifacts("node_id = %s", (node_id,))

    def nodes(self) -> list[dict[str, Any]]:
        """Records of functions with at least one version, newest first."""
        rows = self._query("SELECT n.doc FROM dise_nodes n WHERE EXISTS (SELECT 1 FROM "
                           "dise_artifacts a WHERE a.node_id = n.node_id)")
        return sorted((r[0] for r in rows), key=lambda r: (r.get("created", 0.0), r["node_id"]),
                      reverse=True)

    def node(self, node_id: str) -> dict[str, Any] | None:
        """One node record (a copy), or None."""
        return self._doc("dise_nodes", node_id)

    def _ids_with_versions(self, ascii_prefix: str | None = None) -> list[str]:
        if ascii_prefix:
            like = ascii_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self._query("SELECT DISTINCT node_id FROM dise_artifacts "
                               "WHERE lower(node_id) LIKE %s", (like + "%",))
        else:
            rows = self._query("SELECT DISTINCT node_id FROM dise_artifacts")
        return [r[0] for r in rows]

    def find_by_prefix(self, text: str) -> list[str]:
        """Node ids starting with ``text`` (case-insensitive), sorted: for completion."""
        prefix = unicodedata.normalize("NFKC", text.strip()).casefold()
        ids = self._ids_with_versions(prefix if prefix.isascii() else None)
        return sorted((n for n in ids if n.casefold().startswith(prefix)),
                      key=lambda n: (n.casefold(), n))

    def resolve(self, text: str, purpose: str = "") -> str:
        """The node id that ``text`` names; the rules of ``Store.resolve``."""
        text = text.strip()
        name = unicodedata.normalize("NFKC", text)
        rows = self._query(
            "SELECT n.node_id, n.doc->>'function_name' FROM dise_nodes n WHERE "
            "n.doc->>'function_name' IN (%s, %s) AND EXISTS (SELECT 1 FROM dise_artifacts a "
            "WHERE a.node_id = n.node_id)", (text, name))
        named = sorted(n for n, fn in rows if unicodedata.normalize("NFKC", fn or "") == name)
        found = pick_node(text, named, set(self._ids_with_versions()))
        if found is not None:
            return found
        raise self._not_found(text, purpose)

    def count(self) -> int:
        """Number of stored artifacts (versions, all nodes together)."""
        return self._query("SELECT count(*) FROM dise_artifacts")[0][0]

    def delete_node(self, node_id: str) -> bool:
        """Remove a node with its versions, queue entry, lease and frozen tests."""
        def run(cur: Any) -> bool:
            cur.execute("DELETE FROM dise_artifacts WHERE node_id = %s RETURNING artifact_id",
                        (node_id,))
            gone = [r[0] for r in cur.fetchall()]
            known = bool(gone)
            for table, col, counts in (("dise_nodes", "node_id", True),
                                       ("dise_tests", "node_id", True),
                                       ("dise_queue", "node_id", True),
                                       ("dise_optimizer", "key", False),
                                       ("dise_leases", "node_id", False)):
                cur.execute(f"DELETE FROM {table} WHERE {col} = %s", (node_id,))
                known = known or (counts and cur.rowcount > 0)
            self._log_changes(cur, [(aid, node_id, "del") for aid in gone])
            return known

        return self._do(run)

    # -- frozen tests -----------------------------------------------------------------------
    def freeze_tests(self, node_id: str, tests: list[TestCase],
                     witnesses: list[str] | None = None) -> bool:
        """Freeze the tests that judge every candidate of a node; only the first call wins."""
        doc = {"node_id": node_id, "tests": [t.to_dict() for t in tests],
               "witnesses": list(witnesses or []), "frozen": time.time()}

        def run(cur: Any) -> bool:
            cur.execute("INSERT INTO dise_tests (node_id, doc) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING RETURNING 1", (node_id, self._json(doc)))
            return cur.fetchone() is not None

        return self._do(run)

    def frozen_tests(self, node_id: str) -> list[TestCase] | None:
        doc = self._doc("dise_tests", node_id)
        return None if doc is None else [TestCase.from_dict(t) for t in doc["tests"]]

    def test_witnesses(self, node_id: str) -> list[str]:
        """Ids of the candidates that already voted on the node's model tests."""
        doc = self._doc("dise_tests", node_id)
        return [] if doc is None else list(doc.get("witnesses") or [])

    def update_test_credibility(self, node_id: str, tests: list[TestCase],
                                witness: str) -> bool:
        """Store new credibility and votes after ``witness`` voted; see ``Store``."""
        done: list[bool] = []

        def update(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            witnesses, frozen = list(doc.get("witnesses") or []), doc["tests"]
            if witness in witnesses or len(frozen) != len(tests) or any(
                    f["code"] != t.code or f["kind"] != t.kind for f, t in zip(frozen, tests)):
                return None
            for old, new in zip(frozen, tests):
                old.update(credibility=new.credibility, agree=new.agree, disagree=new.disagree)
            done.append(True)
            return {**doc, "tests": frozen, "witnesses": witnesses + [witness]}

        self._do(lambda cur: self._modify(cur, "dise_tests", node_id, update))
        return bool(done)

    # -- optimisation queue and leases ------------------------------------------------------
    def enqueue(self, node_id: str, priority: str, reason: str) -> None:
        """Queue a node for Phase 2; again keeps the higher priority and the new reason."""
        if priority not in _RANK:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, "
                             f"not {priority!r}")
        now = time.time()
        doc = {"node_id": node_id, "priority": priority, "reason": reason, "enqueued": now,
               "updated": now}
        self._do(lambda cur: cur.execute(
            "INSERT INTO dise_queue AS q (node_id, rank, enqueued, doc) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (node_id) DO UPDATE SET rank = least(q.rank, excluded.rank), "
            "doc = q.doc || jsonb_build_object('priority', CASE WHEN excluded.rank < q.rank "
            "THEN excluded.doc->'priority' ELSE q.doc->'priority' END, "
            "'reason', excluded.doc->'reason', 'updated', excluded.doc->'updated')",
            (node_id, _RANK[priority], now, self._json(doc))))

    _ORDER = "ORDER BY rank, enqueued, seq"

    def queue(self) -> list[dict[str, Any]]:
        """Queue entries, most urgent first, then oldest first."""
        return [r[0] for r in self._query(f"SELECT doc FROM dise_queue {self._ORDER}")]

    def queue_position(self, node_id: str) -> int | None:
        """1-based place in the queue, None when not queued."""
        rows = self._query(
            "SELECT (SELECT count(*) FROM dise_queue o WHERE (o.rank, o.enqueued, o.seq) < "
            "(q.rank, q.enqueued, q.seq)) + 1 FROM dise_queue q WHERE q.node_id = %s",
            (node_id,))
        return int(rows[0][0]) if rows else None

    def dequeue(self, node_id: str) -> bool:
        def run(cur: Any) -> bool:
            cur.execute("DELETE FROM dise_queue WHERE node_id = %s", (node_id,))
            return cur.rowcount > 0

        return self._do(run)

    def _take(self, cur: Any, node_id: str, holder: str, ttl_s: float) -> bool:
        cur.execute(
            f"INSERT INTO dise_leases AS l (node_id, holder, until) VALUES (%s, %s, {_NOW} + %s) "
            f"ON CONFLICT (node_id) DO UPDATE SET holder = excluded.holder, until = "
            f"excluded.until WHERE l.until <= {_NOW} OR l.holder = excluded.holder "
            "RETURNING 1", (node_id, holder, ttl_s))
        return cur.fetchone() is not None

    def claim(self, node_id: str, holder: str | None = None,
              ttl_s: float = DEFAULT_LEASE_S) -> bool:
        """Take (or renew) the lease on a node for ``ttl_s`` seconds (database clock); False
        while another holder's lease is live. One atomic upsert."""
        holder = holder or holder_id()
        return self._do(lambda cur: self._take(cur, node_id, holder, ttl_s))

    def claim_next(self, holder: str | None = None, ttl_s: float = DEFAULT_LEASE_S,
                   skip: tuple[str, ...] | list[str] | set[str] = ()) -> dict[str, Any] | None:
        """Lease the most urgent queued node nobody else holds and return its queue entry.
        Entries another worker is claiming right now are skipped, not waited for."""
        holder = holder or holder_id()

        def run(cur: Any) -> dict[str, Any] | None:
            cur.execute(
                f"SELECT q.node_id, q.doc FROM dise_queue q LEFT JOIN dise_leases l "
                f"ON l.node_id = q.node_id WHERE NOT (q.node_id = ANY(%s)) AND "
                f"(l.node_id IS NULL OR l.until <= {_NOW} OR l.holder = %s) "
                "ORDER BY q.rank, q.enqueued, q.seq FOR UPDATE OF q SKIP LOCKED",
                (list(skip), holder))
            for node_id, doc in cur.fetchall():
                if self._take(cur, node_id, holder, ttl_s):
                    return doc
            return None

        return self._do(run)

    def release(self, node_id: str, holder: str | None = None) -> bool:
        """Give a node's lease back (only its holder can); True if it was held."""
        holder = holder or holder_id()

        def run(cur: Any) -> bool:
            cur.execute("DELETE FROM dise_leases WHERE node_id = %s AND holder = %s",
                        (node_id, holder))
            return cur.rowcount > 0

        return self._do(run)

    def lease(self, node_id: str) -> dict[str, Any] | None:
        """The live lease on a node (``{"node_id", "holder", "until"}``), or None; ``until``
        is in the database's clock (epoch seconds)."""
        rows = self._query(f"SELECT holder, until FROM dise_leases WHERE node_id = %s "
                           f"AND until > {_NOW}", (node_id,))
        return {"node_id": node_id, "holder": rows[0][0], "until": rows[0][1]} if rows else None

    # -- bulk copy (``dise store migrate``) ------------------------------------------------
    TABLES: tuple[str, ...] = ("artifacts", "nodes", "tests", "queue", "registry", "optimizer")

    def export_tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every table, as the TinyDB store holds them (leases excluded)."""
        order = {"artifacts": " ORDER BY node_id, version", "queue": " ORDER BY seq"}
        return {name: [r[0] for r in self._query(f"SELECT doc FROM dise_{name}"
                                                 f"{order.get(name, '')}")]
                for name in self.TABLES}

    def import_tables(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        """Add ``export_tables()`` output to this store in one transaction."""
        def run(cur: Any) -> None:
            arts = tables.get("artifacts", [])
            cur.executemany(
                "INSERT INTO dise_artifacts (artifact_id, node_id, version, doc, made_by, "
                "dise_version, stored) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(d.get("artifact_id") or f"{d['node_id']}_v{d['version']}", d["node_id"],
                  d["version"], self._json(d), (d.get("extra") or {}).get("made_by"),
                  (d.get("extra") or {}).get("dise_version"), d.get("timestamp") or time.time())
                 for d in arts])
            for name in ("nodes", "tests", "registry", "optimizer"):
                table = f"dise_{name}"
                cur.executemany(f"INSERT INTO {table} ({_KEYS[table]}, doc) VALUES (%s, %s)",
                                [(d[_KEYS[table]], self._json(d)) for d in tables.get(name, [])])
            cur.executemany("INSERT INTO dise_queue (node_id, rank, enqueued, doc) "
                            "VALUES (%s, %s, %s, %s)",
                            [(d["node_id"], _RANK.get(d.get("priority"), len(PRIORITIES)),
                              d.get("enqueued", 0.0), self._json(d))
                             for d in tables.get("queue", [])])
            self._log_changes(cur, [(d.get("artifact_id") or f"{d['node_id']}_v{d['version']}",
                                     d["node_id"], "add") for d in arts])

        self._do(run)

    # -- best-generator registry --------------------------------------------------------------
    def best_generator(self, task_type: str) -> dict[str, Any] | None:
        return self._doc("dise_registry", task_type)

    def set_best_generator(self, task_type: str, generator: str, fitness: float,
                           **details: Any) -> None:
        """Record the winner for a task type; the tally of wins is kept."""
        rec = {"task_type": task_type, "generator": generator, "fitness": float(fitness),
               "temperature": details.pop("temperature", None),
               "approach": details.pop("approach", None), **details, "updated": time.time()}

        def update(old: dict[str, Any] | None) -> dict[str, Any]:
            return {**rec, "wins": old.get("wins", {}), "trials": old.get("trials", {})} \
                if old is not None else rec

        self._do(lambda cur: self._modify(cur, "dise_registry", task_type, update))

    def record_registry_win(self, task_type: str, setup: str, node_id: str) -> int:
        """Count a win of ``setup`` on ``node_id``; returns the distinct functions won on."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            return add_registry_win(rec, task_type, setup, node_id)[0]

        rec = self._do(lambda cur: self._modify(cur, "dise_registry", task_type, update))
        return len(rec["wins"][setup])

    def record_registry_trial(self, task_type: str, setup: str, node_id: str, result: str,
                              reason: str = "") -> None:
        """Count one Phase 2 attempt of ``setup`` (see ``Store.record_registry_trial``)."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            return add_registry_trial(rec, task_type, setup, node_id, result, reason)

        self._do(lambda cur: self._modify(cur, "dise_registry", task_type, update))

    def registry_records(self) -> list[dict[str, Any]]:
        """Every task type's registry record."""
        return [r[0] for r in self._query("SELECT doc FROM dise_registry ORDER BY task_type")]

    # -- optimiser state ------------------------------------------------------------------------
    def optimizer_state(self, key: str) -> dict[str, Any] | None:
        return self._doc("dise_optimizer", key)

    def set_optimizer_state(self, key: str, state: dict[str, Any]) -> None:
        rec = {**copy.deepcopy(state), "key": key, "saved": time.time()}
        self._do(lambda cur: self._modify(cur, "dise_optimizer", key, lambda _old: rec))

    def optimizer_states(self) -> list[dict[str, Any]]:
        return [r[0] for r in self._query("SELECT doc FROM dise_optimizer ORDER BY key")]

    def clear_optimizer_state(self, key: str) -> bool:
        def run(cur: Any) -> bool:
            cur.execute("DELETE FROM dise_optimizer WHERE key = %s", (key,))
            return cur.rowcount > 0

        return self._do(run)

    # -- node <-> file mapping ------------------------------------------------------------------
    def set_location(self, node_id: str, uri: str, content_hash: str,
                     version: int | None = None, qualname: str | None = None) -> None:
        """Remember where a node's code lives; see ``Store.set_location``."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            if rec is None:
                raise self._not_found(node_id)
            rec.update(uri=uri, content_hash=content_hash, located=time.time())
            if version is not None:
                rec["placed_version"] = version
            if qualname is not None:
                rec["qualname"] = qualname
            return rec

        self._do(lambda cur: self._modify(cur, "dise_nodes", node_id, update))

    def dismiss_version(self, node_id: str, version: int) -> None:
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            if rec is None:
                raise self._not_found(node_id)
            rec["dismissed_version"] = max(int(rec.get("dismissed_version") or 0), version)
            return rec

        self._do(lambda cur: self._modify(cur, "dise_nodes", node_id, update))

    def location(self, node_id: str) -> dict[str, str] | None:
        rec = self._doc("dise_nodes", node_id)
        if rec is None or not rec.get("uri"):
            return None
        return {"uri": rec["uri"], "content_hash": rec.get("content_hash") or ""}

    def nodes_for_uri(self, uri: str) -> list[dict[str, Any]]:
        return [r[0] for r in self._query("SELECT doc FROM dise_nodes WHERE doc->>'uri' = %s "
                                          "ORDER BY node_id", (uri,))]

    def node_by_hash(self, content_hash: str) -> str | None:
        """The node whose code has this hash (the latest placed, if several)."""
        rows = self._query("SELECT node_id FROM dise_nodes WHERE doc->>'content_hash' = %s "
                           "ORDER BY (doc->>'located')::float8 DESC NULLS LAST LIMIT 1",
                           (content_hash,))
        return rows[0][0] if rows else None

    #: ``changes_since``/``change_head`` list every version added or removed (follow.py).
    change_log = True

    def change_head(self) -> int:
        """The latest change's cursor (0: none yet)."""
        return int(self._query("SELECT coalesce(max(seq), 0) FROM dise_changes")[0][0])

    # -- change cursor (incremental index) ------------------------------------------------------
    def changes_since(self, cursor: int) -> tuple[int, list[tuple[str, str, str]]]:
        """``(new cursor, [(op, artifact_id, node_id), ...])`` of versions added (``"add"``)
        or removed (``"del"``) after ``cursor`` (0: from the start), oldest first."""
        rows = self._query("SELECT seq, op, artifact_id, node_id FROM dise_changes "
                           "WHERE seq > %s ORDER BY seq", (cursor,))
        return (rows[-1][0] if rows else cursor), [(op, a, n) for _, op, a, n in rows]

    # -- helpers ----------------------------------------------------------------------------------
    def _not_found(self, node_id: str, purpose: str = "") -> NodeNotFoundError:
        close = self.find_by_prefix(node_id[:3])[:3]
        hint = f" Did you mean: {', '.join(close)}?" if close else \
            " Run `dise list` to see stored functions."
        return NodeNotFoundError(f"No stored function {node_id!r}{purpose}.{hint}")
