"""Two users share one PostgreSQL store (a real one, tests/support/pg_cluster.py), each with
their own ``DISE_HOME`` and FAISS index: the second user's near-identical request is answered with the
first user's stored function, re-tested in the second user's sandbox; each machine's index
follows the shared store through its change log, without a full rebuild on restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.index_data import make_artifact
from support.scripted_backend import ScriptedBackend

from dise.config import load_config
from dise.engine import core
from dise.engine.core import Engine
from dise.engine.types import Request
from dise.store.follow import ChangeFollower
from dise.store.index import VectorIndex
from dise.store.postgres import PgStore

#: The model's answer to Alice's request (a scripted backend: the store is under test here).
EMAIL = '''```python
import re

def is_valid_email(address: str) -> bool:
    """True for a plausible email address."""
    return re.fullmatch(r"[^@\\s]+@[^@\\s]+\\.[a-z]{2,}", address) is not None
```'''


def user_engine(home: Path, url: str) -> Engine:
    return Engine(load_config(env={"DISE_HOME": str(home), "DISE_STORE_URL": url}))


def test_second_user_gets_the_first_users_function_retested(pg_url, tmp_path, monkeypatch):
    backend = ScriptedBackend(EMAIL)
    monkeypatch.setattr(core, "resolve_backend", lambda gen, cfg: backend)
    alice = user_engine(tmp_path / "alice", pg_url)
    bob = user_engine(tmp_path / "bob", pg_url)
    assert isinstance(alice.store, PgStore) and alice.store.path != bob.store.path
    first = alice.generate(Request(text="Write a function to validate email addresses",
                                   asserts=["assert is_valid_email('a@b.co')"]))
    assert first.test_passed and len(backend.calls) == 1

    bob.memory.ready()  # as a running language server keeps it
    again = bob.generate(Request(text="write a function that validates an email address",
                                 asserts=["assert is_valid_email('x@y.org')",
                                          "assert not is_valid_email('nope')"]))
    assert len(backend.calls) == 1, "Bob's paraphrase should not reach the model"
    assert any(t.startswith(f"reused {first.artifact_id}") for t in again.tool_usage)
    assert again.test_passed and again.test_kinds["given"] == [2, 2]  # Bob's own tests ran
    assert again.node_id != first.node_id  # the same name from two servers: two nodes
    assert alice.store.latest(again.node_id).extra["made_by"]
    assert (tmp_path / "bob").is_dir() and not list((tmp_path / "bob").glob("store.json"))


@pytest.fixture
def stores(pg_url, tmp_path):
    here, there = PgStore(pg_url, tmp_path / "here" / "shared.json"), \
        PgStore(pg_url, tmp_path / "there" / "shared.json")
    yield here, there
    here.close()
    there.close()


class CountingEmbedder:
    def __init__(self, embedder) -> None:
        self.inner, self.texts = embedder, []
        self.dim, self.name = embedder.dim, embedder.name

    def embed(self, texts):
        self.texts += list(texts)
        return self.inner.embed(texts)


def test_index_follows_the_shared_store_incrementally(stores, embedder, monkeypatch) -> None:
    here, there = stores
    for node, prompt in (("gcd", "greatest common divisor"), ("rev", "reverse a string")):
        here.save(make_artifact(node, prompt=prompt))
    counting = CountingEmbedder(embedder)
    follower = ChangeFollower(VectorIndex(here.path, counting), here)
    assert follower.catch_up().total == 2  # first start: one full sync
    assert follower.cursor_path.is_file()

    there.save(make_artifact("gcd", 2, prompt="gcd of two integers"))  # another machine
    there.save(make_artifact("flat", prompt="flatten a nested list"))
    there.delete_node("rev")
    report = follower.catch_up()
    assert (report.added, report.removed) == (2, 1)
    assert follower.index.ids() == {"gcd_v1", "gcd_v2", "flat_v1"}

    # a restart reads the cursor: no full sync, only what changed while it was down
    monkeypatch.setattr(VectorIndex, "sync", lambda *a: pytest.fail("full rebuild on start"))
    there.save(make_artifact("sum", prompt="sum a list of numbers"))
    counting.texts.clear()
    restarted = ChangeFollower(VectorIndex(here.path, counting), here)
    report = restarted.catch_up()
    assert (report.added, report.removed, report.total) == (1, 0, 4)
    assert len(counting.texts) == 1  # only the new version was embedded
    assert restarted.catch_up().added == 0


def test_phase2_on_the_shared_store_holds_the_lease_and_stores_for_everyone(
        pg_url, tmp_path, monkeypatch):
    """``optimize_node`` over PostgreSQL: v2 with lineage lands in the shared store, another
    machine's optimiser is refused while the lease is held, and the lease ends with the run."""
    from support.optimize_worker import ASSERTS, GOOD, REQUEST, VariantBackend

    from dise.optimize import NodeBusy, optimize_node

    def engine(home: str) -> Engine:
        return Engine(load_config(
            {"optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.0, 0.3],
                          "approaches": ["plain"], "seeds": [0], "workers": 1,
                          "when_idle": False, "poll_interval_s": 0.02},
                "retrieval": {"enabled": False}, "store": {"url": pg_url}},
            env={"DISE_HOME": str(tmp_path / home)}))

    backend = VariantBackend()
    monkeypatch.setattr(core, "resolve_backend", lambda gen, cfg: backend)
    alice, bob = engine("alice"), engine("bob")
    node = alice.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    assert bob.store.queue_position(node) == 1  # Bob's server sees Alice's queue

    alice.store.claim(node, holder="carol@far-away:9", ttl_s=60)  # a third machine works it
    with pytest.raises(NodeBusy, match="carol@far-away:9"):
        optimize_node(bob, node)
    alice.store.release(node, holder="carol@far-away:9")

    backend.answers = {0.3: GOOD}
    result = optimize_node(bob, node)
    assert result.status == "improved"
    v1, v2 = alice.store.versions(node)
    assert v2.parent == v1.artifact_id and v2.phase == "phase2" and v2.test_passed
    assert alice.store.lease(node) is None and alice.store.queue() == []
