"""The artifact store: versions, concurrency, reloads, crash safety, leases.

Tests of the store interface run against both backends (``store_backend``: TinyDB files and a
real PostgreSQL started for the session, see tests/support/pg_cluster.py); tests of file handling
(damage, crashes, temp files, JSON encoding) are TinyDB's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dise.engine.types import DiseError
from dise.engine.types import TestCase as Case
from dise.store import NodeNotFoundError, Store, StoreCorruptError, StoreIOError
from support.store_data import make_artifact

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "store.json"


@pytest.fixture
def store(open_store) -> Store:
    return open_store()


def test_save_get_latest_versions(store: Store, store_backend: str, path: Path) -> None:
    node = store.allocate_node_id("is_valid_email")
    assert node == "is_valid_email"
    saved = store.save(make_artifact(node))
    assert store.get(saved.artifact_id) == saved
    assert store.latest(node) == saved
    assert store.versions(node) == [saved]
    assert store.get("nope_v1") is None and store.latest("nope") is None
    assert store.versions("nope") == []
    assert store.count() == 1
    assert saved.extra["made_by"] and "@" in saved.extra["made_by"]
    assert store.get(saved.artifact_id).extra["dise_version"]
    if store_backend == "tinydb":
        assert path.parent.is_dir() and json.loads(path.read_text())["artifacts"]


def test_returned_artifacts_are_copies(store: Store) -> None:
    node = store.allocate_node_id("f")
    store.save(make_artifact(node))
    got = store.get(f"{node}_v1")
    got.tests.clear()
    got.test_kinds["given"][0] = 0
    again = store.get(f"{node}_v1")
    assert again.tests and again.test_kinds["given"] == [2, 2]


def test_new_version_keeps_lineage_and_updates_node(store: Store) -> None:
    node = store.allocate_node_id("slugify")
    v1 = store.save(make_artifact(node, fitness=0.4))
    assert store.next_version(node) == 2
    v2 = store.save(make_artifact(node, 2, parent=v1.artifact_id, fitness=0.9, phase="phase2"))
    assert [a.version for a in store.versions(node)] == [1, 2]
    assert store.latest(node).parent == v1.artifact_id == "slugify_v1"
    assert store.next_version(node) == 3
    [rec] = store.nodes()
    assert rec["latest_version"] == 2 and rec["fitness"] == v2.fitness_score
    assert rec["function_name"] == "slugify" and rec["task_type"] == "other"
    assert rec["created"] <= rec["updated"] and rec["usage"] == 0
    assert store.record_use(node) == 1 and store.node(node)["usage"] == 1


def test_a_version_is_never_edited(store: Store) -> None:
    node = store.allocate_node_id("f")
    store.save(make_artifact(node, fitness=0.1))
    with pytest.raises(ValueError, match="never edited"):
        store.save(make_artifact(node, fitness=0.9))
    assert store.get(f"{node}_v1").fitness_score == 0.1


def test_node_ids_are_slugs_and_unique_across_threads(store: Store) -> None:
    assert store.allocate_node_id("Is Valid-Email!") == "is_valid_email"
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [store.allocate_node_id("parse_date") for _ in range(10)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(set(results)) == 80
    assert set(results) == {"parse_date"} | {f"parse_date_{i}" for i in range(2, 81)}


def test_concurrent_saves_lose_nothing(store: Store, open_store) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            node = store.allocate_node_id(f"func_{i}")
            for v in range(1, 4):
                store.save(make_artifact(node, v, parent=f"{node}_v{v - 1}" if v > 1 else None))
            store.enqueue(node, "normal", "thread")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count() == 24 and len(store.queue()) == 8
    reopened = open_store()
    assert reopened.count() == 24
    assert all(len(reopened.versions(f"func_{i}")) == 3 for i in range(8))


def test_reopening_sees_everything(open_store) -> None:
    with open_store() as s:
        node = s.allocate_node_id("add")
        s.save(make_artifact(node))
        s.freeze_tests(node, [Case("given", "add(1)", "1")])
        s.enqueue(node, "low", "slow")
        s.set_best_generator("math", "qwen-1.5b", 0.93, temperature=0.2, approach="few-shot")
        s.set_location(node, "file:///w/m.py", "abc123")
    with open_store() as s:
        assert s.latest("add").version == 1
        assert s.frozen_tests("add") == [Case("given", "add(1)", "1")]
        assert s.queue_position("add") == 1
        assert s.best_generator("math")["generator"] == "qwen-1.5b"
        assert s.node_by_hash("abc123") == "add"
        assert [r["node_id"] for r in s.nodes_for_uri("file:///w/m.py")] == ["add"]


def test_second_instance_sees_writes_of_the_first(open_store) -> None:
    with open_store() as server, open_store() as cli:
        assert cli.count() == 0
        node = server.allocate_node_id("f")
        server.save(make_artifact(node))
        server.set_location(node, "file:///a.py", "h1")
        assert cli.latest(node).artifact_id == "f_v1"
        assert cli.node_by_hash("h1") == node
        # and back: the CLI's write reaches the server, nothing of the server's is lost
        cli.save(make_artifact(node, 2, parent="f_v1"))
        other = cli.allocate_node_id("f")
        assert other == "f_2"
        assert server.latest(node).version == 2
        assert server.allocate_node_id("f") == "f_3"
        assert cli.allocate_node_id("f") == "f_4"
        assert server.count() == cli.count() == 2


def test_processes_writing_at_once_lose_nothing(open_store) -> None:
    first = open_store()
    where = getattr(first, "url", None) or str(first.path)
    script = (
        "import sys, time\n"
        "from dise.store import Store\n"
        "from dise.store.postgres import PgStore\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_store import make_artifact\n"
        "where = sys.argv[1]\n"
        "s = PgStore(where) if where.startswith('postgresql:') else Store(where)\n"
        "for i in range(15):\n"
        "    s.save(make_artifact(s.allocate_node_id('p')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SERVER_DIR)}
    procs = [subprocess.Popen([sys.executable, "-c", script, where,
                               str(Path(__file__).parent)], env=env) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with open_store() as s:
        assert s.count() == 45 and len(s.nodes()) == 45
        assert len({n["node_id"] for n in s.nodes()}) == 45


def test_damaged_file_is_kept_and_refused(path: Path) -> None:
    with Store(path) as s:
        for name in ("a", "b"):
            s.save(make_artifact(s.allocate_node_id(name)))
    damaged = path.read_bytes()[:-40]
    path.write_bytes(damaged)
    with pytest.raises(StoreCorruptError) as err:
        Store(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "damaged" in message
    backups = list(path.parent.glob("store.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == damaged
    assert str(backups[0]) in message and "move it away" in message
    assert path.read_bytes() == damaged  # untouched
    with pytest.raises(StoreCorruptError):  # keeps refusing, no second copy
        Store(path)
    assert len(list(path.parent.glob("store.json.corrupt-*"))) == 1
    assert isinstance(err.value, DiseError)


def test_open_store_refuses_to_overwrite_a_file_damaged_later(path: Path) -> None:
    with Store(path) as s:
        node = s.allocate_node_id("a")
        s.save(make_artifact(node))
        path.write_text('{"artifacts": {"1": {')
        with pytest.raises(StoreCorruptError):
            s.save(make_artifact(node, 2))
        with pytest.raises(StoreCorruptError):
            s.latest(node)
        assert path.read_text() == '{"artifacts": {"1": {'
        path.write_text("")  # moved away / emptied by the user: a fresh store
        assert s.count() == 0
        s.save(make_artifact(s.allocate_node_id("b")))
        assert s.count() == 1


def test_crash_mid_write_keeps_previous_file(path: Path, monkeypatch) -> None:
    with Store(path) as s:
        node = s.allocate_node_id("f")
        s.save(make_artifact(node))
        before = path.read_bytes()

        def crash(src, dst):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(StoreIOError, match="previous version is intact"):
            s.save(make_artifact(node, 2))
        monkeypatch.undo()
        assert path.read_bytes() == before
        assert json.loads(before)["artifacts"]
        assert not list(path.parent.glob(".store.json.*.tmp"))
        # memory went back to what is on disk, and the store still works
        assert s.get(f"{node}_v2") is None and s.latest(node).version == 1
        s.save(make_artifact(node, 2))
    with Store(path) as s:
        assert s.latest("f").version == 2


def test_stale_temp_files_are_cleaned_on_open(path: Path) -> None:
    Store(path).close()
    stale = path.parent / ".store.json.abc123.tmp"
    stale.write_text("half a write")
    Store(path).close()
    assert not stale.exists()


def test_batch_writes_once_and_is_all_or_nothing(store: Store, open_store,
                                                  store_backend: str, path: Path) -> None:
    other = open_store()
    with store.batch():
        for i in range(5):
            store.save(make_artifact(store.allocate_node_id(f"b{i}")))
        if store_backend == "tinydb":
            assert not path.exists()  # nothing written until the batch ends
        else:
            assert other.count() == 0  # nobody else sees it until the batch ends
    assert other.count() == 5
    with pytest.raises(RuntimeError):
        with store.batch():
            store.save(make_artifact(store.allocate_node_id("lost")))
            raise RuntimeError("boom")
    assert store.latest("lost") is None and store.count() == 5


def test_queue_order_and_idempotence(store: Store) -> None:
    store.enqueue("a", "low", "slow")
    store.enqueue("b", "normal", "untested")
    store.enqueue("c", "high", "failing")
    store.enqueue("d", "normal", "later")
    assert [q["node_id"] for q in store.queue()] == ["c", "b", "d", "a"]
    store.enqueue("a", "high", "failing now")  # raised, keeps its place in time
    store.enqueue("c", "low", "new reason")  # never lowered
    queue = store.queue()
    assert [q["node_id"] for q in queue] == ["a", "c", "b", "d"]
    assert queue[1]["priority"] == "high" and queue[1]["reason"] == "new reason"
    assert store.queue_position("b") == 3 and store.queue_position("zzz") is None
    assert store.dequeue("a") and not store.dequeue("a")
    assert store.queue_position("c") == 1 and len(store.queue()) == 3
    with pytest.raises(ValueError, match="high, normal, low"):
        store.enqueue("a", "urgent", "x")


def test_frozen_tests_are_not_replaced(store: Store) -> None:
    assert store.frozen_tests("f") is None
    first = [Case("given", "f(1)", "1"), Case("smoke", "f(None)", None, ["TypeError"])]
    assert store.freeze_tests("f", first) is True
    assert store.freeze_tests("f", [Case("model", "f(2)", "3")]) is False
    assert store.frozen_tests("f") == first


def test_registry_round_trip(store: Store) -> None:
    assert store.best_generator("parsing") is None
    store.set_best_generator("parsing", "qwen-0.5b", 0.71, temperature=0.3, approach="cot",
                             experiments=4)
    best = store.best_generator("parsing")
    assert best["generator"] == "qwen-0.5b" and best["fitness"] == 0.71
    assert best["temperature"] == 0.3 and best["approach"] == "cot" and best["experiments"] == 4
    assert best["updated"] > 0
    store.set_best_generator("parsing", "qwen-1.5b", 0.9)
    best = store.best_generator("parsing")
    assert best["generator"] == "qwen-1.5b" and best["temperature"] is None


def test_registry_trials_keep_what_failed_beside_the_wins(store: Store) -> None:
    store.record_registry_trial("math", "qwen-0.5b@0.7/plain", "f", "no_gain")
    store.record_registry_trial("math", "qwen-0.5b@0.7/plain", "f", "no_gain")  # once a node
    store.record_registry_trial("math", "qwen-1.5b@0/plain", "f", "error", "model crashed")
    store.record_registry_win("math", "qwen-0.5b@0.3/plain", "g")
    store.set_best_generator("math", "qwen-0.5b", 0.9, temperature=0.3, approach="plain")
    rec = store.best_generator("math")
    assert rec["trials"]["qwen-0.5b@0.7/plain"]["no_gain"] == ["f"]
    assert rec["trials"]["qwen-1.5b@0/plain"] == {"gain": [], "no_gain": [], "errors": 1,
                                                 "last_error": "model crashed"}
    assert rec["wins"] == {"qwen-0.5b@0.3/plain": ["g"]} and rec["generator"] == "qwen-0.5b"
    assert [r["task_type"] for r in store.registry_records()] == ["math"]


def test_delete_node_removes_everything(store: Store, open_store) -> None:
    node = store.allocate_node_id("gone")
    keep = store.allocate_node_id("kept")
    for v in (1, 2):
        store.save(make_artifact(node, v))
    store.save(make_artifact(keep))
    store.freeze_tests(node, [Case("given", "gone(1)", "1")])
    store.enqueue(node, "high", "x")
    store.set_location(node, "file:///g.py", "hash-g")
    assert store.delete_node(node) is True
    for s in (store, open_store()):
        assert s.get(f"{node}_v1") is None and s.versions(node) == []
        assert s.frozen_tests(node) is None and s.queue_position(node) is None
        assert s.node_by_hash("hash-g") is None and s.nodes_for_uri("file:///g.py") == []
        assert [n["node_id"] for n in s.nodes()] == [keep] and s.count() == 1
        assert s.find_by_prefix("go") == []
    assert store.delete_node(node) is False


def test_locations_and_prefix_search(store: Store) -> None:
    a, b = store.allocate_node_id("is_valid_email"), store.allocate_node_id("is_valid_url")
    c = store.allocate_node_id("parse")
    for node in (a, b, c):
        store.save(make_artifact(node))
    assert store.find_by_prefix("is_val") == [a, b]
    assert store.find_by_prefix("IS_VALID_U") == [b] and store.find_by_prefix("x") == []
    store.set_location(a, "file:///v.py", "h-a")
    store.set_location(b, "file:///v.py", "h-b")
    assert [r["node_id"] for r in store.nodes_for_uri("file:///v.py")] == [a, b]
    assert store.location(a) == {"uri": "file:///v.py", "content_hash": "h-a"}
    store.set_location(a, "file:///w.py", "h-a2")  # moved and edited
    assert [r["node_id"] for r in store.nodes_for_uri("file:///v.py")] == [b]
    assert store.node_by_hash("h-a") is None and store.node_by_hash("h-a2") == a
    assert store.location(c) is None and store.location("nope") is None
    with pytest.raises(NodeNotFoundError) as err:
        store.set_location("nope", "file:///x.py", "h")
    assert "\n" not in str(err.value) and "dise list" in str(err.value)


def test_ten_thousand_artifacts(open_store, store_backend: str) -> None:
    n = 10_000 if store_backend == "tinydb" else 1_000  # PostgreSQL: round trips, not files
    with open_store() as s:
        with s.batch():
            for i in range(n):
                node = s.allocate_node_id(f"fn_{i}")
                s.save(make_artifact(node))
                s.set_location(node, f"file:///w/mod_{i % 100}.py", f"hash-{i}")
        assert s.count() == n
        node = s.allocate_node_id("one_more")
        s.save(make_artifact(node))  # one ordinary save on a 10k store
        assert s.count() == n + 1
    with open_store() as s:
        assert s.latest(f"fn_{n - 1}").function_name == f"fn_{n - 1}"
        assert len(s.nodes_for_uri("file:///w/mod_7.py")) == n // 100
        assert s.node_by_hash("hash-742") == "fn_742"
        assert len(s.find_by_prefix(f"fn_{n // 10 - 1}")) == 11
        assert len(s.nodes()) == n + 1


def test_incremental_encoding_matches_memory(tmp_path: Path) -> None:
    """Whatever mix of TinyDB calls edits the data, the file holds exactly what memory does."""
    from tinydb import Query

    from dise.store.storage_table import StoreDB

    path = tmp_path / "db.json"
    db = StoreDB(path)
    t, u = db.table("t"), db.table("u")

    def on_disk_matches() -> None:
        assert json.loads(path.read_text()) == db.storage.read()

    ids = [t.insert({"n": i, "s": "é" * i}) for i in range(20)]
    u.insert_multiple({"k": i} for i in range(5))
    on_disk_matches()
    t.replace(ids[3], {"n": 33})
    t.remove(doc_ids=ids[5:8])
    on_disk_matches()
    t.update({"flag": True}, Query().n > 15)  # TinyDB's in-place update
    u.remove(Query().k == 2)
    on_disk_matches()
    with db.storage.batch():
        t.insert({"n": 100})
        t.remove(doc_ids=[ids[0]])
        t.replace(ids[1], {"n": -1})
    on_disk_matches()
    db.drop_table("u")
    t.truncate()
    t.insert({"again": 1})
    on_disk_matches()
    db.close()
    assert StoreDB(path).table("t").all() == [{"again": 1}]
