"""Finding stubs and ``# dise:`` comments, and splicing generated code into a file."""

import ast
import itertools

import pytest

from dise.engine.stubs import (
    DiseComment,
    apply_edits,
    content_hash,
    find_dise_comments,
    find_stub,
    find_stubs,
    function_source,
    is_stub,
    splice,
    split_lines,
)
from dise.engine.types import DiseError

FILE = '''"""Utilities."""
import os

from typing import List


class Shape:
    @property
    def area(self) -> float:
        """Area of the shape."""
        ...


@staticmethod
def is_valid_email(addr: str,
                   strict: bool = False) -> bool:  # keep this comment
    """Return True for a valid address.

    >>> is_valid_email("a@b.co")
    True
    """
    pass  # TODO


async def fetch(url: str, *, timeout: float = 1.0): ...


def done(x):
    return x


def todo(n: int) -> int:
    raise NotImplementedError

# dise: reverse the words in a sentence
'''

GENERATED = '''import re
from collections import Counter

EMAIL_RE = re.compile(r"^[^@\\s]+@[^@\\s]+\\.[a-z]+$")


def _clean(s):
    return s.strip()


def is_valid_email(address, strict=False):
    """A docstring the model wrote."""
    text = _clean(address)
    if strict:
        return bool(EMAIL_RE.fullmatch(text)) and Counter(text)["@"] == 1
    return bool(EMAIL_RE.match(text))


print(is_valid_email("x@y.io"))
'''


def load(source: str) -> dict:
    ns: dict = {}
    exec(compile(source.replace("@staticmethod\n", ""), "<spliced>", "exec"), ns)  # noqa: S102
    return ns


def test_find_stubs_finds_every_kind():
    names = [s.spec.name for s in find_stubs(FILE)]
    assert names == ["area", "is_valid_email", "fetch", "todo"]  # not done()


def test_stub_details_keep_what_the_user_wrote():
    stub = find_stub(FILE, name="is_valid_email")
    assert stub.spec.signature == ("def is_valid_email(addr: str,\n"
                                   "                   strict: bool = False) -> bool:")
    assert stub.decorators == ["@staticmethod"]
    assert stub.spec.params == [("addr", "str"), ("strict", "bool")]
    assert stub.spec.returns == "bool"
    assert stub.docstring.startswith("Return True for a valid address.")
    lines = FILE.splitlines()
    assert lines[stub.start_line] == "@staticmethod"
    assert lines[stub.def_line].startswith("def is_valid_email")
    assert lines[stub.end_line].strip().startswith("pass")
    assert not stub.is_method and stub.indent == "" and stub.body_indent == "    "


def test_method_and_async_stubs():
    area = find_stub(FILE, name="area")
    assert area.is_method and area.indent == "    " and area.body_indent == "        "
    fetch = find_stub(FILE, name="fetch")
    assert fetch.is_async
    assert fetch.spec.params == [("url", "str"), ("*", ""), ("timeout", "float")]


def test_find_stub_by_cursor_line():
    lines = FILE.splitlines()
    for i, line in enumerate(lines):
        if "strict: bool" in line or '>>> is_valid' in line or "@staticmethod" in line:
            assert find_stub(FILE, line=i).spec.name == "is_valid_email"
        if '"""Area' in line:
            assert find_stub(FILE, line=i).spec.name == "area"
        if "return x" in line:
            assert find_stub(FILE, line=i) is None


def test_is_stub():
    tree = ast.parse("def a():\n    '''doc'''\n\ndef b():\n    pass\n\ndef c():\n    ...\n\n"
                     "def d():\n    return 1\n\ndef e():\n    '''doc'''\n    ...\n")
    assert [is_stub(n) for n in tree.body] == [True, True, True, False, True]


def test_bodiless_def_while_typing_is_a_stub():
    source = "import os\n\ndef slugify(title: str) -> str:\n\ndef other():\n    return 1\n"
    stub = find_stub(source, line=2)
    assert stub.spec.name == "slugify" and stub.spec.params == [("title", "str")]
    assert find_stub("def f(x: int) -> int:", name="f") is not None


def test_dise_comments():
    source = "x = 1\n    # dise: add two numbers\n# DISE:parse a date\n# dise:\n# other\n"
    assert find_dise_comments(source) == [
        DiseComment(1, "    ", "add two numbers"), DiseComment(2, "", "parse a date")]


def test_splice_keeps_signature_decorator_docstring_and_comment():
    stub = find_stub(FILE, name="is_valid_email")
    result = splice(FILE, stub, GENERATED, "is_valid_email")
    new = result.new_source
    start = FILE.index("@staticmethod")
    end = FILE.index('    """\n    pass') + len('    """\n')
    assert FILE[start:end] in new  # decorator, signature, comment and docstring byte for byte
    assert "A docstring the model wrote" not in new
    assert "pass  # TODO" not in new
    assert "print(" not in new
    ns = load(new)
    assert ns["is_valid_email"]("a@b.co") is True
    assert ns["is_valid_email"]("nope") is False
    assert ns["is_valid_email"]("a@b.co", strict=True) is True


def test_splice_renames_generated_parameters_to_the_users():
    result = splice(FILE, find_stub(FILE, name="is_valid_email"), GENERATED, "is_valid_email")
    assert "_clean(addr)" in result.new_source and "_clean(address)" not in result.new_source


def test_splice_puts_helpers_before_and_imports_after_existing_imports():
    result = splice(FILE, find_stub(FILE, name="is_valid_email"), GENERATED, "is_valid_email")
    new = result.new_source.splitlines()
    assert result.added_imports == ["import re", "from collections import Counter"]
    typing_at = new.index("from typing import List")
    assert new[typing_at + 1] == "import re"
    assert new[typing_at + 2] == "from collections import Counter"
    assert new.index("def _clean(s):") < new.index("@staticmethod")
    assert new.index("EMAIL_RE = re.compile(r\"^[^@\\s]+@[^@\\s]+\\.[a-z]+$\")") < new.index(
        "def _clean(s):")


def test_existing_imports_are_not_repeated():
    source = "import re\nfrom collections import Counter as C\n\ndef f(s):\n    ...\n"
    generated = ("import re\nimport os\nfrom collections import Counter as C\n\n"
                 "def f(s):\n    return C(re.findall('a', s))\n")
    result = splice(source, find_stub(source, name="f"), generated, "f")
    assert result.added_imports == []
    assert result.new_source.count("import re") == 1


def test_imports_only_the_generated_header_used_are_not_added():
    """The user's signature stays in the file: an import the model added only for its own
    annotations (``List[int]`` for the user's ``list[int]``) would be an unused import."""
    source = "def total(xs: list[int], seen: Optional[set] = None) -> int:\n    ...\n"
    generated = ("from typing import Dict, List, Optional\nfrom collections import Counter\n\n"
                 "def total(xs: List[int], seen: Optional[set] = None) -> Dict:\n"
                 "    return sum(Counter(xs).values())\n")
    result = splice(source, find_stub(source, name="total"), generated, "total")
    # Counter: the body uses it; Optional: the user's own signature does (and lacks it)
    assert result.added_imports == ["from typing import Optional",
                                    "from collections import Counter"]
    assert "List" not in result.new_source.replace("list[int]", "")


def test_edits_apply_to_the_original_and_do_not_overlap():
    result = splice(FILE, find_stub(FILE, name="is_valid_email"), GENERATED, "is_valid_email")
    assert apply_edits(FILE, result.edits) == result.new_source
    spans = sorted((e.start_line, e.start_col, e.end_line, e.end_col) for e in result.edits)
    for a, b in itertools.pairwise(spans):
        assert (a[2], a[3]) <= (b[0], b[1])
    # listed last-in-file first, so applying one by one also works
    text = FILE
    for edit in result.edits:
        text = apply_edits(text, [edit])
    assert text == result.new_source


def test_edits_are_minimal():
    result = splice(FILE, find_stub(FILE, name="is_valid_email"), GENERATED, "is_valid_email")
    stub = find_stub(FILE, name="is_valid_email")
    for edit in result.edits:
        # nothing between the decorator and the end of the docstring is touched
        assert not (stub.start_line <= edit.start_line < stub.end_line and
                    edit.end_line > edit.start_line)


def test_splice_method_with_class_in_generated_code():
    generated = ("import math\n\ndef _circle(r):\n    return math.pi * r * r\n\n"
                 "class Shape:\n    def area(self):\n        return _circle(self.r)\n")
    result = splice(FILE, find_stub(FILE, name="area"), generated, "area")
    new = result.new_source
    assert new.index("def _circle") < new.index("class Shape")
    assert "        \"\"\"Area of the shape.\"\"\"\n        return _circle(self.r)\n" in new
    ns = load(new)
    shape = ns["Shape"]()
    shape.r = 1
    assert round(shape.area, 3) == 3.142


def test_splice_one_line_stub_and_docstring_only_stub():
    source = "def double(x): ...\n\ndef triple(x):\n    '''Times three.'''\n"
    r1 = splice(source, find_stub(source, name="double"), "def double(y):\n    return y * 2\n",
                "double")
    r2 = splice(r1.new_source, find_stub(r1.new_source, name="triple"),
                "def triple(x): return x * 3\n", "triple")
    ns = load(r2.new_source)
    assert ns["double"](2) == 4 and ns["triple"](2) == 6
    assert "'''Times three.'''" in r2.new_source


def test_splice_async_stub():
    generated = "import asyncio\n\nasync def fetch(url, timeout=1.0):\n    await asyncio.sleep(0)\n    return url\n"
    result = splice(FILE, find_stub(FILE, name="fetch"), generated, "fetch")
    assert "async def fetch(url: str, *, timeout: float = 1.0):\n    await asyncio.sleep(0)" in \
        result.new_source
    assert "import asyncio" in result.added_imports


def test_splice_dise_comment_replaces_the_line_with_the_function():
    comment = find_dise_comments(FILE)[0]
    generated = "def reverse_words(s):\n    return ' '.join(reversed(s.split()))\n\nprint(reverse_words('a b'))\n"
    result = splice(FILE, comment, generated, "reverse_words")
    assert "# dise:" not in result.new_source
    assert load(result.new_source)["reverse_words"]("a b c") == "c b a"
    assert apply_edits(FILE, result.edits) == result.new_source


def test_indented_dise_comment_in_a_class():
    source = "class A:\n    # dise: double x\n    pass\n"
    result = splice(source, find_dise_comments(source)[0],
                    "def double(self, x):\n    if x:\n        return x * 2\n    return 0\n",
                    "double")
    assert load(result.new_source)["A"]().double(2) == 4


def test_crlf_and_tabs_are_respected():
    source = "import os\r\n\r\nclass A:\r\n\tdef f(self, x):\r\n\t\t...\r\n"
    generated = "import math\ndef f(self, x):\n    if x:\n        return math.floor(x)\n    return 0\n"
    result = splice(source, find_stub(source, name="f"), generated, "f")
    assert "\n" not in result.new_source.replace("\r\n", "")
    assert "\t\tif x:\r\n\t\t\treturn math.floor(x)" in result.new_source
    assert load(result.new_source.replace("\r\n", "\n"))["A"]().f(2.5) == 2


def test_non_ascii_columns_are_utf16():
    source = "def f(s='😀'): pass\n"
    result = splice(source, find_stub(source, name="f"), "def f(s):\n    return s * 2\n", "f")
    body_edit = next(e for e in result.edits if e.start_line == 0 and e.start_col > 0)
    assert body_edit.start_col == len("def f(s='😀'):") + 1  # the emoji is 2 UTF-16 units
    assert load(result.new_source)["f"]("a") == "aa"


def test_splice_rejects_code_that_does_not_parse_or_lacks_the_function():
    stub = find_stub(FILE, name="done") or find_stub(FILE, name="todo")
    with pytest.raises(DiseError) as bad:
        splice(FILE, stub, "def todo(n:\n", "todo")
    assert "\n" not in str(bad.value)
    with pytest.raises(DiseError):
        splice(FILE, stub, "def a():\n    return 1\n\ndef b():\n    return 2\n", "todo")
    with pytest.raises(DiseError):
        splice(FILE, stub, "def todo(n):\n    ...\n", "todo")


def test_function_source_and_content_hash():
    result = splice(FILE, find_stub(FILE, name="is_valid_email"), GENERATED, "is_valid_email")
    start, end, text = function_source(result.new_source, "is_valid_email")
    lines = split_lines(result.new_source)
    assert lines[start].startswith("@staticmethod")
    assert lines[end].strip() == "return bool(EMAIL_RE.match(text))"
    messy = text.replace("\n", "   \r\n") + "\n\n"
    assert content_hash(messy) == content_hash(text)
    assert content_hash(text.replace("EMAIL_RE.match", "EMAIL_RE.search")) != content_hash(text)
    assert function_source(FILE, "nope") is None
    assert function_source(FILE, "area")[2].strip().startswith("@property")
