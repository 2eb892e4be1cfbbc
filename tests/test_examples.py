"""The user's examples become tests: every notation of the grammar in dise.engine.examples,
nested data, multi-line results, exceptions, floats with tolerance, skipped lines and
contradictions. The produced tests are run in the real sandbox where the outcome matters."""

from __future__ import annotations

import pytest

from dise.config import load_config
from dise.engine.examples import read_examples
from dise.engine.testgen import derive_tests
from dise.engine.types import FunctionSpec, Request
from dise.sandbox import run_candidate


def claims(text: str, name: str = "f", params=("x",), **kw) -> dict[str, str]:
    report = read_examples(text, name, list(params), **kw)
    return {t.call: t.want for t in report.tests}


@pytest.mark.parametrize("line", [
    "f(3) => 7", "f(3) == 7", "f(3) ➞ 7", "f(3) → 7", "f(3) -> 7", "f(3) returns 7",
    "f(3) should return 7", "f(3) should be 7", "f(3) = 7", "f(3) gives 7", "f(3) is 7",
    "f(3)  # => 7", "- f(3) => 7", "* `f(3)` → `7`", "1. f(3) returns 7.", "assert f(3) == 7",
    "for x = 3 the output should be 7", "For x = 3, the result is 7.",
])
def test_each_notation_gives_the_same_test(line):
    assert claims(f"Do it.\n\nExample:\n    {line}\n") == {"f(3)": "7"}


def test_greet_stub_example_is_a_test():
    doc = 'Greet someone by name.\n\nExample:\n    greet("Ada") => "Hello, Ada!"'
    report = read_examples(doc, "greet", ["name"])
    assert [(t.kind, t.code) for t in report.tests] == [
        ("example", "assert greet('Ada') == 'Hello, Ada!'")]
    assert report.skipped == [] and report.contradictions == []


def test_several_parameters_keywords_and_input_output_pairs():
    doc = """Add.

    Input: a = 1, b = 2
    Output: 3
    Input: 5, 6
    Output: 11
    Input: add(7, 1)   Output: 8
    for a = 2 and b = 2 the output should be 4
    """
    assert claims(doc, "add", ("a", "b")) == {"add(1, 2)": "3", "add(5, 6)": "11",
                                              "add(7, 1)": "8", "add(2, 2)": "4"}
    # out of order: keywords
    assert claims("Example: for b = 1 and a = 2 the result is 3", "add", ("a", "b")) == {
        "add(b=1, a=2)": "3"}


def test_pipe_table_rows_are_examples():
    doc = """Power.

    | base | exp | result |
    |------|-----|--------|
    | 2    | 3   | 8      |
    | 3    | 2   | 9      |
    """
    assert claims(doc, "power", ("base", "exp")) == {"power(2, 3)": "8", "power(3, 2)": "9"}


def test_nested_data_and_multi_line_results():
    doc = """Group.

    Examples:
        group([1, 2, 3]) => {'odd': [1, 3], 'even': [(2, 'two')]}
        group([]) =>
            {'odd': [],
             'even': []}
        group([5]) == {
            'odd': [5],
            'even': [],
        }
    """
    got = claims(doc, "group", ("xs",))
    assert got == {"group([1, 2, 3])": "{'odd': [1, 3], 'even': [(2, 'two')]}",
                   "group([])": "{'odd': [], 'even': []}",
                   "group([5])": "{'odd': [5], 'even': []}"}


def test_doctest_block_with_odd_indentation_is_read_leniently():
    doc = """Double.

    Example:
          >>> double(2)
        4
       >>> double([1])
       [1,
        1]
    """
    # the doctest module refuses this indentation; derive_tests falls back to the examples
    spec = FunctionSpec(name="double", signature="def double(x):", docstring=doc,
                        params=[("x", "")])
    tests = derive_tests(Request(text=doc, spec=spec), spec)
    assert {(t.kind, t.call, t.want) for t in tests} == {
        ("example", "double(2)", "4"), ("example", "double([1])", "[1, 1]")}


def test_numpy_examples_section_with_doctests_is_left_to_doctest():
    doc = """Square.

    Examples
    --------
    >>> square(3)
    9
    """
    spec = FunctionSpec(name="square", signature="def square(x):", docstring=doc,
                        params=[("x", "")])
    tests = derive_tests(Request(text=doc, spec=spec), spec)
    assert [(t.kind, t.code, t.expect) for t in tests] == [("doctest", "square(3)", "9")]


def test_exceptions_become_tests_of_that_exception():
    doc = """Root.

    Examples:
        root(-1) raises ValueError
        root("x") -> raises TypeError
        root(None) => TypeError
    """
    assert claims(doc, "root") == {"root(-1)": "raises ValueError",
                                   "root('x')": "raises TypeError",
                                   "root(None)": "raises TypeError"}


def _run(code: str, name: str, tests):
    return run_candidate(code, name, tests, load_config().sandbox)


def test_exception_test_passes_only_when_it_raises():
    tests = read_examples("Example:\n    root(-1) raises ValueError", "root").tests
    good = "def root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x ** .5\n"
    bad = "def root(x):\n    return abs(x) ** .5\n"
    assert _run(good, "root", tests).all_passed
    report = _run(bad, "root", tests)
    assert not report.all_passed and "did not raise ValueError" in report.results[0].error


def test_floats_compare_with_the_precision_written():
    doc = """Circle area.

    Examples:
        area(1) => 3.14
        area(2.0) => [12.566, 1.0]
    """
    tests = read_examples(doc, "area").tests
    close = ("import math\ndef area(r):\n    a = math.pi * r * r\n"
             "    return a if r == 1 else [a, 1.0]\n")
    assert _run(close, "area", tests).all_passed
    off = "def area(r):\n    return 3.2 if r == 1 else [12.6, 1.0]\n"
    report = _run(off, "area", tests)
    assert [r.passed for r in report.results] == [False, False]
    assert "expected 3.14" in report.results[0].error


def test_float_examples_are_judged_outside_the_sandbox():
    """The expected value and the tolerance stay in the parent: a candidate that defines its
    own always-true ``_dise_close`` (or never sees 3.14 at all) still fails."""
    tests = read_examples("Example:\n    area(1) => 3.14", "area").tests
    forged = ("def _dise_close(*args):\n    return True\n"
              "def area(r):\n    return 0\n")
    report = _run(forged, "area", tests)
    assert not report.all_passed
    assert "area(1) returned 0, expected 3.14" in report.results[0].error


def test_sentence_full_stop_is_not_a_float():
    assert claims("Example: f(3) → 4.") == {"f(3)": "4"}


def test_unreadable_example_lines_are_listed_not_guessed():
    doc = """Thing.

    Examples:
        f(2) => 4
        f(x) => x * 2
        f(3) ≈ six-ish
        see the tests for more
    """
    report = read_examples(doc, "f", ["x"])
    assert {t.call for t in report.tests} == {"f(2)"}
    assert report.skipped == ["f(x) => x * 2", "f(3) ≈ six-ish", "see the tests for more"]


def test_prose_outside_an_examples_section_is_not_reported():
    report = read_examples("Return twice x.\n\nThe result of f is used by g.", "f", ["x"])
    assert report.tests == [] and report.skipped == []


def test_contradictory_examples_are_reported_and_not_used():
    doc = """Inc.

    Examples:
        inc(1) => 2
        inc(1) => 3
        inc(5) => 6
        inc(5) == 6
    """
    report = read_examples(doc, "inc")
    assert {t.call for t in report.tests} == {"inc(5)"}
    assert len(report.contradictions) == 1 and "inc(1)" in report.contradictions[0]


def test_examples_in_a_free_text_request_count():
    spec = FunctionSpec(name="add", docstring="")
    for text in ("add two numbers, e.g. add(2, 3) => 5",
                 "add two numbers.\nExample: add(2, 3) => 5"):
        tests = derive_tests(Request(text=text), spec)
        assert [(t.kind, t.call) for t in tests] == [("example", "add(2, 3)")]


def test_no_docstring_means_no_example_tests():
    spec = FunctionSpec(name="f", signature="def f(x: int) -> int:", params=[("x", "int")])
    tests = derive_tests(Request(text="", spec=spec), spec)
    assert tests and all(t.kind == "smoke" and not t.trusted for t in tests)


def test_a_written_tolerance_is_used():
    doc = """Circumference.

    Examples:
        circ(10) => 62.83 ± 0.063
        circ(4) -> 25.132 (+/- 0.026).
        circ(1) => 6 ± 0.3
    """
    tests = read_examples(doc, "circ", ["r"]).tests
    assert [t.call for t in tests] == ["circ(10)", "circ(4)", "circ(1)"]
    exact = "import math\ndef circ(r):\n    return 2 * math.pi * r\n"
    assert _run(exact, "circ", tests).all_passed  # 62.8319 is within 0.063 of 62.83
    crude = "def circ(r):\n    return 6.4 * r\n"  # 64.0, 25.6, 6.4: outside every tolerance
    assert not any(r.passed for r in _run(crude, "circ", tests).results)


def test_an_exception_example_is_decided_outside_the_sandbox():
    # the test is the bare call; the parent reads the raised type's MRO (dise.sandbox.raises)
    tests = read_examples("Example:\n    root(-1) raises ValueError", "root").tests
    assert [t.code for t in tests] == ["root(-1)"]
    # a candidate rebinding ValueError would have made ``except ValueError`` catch anything
    forged = ("ValueError = BaseException\n"
              "def root(x):\n    raise TypeError('no')\n")
    report = _run(forged, "root", tests)
    assert not report.all_passed
    error = report.results[0].error
    assert "raised TypeError: no" in error and error.endswith("expected ValueError")
    # its own class named ValueError is not the built-in one
    own = ("class ValueError(Exception):\n    pass\n"
           "def root(x):\n    raise ValueError('negative')\n")
    assert not _run(own, "root", tests).all_passed
    # a subclass counts, as with ``except ValueError:``
    sub = ("class Negative(ValueError):\n    pass\n"
           "def root(x):\n    raise Negative('negative')\n")
    assert _run(sub, "root", tests).all_passed


def test_an_exception_of_the_users_own_class_needs_no_import_in_the_test():
    tests = read_examples("Example:\n    check('x') raises InvalidEmail", "check").tests
    code = ("class InvalidEmail(Exception):\n    pass\n"
            "def check(s):\n    raise InvalidEmail(s)\n")
    assert _run(code, "check", tests).all_passed
    assert not _run("def check(s):\n    return s\n", "check", tests).all_passed
