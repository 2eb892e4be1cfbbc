"""The FAISS index next to the store, with the real MiniLM model: it stays consistent with the
store through adds, new versions, deletes, crashes (kill -9 between writes) and other processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dise.store import Store
from dise.store.embedder import Embedder, artifact_text
from dise.store.index import IndexSettings, VectorIndex
from support.index_data import make_artifact, memory

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "store.json") as s:
        yield s


def store_ids(store: Store) -> set[str]:
    return {a.artifact_id for n in store.nodes() for a in store.versions(n["node_id"])}


def fresh_index(store: Store, embedder: Embedder) -> VectorIndex:
    """The index as a newly started process sees it (before any repair)."""
    return VectorIndex(store.path, embedder)


def test_embedder_gives_unit_384_vectors(embedder: Embedder) -> None:
    v = embedder.embed(["validate an email address", "reverse a string"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert embedder.embed([]).shape == (0, 384)


def test_add_new_version_delete_keep_index_and_store_consistent(store, embedder) -> None:
    mem = memory(store, embedder)
    assert mem.ready()
    first = store.save(make_artifact("is_valid_email", prompt="validate an email address"))
    mem.on_saved(first)
    other = store.save(make_artifact("reverse_words", prompt="reverse the words of a sentence"))
    mem.on_saved(other)
    v2 = store.save(make_artifact("is_valid_email", 2, prompt="validate an email address",
                                  fitness=0.95))
    mem.on_saved(v2)
    assert fresh_index(store, embedder).ids() == store_ids(store) == {
        "is_valid_email_v1", "is_valid_email_v2", "reverse_words_v1"}
    # a new version with the same request reuses the stored vector: identical embedding
    index = fresh_index(store, embedder)
    assert np.allclose(index.vector("is_valid_email_v1"), index.vector("is_valid_email_v2"))

    store.delete_node("is_valid_email")
    mem.on_deleted("is_valid_email")
    assert fresh_index(store, embedder).ids() == store_ids(store) == {"reverse_words_v1"}
    assert mem.search("check an email address") == []
    assert [a.node_id for a, _ in mem.search("reverse a sentence word by word")] == \
        ["reverse_words"]


def test_start_repairs_changes_made_without_the_index(store, embedder) -> None:
    """Artifacts saved or deleted by a process without retrieval are caught up on start."""
    store.save(make_artifact("gcd", prompt="greatest common divisor of two integers"))
    store.save(make_artifact("slugify", prompt="turn a title into a url slug"))
    mem = memory(store, embedder)
    assert mem.ready()
    assert fresh_index(store, embedder).ids() == {"gcd_v1", "slugify_v1"}
    store.delete_node("gcd")
    store.save(make_artifact("lcm", prompt="least common multiple of two integers"))
    # the running memory notices the store changed behind it before answering
    assert [a.node_id for a, _ in mem.search("lowest common multiple", 1)] == ["lcm"]
    assert fresh_index(store, embedder).ids() == {"slugify_v1", "lcm_v1"}


def test_reused_id_with_new_text_is_reembedded(store, embedder) -> None:
    """A node deleted and created again gets the same artifact id; the text hash tells."""
    mem = memory(store, embedder)
    store.save(make_artifact("helper", prompt="sum the digits of a number"))
    assert mem.ready()
    store.delete_node("helper")
    store.save(make_artifact("helper", prompt="parse a query string into a dict"))
    report = fresh_index(store, embedder).sync(store)
    assert (report.added, report.removed, report.total) == (1, 1, 1)
    (hit, score), = mem.search("parse a url query string", 1)
    assert hit.node_id == "helper" and score > 0.6


def _run_until_killed(code: str, marker: str, cwd: Path) -> None:
    """Run ``code`` in a real subprocess, SIGKILL it once it prints ``marker``."""
    env = {**os.environ, "PYTHONPATH": str(SERVER_DIR)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.strip() == marker:
                break
        else:
            err = proc.stderr.read()  # type: ignore[union-attr]
            pytest.fail(f"subprocess ended before {marker!r}: {err}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_kill_between_store_write_and_index_write_is_repaired(store, embedder, tmp_path) -> None:
    leap = make_artifact("is_leap_year", prompt="check if a year is a leap year").to_dict()
    mem = memory(store, embedder)
    mem.on_saved(store.save(make_artifact("is_palindrome", prompt="check if a string is a "
                                                                  "palindrome")))
    _run_until_killed(f"""
        import time
        from dise.store import Store
        from dise.engine.types import Artifact
        store = Store({str(store.path)!r})
        a = Artifact.from_dict({leap!r})
        store.save(a)          # first write done ...
        print("saved", flush=True)
        time.sleep(120)        # ... killed before the index is written
    """, "saved", tmp_path)
    assert "is_leap_year_v1" in store_ids(store)
    assert "is_leap_year_v1" not in fresh_index(store, embedder).ids()

    restarted = memory(Store(store.path), embedder)
    (hit, score), = restarted.search("is this year a leap year", 1)
    assert hit.artifact_id == "is_leap_year_v1" and score > 0.7
    assert fresh_index(store, embedder).ids() == store_ids(store)


def test_kill_between_snapshot_files_is_repaired(store, embedder, tmp_path) -> None:
    """Killed while folding the journal into a snapshot: new vectors file, old ids file."""
    mean = make_artifact("mean", prompt="average of a list of numbers").to_dict()
    vec = tmp_path / "vec.npy"
    mem = memory(store, embedder)
    mem.on_saved(store.save(make_artifact("fizzbuzz", prompt="fizzbuzz up to n")))
    np.save(vec, embedder.embed(["average of a list of numbers"])[0])
    _run_until_killed(f"""
        import time
        import numpy as np
        from dise.store import Store
        from dise.store.index import VectorIndex
        from dise.engine.types import Artifact
        store = Store({str(store.path)!r})
        a = Artifact.from_dict({mean!r})
        store.save(a)
        index = VectorIndex(store.path, embedder=None)
        index.add(a.artifact_id, a.prompt, np.load({str(vec)!r}))
        def stuck(data):
            print("vectors written", flush=True)
            time.sleep(120)
        index._write_ids = stuck
        index.compact()
    """, "vectors written", tmp_path)
    import faiss

    index = fresh_index(store, embedder)
    assert faiss.read_index(str(index.faiss_path)).ntotal == 2  # the new vectors file ...
    assert set(json.loads(index.ids_path.read_text())["entries"]) == {"fizzbuzz_v1"}  # old ids
    assert index.ids() == {"fizzbuzz_v1", "mean_v1"}  # ... the old journal fills the gap

    restarted = memory(Store(store.path), embedder)
    (hit, score), = restarted.search("mean of numbers in a list", 1)
    assert hit.artifact_id == "mean_v1" and score > 0.6
    assert fresh_index(store, embedder).ids() == store_ids(store)


def test_torn_journal_line_is_ignored_and_repaired(store, embedder) -> None:
    mem = memory(store, embedder)
    mem.on_saved(store.save(make_artifact("gcd", prompt="greatest common divisor")))
    saved = store.save(make_artifact("lcm", prompt="least common multiple"))
    with open(fresh_index(store, embedder).journal_path, "ab") as fh:
        fh.write(b'{"op":"add","id":"lcm_v1","fid":7,"node":"lcm","ha')  # killed mid-write
    assert fresh_index(store, embedder).ids() == {"gcd_v1"}
    restarted = memory(Store(store.path), embedder)
    assert restarted.search("lowest common multiple", 1)[0][0].artifact_id == saved.artifact_id
    assert fresh_index(store, embedder).ids() == store_ids(store)


def test_journal_is_folded_into_a_snapshot(store, embedder) -> None:
    index = VectorIndex(store.path, embedder, settings=IndexSettings(journal_limit=3))
    vectors = np.eye(384, dtype=np.float32)[:6]
    for i in range(6):
        index.add(f"n{i}_v1", f"text {i}", vectors[i])
    assert index.remove("n0_v1")
    meta = json.loads(index.ids_path.read_text())
    journal = index.journal_path.read_bytes().splitlines()
    assert len(meta["entries"]) + len(journal) - 1 >= 5 and len(journal) - 1 <= 3
    reopened = fresh_index(store, embedder)
    assert reopened.ids() == {f"n{i}_v1" for i in range(1, 6)}
    assert reopened.search(vectors[4], 1) == [("n4_v1", pytest.approx(1.0))]


def test_damaged_index_files_are_rebuilt_from_the_store(store, embedder) -> None:
    mem = memory(store, embedder)
    mem.on_saved(store.save(make_artifact("flatten", prompt="flatten a nested list")))
    index = fresh_index(store, embedder)
    index.faiss_path.write_bytes(b"not a faiss index")
    restarted = memory(Store(store.path), embedder)
    assert [a.node_id for a, _ in restarted.search("flatten nested lists")] == ["flatten"]
    assert fresh_index(store, embedder).ids() == {"flatten_v1"}


def test_another_process_writes_are_seen(store, embedder) -> None:
    one, two = fresh_index(store, embedder), fresh_index(store, embedder)
    one.add("a_v1", "count vowels in a string")
    two.add("b_v1", "sort a dictionary by value")  # two reloads first: nothing is lost
    assert one.ids() == two.ids() == fresh_index(store, embedder).ids() == {"a_v1", "b_v1"}
    assert one.remove("a_v1") and two.ids() == {"b_v1"}


def test_large_index_switches_to_ivf_and_keeps_updates(store, embedder) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = IndexSettings(approximate_above=200, ivf_lists=4, ivf_nprobe=4)
    index = VectorIndex(store.path, embedder, settings=settings)
    index.add_many([(f"n{i}_v1", f"n{i}", f"synthetic {i}") for i in range(150)], vectors[:150])
    assert index.kind == "flat"
    for i in range(150, 300):  # crosses the threshold one add at a time
        index.add(f"n{i}_v1", f"synthetic {i}", vectors[i])
    assert index.kind == "ivf" and len(index) == 300
    assert index.search(vectors[123], 1)[0][0] == "n123_v1"
    assert index.remove("n123_v1")
    reopened = VectorIndex(store.path, embedder, settings=settings)
    assert reopened.kind == "ivf" and len(reopened) == 299
    assert reopened.search(vectors[123], 1)[0][0] != "n123_v1"
    assert reopened.search(vectors[42], 1)[0] == ("n42_v1", pytest.approx(1.0, abs=1e-4))


def test_artifact_text_is_the_request(store) -> None:
    a = make_artifact("f", prompt="  reverse a string ")
    assert artifact_text(a) == "reverse a string"
    nameless = make_artifact("g", prompt="", code="def g():\n    pass\n")
    assert artifact_text(nameless).startswith("g\n")
