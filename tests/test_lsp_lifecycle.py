"""Lifecycle and settings, through pytest-lsp over the engine double
(tests/support/lsp_shared_server.py): settings from ``initialize`` and
``didChangeConfiguration`` (bad ones told once, defaults used), and ``shutdown`` during a
generation. The feature's unit tests are tests/lsp/test_lifecycle.py; cancellation and exit
codes of the raw process are test_lsp_protocol.py's.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from support.lsp_double import MARKER
from support.lsp_harness import Editor, server_env, stub_file, wait_until
from support.lsp_shared_server import (  # noqa: F401  (fixtures)
    editor,
    generate_stub,
    line_of,
    messages,
    start_generation,
    workspace,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

#: For shutdown tests: a generation that would outlast the test (its 120 s timeout).
LONG_DELAY = "600"
#: Upper bound on one shutdown step: a hang guard far below LONG_DELAY, not a speed assertion.
HANG_S = 30.0


async def _shut_down(session: Editor) -> int:
    """``shutdown`` (answered), then ``exit``; the server's exit code, each step bounded by
    ``HANG_S`` (pytest-lsp's ``shutdown_session`` would wait for the process forever)."""
    await asyncio.wait_for(session.client.shutdown_async(None), HANG_S)
    session.client.exit(None)
    server = session.client._server
    await asyncio.wait_for(server.wait(), HANG_S)
    await session.client.stop()
    return server.returncode


async def test_bad_initialization_option_is_reported_and_defaults_used(workspace):
    async with editor(workspace, init_options={"dise": {"backnd": "ollama"}}) as ed:
        await wait_until(lambda: messages(ed, lsp.MessageType.Error), "a settings error")
        assert any("backnd" in m for m in messages(ed, lsp.MessageType.Error))
        uri = ed.open("mod.py", stub_file())
        assert (await generate_stub(ed, uri))["applied"] is True


async def test_workspace_store_through_did_change_configuration(workspace):
    async with editor(workspace) as ed:
        ed.client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
            settings={"dise": {"storeScope": "workspace", "pipeline": {"optimise_below": 0.5}}}))
        uri = ed.open("mod.py", stub_file())
        result = await generate_stub(ed, uri)
        assert result["applied"] is True
        assert (workspace / ".dise" / "store.json").is_file()
        hover = await ed.hover_text(uri, line_of(ed.text(uri), "def is_valid_email"))
        assert "queued" not in hover  # 0.62 is above the new threshold

        ed.client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
            settings={"dise": {"backend": "carrier-pigeon"}}))
        await wait_until(lambda: messages(ed, lsp.MessageType.Error), "a settings error")
        assert any("carrier-pigeon" in m for m in messages(ed, lsp.MessageType.Error))


async def test_shutdown_during_generation_cancels_it_and_exits_at_once(workspace):
    """The grace period (300 s) and the generation (600 s) both outlast the test: only a
    cancelled generation lets the process leave within it."""
    events = workspace.parent / "engine.log"
    session = Editor("visual-studio-code", workspace,
                     server_env(DISE_TEST_ENGINE_DELAY=LONG_DELAY,
                                DISE_TEST_ENGINE_TRACE=str(events)),
                     init_options={"lsp": {"shutdown_grace_s": 300}})
    await session.start()
    uri = session.open("mod.py", stub_file())
    running = await start_generation(session, uri)
    await wait_until(lambda: events.exists() and "start" in events.read_text(),
                     "the engine to start generating")
    assert await _shut_down(session) == 0
    assert running.done()                    # the generation request was answered
    with contextlib.suppress(JsonRpcException, asyncio.CancelledError):
        result = running.result()
        assert result["applied"] is False and result.get("cancelled") is True, result
    assert events.read_text().splitlines() == ["start is_valid_email",
                                               "cancelled is_valid_email"]
    assert MARKER not in session.text(uri)


async def test_shutdown_while_the_engine_ignores_cancellation(workspace):
    """A model call stuck in native code: the process still leaves, with code 0, after the
    grace period (0.5 s), though the generation (600 s) never ends."""
    events = workspace.parent / "engine.log"
    session = Editor("visual-studio-code", workspace,
                     server_env(DISE_TEST_ENGINE_DELAY=LONG_DELAY,
                                DISE_TEST_ENGINE_IGNORE_CANCEL="1",
                                DISE_TEST_ENGINE_TRACE=str(events)),
                     init_options={"lsp": {"shutdown_grace_s": 0.5}})
    await session.start()
    uri = session.open("mod.py", stub_file())
    running = await start_generation(session, uri)
    await wait_until(lambda: events.exists() and "start" in events.read_text(),
                     "the engine to start generating")
    assert await _shut_down(session) == 0
    assert events.read_text().splitlines() == ["start is_valid_email"]   # still stuck
    running.cancel()
    with contextlib.suppress(BaseException):
        await running
