"""The function index (``dise.lsp.index``) alone: a ``def`` is DiSE's by its content hash,
then its qualified name, never by its name (issue 14, bug 1: two functions with the same name
in one file; the editor test is test_lsp_same_name.py)."""

from __future__ import annotations

import time

from dise.engine.types import Artifact
from dise.lsp.documents import all_regions, lsp_lines, qualified_name, region_hash
from dise.lsp.index import FunctionIndex, Known, locate, match_region


TWO_CLASSES = ("class A:\n"
               "    def validate(self, x):\n"
               "        return x > 0\n"
               "\n"
               "\n"
               "class B:\n"
               "    def validate(self, x):\n"
               "        return x < 0\n")


def artifact(node_id: str, name: str) -> Artifact:
    return Artifact(
        node_id=node_id, version=1, function_name=name, code="", prompt="", task_type="other",
        intent="interactive", generator_used="g", model="m", backend="b", temperature=0.0,
        generation_time=0.1, test_passed=True, tests_passed=1, tests_total=1, test_kinds={},
        quality_score=1.0, latency=1e-6, coverage=1.0, fitness_score=1.0, tool_usage=[],
        phase="phase1", timestamp=time.time(), tests=[])


def known_at(lines: list[str], start: int, node_id: str) -> Known:
    region = next(r for r in all_regions(lines) if r.start == start)
    return Known(node_id=node_id, name=region.name, content_hash=region_hash(lines, region),
                 artifact=artifact(node_id, region.name),
                 qualname=qualified_name(lines, region))


def test_qualified_names_tell_methods_apart() -> None:
    lines = lsp_lines(TWO_CLASSES + "\n\ndef outer():\n    def validate():\n        pass\n")
    assert [qualified_name(lines, r) for r in all_regions(lines)] == [
        "A.validate", "B.validate", "outer", "outer.validate"]


def test_an_edited_method_stays_its_own_node_and_the_namesake_is_not_dise_s() -> None:
    lines = lsp_lines(TWO_CLASSES)
    a = known_at(lines, 1, "validate_a")
    index = FunctionIndex()
    index.add("file:///v.py", a)
    a_region, b_region = list(all_regions(lines))
    assert index.match("file:///v.py", lines, a_region) == (a, False)
    assert index.match("file:///v.py", lines, b_region) is None   # B's is the user's own

    edited = lsp_lines(TWO_CLASSES.replace("return x > 0", "return x >= 0"))
    a_region, b_region = list(all_regions(edited))
    assert index.match("file:///v.py", edited, a_region) == (a, True)
    assert index.match("file:///v.py", edited, b_region) is None
    assert index.region_of("file:///v.py", edited, "validate_a") == a_region


def test_two_generated_namesakes_each_find_their_own_def() -> None:
    lines = lsp_lines(TWO_CLASSES)
    a, b = known_at(lines, 1, "validate_a"), known_at(lines, 6, "validate_b")
    # B edited, then A moved below it: still each its own.
    text = TWO_CLASSES.replace("return x < 0", "return x <= 0")
    moved = lsp_lines(text + "\n\nclass C:\n    pass\n")
    where = locate(moved, [a, b])
    assert (where["validate_a"].start, where["validate_b"].start) == (1, 6)
    a_region, b_region = list(all_regions(moved))
    assert match_region([a, b], moved, a_region) == (a, False)
    assert match_region([a, b], moved, b_region) == (b, True)


def test_identical_text_in_two_classes_goes_by_qualified_name() -> None:
    same = TWO_CLASSES.replace("return x < 0", "return x > 0")
    lines = lsp_lines(same)
    a, b = known_at(lines, 1, "validate_a"), known_at(lines, 6, "validate_b")
    assert a.content_hash == b.content_hash
    a_region, b_region = list(all_regions(lines))
    assert match_region([a, b], lines, b_region) == (b, False)
    assert match_region([b, a], lines, a_region) == (a, False)
    assert {k: r.start for k, r in locate(lines, [b, a]).items()} == {"validate_a": 1,
                                                                       "validate_b": 6}
