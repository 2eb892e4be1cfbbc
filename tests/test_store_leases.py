"""Leases on the optimisation queue, on both store backends (a real PostgreSQL for one): a node
is worked by one optimiser at a time, and a holder that dies frees it when its lease lapses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dise.config import Config
from dise.optimize.state import NodeBusy, NodeState, take_lease

WORKER = Path(__file__).with_name("support") / "queue_worker.py"


def where(store) -> str:
    return getattr(store, "url", None) or str(store.path)


def test_claim_release_and_renew(open_store) -> None:
    a, b = open_store(), open_store()
    assert a.claim("f", holder="alice@h1:1", ttl_s=60)
    assert not b.claim("f", holder="bob@h2:2", ttl_s=60)
    assert a.claim("f", holder="alice@h1:1", ttl_s=60)  # renewing one's own
    assert b.lease("f")["holder"] == "alice@h1:1"
    assert not b.release("f", holder="bob@h2:2")  # only the holder gives it back
    assert a.release("f", holder="alice@h1:1") and b.lease("f") is None
    assert b.claim("f", holder="bob@h2:2", ttl_s=60)


def test_claim_next_skips_held_nodes_in_queue_order(open_store) -> None:
    s, other = open_store(), open_store()
    for node, prio in (("a", "low"), ("b", "high"), ("c", "normal")):
        s.enqueue(node, prio, "test")
    assert s.claim_next(holder="w1", ttl_s=60)["node_id"] == "b"
    assert other.claim_next(holder="w2", ttl_s=60)["node_id"] == "c"
    # a holder's own lease counts as free: a restarted worker resumes its node
    assert other.claim_next(holder="w2", ttl_s=60, skip={"a"})["node_id"] == "c"
    assert other.claim_next(holder="w2", ttl_s=60, skip={"a", "c"}) is None
    assert s.claim_next(holder="w1", ttl_s=60, skip={"b"})["node_id"] == "a"
    assert other.claim_next(holder="w3", ttl_s=60) is None
    assert len(s.queue()) == 3  # leasing does not dequeue
    s.delete_node("b")
    assert s.lease("b") is None


def test_two_workers_on_one_queue_never_work_the_same_node(open_store) -> None:
    store = open_store()
    nodes = [f"n{i}" for i in range(30)]
    with store.batch():
        for node in nodes:
            store.enqueue(node, "normal", "test")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "server")}
    procs = [subprocess.Popen([sys.executable, str(WORKER), where(store), name], env=env,
                              stdout=subprocess.PIPE, text=True) for name in ("w1", "w2")]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    worked = [line.split() for out in outs for line in out.splitlines()]
    assert sorted(node for _, node in worked) == sorted(nodes)  # each node once, none lost
    assert store.queue() == []


def test_a_killed_holders_lease_lapses(open_store) -> None:
    store = open_store()
    store.enqueue("victim", "high", "test")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "server")}
    proc = subprocess.Popen([sys.executable, str(WORKER), where(store), "dead@elsewhere:1",
                             "hold"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split() == ["held", "victim"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert store.claim_next(holder="survivor", ttl_s=60) is None  # still leased
    deadline = time.monotonic() + 30
    while store.lease("victim") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.claim_next(holder="survivor", ttl_s=60)["node_id"] == "victim"


def test_optimiser_ownership_goes_through_the_lease(open_store) -> None:
    """The optimiser's claim (``take_lease``) refuses a node another machine's optimiser
    holds, and takes over a run whose remote owner stopped renewing."""
    store, cfg = open_store(), Config()
    cfg.store.lease_s = 0.5
    store.claim("f", holder="bob@far:7", ttl_s=60)
    remote = NodeState(node_id="f", owner={"pid": 7, "host": "far"})
    with pytest.raises(NodeBusy, match="bob@far:7"):
        take_lease(store, remote, "f", cfg)
    store.claim("g", holder="bob@far:7", ttl_s=0.3)
    time.sleep(0.5)
    take_lease(store, NodeState(node_id="g", owner={"pid": 7, "host": "far"}), "g", cfg)
    assert store.lease("g")["holder"].endswith(f":{os.getpid()}")


def end_other_sessions(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_postgresql_connection_dropped_by_the_server_is_reopened(pg_url) -> None:
    """An administrator's restart (here: the server ends our session) costs one retry."""
    from dise.store.postgres import PgStore

    with PgStore(pg_url) as store:
        store.enqueue("f", "high", "x")
        end_other_sessions(pg_url)
        assert [e["node_id"] for e in store.queue()] == ["f"]  # a read, on a new connection
        end_other_sessions(pg_url)
        assert store.claim("f", holder="me", ttl_s=60)  # a write, too
