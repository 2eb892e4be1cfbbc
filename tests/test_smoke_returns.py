"""Smoke tests check the returned value against the return annotation, outside the sandbox.

Before: a smoke test passed whenever the call did not raise, so ``-> int`` with a forgotten
``return`` (None) passed every smoke test and counted as evidence."""

from __future__ import annotations

import pytest

from dise.config import load_config
from dise.engine.testgen.smoke import smoke_tests
from dise.engine.types import FunctionSpec
from dise.sandbox import run_candidate
from dise.sandbox.returns import accepted_tags

COUNT = FunctionSpec("count_vowels", "def count_vowels(s: str) -> int:",
                     params=[("s", "str")], returns="int")


def run(code: str, spec: FunctionSpec = COUNT):
    return run_candidate(code, spec.name, smoke_tests(spec), load_config().sandbox,
                         measure=False)


@pytest.mark.parametrize("annotation, tags", [
    ("int", {"int", "bool"}),
    ("float", {"float", "int", "bool"}),
    ("Optional[str]", {"str", "none"}),
    ("str | None", {"str", "none"}),
    ("list[int]", {"list"}),
    ("typing.List[int]", {"list"}),
    ("Tuple[int, str]", {"tuple", "namedtuple"}),
    ("Union[int, str]", {"int", "bool", "str"}),
    ("None", {"none"}),
    ("'dict[str, int]'", {"dict"}),
])
def test_annotations_read(annotation, tags):
    assert accepted_tags(annotation) == tags


@pytest.mark.parametrize("annotation", ["Rectangle", "Any", "Iterable[int]", "",
                                        "int | Foo", "Callable[[int], int]", "not python("])
def test_annotations_not_read_are_not_checked(annotation):
    assert accepted_tags(annotation) is None


def test_a_forgotten_return_fails_the_smoke_tests():
    report = run("def count_vowels(s):\n    sum(c in 'aeiou' for c in s)\n")
    assert report.total == 4 and report.passed == 0
    assert "not a value of its return annotation -> int" in report.results[0].error
    assert "returned None" in report.results[0].error


def test_a_value_of_the_annotated_kind_passes():
    report = run("def count_vowels(s):\n    return sum(c in 'aeiou' for c in s)\n")
    assert report.all_passed, report.failures()


def test_a_deliberate_rejection_still_passes():
    report = run("def count_vowels(s):\n    raise ValueError('no')\n")
    assert report.all_passed, report.failures()


def test_an_int_fits_float_and_a_string_does_not():
    spec = FunctionSpec("half", "def half(x: int) -> float:", params=[("x", "int")],
                        returns="float")
    assert run("def half(x):\n    return x // 2\n", spec).all_passed
    assert not run("def half(x):\n    return str(x / 2)\n", spec).all_passed


def test_the_candidate_cannot_forge_the_check():
    code = ("_dise_returns = lambda *args: True\n"
            "def count_vowels(s):\n    sum(c in 'aeiou' for c in s)\n")
    assert run(code).passed == 0


def test_without_a_readable_annotation_the_smoke_test_is_a_plain_call():
    spec = FunctionSpec("area", "def area(x: int) -> Shape:", params=[("x", "int")],
                        returns="Shape")
    assert smoke_tests(spec)[0].code == "area(3)"
    assert run("def area(x):\n    return None\n", spec).all_passed
