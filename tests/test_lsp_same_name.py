"""Two functions with the same name in one file: DiSE's own is never confused with the other.

Issue 14, bug 1: the index was keyed by function name and Accept re-found "the first def of that
name", so a user's ``Helper.add_one`` above DiSE's ``add_one`` got DiSE's hover ("edited since
generated"), its better-version diagnostic and lenses, and Accept replaced the user's method.
The editor test runs the real server, optimiser, sandbox and scoring over ``lsp_phase2_double``
(tests/support/lsp_phase2_session.py); the matching rules of ``dise.lsp.index`` alone are
tests/lsp/test_function_index.py's, and each feature's namesake case is in its unit tests
(tests/lsp/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp

from support.lsp_harness import wait_until
from support.lsp_phase2_session import session

#: The user's own ``Helper.add_one`` comes first; DiSE generates the module-level one.
SOURCE = ('"""Counting."""\n\n\n'
          "class Helper:\n"
          "    def add_one(self, x):\n"
          "        return x + 100\n\n\n"
          "def add_one(x: int) -> int:\n"
          '    """Return x plus one."""\n')


def lines_with(text: str, needle: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if needle in line]


@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_a_namesake_gets_no_hover_no_offer_and_is_never_replaced(tmp_path: Path) -> None:
    # "Replace my edits": the worst answer for the bug
    async with session(tmp_path, answer="Replace my edits") as ed:
        uri = ed.open("counting.py", SOURCE)
        stub_line = lines_with(SOURCE, "def add_one(x: int)")[0]
        [action] = [a for a in await ed.actions(uri, stub_line) if "add_one" in a.title]
        assert (await ed.run_action(action))["applied"]
        text = ed.text(uri)
        [mine] = lines_with(text, "def add_one(self, x)")
        [ours] = lines_with(text, "def add_one(x: int)")

        assert await ed.hover(uri, mine) is None           # the user's method is not DiSE's
        hover = await ed.hover_text(uri, ours)
        assert "add_one" in hover and "edited since generated" not in hover
        lens_lines = {lens.range.start.line for lens in await ed.code_lenses(uri)
                      if lens.command and lens.command.title.startswith("DiSE: fitness")}
        assert lens_lines == {ours}

        answer = await ed.execute("dise.optimize", {"uri": uri, "line": ours})
        assert answer["queued"] == ["add_one"], answer
        found = await wait_until(
            lambda: [d for d in ed.client.diagnostics.get(uri, []) if d.code == "better-version"],
            "the better-version diagnostic")
        assert [d.range.start.line for d in found] == [ours]
        fixes = await ed.actions(uri, ours, only=[lsp.CodeActionKind.QuickFix])
        accept = next(a for a in fixes if "Accept optimized version" in a.title)
        result = await ed.run_action(accept)
        assert result["applied"], result
        text = ed.text(uri)
        assert not ed.asked                                 # DiSE's add_one was not edited
        assert "        return x + 100\n" in text           # the user's method is untouched
        assert "operator.add(x, 1)" in text and "test double" not in text
