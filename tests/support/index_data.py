"""Artifacts and retrieval memories for index and retrieval tests."""

from __future__ import annotations

import time

from dise.config import Config
from dise.engine.retrieval import Memory, RetrievalConfig
from dise.engine.types import Artifact
from dise.store import Store
from dise.store.embedder import Embedder


def make_artifact(node_id: str, version: int = 1, *, prompt: str, passed: bool = True,
                  fitness: float = 0.8, code: str | None = None) -> Artifact:
    return Artifact(
        node_id=node_id, version=version, function_name=node_id,
        code=code or f"def {node_id}(x):\n    return x  # v{version}\n", prompt=prompt,
        task_type="other", intent="interactive", generator_used="qwen-0.5b",
        model="qwen2.5-coder-0.5b", backend="llamacpp", temperature=0.0, generation_time=1.0,
        test_passed=passed, tests_passed=2 if passed else 1, tests_total=2,
        test_kinds={"given": [2 if passed else 1, 2]}, quality_score=1.0, latency=1e-6,
        coverage=1.0, fitness_score=fitness, tool_usage=[], phase="phase1",
        timestamp=time.time(), tests=[],
        parent=f"{node_id}_v{version - 1}" if version > 1 else None)


def memory(store: Store, embedder: Embedder, **settings) -> Memory:
    cfg = Config(home=store.path.parent)
    cfg.retrieval = RetrievalConfig(**settings)  # type: ignore[attr-defined]
    return Memory(cfg, store, embedder=embedder)
