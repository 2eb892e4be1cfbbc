"""Store figures, TinyDB vs PostgreSQL: latency of a version write, a status read and a queue
lease (p50/p99, ms), cold (a fresh handle's first call) and warm, with 1 and 4 concurrent
writers, at each store size.

    python bench/store.py                         # 1k artifacts, ~1 min
    python bench/store.py --sizes 1000 10000      # bigger stores (slower preload)
    python bench/store.py --url postgresql://...  # an existing server (an EMPTY database)

Without --url a throw-away PostgreSQL cluster is started (tests/support/pg_cluster.py:
initdb/pg_ctl, fsync off, loopback); TinyDB writes a file in a temp dir with fsync as in production, so the
write figures are not like for like on durability. Operations:
  write   ``save`` of a new version of an existing node (one transaction / one atomic write)
  status  ``node`` + ``latest`` + ``queue_position`` (what ``dise status`` and hover read)
  lease   ``claim_next`` then ``release`` on a queue of 200 nodes
(100 of each, 25 per writer with 4 writers)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))

from dise.engine.types import Artifact  # noqa: E402
from dise.store import Store  # noqa: E402
from support.store_data import make_artifact  # noqa: E402

REPS = 100


def artifact(node: str, version: int) -> dict:
    return make_artifact(node, version, parent=f"{node}_v{version - 1}" if version > 1 else None
                         ).to_dict()


def preload(store, n: int) -> None:
    now = time.time()
    store.import_tables({
        "artifacts": [artifact(f"fn_{i}", 1) for i in range(n)],
        "nodes": [{"node_id": f"fn_{i}", "function_name": f"fn_{i}", "latest_version": 1,
                   "created": now, "updated": now, "usage": 0, "uri": None,
                   "content_hash": None} for i in range(n)],
        "queue": [{"node_id": f"fn_{i}", "priority": "normal", "reason": "bench",
                   "enqueued": now + i, "updated": now} for i in range(200)]})


def pct(samples: list[float]) -> str:
    s = sorted(samples)
    p50, p99 = statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.99))]
    return f"{p50 * 1e3:7.2f} / {p99 * 1e3:7.2f}"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(name: str, opener, n: int) -> None:
    store = opener()
    t = time.perf_counter()
    preload(store, n)
    load_s = time.perf_counter() - t
    store.close()
    cold = opener  # a fresh handle: TinyDB reads the file, PostgreSQL connects
    t = time.perf_counter()
    fresh = cold()
    open_s = time.perf_counter() - t
    first = timed(lambda: fresh.latest("fn_7"))
    version = {"v": 1}

    def write(s, node):
        version["v"] += 1
        s.save(Artifact.from_dict(artifact(node, version["v"])))

    writes = [timed(lambda: write(fresh, "fn_1")) for _ in range(REPS)]
    status = [timed(lambda: (fresh.node("fn_9"), fresh.latest("fn_9"),
                             fresh.queue_position("fn_9"))) for _ in range(REPS)]
    leases = []
    for _ in range(REPS):
        t = time.perf_counter()
        entry = fresh.claim_next(holder="bench", ttl_s=60)
        fresh.release(entry["node_id"], holder="bench")
        leases.append(time.perf_counter() - t)
    # 4 writers at once, each with its own handle, each on its own node
    handles = [cold() for _ in range(4)]
    per: list[list[float]] = [[] for _ in range(4)]

    def writer(k: int) -> None:
        for v in range(2, 2 + REPS // 4):
            per[k].append(timed(lambda: handles[k].save(
                Artifact.from_dict(artifact(f"fn_{100 + k}", v)))))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall4 = time.perf_counter() - t
    four = [x for p in per for x in p]
    print(f"{name:10} {n:>7} | preload {load_s:6.2f} s | open {open_s * 1e3:7.1f} ms, "
          f"first read {first * 1e3:6.1f} ms")
    print(f"{'':10} {'':>7} | write 1w {pct(writes)} | write 4w {pct(four)} "
          f"({len(four) / wall4:5.0f}/s) | status {pct(status)} | lease {pct(leases)}")
    for h in handles + [fresh]:
        h.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000])
    ap.add_argument("--url", help="PostgreSQL url of an empty database (default: a temp cluster)")
    args = ap.parse_args()
    from dise.store.postgres import PgStore

    cluster = None
    if not args.url:
        from support.pg_cluster import Cluster

        cluster = Cluster().start()
    print("backend       size | p50 / p99 in ms")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                path = Path(tmp) / f"store-{n}.json"
                run("tinydb", lambda: Store(path), n)
                url = cluster.create_db() if cluster else args.url
                run("postgresql", lambda: PgStore(url, Path(tmp) / "pg.json"), n)
    finally:
        if cluster:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
