"""The TinyDB store's optimisation queue and the leases that let one optimiser work a node."""

from __future__ import annotations

import time
from typing import Any

from dise.store.common import (DEFAULT_LEASE_S, PRIORITIES, PRIORITY_RANK, holder_id,
                               lease_free)
from dise.store.tinydb_core import Indexes, StoreCore


class StoreQueue(StoreCore):
    """Phase 2's queue (most urgent, then oldest first) and per-node leases across processes."""

    # -- optimisation queue ---------------------------------------------------------------
    def enqueue(self, node_id: str, priority: str, reason: str) -> None:
        """Queue a node for Phase 2; again keeps the higher priority and the new reason."""
        if priority not in PRIORITY_RANK:
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
                if PRIORITY_RANK[priority] < PRIORITY_RANK.get(rec.get("priority", "low"),
                                                               len(PRIORITIES)):
                    rec["priority"] = priority
                rec.update(reason=reason, updated=now)
                self._queue.replace(doc_id, rec)
            ix.queue_order = None

    def _queue_order(self, ix: Indexes) -> list[str]:
        if ix.queue_order is None:
            def key(item: tuple[str, int]) -> tuple[int, float, int]:
                rec = self._raw(self._queue, item[1])
                return (PRIORITY_RANK.get(rec.get("priority"), len(PRIORITIES)),
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

    def _claim(self, ix: Indexes, node_id: str, holder: str, ttl_s: float) -> bool:
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
