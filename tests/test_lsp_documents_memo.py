"""Function extents are remembered between document versions, and never go stale."""

from dise.lsp.documents import function_region, lsp_lines

SOURCE = "def f(x):\n    y = x + 1\n    return y\n\n\ndef g():\n    return 2\n"


def test_an_unchanged_function_keeps_its_extent_after_edits_elsewhere():
    lines = lsp_lines(SOURCE)
    assert function_region(lines, 0).end == 2
    edited = lsp_lines("# a new first line\n" + SOURCE)
    assert function_region(edited, 1).end == 3
    assert function_region(lines, 0).end == 2


def test_an_edited_body_gets_its_new_extent():
    lines = lsp_lines(SOURCE)
    assert function_region(lines, 0).end == 2
    longer = lsp_lines(SOURCE.replace("    return y\n", "    y *= 2\n    return y\n"))
    assert function_region(longer, 0).end == 3
    dedented = lsp_lines(SOURCE.replace("    return y\n", "return y\n"))
    assert function_region(dedented, 0).end == 1
    assert function_region(lines, 0).end == 2


def test_a_function_at_the_end_grows_when_lines_are_appended():
    lines = lsp_lines("def h():\n    return 1\n")
    assert function_region(lines, 0).end == 1
    grown = lsp_lines("def h():\n    return 1\n    # more\n    pass\n")
    assert function_region(grown, 0).end == 3
    assert function_region(lsp_lines("def h():\n    return 1"), 0).end == 1
