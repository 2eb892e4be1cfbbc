"""What the editor says about a better version (``dise.lsp.render``): a version that is better
by the rules but still fails some of the user's own tests says so, so "better version" is not
read as "right now"."""

from __future__ import annotations

import time

from dise.engine.types import Artifact
from dise.lsp.render import diagnostic_message


def _artifact(version: int, fitness: float, examples: list[int]) -> Artifact:
    return Artifact(
        node_id="catalan", version=version, function_name="catalan", code="", prompt="",
        task_type="math", intent="interactive", generator_used="qwen-0.5b", model="m",
        backend="llamacpp", temperature=0.7, generation_time=0.1,
        test_passed=examples[0] == examples[1], tests_passed=examples[0],
        tests_total=examples[1], test_kinds={"example": examples}, quality_score=fitness,
        latency=1e-6, coverage=1.0, fitness_score=fitness, tool_usage=[], phase="phase2",
        timestamp=time.time(), tests=[])


def test_a_better_version_that_still_fails_the_users_examples_says_so():
    message = diagnostic_message(_artifact(1, 0.2, [0, 3]), _artifact(2, 0.5, [1, 3]))
    assert message == ("Better version available: fitness 0.20 → 0.50 (v2, qwen-0.5b @ 0.7)"
                       "; it still fails 2 of your 3 tests")


def test_a_better_version_passing_them_does_not():
    message = diagnostic_message(_artifact(1, 0.2, [0, 3]), _artifact(2, 0.9, [3, 3]))
    assert message.endswith("(v2, qwen-0.5b @ 0.7)")
