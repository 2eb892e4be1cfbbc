"""dise.findSimilar: the function under the cursor, searched in the real retrieval memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from lsprotocol import types as lsp

from dise.engine.types import Artifact
from dise.store import Store
from support.lsp_harness import Editor, server_env

pytestmark = pytest.mark.asyncio


def stored(node_id: str, prompt: str, code: str) -> Artifact:
    return Artifact(
        node_id=node_id, version=1, function_name=node_id, code=code, prompt=prompt,
        task_type="validation", intent="interactive", generator_used="qwen-0.5b", model="m",
        backend="llamacpp", temperature=0.0, generation_time=1.0, test_passed=True,
        tests_passed=1, tests_total=1, test_kinds={"given": [1, 1]}, quality_score=1.0,
        latency=1e-6, coverage=1.0, fitness_score=1.0, tool_usage=[], phase="phase1",
        timestamp=time.time(), tests=[])


async def test_find_similar_for_the_function_under_the_cursor(tmp_path: Path):
    store = Store(Path(os.environ["DISE_HOME"]) / "store.json")
    store.save(stored("is_valid_email", "validate an email address",
                      "def is_valid_email(s):\n    return '@' in s\n"))
    store.save(stored("reverse_words", "reverse the words in a sentence",
                      "def reverse_words(s):\n    return ' '.join(s.split()[::-1])\n"))
    store.close()

    ws = tmp_path / "ws"
    ws.mkdir()
    editor = Editor("visual-studio-code", ws, server_env(engine=None))
    await editor.start()
    try:
        uri = editor.open("mail.py", 'def check_mail(address):\n'
                                     '    """Check that an e-mail address is valid."""\n'
                                     '    ...\n')
        hits = await editor.client.workspace_execute_command_async(lsp.ExecuteCommandParams(
            command="dise.findSimilar", arguments=[{"uri": uri, "line": 1}]))
        assert hits and hits[0]["nodeId"] == "is_valid_email"
        assert {"artifactId", "score", "fitness", "prompt"} <= hits[0].keys()
    finally:
        await editor.stop()
