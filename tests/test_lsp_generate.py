"""Phase 1 in the editor, through pytest-lsp over the engine double
(tests/support/lsp_shared_server.py): the "generate" code actions, ``dise.generate`` inserting
the function with progress, and what happens while a generation runs (a second request,
cancel, edits). The feature's unit tests are tests/lsp/test_generate.py; the same flows with
the real model are in test_lsp_model.py.
"""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp

from support.lsp_double import MARKER
from support.lsp_harness import COMMENT_LINE, FINISHED_LINE, STUB_LINE, stub_file
from support.lsp_shared_server import (  # noqa: F401  (fixtures)
    ed,
    editor,
    generate_stub,
    line_of,
    messages,
    name,
    shared,
    slow,
    slow_shared,
    start_generation,
    workspace,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


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
