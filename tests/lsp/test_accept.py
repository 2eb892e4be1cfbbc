"""Accepting a better version (``dise.lsp.features.accept``) over a ``FakeContext``: the
quick fixes, ``dise.acceptOptimized`` replacing an unedited function, asking before it
overwrites one the user edited, never touching a namesake, and ``codeAction/resolve``."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp

from dise.lsp.features.accept import KEEP, REPLACE, SHOW_DIFF, Accept
from dise.lsp.features.status import Status
from support.feature_scenes import (
    NAMESAKES,
    generate,
    improve,
    line_of,
    quick_fixes,
)
from support.lsp_harness import STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio
STUB = stub_file("add_one", "Return x plus one.")


async def with_better_version(ctx, text: str = STUB, line: int = STUB_LINE) -> tuple[str, str]:
    uri = ctx.open("counting.py", text)
    node = (await generate(ctx, uri, line))["nodeId"]
    await improve(ctx, node)
    return uri, node


async def accept(ctx, uri: str, node: str, version: int = 2) -> dict:
    return await ctx.feature(Accept).cmd_accept({"uri": uri, "nodeId": node,
                                                 "version": version})


async def test_quick_fixes_only_where_a_better_version_exists(ctx) -> None:
    uri = ctx.open("counting.py", STUB)
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    def_line = line_of(ctx.text(uri), "def add_one")
    assert quick_fixes(ctx, uri, def_line) == []
    await improve(ctx, node)
    assert quick_fixes(ctx, uri, def_line) == ["DiSE: Accept optimized version (v2)",
                                               "DiSE: Dismiss optimized version"]
    assert quick_fixes(ctx, uri, line_of(ctx.text(uri), "def finished")) == []


async def test_accept_replaces_an_unedited_function_and_records_it(ctx) -> None:
    uri, node = await with_better_version(ctx)
    result = await accept(ctx, uri, node)
    assert result["applied"] is True and result["version"] == 2
    text = ctx.text(uri)
    assert "operator.add(s, 1)" in text                 # the user's parameter name is kept
    assert '"""Return x plus one."""' in text and text.count("import operator") == 1
    assert "def finished(x):\n    return x + 1\n" in text
    assert ctx.asked == []                               # nothing to ask: not edited
    assert ctx.last_diagnostics(uri) == []               # no better version any more
    status = await ctx.feature(Status).cmd_status({"nodeId": node})
    assert status["currentVersion"] == 2 and status["betterVersion"] is None


async def test_an_edited_function_is_not_overwritten_without_confirmation(ctx) -> None:
    uri, node = await with_better_version(ctx)
    ctx.change(uri, ctx.text(uri).replace("    return math", "    # my own note\n    return math"))
    mine, sent = ctx.text(uri), len(ctx.edits)

    ctx.answers = [KEEP]
    kept = await accept(ctx, uri, node)
    assert kept["applied"] is False and "Kept your edited add_one" in kept["reason"]
    assert "edited" in ctx.asked[-1] and ctx.text(uri) == mine

    ctx.answers = []                                     # the user closed the question
    assert (await accept(ctx, uri, node))["applied"] is False and ctx.text(uri) == mine

    ctx.answers = [SHOW_DIFF]
    diff = await accept(ctx, uri, node)
    assert diff["applied"] is False and "my own note" in diff["diff"]
    assert ctx.text(uri) == mine and len(ctx.edits) == sent

    ctx.answers = [REPLACE]
    assert (await accept(ctx, uri, node))["applied"] is True
    assert "operator.add" in ctx.text(uri) and "my own note" not in ctx.text(uri)


async def test_accept_replaces_dise_s_function_never_the_namesake(ctx) -> None:
    uri, node = await with_better_version(ctx, NAMESAKES,
                                          line_of(NAMESAKES, "def add_one(x: int)"))
    ctx.answers = [REPLACE]                              # the worst answer for the bug
    assert (await accept(ctx, uri, node))["applied"] is True
    text = ctx.text(uri)
    assert ctx.asked == []
    assert "    def add_one(self, x):\n        return x + 100\n" in text
    assert "operator.add(x, 1)" in text


async def test_an_edit_the_editor_refused_is_not_recorded(ctx) -> None:
    uri, node = await with_better_version(ctx)
    before = ctx.text(uri)
    ctx.refuse_edits = True
    result = await accept(ctx, uri, node)
    assert result["applied"] is False and "nothing was recorded" in result["reason"]
    assert ctx.text(uri) == before
    status = await ctx.feature(Status).cmd_status({"nodeId": node})
    assert status["currentVersion"] == 1 and status["betterVersion"] == 2


async def test_a_version_that_does_not_exist_is_refused(ctx) -> None:
    uri, node = await with_better_version(ctx)
    result = await accept(ctx, uri, node, version=7)
    assert result["applied"] is False and "has no version 7" in result["reason"]


async def test_resolve_gives_the_editor_the_edit_and_a_recording_command(ctx) -> None:
    uri, node = await with_better_version(ctx)
    feature = ctx.feature(Accept)
    def_line = line_of(ctx.text(uri), "def add_one")
    [action, _dismiss] = feature.code_actions(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(start=lsp.Position(line=def_line, character=0),
                        end=lsp.Position(line=def_line, character=0)),
        context=lsp.CodeActionContext(diagnostics=[], only=[lsp.CodeActionKind.QuickFix])))
    assert action.data and action.data["dise"] == "accept"   # the profile resolves edits
    resolved = await feature.on_resolve(action)
    assert resolved.edit is not None
    [args] = resolved.command.arguments
    assert "applied" in args
    assert (await ctx.apply_edit(resolved.edit, "the editor applies it"))[0]
    result = await feature.cmd_accept(args)
    assert result["applied"] is True and "operator.add" in ctx.text(uri)
    status = await ctx.feature(Status).cmd_status({"nodeId": node})
    assert status["currentVersion"] == 2
