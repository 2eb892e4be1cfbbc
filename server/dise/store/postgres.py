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

The parts, each in its own module (the same split as the TinyDB ``Store``):

* ``pg_core``: schema, connections, transactions, retries and JSON document helpers;
* ``pg_nodes``: versions, node records, name resolution, file locations and the change log;
* ``pg_records``: frozen tests, the registry, optimiser state and bulk copy;
* ``pg_queue``: the optimisation queue and leases.

Connections are per thread (psycopg 3, autocommit; ``transaction()`` opens BEGIN/COMMIT).
Deadlocks and serialisation failures of a single call are retried; inside a ``batch()``
they surface to the caller, who owns the transaction.
"""

from __future__ import annotations

from dise.store.pg_nodes import PgNodes
from dise.store.pg_queue import PgQueue
from dise.store.pg_records import PgRecords


class PgStore(PgNodes, PgRecords, PgQueue):
    """Versioned artifacts and everything keyed by node, in one PostgreSQL database.

    ``url``: a libpq connection string (``postgresql://user@host:5432/dise``). ``path``: a
    local file name that names this store for what stays per machine (the FAISS index is
    kept beside it); nothing is written to it by the store.
    """
