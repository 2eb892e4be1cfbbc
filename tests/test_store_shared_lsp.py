"""Two ``dise serve`` processes share one PostgreSQL store (issue 15), over the real language server.

Alice and Bob each run the real server (``python -m dise.lsp``, the code of ``dise serve``) with
their own ``DISE_HOME`` (own FAISS index, sandbox and settings), both with ``DISE_STORE_URL`` on one
fresh database of the session's throw-away cluster (tests/support/pg_cluster.py). Alice's
editor generates ``sum_digit_squares`` from a stub with doctests: the weak first version of
tests/support/weak_setup.py, which fails them. ``dise.optimize`` runs the real optimiser; its
experiment generator is a second scripted Ollama tag answering a correct version, so v2 exists
on every machine without a model (the optimiser on the real Qwen2.5-Coder-0.5B is
test_lsp_phase2_model.py's). Bob then asks, in his own server, for the same function with a
paraphrased docstring and the same examples: his editor gets Alice's optimised v2, marked as
reused from it and re-tested in Bob's sandbox against Bob's doctests, and no model is asked.

Everything but the models' answers is real: both servers, PostgreSQL, retrieval with the real
embedding model, the change follower, the optimiser, the sandbox and the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp
from support.lsp_harness import Editor, server_env, wait_until
from support.scripted_ollama import ScriptedOllama
from support.weak_setup import NAME, STUB, WEAK_ANSWER, WEAK_GENERATOR, WEAK_TAG, doctests_pass

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(900)]

#: The experiment generator's tag and its answer: correct, so the optimiser's v2 passes.
GOOD_GENERATOR, GOOD_TAG = "scripted-good", "dise-scripted-good:latest"
GOOD_ANSWER = """```python
def sum_digit_squares(n: int) -> int:
    return sum(int(d) ** 2 for d in str(n))
```
"""
#: Bob's stub: Alice's with the docstring's first line said differently, the same examples.
BOB_STUB = STUB.replace(
    "Return the sum of the squares of the decimal digits of a non-negative integer n.",
    "Return the sum of the squared decimal digits of the non-negative integer n.")
#: Generous bound on any one wait (a loaded 2-core CI box); not a speed assertion.
WAIT_S = 600.0


def settings(ollama_host: str) -> dict:
    """``initializationOptions``: the scripted weak default, the scripted good optimiser, and
    no background optimising (the user asks with ``dise.optimize``)."""
    return {
        "ollama": {"host": ollama_host},
        "generators": {
            WEAK_GENERATOR: {"backend": "ollama", "ollama_model": WEAK_TAG},
            GOOD_GENERATOR: {"backend": "ollama", "ollama_model": GOOD_TAG}},
        "pipeline": {"default_generator": WEAK_GENERATOR},
        "optimize": {"experiment_generators": [GOOD_GENERATOR], "temperatures": [0.0],
                     "approaches": ["plain"], "max_attempts": 1, "patience": 1,
                     "incremental_max_steps": 0, "poll_interval_s": 0.1,
                     "when_idle": True, "idle_after_s": 3600},
    }


def user(tmp_path: Path, name: str, pg_url: str, ollama_host: str) -> Editor:
    """One user's editor and server: own workspace and ``DISE_HOME``, the shared store."""
    ws = tmp_path / name / "ws"
    ws.mkdir(parents=True)
    env = server_env(engine=None, DISE_HOME=str(tmp_path / name / "home"),
                     DISE_STORE_URL=pg_url)
    return Editor("visual-studio-code", ws, env, settings(ollama_host))


def def_line(ed: Editor, uri: str) -> int:
    return next(i for i, t in enumerate(ed.text(uri).splitlines()) if f"def {NAME}(" in t)


def better(ed: Editor, uri: str) -> list[lsp.Diagnostic]:
    return [d for d in ed.client.diagnostics.get(uri, []) if d.code == "better-version"]


def chats(ollama: ScriptedOllama) -> int:
    return sum(1 for _, path, _ in ollama.requests if path in ("/api/chat", "/api/generate"))


async def generate(ed: Editor, uri: str) -> dict:
    [action] = [a for a in await ed.actions(uri, 3) if NAME in a.title]
    result = await ed.run_action(action)
    assert result["applied"] is True, result
    return result


async def alice_optimises(ed: Editor, ollama: ScriptedOllama) -> dict:
    """Alice generates the weak v1 and has it optimised; returns ``dise.status`` of the node."""
    uri = ed.open("digits.py", STUB)
    first = await generate(ed, uri)
    (ed.workspace / "first.py").write_text(ed.text(uri))
    assert doctests_pass(ed.workspace / "first.py").returncode != 0, "premise: v1 fails"
    answer = await ed.execute("dise.optimize", {"uri": uri, "line": def_line(ed, uri)})
    assert answer["queued"], answer
    await wait_until(lambda: better(ed, uri), "Alice's better-version diagnostic", limit=WAIT_S)
    status = await ed.execute("dise.status", {"nodeId": first["nodeId"]})
    assert [v["version"] for v in status["versions"]] == [1, 2], status
    v1, v2 = status["versions"]
    assert v2["phase"] == "phase2" and v2["parent"] is not None and v2["fitness"] > v1["fitness"]
    assert status["version"] == 2 and status["testsPassed"] == status["testsTotal"] > 0, status
    assert chats(ollama) >= 2  # the weak v1 and the optimiser's experiment both came from Ollama
    return status


async def test_second_server_inserts_the_first_users_optimised_version_retested(
        tmp_path: Path, pg_url: str) -> None:
    with ScriptedOllama({WEAK_TAG: WEAK_ANSWER, GOOD_TAG: GOOD_ANSWER}) as ollama:
        # Both servers run at once: Bob's starts on the still empty shared store.
        alice = user(tmp_path, "alice", pg_url, ollama.host)
        bob = user(tmp_path, "bob", pg_url, ollama.host)
        await alice.start()
        try:
            await bob.start()
            try:
                alice_status = await alice_optimises(alice, ollama)
                v2 = await alice.execute("dise.showArtifact",
                                         {"nodeId": alice_status["nodeId"], "version": 2})
                # Bob's server learns of Alice's function (its index follows the shared
                # store); asking also waits for its retrieval memory to be loaded, as it is
                # in a server that has been running for a while.
                similar = await bob.execute("dise.findSimilar",
                                            {"query": "sum of squared digits"})
                assert alice_status["nodeId"] in [hit["nodeId"] for hit in similar], similar
                asked = chats(ollama)
                uri = bob.open("digits.py", BOB_STUB)
                result = await generate(bob, uri)
                mine = await bob.execute("dise.showArtifact", {"nodeId": result["nodeId"]})
                assert chats(ollama) == asked, \
                    f"Bob's near-identical request reached the model: {mine['toolUsage']}"
            finally:
                await bob.stop()
        finally:
            await alice.stop()

    # Bob's server made its own node (another DISE_HOME, the same function name) ...
    assert result["nodeId"] != alice_status["nodeId"]
    assert not (tmp_path / "bob" / "home" / "store.json").exists()
    # ... whose code is Alice's optimised v2, and says so ...
    assert mine["code"].strip() == v2["code"].strip()
    assert any(t.startswith(f"reused {v2['artifactId']}") for t in mine["toolUsage"]), \
        mine["toolUsage"]
    # ... re-tested in Bob's sandbox against Bob's own doctests, all passing.
    assert mine["testKinds"]["doctest"][0] == mine["testKinds"]["doctest"][1] == 3, mine
    assert mine["testsPassed"] == mine["testsTotal"] > 0, mine
    final = bob.text(uri)
    assert "squared decimal digits" in final  # Bob's docstring is kept
    (bob.workspace / "digits.py").write_text(final)
    run = doctests_pass(bob.workspace / "digits.py")
    assert run.returncode == 0, run.stdout + run.stderr
