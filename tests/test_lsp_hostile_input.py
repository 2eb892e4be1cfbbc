"""Malformed and hostile input, through pytest-lsp over the engine double
(tests/support/lsp_shared_server.py): unknown URIs, positions past the end, bad command
arguments and a one-megabyte document get an answer, and the server keeps serving.
"""

from __future__ import annotations

import pytest
from pygls.exceptions import JsonRpcException

from support.lsp_double import MARKER
from support.lsp_harness import FINISHED_LINE, STUB_LINE, stub_file
from support.lsp_shared_server import (  # noqa: F401  (fixtures)
    ed,
    generate_stub,
    line_of,
    name,
    shared,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_unknown_uris_bad_positions_and_bad_arguments(ed, name):
    uri = ed.open(name, stub_file())
    ghost = (ed.workspace / "ghost.py").as_uri()
    assert await ed.actions(ghost, 0) == []
    assert await ed.hover(ghost, 0) is None
    assert await ed.code_lenses(ghost) == []
    assert await ed.hover(uri, 10_000, 10_000) is None
    assert await ed.actions(uri, 10_000) == []
    assert await ed.hover(uri, STUB_LINE, 10_000) is None   # past the end of the line
    result = await ed.execute("dise.generate", {"uri": ghost, "line": 0})
    assert result["applied"] is False and "not open" in result["reason"]
    result = await ed.execute("dise.generate", {"uri": uri, "line": FINISHED_LINE})
    assert result["applied"] is False
    for bad in ([], ["not an object"], [{"uri": uri}], [{"uri": uri, "line": -1}],
                [{"uri": uri, "line": "three"}]):
        with pytest.raises(JsonRpcException):
            await ed.execute("dise.generate", *bad)
    with pytest.raises(JsonRpcException):
        await ed.execute("dise.noSuchCommand")
    # still serving
    assert len(await ed.actions(uri, STUB_LINE)) == 1


async def test_a_one_megabyte_document(ed, name):
    comment = "# " + "data " * 20 + "\n"
    filler = "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" + comment * 8
                     for n in range(1_200))
    text = stub_file() + "\n\n" + filler
    assert len(text) > 1_000_000
    uri = ed.open(name, text)
    assert [a.title for a in await ed.actions(uri, STUB_LINE)] == [
        "DiSE: Generate `is_valid_email`"]
    assert await ed.actions(uri, 0, len(text.splitlines())) != []   # select all
    assert await ed.hover(uri, len(text.splitlines()) - 2) is None
    assert len(await ed.code_lenses(uri)) == 2
    result = await generate_stub(ed, uri)
    assert result["applied"] is True
    assert MARKER in ed.text(uri)
    assert "0.62" in await ed.hover_text(uri, line_of(ed.text(uri), "def is_valid_email"))
