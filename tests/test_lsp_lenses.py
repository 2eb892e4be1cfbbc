"""Code lenses, through pytest-lsp over the engine double (tests/support/lsp_shared_server.py).
The feature's unit tests are tests/lsp/test_lenses.py; lenses below a form feed are
test_lsp_line_breaks.py's.
"""

from __future__ import annotations

import pytest

from support.lsp_double import MARKER
from support.lsp_harness import stub_file
from support.lsp_shared_server import (  # noqa: F401  (fixtures)
    ed,
    generate_stub,
    line_of,
    name,
    shared,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_code_lenses_for_stubs_and_generated_functions(ed, name):
    uri = ed.open(name, stub_file())
    titles = [lens.command.title for lens in await ed.code_lenses(uri)]
    assert "DiSE: Generate `is_valid_email`" in titles
    await generate_stub(ed, uri)
    lenses = await ed.code_lenses(uri)
    [score] = [lens for lens in lenses if "fitness" in lens.command.title]
    assert "0.62" in score.command.title
    assert score.range.start.line == line_of(ed.text(uri), "def is_valid_email")
    shown = await ed.execute(score.command.command, *score.command.arguments)
    assert MARKER in shown["code"]
