"""``dise.optimize`` in the editor, through pytest-lsp, over the real optimiser
(tests/support/lsp_phase2_session.py). The feature's unit tests are
tests/lsp/test_optimizer.py; cancelling it is test_lsp_protocol.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.lsp_phase2_session import generated, session

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]


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
