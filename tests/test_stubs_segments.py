"""Stub signatures are cut from the file's lines (not ``ast.get_source_segment``, which
re-splits the whole file per annotation); the text a user wrote must come back unchanged."""

from __future__ import annotations

from dise.engine.stubs import find_stubs, spec_of

TRICKY = (
    "import typing\r\n"
    "\r\n"
    "def café(naïve: 'Literal[\"é\", \"ü\"]', *rest: dict[str,\r\n"
    "                                                    int], flag: bool = True,\r\n"
    "         **kw: 'Ω') -> list[\r\n"
    "    str]:\r\n"
    '    """Ünïcode everywhere."""\r\n'
    "\r\n"
    "def typing_now(x: int, y: '😀' = 1):\r\n"      # a half-typed stub further down
    "\r\n"
    "class K:\r\n"
    "    def m(self, /, a: 'ß', *, b: int | None = None) -> 'K': ...\r\n"
)


def test_annotations_keep_non_ascii_and_multi_line_text():
    stubs = {s.spec.name: s.spec for s in find_stubs(TRICKY)}
    cafe = stubs["café"]
    assert cafe.params == [("naïve", "'Literal[\"é\", \"ü\"]'"),
                           ("*rest", "dict[str,\n                                                    int]"),
                           ("flag", "bool"), ("**kw", "'Ω'")]
    assert cafe.returns == "list[\n    str]"
    assert stubs["typing_now"].params == [("x", "int"), ("y", "'😀'")]
    assert stubs["m"].params == [("self", ""), ("/", ""), ("a", "'ß'"), ("*", ""),
                                 ("b", "int | None")]
    assert stubs["m"].returns == "'K'"


def test_spec_of_generated_code_reads_annotations():
    spec = spec_of("def f(a: 'é', b: dict[str, int]) -> tuple[\n    int]:\n    return 1\n", "f")
    assert spec is not None
    assert spec.params == [("a", "'é'"), ("b", "dict[str, int]")]
    assert spec.returns == "tuple[\n    int]"


def test_many_annotated_stubs_in_a_large_file_are_all_found():
    chunk = ("def f{i}(a: int, *args: 'é', c: list[int] | None = None, **kw: dict) -> str:\n"
             '    """Doc {i}."""\n\n\n')
    source = "".join(chunk.format(i=i) for i in range(2000))
    stubs = find_stubs(source)
    assert len(stubs) == 2000
    assert stubs[-1].spec.params == [("a", "int"), ("*args", "'é'"),
                                     ("c", "list[int] | None"), ("**kw", "dict")]
    assert stubs[-1].def_line == 4 * 1999
