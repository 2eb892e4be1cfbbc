"""``dise.status`` and ``dise.showArtifact``, through pytest-lsp over the engine double
(tests/support/lsp_shared_server.py). The feature's unit tests are tests/lsp/test_status.py;
``dise.findSimilar`` is test_lsp_similar.py's.
"""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp

from support.lsp_double import MARKER
from support.lsp_harness import stub_file
from support.lsp_shared_server import (  # noqa: F401  (fixtures)
    ed,
    generate_stub,
    line_of,
    messages,
    name,
    shared,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_status_and_show_artifact_commands(ed, name):
    uri = ed.open(name, stub_file())
    result = await generate_stub(ed, uri)
    node = result["nodeId"]
    status = await ed.execute("dise.status", {"nodeId": node})
    assert status["fitness"] == pytest.approx(0.62)
    assert status["queuePosition"] >= 1
    assert [v["version"] for v in status["versions"]] == [1]
    def_line = line_of(ed.text(uri), "def is_valid_email")
    by_place = await ed.execute("dise.status", {"uri": uri, "line": def_line})
    assert by_place["nodeId"] == node
    shown = await ed.execute("dise.showArtifact", {"nodeId": node})
    assert MARKER in shown["code"] and "fitness" in shown["markdown"]
    overview = await ed.execute("dise.status")
    assert overview["jobs"] == [] and overview["knownFunctions"] >= 1

    missing = await ed.execute("dise.status", {"nodeId": "no_such_function"})
    assert "No stored function" in missing["reason"]
    assert any("No stored function" in m for m in messages(ed, lsp.MessageType.Error))
