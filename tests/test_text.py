"""``dise.text``: the line and column arithmetic both faces share (issue 12 §1)."""

from __future__ import annotations

import pytest

from dise.engine import stubs
from dise.lsp import documents, targets
from dise.text import (
    TextEdit,
    apply_edits,
    chars_from_utf16,
    content_hash,
    lsp_lines,
    newline_of,
    utf16_units,
)

STUB = 'def f(x):\n    """Twice x.\n\n    >>> f(2)\n    4\n    """\n    ...\n'
CODE = "def f(x):\n    return 2 * x\n"


@pytest.mark.parametrize("source, line, expected", [
    ("a\r\nb\r\nc\n", None, "\r\n"),
    ("a\rb\rc", None, "\r"),
    ("a\nb\r\nc\r\nd", None, "\r\n"),
    ("a\nb\r\n", None, "\n"),          # a tie: the first ending seen
    ("one line", None, "\n"),
    ("a\r\nb\nc\r\n", 1, "\n"),        # the ending of that line, in a mixed file
    ("a\r\nb", 1, "\r\n"),             # the last line has none: the file's
])
def test_newline_of(source, line, expected):
    assert newline_of(source, line) == expected


def test_lines_end_only_at_cr_and_lf():
    assert lsp_lines("a\x0cb\r\nc\u2028d\re") == ["a\x0cb\r\n", "c\u2028d\r", "e"]


def test_utf16_columns_round_trip_outside_the_bmp():
    line = "x = '😀é'"
    assert utf16_units(line, 6) == 7 and chars_from_utf16(line, 7) == 6


def test_apply_edits_counts_utf16_units():
    source = "s = '😀'\nt = 1\n"
    assert apply_edits(source, [TextEdit(0, 7, 0, 8, "!")]) == "s = '😀!\nt = 1\n"


def test_content_hash_ignores_endings_and_trailing_blanks():
    plain = content_hash("def f():\n    return 1\n")
    assert content_hash("def f():\r\n    return 1  \r\n") == plain
    assert content_hash("def f():\r    return 1\r") == content_hash("def f():\n    return 1")


def test_old_import_names_still_work():
    assert documents.lsp_lines is lsp_lines and documents.content_hash is content_hash
    assert stubs.split_lines is lsp_lines and stubs.TextEdit is TextEdit


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_both_faces_splice_the_same_text(newline):
    """The CLI writes ``stubs.splice``'s text; the editor applies ``targets.prepare_edit``'s
    edits: both give the same file, with the file's own line endings."""
    source = "import os\n\n\n" + STUB
    source = source.replace("\n", newline)
    stub = stubs.find_stub(source, name="f")
    cli_text = stubs.splice(source, stub, CODE, "f").new_source
    target = next(t for t in targets.scan(source) if t.name == "f")
    edit = targets.prepare_edit(source, target, CODE, "f")
    assert edit is not None and edit.new_source == cli_text
    assert "return 2 * x" + newline in cli_text
    other = {"\n", "\r\n", "\r"} - {newline}
    assert all(ending not in cli_text.replace(newline, "") for ending in other)

