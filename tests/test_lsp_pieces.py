"""The language server's pure pieces: text geometry, targets, splicing, hover text, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.lsp_double import _code

from dise.config import ConfigError
from dise.engine.types import Artifact, DiseError
from dise.lsp.documents import (
    content_hash,
    enclosing_regions,
    function_region,
    lsp_lines,
    region_by_name,
)
from dise.lsp.hover import format_latency, hover_markdown, optimisation_state
from dise.lsp.settings import WORKSPACE_STORE_DIR, build_settings
from dise.lsp.targets import locate_again, prepare_edit, scan, targets_near

SOURCE = '''import os


def add(a, b):
    """Add."""
    if a:
        return a + b

    # a comment inside
    return b


class Mailer:
    @staticmethod
    def send(to: str,
             body: str) -> None:
        """Send a mail."""
        ...

    def one(self): return 1

    def outer(self):
        def inner(x):
            pass
        return inner


# dise: reverse the words in a sentence
'''
BROKEN = SOURCE + 'def broken(:\n    x = """\n'


def names(regions) -> list[str]:
    return [r.name for r in regions]


def test_function_regions_follow_python_blocks():
    lines = lsp_lines(SOURCE)
    add = function_region(lines, 3)
    assert (add.name, add.start, add.end) == ("add", 3, 9)
    send = function_region(lines, 14)
    assert (send.name, send.end) == ("send", 17)          # signature over two lines
    assert function_region(lines, 19).end == 19          # one-line def
    assert function_region(lines, 0) is None             # not a def
    broken = function_region(lsp_lines(BROKEN), 28)     # does not tokenize: by indentation
    assert broken.name == "broken" and broken.end == 29


def test_enclosing_regions_innermost_first_and_nothing_outside():
    lines = lsp_lines(SOURCE)
    assert names(enclosing_regions(lines, 23)) == ["inner", "outer"]
    assert names(enclosing_regions(lines, 8)) == ["add"]      # blank line inside
    assert names(enclosing_regions(lines, 6)) == ["add"]
    assert names(enclosing_regions(lines, 11)) == []          # between functions
    assert names(enclosing_regions(lines, 12)) == []          # the class line
    assert names(enclosing_regions(lines, 10_000)) == []
    assert region_by_name(lines, "inner").start == 22


def test_content_hash_ignores_line_endings_and_trailing_blanks():
    assert content_hash("def f():\r\n    return 1   \r\n\n") == content_hash(
        "def f():\n    return 1")
    assert content_hash("def f():\n    return 1") != content_hash("def f():\n    return 2")


def test_targets_near_agree_with_a_whole_file_scan():
    lines = lsp_lines(SOURCE)
    full = {(t.kind, t.name, t.line, t.first_line, t.end_line, t.text) for t in scan(SOURCE)}
    assert {t[1] or t[5] for t in full} >= {"send", "inner", "reverse the words in a sentence"}
    seen = set()
    for number in range(len(lines)):
        for t in targets_near(lines, number, number, 200):
            key = (t.kind, t.name, t.line, t.first_line, t.end_line, t.text)
            assert key in full, key
            seen.add(key)
    assert seen == full
    assert [t.name for t in targets_near(lines, 13, 13, 200)] == ["send"]   # decorator line
    assert targets_near(lines, 3, 3, 200) == []                             # finished function


def test_splice_refuses_a_changed_stub_and_follows_a_moved_one():
    [stub] = [t for t in scan(SOURCE) if t.name == "send"]
    spec = stub.found.spec
    code = _code(spec)
    moved = "X = 1\n\n" + SOURCE
    prepared = prepare_edit(moved, stub, code, "send")
    assert prepared is not None and prepared.target.line == stub.line + 2
    assert "import math" in prepared.new_source and "math.prod" in prepared.new_source
    changed = SOURCE.replace('"""Send a mail."""', '"""Send a letter."""')
    assert locate_again(changed, stub) is None
    assert prepare_edit(changed, stub, code, "send") is None
    with pytest.raises(DiseError, match="syntax error"):
        prepare_edit(BROKEN, stub, code, "send")


def artifact(**changes) -> Artifact:
    values = dict(node_id="add", version=2, function_name="add", code="def add(a, b): ...",
                  prompt="add", task_type="math", intent="interactive", generator_used="qwen-0.5b",
                  model="qwen2.5-coder-0.5b", backend="llamacpp", temperature=0.0,
                  generation_time=1.5, test_passed=True, tests_passed=4, tests_total=5,
                  test_kinds={"doctest": [1, 1], "smoke": [3, 4]}, quality_score=0.95,
                  latency=0.0021, coverage=0.8, fitness_score=0.7, tool_usage=[],
                  phase="phase2", timestamp=0.0, tests=[], parent="add_v1")
    values.update(changes)
    return Artifact(**values)


def test_hover_markdown_has_every_metric():
    text = hover_markdown(artifact(), queue_position=3, optimise_below=0.8, edited=True,
                          versions=2)
    for expected in ("**0.70**", "0.95", "2.1 ms", "80%", "4/5 passed", "doctest 1/1",
                     "smoke 3/4", "qwen-0.5b", "qwen2.5-coder-0.5b", "llamacpp", "1.50 s",
                     "version: 2 of 2", "parent: add_v1", "phase2",
                     "queued: fitness 0.70 < 0.8 (position 3)", "edited since generated"):
        assert expected in text, expected


def test_hover_names_the_sandbox_level_that_tested_the_function():
    text = hover_markdown(artifact(extra={"isolation": "bubblewrap"}), queue_position=None,
                          optimise_below=0.8, edited=False)
    assert "- sandbox: bubblewrap" in text
    assert "sandbox" not in hover_markdown(artifact(), queue_position=None, optimise_below=0.8,
                                           edited=False)


def test_latency_and_optimisation_wording():
    assert format_latency(None).startswith("–")
    assert format_latency(4e-4) == "400 µs" and format_latency(2.5) == "2.50 s"
    assert optimisation_state(artifact(fitness_score=0.9, version=1), None, 0.8) == \
        "done: fitness ≥ 0.8"
    assert optimisation_state(artifact(fitness_score=0.5), None, 0.8).startswith("not queued")


def test_settings_from_the_editor(tmp_path: Path):
    settings = build_settings({"dise": {"backend": "llamacpp", "storeScope": "workspace",
                                        "lsp": {"generation_workers": 2}}}, str(tmp_path))
    assert settings.config.backend == "llamacpp"
    assert settings.config.store_path.parent == tmp_path / WORKSPACE_STORE_DIR
    assert settings.lsp.generation_workers == 2
    with pytest.raises(ConfigError, match="lsp.workers"):
        build_settings({"lsp": {"workers": 2}}, None)
    with pytest.raises(ConfigError, match="storeScope"):
        build_settings({"storeScope": "galaxy"}, None)
    with pytest.raises(ConfigError, match="workspace folder"):
        build_settings({"storeScope": "workspace"}, None)
