"""What lands in the user's file is clean: no leftover chatter of removed example or test code
(issue 12 §8, first bullet)."""

from __future__ import annotations

import pytest
from support.scripted_backend import ScriptedBackend

from dise.config import load_config
from dise.engine import stubs
from dise.engine.extract import extract_code, strip_examples
from dise.engine.core import Engine
from dise.engine.types import Request

FUNCTION = "def add(a, b):\n    return a + b\n"
CHECK_COMMENT = "# Check function to verify the correctness of the solution"


def test_issue_example_trailing_check_comment_whose_code_was_cut_off():
    """The model ran out of tokens right after announcing its check function."""
    answer = f"```python\n{FUNCTION}\n{CHECK_COMMENT}\n"
    assert extract_code(answer, "add").code == FUNCTION


def test_check_function_and_its_call_and_comment_go_together():
    answer = (f"```python\n{FUNCTION}\n{CHECK_COMMENT}\ndef check_solution():\n"
              "    assert add(1, 2) == 3\n    print('All tests passed!')\n\n"
              "check_solution()\n```")
    result = extract_code(answer, "add")
    assert result.code == FUNCTION
    assert "removed 1 test function(s) or class(es)" in result.notes


def test_unittest_class_main_guard_and_their_import_go():
    answer = ("```python\nimport unittest\n\n" + FUNCTION +
              "\n# Unit tests\nclass TestAdd(unittest.TestCase):\n    def test_add(self):\n"
              "        self.assertEqual(add(1, 2), 3)\n\n"
              "if __name__ == '__main__':\n    unittest.main()\n```")
    assert extract_code(answer, "add").code == FUNCTION


@pytest.mark.parametrize("tail", [
    "# Example usage:\n\nprint(add(1, 2))\n",                 # a blank line in between
    "# Test cases\nprint(add(1, 2))  # Output: 3\n# Expected output: 3\n",
    "print(add(1, 2))\n# Output:\n# 3\n",
    "result = add(2, 2)\nprint(result)\n# This prints 4\n",
])
def test_comments_of_removed_examples_go_with_them(tail):
    assert strip_examples(FUNCTION + "\n" + tail, "add")[0] == FUNCTION


def test_comments_that_belong_to_kept_code_stay():
    code = ("#!/usr/bin/env python3\n# Copyright header\nimport math\n\n"
            "# Scale used by area()\nSCALE = 2\n\n\n"
            "# A helper the function uses\ndef _square(x):\n    return x * x\n\n\n"
            "def area(r):\n    # pi r squared, scaled\n"
            "    return SCALE * math.pi * _square(r)\n\n\n"
            "# Not a test: a helper that happens to be called check_*\ndef check_range(x):\n"
            "    return x > 0\n")
    assert strip_examples(code + "\nprint(area(1))\n# Output: 6.28\n", "area")[0] == code


def test_a_helper_named_like_a_test_but_used_by_the_function_stays():
    code = ("def check_digit(c):\n    return c.isdigit()\n\n\n"
            "def all_digits(s):\n    return all(check_digit(c) for c in s)\n")
    assert strip_examples(code, "all_digits")[0] == code


def test_inserted_and_stored_code_are_clean(tmp_path, monkeypatch):
    answer = (f"```python\n{FUNCTION}\n{CHECK_COMMENT}\ndef check():\n"
              "    assert add(2, 2) == 4\n\ncheck()\n\n# Example usage\nprint(add(1, 1))\n")
    backend = ScriptedBackend(answer)
    artifact = Engine(load_config(), backend_factory=lambda gen, cfg: backend).generate(
        Request(text="add two numbers", asserts=["assert add(1, 2) == 3"]))
    for text in (artifact.code, Engine(load_config()).store.latest(artifact.node_id).code):
        assert "Check function" not in text and "check()" not in text and "Example" not in text
    source = 'def add(a, b):\n    """Sum."""\n    ...\n'
    new = stubs.splice(source, stubs.find_stub(source, "add"), artifact.code, "add").new_source
    assert new == 'def add(a, b):\n    """Sum."""\n    return a + b\n'
