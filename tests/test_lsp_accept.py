"""Accept through its command (``dise.acceptOptimized``, ``workspace/applyEdit``), through
pytest-lsp over the real optimiser (tests/support/lsp_phase2_session.py): a function the user
edited is never replaced without asking. The ``codeAction/resolve`` path is
test_lsp_accept_resolve.py's; the feature's unit tests are tests/lsp/test_accept.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.lsp_harness import wait_until
from support.lsp_phase2_session import action_titled, better, generated, optimised, session

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]


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
