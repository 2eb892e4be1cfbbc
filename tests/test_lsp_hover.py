"""Hover on generated functions, through pytest-lsp over the engine double
(tests/support/lsp_shared_server.py): the metrics, "edited since generated", and knowing the
function after reopen, restart and copy. The feature's unit tests are tests/lsp/test_hover.py.
"""

from __future__ import annotations

import pytest

from support.lsp_double import MARKER
from support.lsp_harness import PROFILES, stub_file
from support.lsp_shared_server import (  # noqa: F401  (fixtures)
    ed,
    editor,
    generate_stub,
    line_of,
    name,
    shared,
    workspace,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_hover_shows_the_metrics(ed, name):
    uri = ed.open(name, stub_file())
    await generate_stub(ed, uri)
    text = ed.text(uri)
    hover = await ed.hover_text(uri, line_of(text, "def is_valid_email"))
    for expected in ("fitness", "0.62", "quality", "0.90", "latency", "400 µs", "coverage",
                     "75%", "3/4 passed", "doctest 1/1", "model 2/3", "test-double",
                     "double-model", "s generating", "version: 1", "parent: –",
                     "phase1", "queued: fitness 0.62 < 0.8"):
        assert expected in hover, (expected, hover)
    assert "edited" not in hover
    assert await ed.hover_text(uri, line_of(text, MARKER), 8) == hover  # a body line
    assert await ed.hover_text(uri, line_of(text, "def finished")) == ""
    assert await ed.hover_text(uri, line_of(text, "import os")) == ""


async def test_hover_marks_a_user_edit(ed, name):
    uri = ed.open(name, stub_file())
    await generate_stub(ed, uri)
    ed.replace(uri, ed.text(uri).replace("math.prod([1])", "math.prod([2])"))
    hover = await ed.hover_text(uri, line_of(ed.text(uri), "def is_valid_email"))
    assert "edited since generated" in hover and "0.62" in hover


@pytest.mark.parametrize("profile", PROFILES)
async def test_hover_knows_the_function_after_reopen_and_restart(workspace, profile):
    async with editor(workspace, profile) as ed:
        uri = ed.open("mod.py", stub_file())
        await generate_stub(ed, uri)
        generated = ed.text(uri)
        ed.save(uri)
        ed.close(uri)
        uri = ed.open("mod.py", generated)
        def_line = line_of(generated, "def is_valid_email")
        assert "0.62" in await ed.hover_text(uri, def_line)

    async with editor(workspace, profile) as ed:          # a new server process
        uri = ed.open("mod.py", generated)
        hover = await ed.hover_text(uri, def_line)
        assert "fitness" in hover and "0.62" in hover and "edited" not in hover
        # a copy pasted into another file is recognised by its text
        other = ed.open("copy.py", "X = 1\n\n\n" + generated[generated.index("def is_valid"):])
        assert "0.62" in await ed.hover_text(other, 3)
