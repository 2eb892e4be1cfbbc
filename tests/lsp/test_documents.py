"""Text geometry of ``dise.lsp.documents`` alone: function regions, enclosing functions, content
hashes, and function extents remembered between document versions (never stale)."""

from __future__ import annotations

from dise.lsp.documents import (
    content_hash,
    enclosing_regions,
    function_region,
    lsp_lines,
    region_by_name,
)
from support.lsp_sources import BROKEN, SOURCE

MEMO_SOURCE = "def f(x):\n    y = x + 1\n    return y\n\n\ndef g():\n    return 2\n"


def names(regions) -> list[str]:
    return [r.name for r in regions]


def test_function_regions_follow_python_blocks():
    lines = lsp_lines(SOURCE)
    add = function_region(lines, 3)
    assert (add.name, add.start, add.end) == ("add", 3, 9)
    send = function_region(lines, 14)
    assert (send.name, send.end) == ("send", 17)          # signature over two lines
    assert function_region(lines, 19).end == 19          # one-line def
    assert function_region(lines, 0) is None             # not a def
    broken = function_region(lsp_lines(BROKEN), 28)     # does not tokenize: by indentation
    assert broken.name == "broken" and broken.end == 29


def test_enclosing_regions_innermost_first_and_nothing_outside():
    lines = lsp_lines(SOURCE)
    assert names(enclosing_regions(lines, 23)) == ["inner", "outer"]
    assert names(enclosing_regions(lines, 8)) == ["add"]      # blank line inside
    assert names(enclosing_regions(lines, 6)) == ["add"]
    assert names(enclosing_regions(lines, 11)) == []          # between functions
    assert names(enclosing_regions(lines, 12)) == []          # the class line
    assert names(enclosing_regions(lines, 10_000)) == []
    assert region_by_name(lines, "inner").start == 22


def test_content_hash_ignores_line_endings_and_trailing_blanks():
    assert content_hash("def f():\r\n    return 1   \r\n\n") == content_hash(
        "def f():\n    return 1")
    assert content_hash("def f():\n    return 1") != content_hash("def f():\n    return 2")


def test_an_unchanged_function_keeps_its_extent_after_edits_elsewhere():
    lines = lsp_lines(MEMO_SOURCE)
    assert function_region(lines, 0).end == 2
    edited = lsp_lines("# a new first line\n" + MEMO_SOURCE)
    assert function_region(edited, 1).end == 3
    assert function_region(lines, 0).end == 2


def test_an_edited_body_gets_its_new_extent():
    lines = lsp_lines(MEMO_SOURCE)
    assert function_region(lines, 0).end == 2
    longer = lsp_lines(MEMO_SOURCE.replace("    return y\n", "    y *= 2\n    return y\n"))
    assert function_region(longer, 0).end == 3
    dedented = lsp_lines(MEMO_SOURCE.replace("    return y\n", "return y\n"))
    assert function_region(dedented, 0).end == 1
    assert function_region(lines, 0).end == 2


def test_a_function_at_the_end_grows_when_lines_are_appended():
    lines = lsp_lines("def h():\n    return 1\n")
    assert function_region(lines, 0).end == 1
    grown = lsp_lines("def h():\n    return 1\n    # more\n    pass\n")
    assert function_region(grown, 0).end == 3
    assert function_region(lsp_lines("def h():\n    return 1"), 0).end == 1
