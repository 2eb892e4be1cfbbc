"""Artifacts for store tests: one stored version of a trivial function (``make_artifact``)."""

from __future__ import annotations

import time

from dise.engine.types import Artifact


def make_artifact(node_id: str, version: int = 1, *, parent: str | None = None,
                  fitness: float = 0.5, name: str | None = None, **extra) -> Artifact:
    fields = dict(
        node_id=node_id, version=version, function_name=name or node_id,
        code=f"def {name or node_id}(x):\n    return x  # v{version}\n",
        prompt="return the argument", task_type="other", intent="interactive",
        generator_used="qwen-0.5b", model="qwen2.5-coder-0.5b", backend="llamacpp",
        temperature=0.0, generation_time=1.5, test_passed=True, tests_passed=2,
        tests_total=2, test_kinds={"given": [2, 2]}, quality_score=1.0, latency=1e-6,
        coverage=1.0, fitness_score=fitness, tool_usage=["autofix"], phase="phase1",
        timestamp=time.time(), tests=[{"kind": "given", "code": "f(1)", "expect": "1",
                                       "allowed_exceptions": []}],
        parent=parent, extra={"origin": "test"})
    fields.update(extra)
    return Artifact(**fields)
