"""A slow ``dise.findSimilar`` (embedding model loading, index repair) delays nothing else.

Issue 14, bug 5: searches ran in the single io thread that also reads the store for hover,
status and newly opened documents, so those waited behind the search; and ``Memory.warm_up``,
documented as called at start, was never called. The server runs with
``support.lsp_double:MemoryDoubleEngine``: the LSP double plus a memory whose search blocks until the
test opens a gate file, and which logs ``warm_up``/``search`` calls to a file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.lsp_harness import Editor, server_env, stub_file, wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]
#: Upper bound on an answer that must not wait behind the blocked search: a hang guard (the
#: search stays blocked for two minutes), not a speed assertion.
HANG_S = 30.0


async def test_hover_and_status_answer_while_a_search_is_stuck(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    gate, calls = tmp_path / "release-search", tmp_path / "memory.log"
    ed = Editor("visual-studio-code", tmp_path / "ws",
                server_env("support.lsp_double:MemoryDoubleEngine", DISE_HOME=str(tmp_path / "home"),
                           DISE_TEST_MEMORY_GATE=str(gate), DISE_TEST_MEMORY_LOG=str(calls)))
    await ed.start()
    try:
        uri = ed.open("mail.py", stub_file())
        [action] = [a for a in await ed.actions(uri, 3) if "is_valid_email" in a.title]
        result = await ed.run_action(action)
        assert result["applied"], result
        await wait_until(lambda: calls.exists() and "warm_up" in calls.read_text(),
                         "the memory to be warmed up at start")

        searching = asyncio.ensure_future(ed.execute("dise.findSimilar", {"query": "email"}))
        await wait_until(lambda: "search" in calls.read_text(), "the search to start")
        status = await asyncio.wait_for(
            ed.execute("dise.status", {"nodeId": result["nodeId"]}), HANG_S)
        assert status["function"] == "is_valid_email"
        copy = ed.open("copy.py", ed.text(uri))         # read from the store (io) right now
        line = next(i for i, t in enumerate(ed.text(copy).splitlines())
                    if "def is_valid_email" in t)
        hover = await asyncio.wait_for(ed.hover_text(copy, line), HANG_S)
        assert "is_valid_email" in hover
        assert not searching.done()                     # the search really was still stuck

        gate.write_text("go")
        assert await asyncio.wait_for(searching, HANG_S) == []
    finally:
        gate.write_text("go")
        try:
            await asyncio.wait_for(ed.stop(), HANG_S)
        except asyncio.TimeoutError:       # a server stuck behind the search: fail, not hang
            ed.client._server.kill()
            raise
