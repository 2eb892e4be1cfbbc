"""``dise store migrate --to URL``: TinyDB -> PostgreSQL -> TinyDB keeps every record, run as
the real CLI against a real PostgreSQL (tests/support/pg_cluster.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.store_data import make_artifact

from dise.config import load_config
from dise.engine.types import TestCase as Case
from dise.store import Store
from dise.store.postgres import PgStore

SERVER = str(Path(__file__).resolve().parents[1] / "server")


def dise(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dise.cli", *args], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": SERVER, "COLUMNS": "200", **env})


def fill(s) -> None:
    for name in ("add", "größe", "parse"):
        node = s.allocate_node_id(name)
        s.save(make_artifact(node, fitness=0.4, name=name))
        s.save(make_artifact(node, 2, parent=f"{node}_v1", fitness=0.8, name=name))
        s.set_location(node, f"file:///w/{node}.py", f"hash-{node}", version=2)
    s.allocate_node_id("reserved_only")  # a node id with no version yet is copied too
    s.freeze_tests("add", [Case("given", "add(1)", "1"), Case("model", "add(2)", "2")])
    s.update_test_credibility("add", [Case("given", "add(1)", "1"),
                                      Case("model", "add(2)", "2", credibility=0.3)], "w1")
    s.enqueue("parse", "low", "slow")
    s.enqueue("add", "high", "failing")
    s.set_best_generator("math", "qwen-1.5b", 0.9, temperature=0.2)
    s.record_registry_win("math", "qwen-1.5b@0.2/plain", "add")
    s.set_optimizer_state("add", {"node_id": "add", "status": "done", "attempts": 3})
    s.record_use("add")


def test_migrate_to_postgresql_and_back(pg_url: str, tmp_path: Path) -> None:
    cfg = load_config()
    with Store(cfg.store_path) as s:
        fill(s)
        original = s.export_tables()
        made_by = s.get("add_v1").extra["made_by"]

    out = dise("store", "migrate", "--to", pg_url)
    assert out.returncode == 0, out.stderr
    assert "counts verified" in out.stdout and "artifacts" in out.stdout
    with PgStore(pg_url) as pg:
        assert pg.count() == 6 and pg.latest("größe").version == 2
        assert [q["node_id"] for q in pg.queue()] == ["add", "parse"]
        assert pg.frozen_tests("add")[1].credibility == 0.3
        assert pg.test_witnesses("add") == ["w1"]
        assert pg.best_generator("math")["wins"] == {"qwen-1.5b@0.2/plain": ["add"]}
        assert pg.node("add")["usage"] == 1 and pg.node_by_hash("hash-parse") == "parse"
        assert pg.get("add_v2").parent == "add_v1"
        assert pg.get("add_v1").extra["made_by"] == made_by  # the maker is kept
        assert pg.node("reserved_only")["latest_version"] == 0

    # a second copy into the same (no longer empty) database is refused, nothing changes
    again = dise("store", "migrate", "--to", pg_url)
    assert again.returncode == 1 and "not empty" in again.stderr

    back = tmp_path / "back" / "store.json"
    out = dise("store", "migrate", "--to", str(back), DISE_STORE_URL=pg_url)
    assert out.returncode == 0, out.stderr
    with Store(back) as s:
        copied = s.export_tables()
    key = {"artifacts": "artifact_id", "nodes": "node_id", "tests": "node_id",
           "queue": "node_id", "registry": "task_type", "optimizer": "key"}
    for name, rows in original.items():
        assert sorted(rows, key=lambda r: r[key[name]]) == \
            sorted(copied[name], key=lambda r: r[key[name]]), name
    with Store(back) as s:
        assert [q["node_id"] for q in s.queue()] == ["add", "parse"]


def test_migrate_refuses_a_bad_target(tmp_path: Path) -> None:
    out = dise("store", "migrate", "--to", "mysql://x/y")
    assert out.returncode == 1 and "postgresql://" in out.stderr
    cfg = load_config()
    Store(cfg.store_path).close()
    out = dise("store", "migrate", "--to", str(cfg.store_path))
    assert out.returncode == 1 and "store being copied" in out.stderr


def test_unreachable_or_wrong_store_url_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    import pytest

    from dise.config import ConfigError
    from dise.store.pg_core import PgStoreError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(PgStoreError) as err:
        PgStore(f"postgresql://dise:secret@127.0.0.1:{port}/dise")
    message = str(err.value)
    assert "\n" not in message and "Cannot reach" in message and "secret" not in message
    with pytest.raises(ConfigError, match="postgresql://"):
        load_config(env={"DISE_HOME": str(tmp_path), "DISE_STORE_URL": "mysql://db/x"})
    out = dise("list", DISE_STORE_URL=f"postgresql://dise@127.0.0.1:{port}/dise")
    assert out.returncode == 1 and "Cannot reach" in out.stderr


def test_doctor_reports_the_shared_store(pg_url: str) -> None:
    from dise.config import Config
    from dise.doctor import check_store

    cfg = Config()
    cfg.store.url = pg_url
    with PgStore(pg_url) as s:
        s.save(make_artifact(s.allocate_node_id("f")))
    check = check_store(cfg)
    assert check.status == "ok" and "1 artifacts" in check.detail
    cfg.store.url = pg_url.rsplit("/", 1)[0] + "/no_such_db"
    check = check_store(cfg)
    assert check.status == "fail" and "Cannot reach" in check.detail
