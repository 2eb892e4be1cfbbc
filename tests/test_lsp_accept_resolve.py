"""Accept as a ``codeAction/resolve`` edit (on by default), through pytest-lsp (both client
profiles list ``edit`` in ``codeAction.resolveSupport``).

The server runs the real optimiser, sandbox and scoring over ``lsp_phase2_double`` (a weak
first version, then a correct one), as in test_lsp_accept.py. Resolving the Accept quick fix
gives the editor the edit itself (versioned for the document it was computed from) and a
command that records the acceptance once the text is in the file: the server sends no
``workspace/applyEdit``. The generate actions resolve to themselves and still run. A
client without ``edit`` in its resolve support, or a server started with
``DISE_CODE_ACTION_RESOLVE=0``, gets Accept through its command (the rest of the command path
is test_lsp_accept.py's).
"""

from __future__ import annotations

import asyncio

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from lsprotocol import types as lsp

from pytest_lsp import client_capabilities
from support.lsp_harness import PROFILES, Editor, server_env, wait_until
from support.lsp_phase2_session import ENGINE, QUICK, STUB, better, def_line

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]


@contextlib.asynccontextmanager
async def session(tmp_path: Path, profile: str, *, resolves: bool = True,
                  capabilities: lsp.ClientCapabilities | None = None,
                  **env: str) -> AsyncIterator[Editor]:
    (tmp_path / "ws").mkdir()
    ed = Editor(profile, tmp_path / "ws",
                server_env(ENGINE, DISE_HOME=str(tmp_path / "home"), **env), QUICK,
                capabilities=capabilities)
    ed.asked = []

    @ed.client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_ask(ls: Any, params: lsp.ShowMessageRequestParams):
        ed.asked.append(params.message)
        return lsp.MessageActionItem(title="Keep mine")

    init = await ed.start()
    assert bool(init.capabilities.code_action_provider.resolve_provider) is resolves
    try:
        yield ed
    finally:
        await ed.stop()


async def with_better_version(ed: Editor) -> str:
    uri = ed.open("counting.py", STUB)
    [action] = [a for a in await ed.actions(uri, 3) if "add_one" in a.title]
    assert (await ed.run_action(action))["applied"]
    answer = await ed.execute("dise.optimize", {"uri": uri, "line": def_line(ed, uri)})
    assert answer["queued"], answer
    await wait_until(lambda: better(ed, uri), "the better-version diagnostic")
    return uri


async def accept_action(ed: Editor, uri: str) -> lsp.CodeAction:
    actions = await ed.actions(uri, def_line(ed, uri), only=[lsp.CodeActionKind.QuickFix])
    return next(a for a in actions if "Accept optimized version" in a.title)


async def resolve(ed: Editor, action: lsp.CodeAction) -> lsp.CodeAction:
    return await ed.client.code_action_resolve_async(action)


@pytest.mark.parametrize("profile", PROFILES)
async def test_the_editor_applies_the_resolved_edit_and_the_server_records_it(
        tmp_path: Path, profile: str) -> None:
    async with session(tmp_path, profile) as ed:
        uri = await with_better_version(ed)
        accept = await accept_action(ed, uri)
        assert accept.edit is None and accept.command is not None   # older clients: command
        resolved = await resolve(ed, accept)
        assert resolved.edit is not None and resolved.command is not None
        if resolved.edit.document_changes:
            [change] = resolved.edit.document_changes
            assert change.text_document.version == ed.docs[uri].version
        sent = len(ed.applied)
        assert ed.apply_own_edit(resolved.edit)
        text = ed.text(uri)
        assert "operator.add(x, 1)" in text and text.count("import operator") == 1
        result = await ed.execute(resolved.command.command, *resolved.command.arguments)
        assert result["applied"] and result["version"] == 2, result
        assert len(ed.applied) == sent            # the server sent no workspace/applyEdit
        assert ed.text(uri) == text
        await wait_until(lambda: not better(ed, uri), "the diagnostic to go away")
        status = await ed.execute("dise.status", {"uri": uri, "line": def_line(ed, uri)})
        assert status["currentVersion"] == 2 and status["betterVersion"] is None
        hover = await ed.hover_text(uri, def_line(ed, uri))
        assert "edited" not in hover.lower()


async def test_a_resolved_accept_whose_command_is_lost_is_recorded_from_the_edit(
        tmp_path: Path) -> None:
    """VS Code can lose a resolved action's command ("Actual command not found") after
    applying its edit: the document change alone records the acceptance (the function reads
    as v2, not "edited since generated"), and a command that arrives late still works."""
    async with session(tmp_path, "visual-studio-code") as ed:
        uri = await with_better_version(ed)
        resolved = await resolve(ed, await accept_action(ed, uri))
        assert resolved.edit is not None and ed.apply_own_edit(resolved.edit)

        async def current() -> int:
            status = await ed.execute("dise.status", {"uri": uri, "line": def_line(ed, uri)})
            return status["currentVersion"]

        for _ in range(100):                  # no command: the text alone must tell
            if await current() == 2:
                break
            await asyncio.sleep(0.1)
        assert await current() == 2
        await wait_until(lambda: not better(ed, uri), "the diagnostic to go away")
        assert "edited" not in (await ed.hover_text(uri, def_line(ed, uri))).lower()
        late = await ed.execute(resolved.command.command, *resolved.command.arguments)
        assert late["applied"] and late["version"] == 2, late


async def test_an_edit_the_editor_did_not_apply_is_not_recorded(tmp_path: Path) -> None:
    async with session(tmp_path, "visual-studio-code") as ed:
        uri = await with_better_version(ed)
        before = ed.text(uri)
        resolved = await resolve(ed, await accept_action(ed, uri))
        assert resolved.edit is not None
        result = await ed.execute(resolved.command.command, *resolved.command.arguments)
        assert not result["applied"] and "nothing was recorded" in result["reason"], result
        assert ed.text(uri) == before and better(ed, uri)
        status = await ed.execute("dise.status", {"uri": uri, "line": def_line(ed, uri)})
        assert status["currentVersion"] == 1 and status["betterVersion"] == 2


async def test_an_edited_function_is_left_to_the_command_that_asks(tmp_path: Path) -> None:
    async with session(tmp_path, "visual-studio-code") as ed:
        uri = await with_better_version(ed)
        line = next(i for i, t in enumerate(ed.text(uri).splitlines()) if "return" in t)
        ed.insert(uri, line, "    # my own note\n")
        mine = ed.text(uri)
        accept = await accept_action(ed, uri)
        resolved = await resolve(ed, accept)
        assert resolved.edit is None and resolved.command is not None
        result = await ed.execute(resolved.command.command, *resolved.command.arguments)
        assert not result["applied"] and ed.asked and "edited" in ed.asked[-1]
        assert ed.text(uri) == mine


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_generate_action_resolves_to_itself_and_still_runs(tmp_path: Path,
                                                                   profile: str) -> None:
    """What VS Code and Neovim do with every chosen action of a server that resolves."""
    async with session(tmp_path, profile) as ed:
        uri = ed.open("counting.py", STUB)
        [action] = [a for a in await ed.actions(uri, 3) if "add_one" in a.title]
        assert action.data is None and action.edit is None
        resolved = await resolve(ed, action)
        assert resolved.edit is None and resolved.command == action.command
        assert (await ed.run_action(resolved))["applied"]
        assert "def add_one" in ed.text(uri) and ed.text(uri) != STUB


def _without_edit_resolve(profile: str) -> lsp.ClientCapabilities:
    caps = client_capabilities(profile)
    caps.text_document.code_action.resolve_support = None
    return caps


@pytest.mark.parametrize("how", ["client without resolve support", "DISE_CODE_ACTION_RESOLVE=0"])
async def test_without_resolve_accept_is_the_command_that_sends_the_edit(tmp_path: Path,
                                                                         how: str) -> None:
    if how.startswith("client"):
        opened = session(tmp_path, "visual-studio-code",
                         capabilities=_without_edit_resolve("visual-studio-code"))
    else:
        opened = session(tmp_path, "visual-studio-code", resolves=False,
                         DISE_CODE_ACTION_RESOLVE="0")
    async with opened as ed:
        uri = await with_better_version(ed)
        accept = await accept_action(ed, uri)
        assert accept.data is None and accept.edit is None
        result = await ed.run_action(accept)
        assert result["applied"] and result["version"] == 2, result
        assert len(ed.applied) == 2           # the generation's edit and the Accept's
        assert "operator.add(x, 1)" in ed.text(uri)
        await wait_until(lambda: not better(ed, uri), "the diagnostic to go away")
