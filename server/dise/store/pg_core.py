"""The PostgreSQL store's core: schema, per-thread connections, transactions and retries,
and the one-JSON-document-per-key helpers every table's operations use.

Connections are per thread (psycopg 3, autocommit; ``transaction()`` opens BEGIN/COMMIT).
Deadlocks and serialisation failures of a single call are retried; inside a ``batch()``
they surface to the caller, who owns the transaction. The tables are made on first connect
under an advisory lock, so several processes may start at once. The operations on them live
in ``pg_nodes``, ``pg_records`` and ``pg_queue``; ``postgres.PgStore`` puts them together.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dise.errors import DiseError

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
#: Each one-document-per-key table's key column.
KEY_COLUMNS = {"dise_nodes": "node_id", "dise_tests": "node_id",
               "dise_registry": "task_type", "dise_optimizer": "key"}


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


class PgCore:
    """Connections, transactions and JSON documents; the base of every ``PgStore`` part."""

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

    def __enter__(self) -> "PgCore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator["PgCore"]:
        """Group changes into one transaction, all or nothing (nested: a savepoint)."""
        with self._tx():
            yield self

    # -- documents ----------------------------------------------------------------------
    def _json(self, doc: Any) -> Any:
        return self._psycopg.types.json.Jsonb(doc)

    def _doc(self, table: str, key: str) -> dict[str, Any] | None:
        rows = self._query(f"SELECT doc FROM {table} WHERE {KEY_COLUMNS[table]} = %s", (key,))
        return rows[0][0] if rows else None

    def _modify(self, cur: Any, table: str, key: str,
                fn: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> Any:
        """Read-modify-write one document under its row lock; ``fn`` returns the new
        document (None: leave it). Returns the new document (or the old one)."""
        col = KEY_COLUMNS[table]
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
