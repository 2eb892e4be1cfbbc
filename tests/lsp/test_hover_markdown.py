"""The hover's Markdown (``dise.lsp.hover``) alone: every metric, the sandbox level, the wording of
latency and the optimisation state."""

from __future__ import annotations

from dise.engine.types import Artifact
from dise.lsp.hover import format_latency, hover_markdown, optimisation_state


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
                     "smoke 3/4", "qwen-0.5b", "qwen2.5-coder-0.5b", "llamacpp", "1.5 s generating",
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
