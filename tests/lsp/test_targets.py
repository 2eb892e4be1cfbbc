"""Stubs and ``# dise:`` comments (``dise.lsp.targets``) alone: found near a line as in a whole-file
scan, and spliced only where the stub still is."""

from __future__ import annotations

import pytest

from dise.engine.types import DiseError
from dise.lsp.documents import lsp_lines
from dise.lsp.targets import locate_again, prepare_edit, scan, targets_near
from support.lsp_double import _code
from support.lsp_sources import BROKEN, SOURCE


def test_targets_near_agree_with_a_whole_file_scan():
    lines = lsp_lines(SOURCE)
    full = {(t.kind, t.name, t.line, t.first_line, t.end_line, t.text) for t in scan(SOURCE)}
    assert {t[1] or t[5] for t in full} >= {"send", "inner", "reverse the words in a sentence"}
    seen = set()
    for number in range(len(lines)):
        for t in targets_near(lines, number, number, 200):
            key = (t.kind, t.name, t.line, t.first_line, t.end_line, t.text)
            assert key in full, key
            seen.add(key)
    assert seen == full
    assert [t.name for t in targets_near(lines, 13, 13, 200)] == ["send"]   # decorator line
    assert targets_near(lines, 3, 3, 200) == []                             # finished function


def test_splice_refuses_a_changed_stub_and_follows_a_moved_one():
    [stub] = [t for t in scan(SOURCE) if t.name == "send"]
    spec = stub.found.spec
    code = _code(spec)
    moved = "X = 1\n\n" + SOURCE
    prepared = prepare_edit(moved, stub, code, "send")
    assert prepared is not None and prepared.target.line == stub.line + 2
    assert "import math" in prepared.new_source and "math.prod" in prepared.new_source
    changed = SOURCE.replace('"""Send a mail."""', '"""Send a letter."""')
    assert locate_again(changed, stub) is None
    assert prepare_edit(changed, stub, code, "send") is None
    with pytest.raises(DiseError, match="syntax error"):
        prepare_edit(BROKEN, stub, code, "send")
