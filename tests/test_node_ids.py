"""Function names are Python identifiers, Unicode included (issue 12 §6).

Node ids keep every character a Python identifier may hold (PEP 3131), every command that
takes a node id also takes the function name, two different names never share an id, and
stores written by older versions (``gr_e``, ``minsubarraysum``) keep working.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.scripted_backend import ScriptedBackend
from support.store_data import make_artifact

from dise import cli
from dise.cli.optimize import _targets
from dise.config import load_config
from dise.engine.core import Engine
from dise.engine.types import Request
from dise.store import NodeNotFoundError, Store, slugify

SERVER = str(Path(__file__).resolve().parents[1] / "server")


@pytest.fixture
def store() -> Store:
    with Store(load_config().store_path) as s:
        yield s


def dise_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SERVER, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "dise.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("name", ["größe", "minSubArraySum", "Größe", "_private", "été_2",
                                  "αβγ", "数据", "Ωmega"])
def test_an_identifier_is_its_own_node_id(store, name):
    assert slugify(name) == name
    assert store.allocate_node_id(name) == name


def test_two_different_names_never_share_an_id(store):
    names = ["größe", "grösse", "Größe", "gr_e", "minSubArraySum", "minsubarraysum",
             "MinSubArraySum", "min_sub_array_sum", "a", "A", "f", "f_2"]
    ids = [store.allocate_node_id(n) for n in names]
    assert len(set(ids)) == len(names)
    assert ids == names          # none was taken by another name's id


def test_names_python_treats_as_one_are_one_name():
    """Python reads identifiers in NFKC: ``ﬁle`` (with the ﬁ ligature) is ``file``."""
    assert slugify("ﬁle") == "file" and slugify("größe") == slugify("gro\u0308ße")


def test_issue_examples_status_by_name_through_the_cli(store):
    for name in ("größe", "minSubArraySum"):
        store.save(make_artifact(store.allocate_node_id(name), name=name))
    for name in ("größe", "minSubArraySum"):
        proc = dise_cli("status", name)
        assert proc.returncode == 0, proc.stderr
        assert f"{name} · {name}_v1" in proc.stdout


def test_old_store_ids_keep_working_and_names_find_them(store):
    """Ids an older DiSE gave (lowercase ASCII) are still ids, and the names reach them."""
    store.save(make_artifact("gr_e", name="größe"))
    store.save(make_artifact("minsubarraysum", name="minSubArraySum"))
    for typed, node in [("gr_e", "gr_e"), ("größe", "gr_e"), ("minsubarraysum", "minsubarraysum"),
                        ("minSubArraySum", "minsubarraysum")]:
        assert store.resolve(typed) == node
        assert Engine(load_config(), store).status(typed)["latest"].node_id == node
    args = argparse.Namespace(target="minSubArraySum", fitness_below=None)
    assert _targets(store, args) == ["minsubarraysum"]


def test_optimize_and_shell_take_the_function_name(store):
    store.save(make_artifact(store.allocate_node_id("größe"), name="größe"))
    assert _targets(store, argparse.Namespace(target="größe", fitness_below=None)) == ["größe"]
    shell = dise_cli("shell", stdin="/status größe\n/quit\n")
    assert shell.returncode == 0 and "größe · größe_v1" in shell.stdout, shell.stderr
    assert "No stored function" not in shell.stderr


def test_a_name_wins_over_a_suffixed_id(store):
    first = store.allocate_node_id("f")
    second = store.allocate_node_id("f")
    named = store.allocate_node_id("f_2")
    for node, name in ((first, "f"), (second, "f"), (named, "f_2")):
        store.save(make_artifact(node, name=name))
    assert (first, second, named) == ("f", "f_2", "f_2_2")
    assert store.resolve("f") == "f" and store.resolve("f_2") == "f_2_2"
    assert store.resolve("f_2_2") == "f_2_2"


def test_a_name_of_several_old_nodes_asks_which(store):
    store.save(make_artifact("minsubarraysum", name="minSubArraySum"))
    store.save(make_artifact("minsubarraysum_2", name="minSubArraySum"))
    with pytest.raises(NodeNotFoundError, match="minsubarraysum, minsubarraysum_2"):
        store.resolve("minSubArraySum")


def test_unknown_name_suggests_close_ids_ignoring_case(store):
    store.save(make_artifact(store.allocate_node_id("minSubArraySum"), name="minSubArraySum"))
    assert store.find_by_prefix("minsub") == ["minSubArraySum"]
    assert store.find_by_prefix("MINSUB") == ["minSubArraySum"]
    with pytest.raises(NodeNotFoundError, match="Did you mean: minSubArraySum"):
        store.resolve("minSubArray")


def test_generated_unicode_function_is_stored_under_its_name(monkeypatch):
    code = "```python\ndef größe(breite, höhe):\n    return breite * höhe\n```"
    backend = ScriptedBackend(code)
    engine = Engine(load_config(), backend_factory=lambda gen, cfg: backend)
    artifact = engine.generate(Request(text="Fläche", asserts=["assert größe(2, 3) == 6"]))
    assert artifact.node_id == "größe" and artifact.function_name == "größe"
    assert cli.main(["status", "größe", "--json"]) == 0
