"""Accept as a ``codeAction/resolve`` edit, through pytest-lsp (both client profiles list
``edit`` in ``codeAction.resolveSupport``).

The server runs the real optimiser, sandbox and scoring over ``lsp_phase2_double`` (a weak
first version, then a correct one), as in test_lsp_accept.py. Resolving the Accept quick fix
gives the editor the edit itself (versioned for the document it was computed from) and a
command that records the acceptance once the text is in the file: the server sends no
``workspace/applyEdit``. The command path (older clients, edited functions) is
test_lsp_accept.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp

from support.lsp_harness import PROFILES, Editor, wait_until
from support.lsp_phase2_session import better, def_line, generated, optimised
from support.lsp_phase2_session import session as phase2_session

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]


def session(tmp_path: Path, profile: str):
    """A Phase 2 session whose server resolves Accept (``DISE_CODE_ACTION_RESOLVE=1``)."""
    return phase2_session(tmp_path, profile, DISE_CODE_ACTION_RESOLVE="1")


async def with_better_version(ed: Editor) -> str:
    assert ed.init.capabilities.code_action_provider.resolve_provider
    uri = await generated(ed)
    await optimised(ed, uri)
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
