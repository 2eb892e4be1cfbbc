"""Differential testing (issue 11): extra inputs from the tests' argument shapes and the type
hints, and a sandboxed comparison of two versions on them."""

from __future__ import annotations

from dise.config import SandboxConfig
from dise.engine.types import TestCase
from dise.optimize import differential as d

TESTS = [TestCase("given", "assert add(2, 3) == 5"),
         TestCase("doctest", "add(0, 0)", expect="0")]
ADD = "def add(a, b):\n    return a + b\n"


def test_inputs_nudge_the_tested_arguments_and_skip_the_tested_calls():
    inputs = d.probe_inputs("add", "", TESTS, limit=20)
    assert (3, 3) in inputs and (2, 4) in inputs and (-2, 3) in inputs
    assert (2, 3) not in inputs and (0, 0) not in inputs  # the tests already say
    assert len(inputs) == len(set(inputs))
    assert len(d.probe_inputs("add", "", TESTS, limit=3)) == 3


def test_inputs_from_type_hints_when_no_test_calls_the_function():
    inputs = d.probe_inputs("f", "def f(words: list[str], n: int) -> str:", [], limit=10)
    assert inputs and all(isinstance(w, list) and isinstance(n, int) for w, n in inputs)
    assert any(w and isinstance(w[0], str) for w, _ in inputs)
    assert d.probe_inputs("f", "def f(x):", [], limit=10) == []  # nothing to go on
    assert d.probe_inputs("f", "not python (", [], limit=10) == []


def test_nudge_keeps_the_type():
    assert d.nudge(True) == [False]
    assert d.nudge("ab") == ["", "ba", "AB", "abaz"]
    assert d.nudge((1, 2)) == [(), (2, 1), (1, 2, 1)]
    assert d.nudge(object()) == []


def test_a_changed_answer_on_an_untested_input_is_a_disagreement():
    changed = "def add(a, b):\n    if a < 0:\n        raise ValueError(a)\n    return a + b\n"
    inputs = [(1, 1), (-2, 3), (5, 0)]
    found = d.compare(ADD, changed, "add", inputs, SandboxConfig())
    assert found.inputs == 3 and found.agreed == 2 and found.disagrees
    assert [x["args"] for x in found.disagreements] == ["(-2, 3)"]
    assert "ValueError" in found.disagreements[0]["detail"]


def test_a_faithful_rewrite_agrees_everywhere_and_inputs_are_not_shared():
    rewrite = ("def add(a, b):\n    total = a\n    total += b\n    return total\n")
    inputs = [([1], [2]), ("x", "y"), (1.5, 2)]  # a mutating += must not leak between runs
    found = d.compare(ADD, rewrite, "add", inputs, SandboxConfig())
    assert found.agreed == 3 and not found.disagrees and not found.error


def test_a_candidate_that_does_not_load_is_reported_not_hidden():
    found = d.compare(ADD, "def add(a, b)\n    return", "add", [(1, 2)], SandboxConfig())
    assert found.error and not found.agreed
    assert d.compare(ADD, ADD, "add", [], SandboxConfig()).inputs == 0
