"""Generation (``dise.lsp.features.generate``) over a ``FakeContext``: the "generate" actions,
``dise.generate`` inserting the function with progress, and the clear refusals (no stub
there, file not open, the stub changed meanwhile, the editor refused, the engine failed)."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp

from dise.lsp.features.generate import Generate
from dise.lsp.features.known import KnownFunctions
from support.feature_scenes import code_actions, fake_context, line_of
from support.lsp_double import MARKER
from support.lsp_harness import COMMENT_LINE, FINISHED_LINE, STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio


async def run(ctx, uri: str, line: int, **extra) -> dict:
    return await ctx.feature(Generate).cmd_generate({"uri": uri, "line": line, **extra})


async def test_actions_on_the_stub_and_the_comment_but_not_the_finished_function(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    [on_def] = code_actions(ctx, uri, STUB_LINE)
    assert on_def.title == "DiSE: Generate `is_valid_email`"
    assert on_def.command.arguments == [{"uri": uri, "line": STUB_LINE, "version": 1,
                                         "name": "is_valid_email"}]
    [on_comment] = code_actions(ctx, uri, COMMENT_LINE)
    assert "reverse the words" in on_comment.title
    assert code_actions(ctx, uri, FINISHED_LINE) == []
    assert code_actions(ctx, uri, STUB_LINE, only=[lsp.CodeActionKind.QuickFix]) == []


async def test_generate_inserts_the_function_with_progress(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    result = await run(ctx, uri, STUB_LINE)
    assert result["applied"] is True and result["fitness"] == pytest.approx(0.62)
    text = ctx.text(uri)
    assert MARKER in text and text.count("import math") == 1
    assert line_of(text, "import math") < line_of(text, "def is_valid_email")
    assert "def finished(x):\n    return x + 1\n" in text
    [(edit, label)] = ctx.edits
    assert label == "DiSE: generate is_valid_email"
    [events] = ctx.work_done.events.values()
    assert isinstance(events[0], lsp.WorkDoneProgressBegin) and events[0].cancellable
    assert isinstance(events[-1], lsp.WorkDoneProgressEnd) and "inserted" in events[-1].message
    assert ctx.feature(Generate).jobs == {}
    assert code_actions(ctx, uri, line_of(text, "def is_valid_email")) == []


async def test_a_request_for_a_finished_function_is_refused_clearly(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    result = await run(ctx, uri, FINISHED_LINE)
    assert result["applied"] is False
    assert result["reason"] == (f"There is no stub or `# dise:` comment on line "
                                f"{FINISHED_LINE + 1} of mod.py any more; list the code "
                                "actions again.")
    assert ctx.messages(lsp.MessageType.Warning) == [result["reason"]]
    assert ctx.text(uri) == stub_file() and ctx.edits == []


async def test_a_file_the_editor_has_not_open_is_refused(ctx) -> None:
    result = await run(ctx, ctx.uri("ghost.py"), 0)
    assert result["applied"] is False and "not open in the editor" in result["reason"]


async def test_a_stub_edited_while_generating_is_not_overwritten(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    changed = stub_file(doc="Return True if s is an email address with a dot.")
    ctx.meanwhile.append(lambda: ctx.change(uri, changed))     # while the model runs
    result = await run(ctx, uri, STUB_LINE)
    assert result["applied"] is False and "changed while DiSE was generating" in result["reason"]
    assert ctx.text(uri) == changed and ctx.edits == []
    assert result["nodeId"]              # stored, and the user is told where


async def test_lines_inserted_above_while_generating_move_the_insertion(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    ctx.meanwhile.append(lambda: ctx.change(uri, "CONSTANT = 1\n\n\n" + stub_file()))
    result = await run(ctx, uri, STUB_LINE)
    assert result["applied"] is True
    text = ctx.text(uri)
    assert "CONSTANT = 1\n" in text and text.count("import math") == 1
    assert MARKER in text.split("def is_valid_email", 1)[1].split("def finished", 1)[0]


async def test_an_edit_the_editor_refuses_is_reported_and_not_recorded(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    ctx.refuse_edits = True
    result = await run(ctx, uri, STUB_LINE)
    assert result["applied"] is False and "did not apply" in result["reason"]
    assert ctx.text(uri) == stub_file()
    assert ctx.feature(KnownFunctions).index.entries(uri) is None


async def test_an_engine_error_is_shown_in_the_users_words(tmp_path, monkeypatch) -> None:
    problem = "No model available: run `dise models pull qwen2.5-coder-0.5b` or start Ollama."
    monkeypatch.setenv("DISE_TEST_ENGINE_FAIL", problem)
    ctx = fake_context(tmp_path / "ws")
    uri = ctx.open("mod.py", stub_file())
    result = await run(ctx, uri, STUB_LINE)
    assert result == {"applied": False, "reason": problem}
    assert ctx.messages(lsp.MessageType.Error) == [problem]
    assert ctx.text(uri) == stub_file()
    ctx.close_backend()
