"""The PostgreSQL store's optimisation queue and leases: one optimiser per node, across
machines. A lease is taken by one atomic upsert that succeeds only if the old lease expired
(database clock, so machines' clocks need not agree); ``claim_next`` walks the queue with
``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on, nor take, the same entry."""

from __future__ import annotations

import time
from typing import Any

from dise.store.common import DEFAULT_LEASE_S, PRIORITIES, PRIORITY_RANK, holder_id
from dise.store.pg_core import PgCore

_NOW = "extract(epoch from clock_timestamp())"


class PgQueue(PgCore):
    """Phase 2's queue (``dise_queue``) and per-node leases (``dise_leases``)."""

    # -- optimisation queue and leases ------------------------------------------------------
    def enqueue(self, node_id: str, priority: str, reason: str) -> None:
        """Queue a node for Phase 2; again keeps the higher priority and the new reason."""
        if priority not in PRIORITY_RANK:
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
            (node_id, PRIORITY_RANK[priority], now, self._json(doc))))

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
