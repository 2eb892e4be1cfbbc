"""A queue worker process for the lease tests (tests/test_store_leases.py).

``queue_worker.py WHERE NAME [hold]``: WHERE is a PostgreSQL url or a TinyDB file. By default
it claims queue entries one at a time until the queue is empty, prints ``NAME NODE`` for each
(the node it alone works on), holds it a moment, then dequeues and releases it. With ``hold``
it claims one node for 2 s, prints ``held NODE`` and sleeps until killed (a holder that dies).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))

from dise.store import Store  # noqa: E402


def open_at(where: str):
    if where.startswith("postgresql:"):
        from dise.store.postgres import PgStore

        return PgStore(where)
    return Store(Path(where))


def main() -> int:
    where, name = sys.argv[1], sys.argv[2]
    store = open_at(where)
    if sys.argv[3:] == ["hold"]:
        entry = store.claim_next(holder=name, ttl_s=2.0)
        print(f"held {entry['node_id']}", flush=True)
        time.sleep(3600)
    while True:
        entry = store.claim_next(holder=name, ttl_s=60.0)
        if entry is None:
            return 0
        print(f"{name} {entry['node_id']}", flush=True)
        time.sleep(0.01)  # the work: another worker must not get this node meanwhile
        with store.batch():
            store.dequeue(entry["node_id"])
            store.release(entry["node_id"], holder=name)


if __name__ == "__main__":
    sys.exit(main())
