"""Deriving tests without a model: doctests, given asserts, workspace, smoke; model asserts."""

import ast

import pytest

from dise.engine.testgen import derive_tests, summarize_kinds
from dise.engine.testgen import model as model_written  # tests_prompt would be collected
from dise.engine.testgen.model import model_tests
from dise.engine.testgen.smoke import SMOKE_ALLOWED_EXCEPTIONS, smoke_tests
from dise.engine.testgen.workspace import workspace_tests
from dise.engine.testgen.written import doctest_tests, given_tests
from dise.engine.types import FunctionSpec, Request
from dise.engine.types import TestCase as Case  # not collected by pytest

DOC = '''Add two things.

>>> add(1, 2)
3
>>> add('a', 'b')
'ab'
>>> xs = [1, 2]
>>> add(xs, [3])
[1, 2, 3]
>>> add(0, 0)  # doctest: +ELLIPSIS
0
>>> add(5, 5)
'''


def add(a, b):
    return a + b


def run(test: Case, **ns) -> bool:
    """A tiny stand-in for the sandbox, enough to check the tests mean what they say."""
    namespace = {"add": add, "_dise_returns": lambda value, annotation: isinstance(
        value, eval(annotation)), **ns}  # the real check is the parent's (sandbox.returns)
    try:
        if test.expect is not None:
            return repr(eval(test.code, namespace)) == test.expect
        exec(test.code, namespace)  # noqa: S102
        return True
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__ in test.allowed_exceptions


def test_doctests_become_expect_and_run_only_tests():
    notes: list[str] = []
    tests = doctest_tests(DOC, "add", notes)
    assert [t.kind for t in tests] == ["doctest"] * len(tests)
    assert tests[0].code == "add(1, 2)" and tests[0].expect == "3"
    assert tests[1].expect == "'ab'"
    with_setup = [t for t in tests if "xs = [1, 2]" in t.code]
    assert len(with_setup) == 1 and with_setup[0].expect is None  # setup carried along
    assert any(t.code == "add(5, 5)" and t.expect is None for t in tests)
    assert all(run(t) for t in tests)
    wrong = doctest_tests(">>> add(1, 1)\n3\n", "add")
    assert not run(wrong[0])


def test_no_doctests():
    assert doctest_tests("", "f") == []
    assert doctest_tests("Just prose.", "f") == []


def test_given_tests_validate_and_note_dropped_ones():
    notes: list[str] = []
    tests = given_tests(["assert add(1, 2) == 3", "add(2, 2) == 4", "assert add(", "",
                         "add(1, 1)"], notes)
    assert [t.code for t in tests] == ["assert add(1, 2) == 3", "assert add(2, 2) == 4",
                                      "add(1, 1)"]
    assert all(t.kind == "given" for t in tests)
    assert len(notes) == 1 and "assert add(" in notes[0]


def test_workspace_tests(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_math.py").write_text(
        "import pytest\nfrom mymod import add, other\n\n"
        "assert add(1, 1) == 2\n\n"
        "def test_simple():\n    '''doc'''\n    assert add(2, 3) == 5\n    assert add('a', 'b') == 'ab'\n\n"
        "def test_uses_fixture(tmp_path):\n    assert add(1, 2) == 3\n\n"
        "def test_other_names():\n    x = 4\n    assert add(x, 1) == 5\n\n"
        "def test_uses_other_function():\n    assert add(other(1), 1) == 2\n\n"
        "@pytest.mark.parametrize('a', [1])\ndef test_param(a):\n    assert add(a, 1) == 2\n\n"
        "class TestAdd:\n    def test_method(self):\n        assert len([add(1, 1)]) == 1\n"
    )
    (tmp_path / "pkg_test.py").write_text("def test_x():\n    assert add(0, 0) == 0\n")
    (tmp_path / "helpers.py").write_text("assert add(9, 9) == 18\n")  # not a test file
    for skipped in (".venv", "node_modules", ".git"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "test_x.py").write_text("assert add(7, 7) == 14\n")
    (tmp_path / "test_broken.py").write_text("def test(:\n")
    tests = workspace_tests(tmp_path, "add")
    codes = sorted(t.code for t in tests)
    assert codes == sorted(["assert add(1, 1) == 2", "assert add(2, 3) == 5",
                            "assert add('a', 'b') == 'ab'", "assert add(0, 0) == 0",
                            "assert len([add(1, 1)]) == 1"])
    assert all(t.kind == "workspace" and run(t) for t in tests)


def test_workspace_limits_and_missing_dir(tmp_path):
    for i in range(5):
        (tmp_path / f"test_{i}.py").write_text(f"assert add({i}, 0) == {i}\n")
    assert len(workspace_tests(tmp_path, "add", max_files=2)) == 2
    assert workspace_tests(tmp_path, "add", max_bytes=5) == []
    assert workspace_tests(tmp_path / "missing", "add") == []


def test_model_tests_dedupe_and_limit():
    answer = ("Here are some tests:\n```python\nassert add(1, 2) == 3\nassert add(1,2) == 3\n"
              "assert add(2, 2) == 4\nassert add(3, 3) == 6\nassert other(1) == 1\n```\n"
              "These cover the basics.")
    tests = model_tests(answer, "add", limit=2)
    assert [t.code for t in tests] == ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]
    assert all(t.kind == "model" for t in tests)
    assert model_tests("I can't write tests.", "add", 5) == []


@pytest.mark.parametrize("params,expected_call", [
    ([("a", "int"), ("b", "float")], "f(3, 2.5)"),
    ([("s", "str"), ("flag", "bool")], "f('hello', True)"),
    ([("xs", "list[int]")], "f([3, 10, 7])"),
    ([("xs", "List[str]")], None),
    ([("d", "dict[str, int]")], None),
    ([("t", "tuple[int, str]")], "f((3, 'hello'))"),
    ([("o", "Optional[int]")], "f(3)"),
    ([("o", "int | None")], "f(3)"),
    ([("s", "set[int]")], None),
    ([("b", "bytes")], "f(b'hello')"),
    ([("a", "int"), ("*", ""), ("key", "str")], "f(3, key='hello')"),
    ([("a", "'list[int]'")], "f([3, 10, 7])"),
])
def test_smoke_tests_from_type_hints(params, expected_call):
    tests = smoke_tests(FunctionSpec("f", params=params), limit=4)
    assert 1 <= len(tests) <= 4
    for test in tests:
        assert test.kind == "smoke"
        assert test.allowed_exceptions == SMOKE_ALLOWED_EXCEPTIONS
        call = ast.parse(test.code, mode="eval").body
        assert isinstance(call, ast.Call) and call.func.id == "f"
        for arg in list(call.args) + [k.value for k in call.keywords]:
            ast.literal_eval(arg)  # plain literal inputs
    if expected_call:
        assert tests[0].code == expected_call


@pytest.mark.parametrize("params", [
    [("x", "")], [("x", "Foo")], [("self", ""), ("x", "int")], [("x", "Callable[[int], int]")],
])
def test_no_smoke_tests_without_usable_hints(params):
    assert smoke_tests(FunctionSpec("f", params=params)) == []


def test_smoke_tests_treat_value_error_as_rejection_and_type_error_as_crash():
    test = smoke_tests(FunctionSpec("add", params=[("a", "int"), ("b", "int")]))[0]
    assert "ValueError" in test.allowed_exceptions
    assert "TypeError" not in test.allowed_exceptions


def test_tests_prompt_asks_for_assert_lines():
    spec = FunctionSpec("slugify", "def slugify(title: str) -> str:", "Make a URL slug.",
                        [("title", "str")], "str")
    messages = model_written.tests_prompt(spec, "Turn a title into a URL slug", 3)
    assert [m["role"] for m in messages] == ["system", "user"]
    text = messages[-1]["content"]
    assert "3" in text and "assert" in text and "def slugify(title: str) -> str:" in text
    assert "Turn a title into a URL slug" in text


def test_derive_tests_combines_and_dedupes(tmp_path):
    (tmp_path / "test_add.py").write_text("assert add(1, 2) == 3\nassert add(4, 4) == 8\n")
    spec = FunctionSpec("add", "def add(a: int, b: int) -> int:", ">>> add(1, 2)\n3\n",
                        [("a", "int"), ("b", "int")], "int")
    request = Request(text="add two ints", spec=spec,
                      asserts=["assert add(1, 2) == 3", "assert add(2, 3) == 5"],
                      workspace=str(tmp_path))
    tests = derive_tests(request, spec)
    kinds = summarize_kinds(tests)
    assert kinds == {"doctest": 1, "given": 2, "workspace": 1, "smoke": 4}
    assert all(run(t) for t in tests)


def test_derive_tests_reads_examples_in_the_request_text():
    spec = FunctionSpec("add", params=[("a", ""), ("b", "")])
    request = Request(text="Add numbers, e.g.\n>>> add(2, 2)\n4\n")
    assert [(t.code, t.expect) for t in derive_tests(request, spec)] == [("add(2, 2)", "4")]


def test_summarize_kinds():
    assert summarize_kinds([]) == {}
    assert summarize_kinds([Case("smoke", "f()"), Case("smoke", "f(1)"),
                            Case("given", "assert f()")]) == {"smoke": 2, "given": 1}


def test_model_tests_that_contradict_each_other_are_dropped():
    answer = ("assert is_valid_email('a@b.co') == True\n"
              "assert is_valid_email('x@y.co.uk') == True\n"
              "assert is_valid_email('x@y.co.uk') == False\n"
              "assert is_valid_email('nope') == False\n")
    codes = [t.code for t in model_tests(answer, "is_valid_email", 5)]
    assert codes == ["assert is_valid_email('a@b.co') == True",
                     "assert is_valid_email('nope') == False"]
