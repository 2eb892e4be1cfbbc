"""Deterministic repairs of generated code."""

import ast

import pytest

from dise.engine.autofix import autofix
from dise.engine.autofix.imports import (
    insert_imports,
    merge_import_lines,
    missing_imports,
    needed_imports,
    split_imports,
)
from dise.engine.autofix.indentation import fix_indentation
from dise.engine.autofix.renaming import rename_function
from dise.engine.types import RunReport, TestResult


def load(code: str) -> dict:
    ns: dict = {}
    exec(compile(code, "<fixed>", "exec"), ns)  # noqa: S102 - our own fixtures
    return ns


def test_fences_chatter_rename_and_import_in_one_go():
    answer = ("Sure! Here you go:\n```python\ndef validate(s):\n"
              "    return re.fullmatch(r'[^@]+@[^@]+\\.[a-z]+', s) is not None\n```\n"
              "Hope this helps!")
    result = autofix(answer, "is_valid_email")
    assert "renamed validate to is_valid_email" in result.fixes
    assert "added import re" in result.fixes
    assert load(result.code)["is_valid_email"]("a@b.co") is True


def test_clean_code_is_left_alone():
    code = "import re\n\n\ndef f(s):\n    return re.sub('a', 'b', s)\n"
    result = autofix(code, "f")
    assert result.fixes == []
    assert result.code == code


@pytest.mark.parametrize("text", ["", "   ", "I am sorry, but I cannot do that."])
def test_no_code(text):
    result = autofix(text, "f")
    assert result.code == ""
    assert result.fixes  # says why


def test_code_that_does_not_parse_stays_unfixed():
    result = autofix("def f(x) return x +", "f")
    assert result.code == ""


def test_tabs_are_converted():
    result = autofix("def f(x):\n\tif x:\n\t\treturn Counter(x)\n\treturn 0\n", "f")
    assert "converted tabs to spaces" in result.fixes
    assert "added from collections import Counter" in result.fixes
    assert "\t" not in result.code
    assert load(result.code)["f"]("aab")["a"] == 2


def test_unindented_body():
    result = autofix("def f(x):\nreturn x + 1\n", "f")
    assert load(result.code)["f"](1) == 2
    assert any("indent" in f for f in result.fixes)


def test_whole_block_indented():
    result = autofix("    def f(x):\n        return x\n", "f")
    assert result.code.startswith("def f")


def test_mismatched_indentation_is_normalised():
    code = "def f(x):\n        if x:\n            return 1\n    return 0\n"
    result = autofix(code, "f")
    ns = load(result.code)
    assert ns["f"](1) == 1 and ns["f"](0) == 0  # the last line was not thrown away


def test_fix_indentation_direct():
    fixed, fixes = fix_indentation("def f():\n   a = 1\n    return a\n")
    assert load(fixed)["f"]() == 1 and fixes


def test_rename_entry_point_among_helpers_and_recursion():
    code = ("def helper(a):\n    return a\n\n"
            "def solve(b):\n    return helper(b) + solve(b - 1) if b else 0\n")
    result = autofix(code, "total")
    assert "renamed solve to total" in result.fixes
    assert load(result.code)["total"](3) == 6


def test_no_rename_when_ambiguous():
    code = "def a(x):\n    return x\n\ndef b(x):\n    return x\n"
    assert autofix(code, "wanted").code.count("def wanted") == 0


def test_rename_leaves_attributes_and_strings():
    code = "def old(x):\n    return obj.old + old(x - 1) if x else 'old'\n"
    renamed = rename_function(code, "old", "new")
    assert "obj.old" in renamed and "'old'" in renamed and "new(x - 1)" in renamed


@pytest.mark.parametrize("body,line", [
    ("math.sqrt(x)", "import math"),
    ("json.dumps(x)", "import json"),
    ("defaultdict(int)", "from collections import defaultdict"),
    ("deque([x])", "from collections import deque"),
    ("reduce(lambda a, b: a + b, x)", "from functools import reduce"),
    ("heapq.nlargest(1, x)", "import heapq"),
    ("bisect.bisect_left(x, 1)", "import bisect"),
    ("Fraction(1, 3)", "from fractions import Fraction"),
    ("Decimal('1.1')", "from decimal import Decimal"),
    ("statistics.mean(x)", "import statistics"),
    ("datetime.now()", "from datetime import datetime"),
    ("datetime.date.today()", "import datetime"),
    ("itertools.chain(x)", "import itertools"),
    ("string.ascii_lowercase", "import string"),
    ("copy.deepcopy(x)", "import copy"),
])
def test_missing_imports_table(body, line):
    assert missing_imports(f"def f(x):\n    return {body}\n") == [line]


def test_typing_names_in_annotations():
    code = "def f(x: List[int], y: Optional[Dict[str, Any]] = None) -> Tuple[int, int]:\n    return 1, 2\n"
    result = autofix(code, "f")
    load(result.code)
    assert "from typing import List, Optional, Dict, Any, Tuple" in result.code


def test_unknown_undefined_names_are_left():
    assert missing_imports("def f():\n    return numpy_thing + np.zeros(2)\n") == []


def test_name_error_in_report_adds_import():
    code = "def f(x):\n    return eval('math.floor(x)')\n"
    report = RunReport(results=[TestResult("given", "f(1)", False,
                                           "NameError: name 'math' is not defined")])
    result = autofix(code, "f", report)
    assert "added import math" in result.fixes


def test_trailing_call_that_crashes_at_import_is_removed():
    code = ("import sys\n\ndef f(x):\n    return x\n\n"
            "N = int(sys.argv[5])\nCONFIG = {'a': 1}\n")
    report = RunReport(load_error="IndexError: list index out of range (line 6)")
    result = autofix(code, "f", report)
    assert "N = int" not in result.code and "CONFIG" in result.code
    assert any("crashed at import" in f for f in result.fixes)
    load(result.code)


def test_crash_line_numbers_refer_to_the_code_as_run():
    code = ("def f(x):\n    return math.floor(x)\n\n"
            "DATA = open('/nonexistent/file.txt').read()\n")
    report = RunReport(load_error="FileNotFoundError: no such file (line 4)")
    result = autofix(code, "f", report)
    assert "DATA" not in result.code and "import math" in result.code
    assert load(result.code)["f"](2.5) == 2


def test_top_level_prints_and_asserts_are_removed():
    code = "def f(x):\n    return x\n\nprint(f(1))\nassert f(2) == 3\n"
    result = autofix(code, "f")
    assert "print" not in result.code and "assert" not in result.code
    load(result.code)


def test_smollm2_style_rambling_answer():
    one = "def add(a, b):\n    return a + b\n"
    answer = ("Here's a Python function that adds two numbers:\n\n```python\n" + one + "```\n\n"
              + ("The function `add` takes two arguments and returns their sum. " * 3 + "\n\n"
                 "```python\n" + one + "print(add(2, 3))  # Output: 5\n```\n\n") * 4
              + "```python\ndef add(a, b):\n    retur")
    result = autofix(answer, "sum_two")
    ns = load(result.code)
    assert ns["sum_two"](2, 3) == 5
    assert result.code.count("def ") == 1


def test_budget_zero_still_returns_code():
    result = autofix("```python\ndef g(x):\n    return x\n```", "f", budget_s=1e-9)
    assert "def g" in result.code or "def f" in result.code


def test_split_imports_and_needed_imports():
    code = ("import os, re\nfrom collections import Counter as C, deque\n\n"
            "def f(s):\n    return os.sep, C(s), math.pi\n")
    imports, body = split_imports(code)
    assert imports == ["import os", "import re", "from collections import Counter as C",
                       "from collections import deque"]
    assert body.startswith("def f(s):") and "import" not in body
    assert needed_imports(code) == ["import os", "from collections import Counter as C",
                                    "import math"]
    assert split_imports("def broken(:") == ([], "def broken(:")


def test_insert_imports_after_docstring_and_imports():
    code = '"""Doc."""\nimport os\n\ndef f():\n    return re, os\n'
    fixed = insert_imports(code, ["import re"])
    assert fixed.splitlines()[:3] == ['"""Doc."""', "import os", "import re"]
    ast.parse(fixed)


def test_merge_import_lines():
    assert merge_import_lines(["from a import x", "import b", "from a import y",
                               "import b"]) == ["from a import x, y", "import b"]
