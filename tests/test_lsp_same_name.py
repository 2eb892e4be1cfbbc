"""Two functions with the same name in one file: DiSE's own is never confused with the other.

Issue 14, bug 1: the index was keyed by function name and Accept re-found "the first def of that
name", so a user's ``Helper.add_one`` above DiSE's ``add_one`` got DiSE's hover ("edited since
generated"), its better-version diagnostic and lenses, and Accept replaced the user's method.
The editor test runs the real server, optimiser, sandbox and scoring over ``lsp_phase2_double``;
the unit tests check the matching rules of ``dise.lsp.index`` alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp

from dise.engine.types import Artifact
from dise.lsp.documents import all_regions, lsp_lines, qualified_name, region_hash
from dise.lsp.index import FunctionIndex, Known, locate, match_region
from support.lsp_harness import Editor, server_env, wait_until

ENGINE = "support.lsp_phase2_double:Phase2DoubleEngine"
QUICK = {"optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.3],
                      "approaches": ["plain"], "max_attempts": 1, "patience": 1,
                      "incremental_max_steps": 0, "poll_interval_s": 0.1}}
#: The user's own ``Helper.add_one`` comes first; DiSE generates the module-level one.
SOURCE = ('"""Counting."""\n\n\n'
          "class Helper:\n"
          "    def add_one(self, x):\n"
          "        return x + 100\n\n\n"
          "def add_one(x: int) -> int:\n"
          '    """Return x plus one."""\n')


def lines_with(text: str, needle: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if needle in line]


@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_a_namesake_gets_no_hover_no_offer_and_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    ed = Editor("visual-studio-code", tmp_path / "ws",
                server_env(ENGINE, DISE_HOME=str(tmp_path / "home")), QUICK)
    asked: list[str] = []

    @ed.client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_ask(ls: Any, params: lsp.ShowMessageRequestParams):
        asked.append(params.message)
        return lsp.MessageActionItem(title="Replace my edits")   # the worst answer for a bug

    await ed.start()
    try:
        uri = ed.open("counting.py", SOURCE)
        stub_line = lines_with(SOURCE, "def add_one(x: int)")[0]
        [action] = [a for a in await ed.actions(uri, stub_line) if "add_one" in a.title]
        assert (await ed.run_action(action))["applied"]
        text = ed.text(uri)
        [mine] = lines_with(text, "def add_one(self, x)")
        [ours] = lines_with(text, "def add_one(x: int)")

        assert await ed.hover(uri, mine) is None           # the user's method is not DiSE's
        hover = await ed.hover_text(uri, ours)
        assert "add_one" in hover and "edited since generated" not in hover
        lens_lines = {lens.range.start.line for lens in await ed.code_lenses(uri)
                      if lens.command and lens.command.title.startswith("DiSE: fitness")}
        assert lens_lines == {ours}

        answer = await ed.execute("dise.optimize", {"uri": uri, "line": ours})
        assert answer["queued"] == ["add_one"], answer
        found = await wait_until(
            lambda: [d for d in ed.client.diagnostics.get(uri, []) if d.code == "better-version"],
            "the better-version diagnostic")
        assert [d.range.start.line for d in found] == [ours]
        fixes = await ed.actions(uri, ours, only=[lsp.CodeActionKind.QuickFix])
        accept = next(a for a in fixes if "Accept optimized version" in a.title)
        result = await ed.run_action(accept)
        assert result["applied"], result
        text = ed.text(uri)
        assert not asked                                    # DiSE's add_one was not edited
        assert "        return x + 100\n" in text           # the user's method is untouched
        assert "operator.add(x, 1)" in text and "test double" not in text
    finally:
        await ed.stop()


# -- the rules, unit by unit -------------------------------------------------------------------
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
