"""The language server end to end with the real engine and the embedded model (no double).

Model output varies, so these tests check what a user would notice: the stub becomes a
function with a body, progress was shown, hover reports the metrics the engine measured, and
the server still knows the function after a restart.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import AsyncIterator

import pytest
from lsprotocol import types as lsp
from support.lsp_harness import Editor, server_env, wait_until

pytestmark = [pytest.mark.model, pytest.mark.asyncio, pytest.mark.timeout(600)]

STUB = '''"""Small helpers."""


def add_numbers(a: int, b: int) -> int:
    """Return the sum of a and b.

    >>> add_numbers(2, 3)
    5
    """


def unrelated(x):
    return x * 2
'''
STUB_LINE = 3


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@contextlib.asynccontextmanager
async def real_editor(workspace: Path, profile: str) -> AsyncIterator[Editor]:
    session = Editor(profile, workspace, server_env(engine=None))
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


def def_line(text: str, name: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if f"def {name}(" in line)


async def test_generate_hover_and_restart_with_the_real_model(workspace, models_dir):
    async with real_editor(workspace, "visual-studio-code") as ed:
        uri = ed.open("helpers.py", STUB)
        [action] = await ed.actions(uri, STUB_LINE)
        assert action.title == "DiSE: Generate `add_numbers`"
        result = await ed.run_action(action)
        errors = [m.message for m in ed.messages if m.type == lsp.MessageType.Error]
        assert result["applied"] is True, (result, errors)

        text = ed.text(uri)
        line = def_line(text, "add_numbers")
        assert text.splitlines()[line] == "def add_numbers(a: int, b: int) -> int:"
        assert '    """Return the sum of a and b.' in text
        assert "def unrelated(x):\n    return x * 2\n" in text
        assert await ed.actions(uri, line) == []          # no longer a stub

        [token] = ed.begun_tokens()
        values = ed.progress()[token]
        reports = [v.message for v in values if isinstance(v, lsp.WorkDoneProgressReport)]
        assert any(m.startswith("generating with") for m in reports), reports
        assert isinstance(values[-1], lsp.WorkDoneProgressEnd)

        hover = await ed.hover_text(uri, line)
        assert "fitness" in hover and "coverage" in hover and "tests:" in hover
        assert f"`{result['nodeId']}_v1`" in hover
        assert "qwen" in hover.lower()
        ed.save(uri)

    async with real_editor(workspace, "neovim") as ed:           # restart, other client
        uri = ed.open("helpers.py", text)
        hover = await ed.hover_text(uri, line)
        assert "fitness" in hover and "edited" not in hover
        status = await ed.execute("dise.status", {"uri": uri, "line": line})
        assert status["nodeId"] == result["nodeId"]
        assert 0.0 <= status["fitness"] <= 1.0


async def test_cancel_a_real_generation(workspace, models_dir):
    async with real_editor(workspace, "neovim") as ed:
        uri = ed.open("helpers.py", STUB)
        [action] = await ed.actions(uri, STUB_LINE)
        running = ed.start_action(action)
        [token] = await wait_until(ed.begun_tokens, "progress to begin")
        ed.cancel_progress(token)
        result = await running
        assert result["applied"] is False
        assert ed.text(uri) == STUB
        assert isinstance(ed.progress()[token][-1], lsp.WorkDoneProgressEnd)
        assert len(await ed.actions(uri, STUB_LINE)) == 1
