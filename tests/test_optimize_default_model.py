"""A default install (only qwen2.5-coder-0.5b on disk) still optimises (issue 11).

The weak first version is deterministic: a fixed wrong answer from ``ScriptedBackend`` (a test
double, Phase 1 only) stored through the engine. Phase 2 then runs with the real embedded model
and the default generator pool (every configured generator): the uninstalled ones are noted
with how to add them, never attempted, and the 0.5B finds a version that passes the tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dise.config import load_config
from dise.engine.core import Engine
from dise.engine.types import Request
from dise.llm import catalog
from dise.optimize import load_state, optimize_node
from support.scripted_backend import BackendSlot, ScriptedBackend

pytestmark = pytest.mark.model

TASK = "Return the sum of the squares of the decimal digits of a non-negative integer n."
ASSERTS = ["assert sum_digit_squares(12) == 5", "assert sum_digit_squares(0) == 0",
           "assert sum_digit_squares(99) == 162"]
#: The fixed wrong first version: sums the digits, does not square them.
WRONG = "```python\ndef sum_digit_squares(n):\n    return sum(int(d) for d in str(n))\n```"


@pytest.fixture
def only_default_model(models_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """A models directory holding just the default model (linked, with its check mark)."""
    entry = catalog.CATALOG["qwen2.5-coder-0.5b"]
    folder = tmp_path / "default-install-models"
    folder.mkdir()
    (folder / entry.file_name).symlink_to(models_dir / entry.file_name)
    marker = models_dir / (entry.file_name + ".verified")
    if marker.exists():
        shutil.copy(marker, folder / marker.name)
    monkeypatch.setenv("DISE_MODELS_DIR", str(folder))
    return folder


@pytest.mark.timeout(1800)  # one or two real generations; slow only on a crowded machine
def test_default_install_improves_a_weak_function_with_only_the_small_model(
        only_default_model, monkeypatch):
    cfg = load_config({"generators": {"qwen-0.5b": {"max_tokens": 192}},
                       "optimize": {"max_attempts": 2, "incremental_max_steps": 0,
                                    "approaches": ["plain", "repair"], "when_idle": False},
                       "retrieval": {"enabled": False}})
    assert cfg.optimize.experiment_generators == []  # the default pool: every generator
    slot = BackendSlot()
    engine = Engine(cfg, backend_factory=slot)
    slot.use(ScriptedBackend(WRONG))
    # named after a generator that is not installed, so the 0.5B's own T=0 is not
    # taken for the setup Phase 1 already tried
    v1 = engine.generate(Request(text=TASK, asserts=ASSERTS, generator="smollm2-135m"))
    slot.clear()  # Phase 2 runs the real model
    assert not v1.test_passed and v1.tests_passed < len(ASSERTS)

    result = optimize_node(engine, v1.node_id)

    state = load_state(engine.store, v1.node_id)
    assert {h["variant"]["generator"] for h in state.history} == {"qwen-0.5b"}
    assert state.errors == 0 and all(not h.get("error") for h in state.history)
    missing = {u["generator"]: u["how"] for u in state.unavailable}
    assert missing == {"qwen-1.5b": "dise models pull qwen2.5-coder-1.5b",
                       "smollm2-135m": "dise models pull smollm2-135m"}
    assert result.status == "improved", result.stop_reason
    v2 = engine.store.latest(v1.node_id)
    assert v2.version == 2 and v2.generator_used == "qwen-0.5b" and v2.test_passed
    assert v2.fitness_score > v1.fitness_score
