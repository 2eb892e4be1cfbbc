"""Phase 2 in the editor, through pytest-lsp with the VS Code and Neovim client profiles.

The server runs the real optimiser, sandbox and scoring over ``lsp_phase2_double`` (a weak
first version; the optimiser's model is scripted to answer a correct one), so the better
version, its diagnostic, lenses, hover and quick fix are real and quick.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from lsprotocol import types as lsp

from support.lsp_harness import PROFILES, Editor, server_env, wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]
ENGINE = "support.lsp_phase2_double:Phase2DoubleEngine"
#: A short optimiser run: one variant, no incremental steps.
QUICK = {"optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.3],
                      "approaches": ["plain"], "max_attempts": 1, "patience": 1,
                      "incremental_max_steps": 0, "poll_interval_s": 0.1}}
STUB = ('"""Counting."""\n\n\n'
        "def add_one(x: int) -> int:\n"
        '    """Return x plus one."""\n')


@contextlib.asynccontextmanager
async def session(tmp_path: Path, profile: str) -> AsyncIterator[Editor]:
    (tmp_path / "ws").mkdir()
    ed = Editor(profile, tmp_path / "ws",
                server_env(ENGINE, DISE_HOME=str(tmp_path / "home")), QUICK)
    ed.states = []
    ed.asked = []
    ed.answer = "Keep mine"

    @ed.client.feature("dise/optimizerState")
    def on_state(ls: Any, params: Any) -> None:
        ed.states.append(params)

    @ed.client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_ask(ls: Any, params: lsp.ShowMessageRequestParams):
        ed.asked.append(params.message)
        return lsp.MessageActionItem(title=ed.answer)

    ed.init = await ed.start()
    try:
        yield ed
    finally:
        await ed.stop()


def better(ed: Editor, uri: str) -> list[lsp.Diagnostic]:
    return [d for d in ed.client.diagnostics.get(uri, []) if d.code == "better-version"]


async def generated(ed: Editor) -> str:
    uri = ed.open("counting.py", STUB)
    [action] = [a for a in await ed.actions(uri, 3) if "add_one" in a.title]
    result = await ed.run_action(action)
    assert result["applied"], result
    assert "written by the DiSE test double" in ed.text(uri)
    return uri


def def_line(ed: Editor, uri: str) -> int:
    return next(i for i, t in enumerate(ed.text(uri).splitlines()) if "def add_one" in t)


async def optimised(ed: Editor, uri: str) -> lsp.Diagnostic:
    answer = await ed.execute("dise.optimize", {"uri": uri, "line": def_line(ed, uri)})
    assert answer["queued"] and "queued" in answer["message"]
    found = await wait_until(lambda: better(ed, uri), "the better-version diagnostic")
    return found[0]


async def action_titled(ed: Editor, uri: str, text: str) -> lsp.CodeAction:
    actions = await ed.actions(uri, def_line(ed, uri), only=[lsp.CodeActionKind.QuickFix])
    return next(a for a in actions if text in a.title)


@pytest.mark.parametrize("profile", PROFILES)
async def test_better_version_reaches_the_editor_and_the_quick_fix_replaces_it(
        tmp_path: Path, profile: str) -> None:
    async with session(tmp_path, profile) as ed:
        uri = await generated(ed)
        diagnostic = await optimised(ed, uri)
        assert diagnostic.severity == lsp.DiagnosticSeverity.Information
        assert diagnostic.source == "dise"
        assert diagnostic.message.startswith("Better version available: fitness ")
        assert "(v2, qwen-0.5b @ 0.3)" in diagnostic.message
        line = def_line(ed, uri)
        assert diagnostic.range.start.line == line

        titles = [lens.command.title for lens in await ed.code_lenses(uri) if lens.command]
        assert any(t.startswith("⚡ Better version available") for t in titles), titles
        assert "Accept" in titles and "Show diff" in titles
        hover = await ed.hover_text(uri, line)
        assert "version in the file" in hover and "better version" in hover
        status = await ed.execute("dise.status", {"uri": uri, "line": line})
        assert status["currentVersion"] == 1 and status["latestVersion"] == 2
        if profile == "visual-studio-code":
            assert any(token for token in ed.begun_tokens() if "optimize" in str(token))
            assert any(getattr(s, "state", None) or (isinstance(s, dict) and s.get("state"))
                       for s in ed.states)

        accept = await action_titled(ed, uri, "Accept optimized version (v2)")
        assert accept.kind == lsp.CodeActionKind.QuickFix and accept.diagnostics
        result = await ed.run_action(accept)
        assert result["applied"], result
        text = ed.text(uri)
        assert "operator.add(x, 1)" in text            # the user's parameter name is kept
        assert text.count("import operator") == 1
        assert '"""Return x plus one."""' in text and "test double" not in text
        await wait_until(lambda: not better(ed, uri), "the diagnostic to go away")
        titles = [lens.command.title for lens in await ed.code_lenses(uri) if lens.command]
        assert not any("Better version" in t for t in titles), titles
        assert any("v2" in t for t in titles), titles
        assert not await ed.actions(uri, def_line(ed, uri), only=[lsp.CodeActionKind.QuickFix])


async def test_an_edited_function_is_never_clobbered(tmp_path: Path) -> None:
    async with session(tmp_path, "visual-studio-code") as ed:
        uri = await generated(ed)
        line = next(i for i, t in enumerate(ed.text(uri).splitlines()) if "return" in t)
        ed.insert(uri, line, "    # my own note\n")
        await optimised(ed, uri)
        mine = ed.text(uri)
        accept = await action_titled(ed, uri, "Accept optimized version")

        ed.answer = "Keep mine"
        result = await ed.run_action(accept)
        assert not result["applied"] and ed.text(uri) == mine
        assert ed.asked and "edited" in ed.asked[-1]
        ed.answer = "Show diff"
        result = await ed.run_action(accept)
        assert not result["applied"] and "my own note" in result["diff"]
        assert ed.text(uri) == mine and better(ed, uri)

        ed.answer = "Replace my edits"
        result = await ed.run_action(accept)
        assert result["applied"] and "operator.add" in ed.text(uri)
        await wait_until(lambda: not better(ed, uri), "the diagnostic to go away")


async def test_dismiss_keeps_the_current_version_and_stops_offering_it(tmp_path: Path) -> None:
    async with session(tmp_path, "neovim") as ed:
        uri = await generated(ed)
        await optimised(ed, uri)
        before = ed.text(uri)
        dismiss = await action_titled(ed, uri, "Dismiss optimized version")
        assert (await ed.run_action(dismiss))["dismissed"]
        await wait_until(lambda: not better(ed, uri), "the diagnostic to go away")
        assert ed.text(uri) == before
        titles = [lens.command.title for lens in await ed.code_lenses(uri) if lens.command]
        assert not any("Better version" in t for t in titles)
        ed.close(uri)                                  # persisted: not offered on reopen
        uri = ed.open("counting.py", before)
        await ed.hover_text(uri, def_line(ed, uri))
        assert not better(ed, uri)
        status = await ed.execute("dise.status", {"uri": uri, "line": def_line(ed, uri)})
        assert status["dismissedVersion"] == 2 and status["betterVersion"] is None


async def test_optimize_command_scopes_and_errors(tmp_path: Path) -> None:
    async with session(tmp_path, "visual-studio-code") as ed:
        uri = await generated(ed)
        assert (await ed.execute("dise.optimize", {"uri": uri}))["queued"] == ["add_one"]
        assert (await ed.execute("dise.optimize", {"all": True}))["queued"] == ["add_one"]
        missing = await ed.execute("dise.optimize", {"nodeId": "nope"})
        assert missing["queued"] == [] and "nope" in missing["reason"]
        other = ed.open("empty.py", "x = 1\n")
        answer = await ed.execute("dise.optimize", {"uri": other, "line": 0})
        assert answer["queued"] == [] and "No DiSE-generated function" in answer["reason"]
        init = ed.init.capabilities.execute_command_provider.commands
        assert "dise.optimize" in init and "dise.showOptimizedDiff" not in init
