"""Better versions in the editor, through pytest-lsp with the VS Code and Neovim client
profiles: the diagnostic, lenses, hover and status of a function the real optimiser improved
(tests/support/lsp_phase2_session.py), its Accept quick fix, and Dismiss. The feature's unit
tests are tests/lsp/test_better_version.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp

from support.lsp_harness import PROFILES, wait_until
from support.lsp_phase2_session import (
    action_titled,
    better,
    def_line,
    generated,
    optimised,
    session,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]


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
