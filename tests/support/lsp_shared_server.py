"""TEST-ONLY fixtures and steps of the pytest-lsp tests over the engine double
(tests/support/lsp_double.py), which writes a fixed, marked function after a short cancellable
wait and stores it in the real ``Store``; everything else is the real server.

To stay quick, a test module shares one server per client profile (``ed``) and one
slow-engine server (``slow``), each test in its own document (``name``); tests that need their
own settings, environment or a restart start their own server (``editor(...)``). A module
imports the fixtures it uses (``from support.lsp_shared_server import ed, name, shared``) and
runs on one event loop per module (``pytest.mark.asyncio(loop_scope="module")``).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from lsprotocol import types as lsp

from support.lsp_harness import PROFILES, STUB_LINE, Editor, server_env, wait_until

#: Generation time of the slow server: long enough to edit, flood or cancel while it runs
#: (cancellation ends it at once).
SLOW_DELAY = "3"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


async def _shared_server(tmp_path_factory, profile: str, **env: str) -> Editor:
    root = tmp_path_factory.mktemp("lsp-shared")
    (root / "ws").mkdir()
    session = Editor(profile, root / "ws", server_env(DISE_HOME=str(root / "home"), **env))
    await session.start()
    return session


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=PROFILES)
async def shared(request, tmp_path_factory) -> AsyncIterator[Editor]:
    session = await _shared_server(tmp_path_factory, request.param)
    yield session
    await session.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slow_shared(tmp_path_factory) -> AsyncIterator[Editor]:
    session = await _shared_server(tmp_path_factory, "visual-studio-code",
                                   DISE_TEST_ENGINE_DELAY=SLOW_DELAY)
    yield session
    await session.stop()


@pytest.fixture
def ed(shared: Editor) -> Editor:
    """The shared server of one profile, with nothing observed yet."""
    shared.reset()
    return shared


@pytest.fixture
def slow(slow_shared: Editor) -> Editor:
    slow_shared.reset()
    return slow_shared


@pytest.fixture
def name(request) -> str:
    """A document name of this test's own."""
    return re.sub(r"\W+", "_", request.node.name).strip("_") + ".py"


@contextlib.asynccontextmanager
async def editor(workspace: Path, profile: str = "visual-studio-code",
                 init_options: dict[str, Any] | None = None,
                 **env: str) -> AsyncIterator[Editor]:
    """A server of the test's own (its settings, environment, or a restart)."""
    session = Editor(profile, workspace, server_env(**env), init_options)
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines()):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in:\n{text}")


async def generate_stub(ed: Editor, uri: str, line: int = STUB_LINE) -> dict[str, Any]:
    actions = await ed.actions(uri, line)
    assert len(actions) == 1, [a.title for a in actions]
    return await ed.run_action(actions[0])


async def start_generation(ed: Editor, uri: str) -> Any:
    """Start generating the stub and return once progress has begun."""
    [action] = await ed.actions(uri, STUB_LINE)
    running = ed.start_action(action)
    await wait_until(ed.begun_tokens, "progress to begin")
    return running


def messages(ed: Editor, kind: lsp.MessageType | None = None) -> list[str]:
    return [m.message for m in ed.messages if kind is None or m.type == kind]
