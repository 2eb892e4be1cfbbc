"""Extracting code (and asserts) from the kind of answers small models give."""

import ast

import pytest

from dise.engine.extract import extract_asserts, extract_code


def defs(code: str) -> list[str]:
    return [n.name for n in ast.parse(code).body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def run(code: str, call: str):
    ns: dict = {}
    exec(compile(code, "<extracted>", "exec"), ns)  # noqa: S102 - test of our own fixtures
    return eval(call, ns)


def test_python_fence_with_chatter_and_example_print():
    text = (
        "Sure! Here's a function that validates email addresses:\n\n"
        "```python\nimport re\n\ndef is_valid_email(s):\n"
        "    return bool(re.match(r'^[^@]+@[^@]+\\.[a-z]+$', s))\n\n"
        "print(is_valid_email('a@b.co'))\n```\n\n"
        "This function uses a regular expression to check the address."
    )
    result = extract_code(text, "is_valid_email")
    assert "print(" not in result.code and "Sure" not in result.code
    assert run(result.code, "is_valid_email('a@b.co')") is True
    assert result.notes


def test_fence_without_language():
    result = extract_code("```\ndef inc(x):\n    return x + 1\n```", "inc")
    assert run(result.code, "inc(1)") == 2


def test_prose_only_gives_empty_code_and_a_note():
    result = extract_code("I'm sorry, I can't help with that. Please describe the task.", "f")
    assert result.code == ""
    assert result.notes


@pytest.mark.parametrize("text", ["", "   \n\t ", "```python\n```"])
def test_empty_output(text):
    result = extract_code(text, "f")
    assert result.code == "" and result.notes


def test_picks_block_that_defines_the_function():
    text = (
        "First a helper idea:\n```python\ndef unrelated(a, b):\n    return a\n\n"
        "def other(c):\n    return c\n```\n"
        "And the answer:\n```python\ndef target(x):\n    return x * 2\n```\n"
    )
    result = extract_code(text, "target")
    assert defs(result.code) == ["target"]


def test_without_name_picks_block_with_most_defs():
    text = ("```python\ndef a():\n    return 1\n```\n"
            "```python\ndef b():\n    return 2\n\ndef c():\n    return b()\n```")
    assert defs(extract_code(text, None).code) == ["b", "c"]


def test_imports_in_an_earlier_block_are_merged():
    text = ("You need:\n```python\nimport math\nfrom collections import Counter\n```\n"
            "Then:\n```python\ndef area(r):\n    return math.pi * r * r\n```\n"
            "Usage:\n```python\nprint(area(2))\n```")
    result = extract_code(text, "area")
    assert run(result.code, "round(area(1), 5)") == 3.14159
    assert "print" not in result.code


def test_helper_from_another_block_is_merged_when_used():
    text = ("```python\ndef _square(v):\n    return v * v\n```\n"
            "```python\ndef sum_squares(xs):\n    return sum(_square(x) for x in xs)\n```")
    result = extract_code(text, "sum_squares")
    assert run(result.code, "sum_squares([1, 2])") == 5


def test_missing_fences_prose_before_and_after():
    text = ("Here is the function you asked for.\n\n"
            "def add(a, b):\n    return a + b\n\n"
            "This function adds two numbers and returns the result.\n"
            "For example add(1, 2) returns 3.")
    result = extract_code(text, "add")
    assert defs(result.code) == ["add"]
    assert "This function" not in result.code


def test_unterminated_fence_keeps_complete_functions():
    text = ("```python\ndef helper(x):\n    return x * 2\n\n"
            "def double_all(xs):\n    return [helper(x) for x in xs]\n\n"
            "def extra(y):\n    return helper(y")
    result = extract_code(text, "double_all")
    assert run(result.code, "double_all([1, 2])") == [2, 4]
    assert "extra" not in defs(result.code)
    assert any("cut off" in n for n in result.notes)


def test_unterminated_fence_cut_inside_the_only_function_keeps_what_parses():
    text = "```python\ndef f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return tot"
    result = extract_code(text, "f")
    assert defs(result.code) == ["f"]


def test_main_block_input_and_top_level_calls_are_stripped():
    text = ("import sys\n\nLIMIT = 10\n\n"
            "def clamp(x):\n    return min(x, LIMIT)\n\n"
            "class Box:\n    pass\n\n"
            "# Example usage\nn = int(input())\nprint(clamp(n))\nassert clamp(20) == 10\n"
            "clamp(3)\n\n"
            "if __name__ == '__main__':\n    print(clamp(int(sys.argv[1])))\n")
    result = extract_code(text, "clamp")
    code = result.code
    for gone in ("input(", "print(", "assert", "__main__", "Example usage"):
        assert gone not in code
    for kept in ("import sys", "LIMIT = 10", "class Box", "def clamp"):
        assert kept in code
    assert run(code, "clamp(50)") == 10


def test_module_setup_calls_are_kept():
    code = "import sys\nsys.setrecursionlimit(5000)\n\ndef f(n):\n    return n\n"
    assert "setrecursionlimit" in extract_code(code, "f").code


def test_code_that_does_not_parse_at_all():
    result = extract_code("```python\ndef f(x) return x +\n```", "f")
    assert result.code == ""
    assert result.notes


def test_different_function_name_is_still_extracted():
    result = extract_code("```python\ndef compute(x):\n    return x\n```", "wanted")
    assert defs(result.code) == ["compute"]  # renaming is autofix's job


def test_smollm2_style_rambling_repetition():
    one = "def reverse_words(s):\n    return ' '.join(s.split()[::-1])\n"
    text = ("Sure! Here's a Python function that reverses the words:\n\n```python\n" + one +
            "```\n\nThis function works by splitting the string into words.\n\n" +
            ("Here's the function again:\n\n```python\n" + one + "```\n\n") * 6 +
            "Here's the function again:\n\n```python\ndef reverse_words(s):\n    return ' '.jo")
    result = extract_code(text, "reverse_words")
    assert defs(result.code) == ["reverse_words"]
    assert run(result.code, "reverse_words('a b c')") == "c b a"


def test_repeated_definitions_in_one_block_keep_the_first():
    body = "def f(x):\n    return x + 1\n\n"
    result = extract_code(body * 5 + "def f(x):\n    return", "f")
    assert defs(result.code) == ["f"]
    assert run(result.code, "f(1)") == 2


def test_indented_code_is_dedented():
    result = extract_code("    def f(x):\n        return x\n", "f")
    assert result.code.startswith("def f")


def test_non_python_blocks_are_ignored():
    text = ("```bash\npip install nothing\n```\n```python\ndef f():\n    return 1\n```\n"
            "```text\nOutput: 1\n```")
    assert defs(extract_code(text, "f").code) == ["f"]


def test_new_fence_opened_without_closing_the_previous():
    text = "```python\nimport re\n```python\ndef f(s):\n    return re.sub('a', 'b', s)\n```"
    assert run(extract_code(text, "f").code, "f('aa')") == "bb"


def test_extract_asserts_single_and_multi_line():
    text = ("Here are tests:\n```python\nassert f(1) == 2\nassert f(\n    3\n) == [1,\n 2]\n"
            "assert g(1) == 1\nassert f(1) == 2\n\ndef test_x():\n    assert f(0) == 0\n"
            "self.assertEqual(f(4), 5)\nassert f(9 ==\n```")
    found = extract_asserts(text, "f")
    assert found[0] == "assert f(1) == 2"
    assert len(found) == 4  # duplicate, g-only and broken ones are gone
    for source in found:
        tree = ast.parse(source)
        assert isinstance(tree.body[0], ast.Assert)
    assert "assert f(4) == 5" in found


def test_extract_asserts_from_prose_only():
    assert extract_asserts("No tests, sorry.", "f") == []
    assert extract_asserts("", "f") == []
