"""The LSP channel is private: native code redirecting or writing to fd 1 cannot touch it.

Regression: with the embedded model, llama.cpp pointed fds 1 and 2 at /dev/null while it
loaded the model, so any response sent meanwhile was lost and the editor waited forever
(found by bench/lsp_latency.py: a codeAction during the first generation never answered).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.lsp_harness import STUB_LINE, Editor, server_env, stub_file, wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]
#: A hang guard, not a speed assertion: each request answers in milliseconds.
ANSWER_LIMIT_S = 30.0


async def test_requests_answer_while_native_code_redirects_stdout(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    marker = tmp_path / "redirected"
    env = server_env("support.noisy_engine:NoisyEngine", DISE_NOISY_MARKER=str(marker),
                     DISE_NOISY_HOLD_S="3")
    ed = Editor("neovim", ws, env)
    await ed.start()
    try:
        uri = ed.open("mod.py", stub_file())
        [action] = await ed.actions(uri, STUB_LINE)
        running = ed.start_action(action)
        await wait_until(marker.exists, "the engine to redirect fds 1 and 2")

        # Asked and answered while fds 1 and 2 point at /dev/null.
        actions = await asyncio.wait_for(ed.actions(uri, STUB_LINE), ANSWER_LIMIT_S)
        assert [a.title for a in actions] == [action.title]
        assert await asyncio.wait_for(ed.hover(uri, 0), ANSWER_LIMIT_S) is None
        assert marker.exists()

        result = await asyncio.wait_for(running, ANSWER_LIMIT_S * 2)
        assert result["applied"] is True      # stray prints after the redirect harmed nothing
        line = ed.text(uri).splitlines().index("def is_valid_email(s: str) -> bool:")
        assert "fitness" in await ed.hover_text(uri, line)
    finally:
        await ed.stop()
