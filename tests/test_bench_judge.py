"""The benchmark's hidden judge gives MBPP+ inputs their Python types back, and the example
tests read from a rendered stub are sound on the reference solution.

Regression for Mbpp/106 ``add_lists`` and Mbpp/750 ``add_tuple``: a benchmark scored
``return test_list + test_tup`` as passing the hidden tests while it failed every example
test. The example tests were right (``[5, 6, 7] + (9, 10)`` raises TypeError); the hidden
judge fed the JSON-stored inputs, whose tuples had become lists, so the reference raised on
every input and the judge, skipping those, passed anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import phase1_stubs as ps  # noqa: E402
from mbpp_inputs import shape, shape_inputs  # noqa: E402

from dise.config import load_config  # noqa: E402
from dise.engine import stubs  # noqa: E402
from dise.engine.testgen import derive_tests  # noqa: E402
from dise.engine.types import Request  # noqa: E402
from dise.sandbox import run_candidate  # noqa: E402

#: Mbpp/106 and Mbpp/750 as the MBPP+ file holds them (a few of their inputs).
ADD_LISTS = {
    "task_id": "Mbpp/106", "entry_point": "add_lists",
    "prompt": '"""\nWrite a function to append the given list to the given tuples.\n"""',
    "canonical_solution": "\ndef add_lists(test_list, test_tup):\n"
                          "  return test_tup + tuple(test_list)\n",
    "assertion": "\nassert add_lists([5, 6, 7], (9, 10)) == (9, 10, 5, 6, 7)\n"
                 "assert add_lists([6, 7, 8], (10, 11)) == (10, 11, 6, 7, 8)\n"
                 "assert add_lists([7, 8, 9], (11, 12)) == (11, 12, 7, 8, 9)\n",
    "base_input": [[[5, 6, 7], [9, 10]], [[6, 7, 8], [10, 11]], [[7, 8, 9], [11, 12]]],
    "plus_input": [[[], [1, 2]], [["a"], []]], "atol": 0,
}
ADD_TUPLE = {
    "task_id": "Mbpp/750", "entry_point": "add_tuple",
    "prompt": '"""\nWrite a function to add the given tuple to the given list.\n"""',
    "canonical_solution": "\ndef add_tuple(test_list, test_tup):\n"
                          "  return test_list + list(test_tup)\n",
    "assertion": "\nassert add_tuple([5, 6, 7], (9, 10)) == [5, 6, 7, 9, 10]\n"
                 "assert add_tuple([6, 7, 8], (10, 11)) == [6, 7, 8, 10, 11]\n"
                 "assert add_tuple([7, 8, 9], (11, 12)) == [7, 8, 9, 11, 12]\n",
    "base_input": [[[5, 6, 7], [9, 10]], [[6, 7, 8], [10, 11]], [[7, 8, 9], [11, 12]]],
    "plus_input": [[[1], [2, 3]]], "atol": 0,
}
#: What the 0.5B model wrote for both in the benchmark run: wrong on a tuple argument.
WRONG = {"add_lists": "def add_lists(test_list, test_tup):\n    return test_list + test_tup\n",
         "add_tuple": "def add_tuple(test_list, test_tup):\n    return test_list + test_tup\n"}


@pytest.mark.parametrize("problem", [ADD_LISTS, ADD_TUPLE], ids=["Mbpp/106", "Mbpp/750"])
def test_hidden_judge_fails_code_that_breaks_on_tuples(problem):
    name = problem["entry_point"]
    assert ps.hidden_verdict(problem["canonical_solution"], problem) == (True, "")
    passed, why = ps.hidden_verdict(WRONG[name], problem)
    assert not passed and why.startswith("TypeError")
    # with the JSON lists as inputs the bug is invisible: for add_lists the reference rejects
    # every input (the old judge skipped them all and passed anything; now a failure that
    # says so), for add_tuple list + list works on both sides
    before = ps.hidden_check(WRONG[name], problem, shape=False)
    if name == "add_lists":
        assert not before["passed"] and before["why"] == "the reference rejects every input"
    else:
        assert before["passed"]


@pytest.mark.parametrize("problem", [ADD_LISTS, ADD_TUPLE], ids=["Mbpp/106", "Mbpp/750"])
def test_stub_examples_pass_the_reference_and_fail_the_wrong_code(problem):
    """In all eight notations the examples are read, pass the reference, fail the wrong code."""
    name, tests = problem["entry_point"], []
    for index, notation in enumerate(ps.NOTATIONS):
        source, _ = ps.make_stub(problem, index)
        spec = stubs.find_stub(source, name=name).spec
        read = [t for t in derive_tests(Request(text=spec.docstring, spec=spec), spec)
                if t.kind in ("example", "doctest")]
        assert len(read) == 2 + index % 2, (notation, source)
        tests += read
    cfg = load_config().sandbox
    good = run_candidate(problem["canonical_solution"], name, tests, cfg, measure=False)
    assert good.all_passed, [r.error for r in good.results if not r.passed]
    wrong = run_candidate(WRONG[name], name, tests, cfg, measure=False)
    assert len(wrong.results) == len(tests) and not any(r.passed for r in wrong.results)


def test_inputs_get_the_types_of_the_asserts_calls():
    assertion = ("assert f([(1, 'a'), (2, 'b')], {1, 2}, 1j, {1: (0,)}) == 0\n"
                 "assert f([], set(), 2j, {}) == 0\n")
    got = shape_inputs(assertion, "f", [[[[3, "c"]], [4], "3", {"7": [5, 6]}],
                                        [[[1, "x"], [2, "y"], [3, "z"]], [], 2, {}]])
    assert got == [[[(3, "c")], {4}, complex(3), {7: (5, 6)}],
                   [[(1, "x"), (2, "y"), (3, "z")], set(), 2 + 0j, {}]]
    assert type(got[0][2]) is complex and type(got[1][2]) is complex
    # a mixed tuple: only its nested sequence items become tuples
    assert shape([1, [4, 6], 2, 3], [(1, 5, 7, (4, 6), 10)]) == (1, (4, 6), 2, 3)
    # recursive data deeper than the asserts' examples: nested like its parent (Mbpp/580)
    assert shape([1, [2, [3, [4, [5]]]]], [(4, 5, (7, 6, (2, 4)), 6, 8)]) == \
        (1, (2, (3, (4, (5,)))))
    # no template: the JSON value stays
    assert shape_inputs("assert g(x) == 1", "g", [[[1, 2]]]) == [[[1, 2]]]


def _trusted(source: str, name: str):
    spec = stubs.find_stub(source, name=name).spec
    return [t for t in derive_tests(Request(text=spec.docstring, spec=spec), spec)
            if t.kind in ("example", "doctest")]


def test_rendered_stubs_keep_what_the_asserts_allow():
    """isclose asserts keep their tolerance, non-literal results become literals, escapes stay
    escapes, and a doctest's ``240`` accepts the reference's ``240.0`` (as ``== 240`` does)."""
    circle = {"entry_point": "circ", "prompt": "Write a function to find the circumference.",
              "canonical_solution": "import math\ndef circ(r):\n    return 2 * math.pi * r\n",
              "assertion": "assert math.isclose(circ(10), 62.830000000000005, rel_tol=0.001)\n"
                           "assert math.isclose(circ(4), 25.132, rel_tol=0.001)\n"}
    source, _ = ps.make_stub(circle, 0)
    assert "circ(10) => 62.83 ± 0.063" in source
    chars = {"entry_point": "ch", "prompt": "Write a function to find a character.",
             "canonical_solution": "def ch(s):\n    return chr(len(s) + 10) if s else chr(8)\n",
             "assertion": "assert ch('') == chr(8)\nassert ch('abc') == chr(13)\n"}
    volume = {"entry_point": "vol", "prompt": "Write a function to find the volume.",
              "canonical_solution": "def vol(a, b):\n    return (a * b) / 2\n",
              "assertion": "assert vol(4, 5) == 10\nassert vol(2, 3) == 3\n"}
    cfg = load_config().sandbox
    for problem in (circle, chars, volume):
        for index in range(len(ps.NOTATIONS)):
            source, notation = ps.make_stub(problem, index)
            if problem is chars:
                assert "chr(" not in source and r"'\r'" in source, source
            tests = _trusted(source, problem["entry_point"])
            assert tests or (problem is circle and notation.startswith(">>>")), source
            if tests:
                report = run_candidate(problem["canonical_solution"], problem["entry_point"],
                                       tests, cfg, measure=False)
                assert report.all_passed, (notation, [r.error for r in report.results])


def test_the_rejudge_judges_the_code_phase1_stores_today():
    """Mbpp/736: the run stored ``return bisect.bisect_left(a, x)`` without its import (the run
    in context had it from the splice); the hidden judge then saw a NameError the user's file
    never had. ``stored_code`` is what Phase 1 stores today for that candidate."""
    problem = {"entry_point": "left_insertion",
               "prompt": "Write a function to locate the left insertion point.",
               "canonical_solution": "import bisect\ndef left_insertion(a, x):\n"
                                     "    return bisect.bisect_left(a, x)\n",
               "assertion": "assert left_insertion([1,2,4,5],6)==4\n"
                            "assert left_insertion([1,2,4,5],3)==2\n",
               "base_input": [[[1, 2, 4, 5], 6], [[1, 2, 4, 5], 3]],
               "plus_input": [[[], 1]], "atol": 0}
    source, _ = ps.make_stub(problem, 0)
    code = "def left_insertion(a, x):\n    return bisect.bisect_left(a, x)\n"
    assert not ps.hidden_verdict(code, problem)[0]
    stored = ps.stored_code(code, source, "left_insertion")
    assert stored.startswith("import bisect\n")
    assert ps.hidden_verdict(stored, problem) == (True, "")


#: Mbpp/787 as the MBPP+ file holds it: the reference returns a match or None, while its own
#: asserts (and so the stub's examples, ``-> True`` / ``-> False``) check only truthiness.
TEXT_MATCH_THREE = {
    "task_id": "Mbpp/787", "entry_point": "text_match_three",
    "canonical_solution": "\nimport re\ndef text_match_three(text):\n"
                          "        patterns = 'ab{3}?'\n        return re.search(patterns,  text)\n",
    "assertion": '\nassert not text_match_three("ac")\nassert not text_match_three("dc")\n'
                 'assert text_match_three("abbbba")\nassert text_match_three("caacabbbba")\n',
    "base_input": [["ac"], ["dc"], ["abbbba"], ["caacabbbba"]],
    "plus_input": [[""], ["abbb"], ["abb"]], "atol": 0,
}


def test_truthiness_asserts_are_judged_by_truthiness_not_the_references_value():
    assert ps.truthiness_only(TEXT_MATCH_THREE)
    assert not ps.truthiness_only(ADD_LISTS)
    as_bool = "import re\ndef text_match_three(text):\n    return 'abbb' in text\n"
    assert ps.hidden_verdict(as_bool, TEXT_MATCH_THREE) == (True, "")
    wrong = "def text_match_three(text):\n    return 'ab' in text\n"   # wrong on "abb"
    assert ps.hidden_verdict(wrong, TEXT_MATCH_THREE)[0] is False
    # a value comparison still applies where the asserts compare values
    assert ps.hidden_verdict(WRONG["add_lists"], ADD_LISTS)[0] is False
