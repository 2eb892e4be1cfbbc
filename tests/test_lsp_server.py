"""The language server over stdio, as an editor sees it, with the test-double engine.

The double (tests/support/lsp_double.py) writes a fixed, marked function after a short cancellable
wait and stores it in the real ``Store``; everything else is the real server. The same flows
with the real model are in test_lsp_model.py.

To stay quick, most tests share one server per client profile (``ed``) and one slow-engine
server (``slow``), each test in its own document; tests that need their own settings,
environment or a restart start their own server (``editor(...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from lsprotocol import types as lsp
from support.lsp_double import MARKER
from support.lsp_harness import (
    COMMENT_LINE,
    FINISHED_LINE,
    PROFILES,
    STUB_LINE,
    Editor,
    server_env,
    stub_file,
    wait_until,
)
from pygls.exceptions import JsonRpcException

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

#: Generation time of the slow server: long enough to edit, flood or cancel while it runs
#: (cancellation ends it at once).
SLOW_DELAY = "3"
#: For shutdown tests: a generation that would outlast the test (its 120 s timeout).
LONG_DELAY = "600"
#: Upper bound on one shutdown step: a hang guard far below LONG_DELAY, not a speed assertion.
HANG_S = 30.0


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


async def _shared_server(tmp_path_factory, profile: str, **env: str) -> Editor:
    root = tmp_path_factory.mktemp("lsp-shared")
    (root / "ws").mkdir()
    session = Editor(profile, root / "ws", server_env(DISE_HOME=str(root / "home"), **env))
    await session.start()
    return session


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=PROFILES)
async def shared(request, tmp_path_factory) -> AsyncIterator[Editor]:
    session = await _shared_server(tmp_path_factory, request.param)
    yield session
    await session.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slow_shared(tmp_path_factory) -> AsyncIterator[Editor]:
    session = await _shared_server(tmp_path_factory, "visual-studio-code",
                                   DISE_TEST_ENGINE_DELAY=SLOW_DELAY)
    yield session
    await session.stop()


@pytest.fixture
def ed(shared: Editor) -> Editor:
    """The shared server of one profile, with nothing observed yet."""
    shared.reset()
    return shared


@pytest.fixture
def slow(slow_shared: Editor) -> Editor:
    slow_shared.reset()
    return slow_shared


@pytest.fixture
def name(request) -> str:
    """A document name of this test's own."""
    return re.sub(r"\W+", "_", request.node.name).strip("_") + ".py"


@contextlib.asynccontextmanager
async def editor(workspace: Path, profile: str = "visual-studio-code",
                 init_options: dict[str, Any] | None = None,
                 **env: str) -> AsyncIterator[Editor]:
    session = Editor(profile, workspace, server_env(**env), init_options)
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines()):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in:\n{text}")


async def generate_stub(ed: Editor, uri: str, line: int = STUB_LINE) -> dict[str, Any]:
    actions = await ed.actions(uri, line)
    assert len(actions) == 1, [a.title for a in actions]
    return await ed.run_action(actions[0])


async def start_generation(ed: Editor, uri: str) -> Any:
    """Start generating the stub and return once progress has begun."""
    [action] = await ed.actions(uri, STUB_LINE)
    running = ed.start_action(action)
    await wait_until(ed.begun_tokens, "progress to begin")
    return running


def messages(ed: Editor, kind: lsp.MessageType | None = None) -> list[str]:
    return [m.message for m in ed.messages if kind is None or m.type == kind]


# -- listing actions ---------------------------------------------------------------------------
async def test_actions_on_stub_and_comment_but_not_on_finished_function(ed, name):
    uri = ed.open(name, stub_file())
    on_def = await ed.actions(uri, STUB_LINE)
    on_docstring = await ed.actions(uri, STUB_LINE + 1)
    on_comment = await ed.actions(uri, COMMENT_LINE)
    assert [a.title for a in on_def] == ["DiSE: Generate `is_valid_email`"]
    assert [a.title for a in on_docstring] == ["DiSE: Generate `is_valid_email`"]
    assert len(on_comment) == 1
    assert on_comment[0].title.startswith("DiSE: Generate")
    assert "reverse the words" in on_comment[0].title
    assert await ed.actions(uri, FINISHED_LINE) == []
    assert await ed.actions(uri, FINISHED_LINE + 1) == []
    assert await ed.actions(uri, 0) == []
    command = on_def[0].command
    assert command is not None and command.command == "dise.generate"
    assert list(command.arguments) == [{"uri": uri, "line": STUB_LINE, "version": 1,
                                        "name": "is_valid_email"}]
    # a selection over the whole file offers both
    assert len(await ed.actions(uri, 0, COMMENT_LINE)) == 2


async def test_actions_on_methods_decorators_and_the_requested_kind(ed, name):
    uri = ed.open(name, "class Mailer:\n    @staticmethod\n    def send(to: str) -> None:\n"
                        "        ...\n\n    def done(self):\n        return 1\n")
    assert [a.title for a in await ed.actions(uri, 1)] == ["DiSE: Generate `send`"]
    assert [a.title for a in await ed.actions(uri, 3)] == ["DiSE: Generate `send`"]
    assert await ed.actions(uri, 5) == []
    assert await ed.actions(uri, 2, only=[lsp.CodeActionKind.QuickFix]) == []
    assert len(await ed.actions(uri, 2, only=[lsp.CodeActionKind.Refactor])) == 1


async def test_actions_follow_the_document_as_it_changes(ed, name):
    uri = ed.open(name, "def done():\n    return 1\n")
    assert await ed.actions(uri, 0) == []
    ed.replace(uri, "def todo(x):\n    ...\n")
    assert [a.title for a in await ed.actions(uri, 0)] == ["DiSE: Generate `todo`"]
    ed.replace(uri, "def todo(x):\n    return x\n")
    assert await ed.actions(uri, 0) == []


# -- generating --------------------------------------------------------------------------------
async def test_generate_applies_the_edit_with_progress(ed, name):
    uri = ed.open(name, stub_file())
    result = await generate_stub(ed, uri)
    assert result["applied"] is True
    text = ed.text(uri)
    assert MARKER in text
    # signature and docstring kept, the import added once at the top, the rest untouched
    assert "def is_valid_email(s: str) -> bool:\n" \
           '    """Return True if s looks like an email address."""\n' in text
    assert text.count("import math") == 1
    assert line_of(text, "import math") < line_of(text, "def is_valid_email")
    assert "def finished(x):\n    return x + 1\n" in text
    assert "# dise: reverse the words in a sentence" in text

    [token] = ed.begun_tokens()
    values = ed.progress()[token]
    assert isinstance(values[0], lsp.WorkDoneProgressBegin) and values[0].cancellable
    reports = [v.message for v in values if isinstance(v, lsp.WorkDoneProgressReport)]
    assert any("generating" in m for m in reports) and any("testing" in m for m in reports)
    assert isinstance(values[-1], lsp.WorkDoneProgressEnd)
    assert "inserted" in values[-1].message

    # the finished function is no longer offered
    assert await ed.actions(uri, line_of(text, "def is_valid_email")) == []


async def test_generate_from_a_dise_comment(ed, name):
    uri = ed.open(name, stub_file())
    [action] = await ed.actions(uri, COMMENT_LINE)
    result = await ed.run_action(action)
    assert result["applied"] is True
    text = ed.text(uri)
    assert MARKER in text and "# dise: reverse the words" not in text
    hover = await ed.hover_text(uri, line_of(text, "def reverse_the_words"))
    assert "`reverse_the_words`" in hover and "fitness" in hover


async def test_editor_refusing_the_edit_is_reported(ed, name):
    uri = ed.open(name, stub_file())
    ed.refuse_edits = True
    result = await generate_stub(ed, uri)
    assert result["applied"] is False
    assert any("did not apply" in m for m in messages(ed))
    assert ed.text(uri) == stub_file()


async def test_engine_error_is_shown_in_the_users_words(workspace):
    problem = "No model available: run `dise models pull qwen2.5-coder-0.5b` or start Ollama."
    async with editor(workspace, DISE_TEST_ENGINE_FAIL=problem) as ed:
        uri = ed.open("mod.py", stub_file())
        result = await generate_stub(ed, uri)
        assert result["applied"] is False
        assert problem in messages(ed, lsp.MessageType.Error)
        assert any(problem in m.message for m in ed.client.log_messages)
        assert ed.text(uri) == stub_file()


# -- while a generation runs: a second request, cancel, edits -----------------------------------
async def test_second_request_for_the_same_stub_while_running_is_refused(slow, name):
    uri = slow.open(name, stub_file())
    first = await start_generation(slow, uri)
    [action] = await slow.actions(uri, STUB_LINE)
    second = await slow.run_action(action)
    assert second["applied"] is False and "already generating" in second["reason"]
    assert (await first)["applied"] is True
    assert slow.text(uri).count(MARKER) == 1


async def test_cancel_a_generation_from_the_progress_bar(slow, name):
    uri = slow.open(name, stub_file())
    running = await start_generation(slow, uri)
    [token] = slow.begun_tokens()
    slow.cancel_progress(token)
    result = await running
    assert result["applied"] is False and result.get("cancelled") is True
    assert slow.text(uri) == stub_file()
    assert isinstance(slow.progress()[token][-1], lsp.WorkDoneProgressEnd)
    assert any("cancelled" in m for m in messages(slow))
    # the server is still there and the stub still offered
    assert len(await slow.actions(uri, STUB_LINE)) == 1


async def test_stub_edited_during_generation_is_not_overwritten(slow, name):
    uri = slow.open(name, stub_file())
    running = await start_generation(slow, uri)
    changed = stub_file(doc="Return True if s is an email address with a dot.")
    slow.replace(uri, changed)
    result = await running
    assert result["applied"] is False
    assert "changed" in result["reason"]
    assert slow.text(uri) == changed
    assert any("changed while DiSE was generating" in m
               for m in messages(slow, lsp.MessageType.Warning))


async def test_generation_reanchors_when_lines_move(slow, name):
    uri = slow.open(name, stub_file())
    running = await start_generation(slow, uri)
    slow.insert(uri, 2, "CONSTANT = 1\n\n\ndef helper():\n    return CONSTANT\n\n")
    result = await running
    assert result["applied"] is True
    text = slow.text(uri)
    assert "CONSTANT = 1\n" in text and "def helper():\n    return CONSTANT\n" in text
    body = text.split("def is_valid_email", 1)[1]
    assert MARKER in body.split("def finished", 1)[0]


async def test_flood_of_changes_during_generation(slow, name):
    uri = slow.open(name, stub_file())
    running = await start_generation(slow, uri)
    for n in range(300):
        slow.insert(uri, 0, f"# line {n}\n")
    result = await running
    text = slow.text(uri)
    if result["applied"]:
        assert text.count(MARKER) == 1
    else:
        assert MARKER not in text
    assert text.count("# line ") == 300
    # the server still answers, on the latest text
    assert len(await slow.actions(uri, line_of(text, "# dise:"))) == 1


# -- hover and recognising generated functions -------------------------------------------------
async def test_hover_shows_the_metrics(ed, name):
    uri = ed.open(name, stub_file())
    await generate_stub(ed, uri)
    text = ed.text(uri)
    hover = await ed.hover_text(uri, line_of(text, "def is_valid_email"))
    for expected in ("fitness", "0.62", "quality", "0.90", "latency", "400 µs", "coverage",
                     "75%", "3/4 passed", "doctest 1/1", "model 2/3", "test-double",
                     "double-model", "generation time", "version: 1", "parent: –",
                     "phase1", "queued: fitness 0.62 < 0.8"):
        assert expected in hover, (expected, hover)
    assert "edited" not in hover
    assert await ed.hover_text(uri, line_of(text, MARKER), 8) == hover  # a body line
    assert await ed.hover_text(uri, line_of(text, "def finished")) == ""
    assert await ed.hover_text(uri, line_of(text, "import os")) == ""


async def test_hover_marks_a_user_edit(ed, name):
    uri = ed.open(name, stub_file())
    await generate_stub(ed, uri)
    ed.replace(uri, ed.text(uri).replace("math.prod([1])", "math.prod([2])"))
    hover = await ed.hover_text(uri, line_of(ed.text(uri), "def is_valid_email"))
    assert "edited since generated" in hover and "0.62" in hover


@pytest.mark.parametrize("profile", PROFILES)
async def test_hover_knows_the_function_after_reopen_and_restart(workspace, profile):
    async with editor(workspace, profile) as ed:
        uri = ed.open("mod.py", stub_file())
        await generate_stub(ed, uri)
        generated = ed.text(uri)
        ed.save(uri)
        ed.close(uri)
        uri = ed.open("mod.py", generated)
        def_line = line_of(generated, "def is_valid_email")
        assert "0.62" in await ed.hover_text(uri, def_line)

    async with editor(workspace, profile) as ed:          # a new server process
        uri = ed.open("mod.py", generated)
        hover = await ed.hover_text(uri, def_line)
        assert "fitness" in hover and "0.62" in hover and "edited" not in hover
        # a copy pasted into another file is recognised by its text
        other = ed.open("copy.py", "X = 1\n\n\n" + generated[generated.index("def is_valid"):])
        assert "0.62" in await ed.hover_text(other, 3)


async def test_code_lenses_for_stubs_and_generated_functions(ed, name):
    uri = ed.open(name, stub_file())
    titles = [lens.command.title for lens in await ed.code_lenses(uri)]
    assert "DiSE: Generate `is_valid_email`" in titles
    await generate_stub(ed, uri)
    lenses = await ed.code_lenses(uri)
    [score] = [lens for lens in lenses if "fitness" in lens.command.title]
    assert "0.62" in score.command.title
    assert score.range.start.line == line_of(ed.text(uri), "def is_valid_email")
    shown = await ed.execute(score.command.command, *score.command.arguments)
    assert MARKER in shown["code"]


# -- commands ----------------------------------------------------------------------------------
async def test_status_and_show_artifact_commands(ed, name):
    uri = ed.open(name, stub_file())
    result = await generate_stub(ed, uri)
    node = result["nodeId"]
    status = await ed.execute("dise.status", {"nodeId": node})
    assert status["fitness"] == pytest.approx(0.62)
    assert status["queuePosition"] >= 1
    assert [v["version"] for v in status["versions"]] == [1]
    def_line = line_of(ed.text(uri), "def is_valid_email")
    by_place = await ed.execute("dise.status", {"uri": uri, "line": def_line})
    assert by_place["nodeId"] == node
    shown = await ed.execute("dise.showArtifact", {"nodeId": node})
    assert MARKER in shown["code"] and "fitness" in shown["markdown"]
    overview = await ed.execute("dise.status")
    assert overview["jobs"] == [] and overview["knownFunctions"] >= 1

    missing = await ed.execute("dise.status", {"nodeId": "no_such_function"})
    assert "No stored function" in missing["reason"]
    assert any("No stored function" in m for m in messages(ed, lsp.MessageType.Error))


# -- settings ----------------------------------------------------------------------------------
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


# -- malformed and hostile input ---------------------------------------------------------------
async def test_unknown_uris_bad_positions_and_bad_arguments(ed, name):
    uri = ed.open(name, stub_file())
    ghost = (ed.workspace / "ghost.py").as_uri()
    assert await ed.actions(ghost, 0) == []
    assert await ed.hover(ghost, 0) is None
    assert await ed.code_lenses(ghost) == []
    assert await ed.hover(uri, 10_000, 10_000) is None
    assert await ed.actions(uri, 10_000) == []
    assert await ed.hover(uri, STUB_LINE, 10_000) is None   # past the end of the line
    result = await ed.execute("dise.generate", {"uri": ghost, "line": 0})
    assert result["applied"] is False and "not open" in result["reason"]
    result = await ed.execute("dise.generate", {"uri": uri, "line": FINISHED_LINE})
    assert result["applied"] is False
    for bad in ([], ["not an object"], [{"uri": uri}], [{"uri": uri, "line": -1}],
                [{"uri": uri, "line": "three"}]):
        with pytest.raises(JsonRpcException):
            await ed.execute("dise.generate", *bad)
    with pytest.raises(JsonRpcException):
        await ed.execute("dise.noSuchCommand")
    # still serving
    assert len(await ed.actions(uri, STUB_LINE)) == 1


async def test_a_one_megabyte_document(ed, name):
    comment = "# " + "data " * 20 + "\n"
    filler = "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" + comment * 8
                     for n in range(1_200))
    text = stub_file() + "\n\n" + filler
    assert len(text) > 1_000_000
    uri = ed.open(name, text)
    assert [a.title for a in await ed.actions(uri, STUB_LINE)] == [
        "DiSE: Generate `is_valid_email`"]
    assert await ed.actions(uri, 0, len(text.splitlines())) != []   # select all
    assert await ed.hover(uri, len(text.splitlines()) - 2) is None
    assert len(await ed.code_lenses(uri)) == 2
    result = await generate_stub(ed, uri)
    assert result["applied"] is True
    assert MARKER in ed.text(uri)
    assert "0.62" in await ed.hover_text(uri, line_of(ed.text(uri), "def is_valid_email"))


async def _shut_down(session: Editor) -> int:
    """``shutdown`` (answered), then ``exit``; the server's exit code, each step bounded by
    ``HANG_S`` (pytest-lsp's ``shutdown_session`` would wait for the process forever)."""
    await asyncio.wait_for(session.client.shutdown_async(None), HANG_S)
    session.client.exit(None)
    server = session.client._server
    await asyncio.wait_for(server.wait(), HANG_S)
    await session.client.stop()
    return server.returncode


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
