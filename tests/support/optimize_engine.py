"""Phase 2 tests' engine on a test-double model: ``make_engine`` (one generator, plain
approach, no resampling unless asked), the ``model`` fixture that installs a
``VariantBackend`` as every generator's model, and ``weak_node`` (a stored function failing
one of its user's tests)."""

from __future__ import annotations

import pytest

from dise.config import load_config
from dise.engine.core import Engine
from dise.engine.types import Request
from support.optimize_worker import ASSERTS, REQUEST, VariantBackend
from support.scripted_backend import BackendSlot


def make_engine(hardware: dict | None = None, **optimize) -> Engine:
    base = {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.0, 0.3, 0.7],
            "approaches": ["plain"], "seeds": [0], "poll_interval_s": 0.02, "when_idle": False,
            "differential_model_inputs": 0, "workers": 1,
            "resample_k": 0}  # test_optimize_resample.py turns it on
    base.update(optimize)
    # Phase 1 reuse would answer the repeated request from memory: these tests need the model.
    return Engine(load_config({"optimize": base, "hardware": hardware or {},
                               "retrieval": {"enabled": False}}), backend_factory=SLOT)


#: What ``make_engine``'s engines get as their model (``Engine(backend_factory=…)``).
SLOT = BackendSlot()


@pytest.fixture
def model():
    """Install a VariantBackend as every generator's model."""
    def install(answers=None, **kwargs) -> VariantBackend:
        return SLOT.use(VariantBackend(answers, **kwargs))
    yield install
    SLOT.clear()


def weak_node(engine: Engine, model) -> str:
    """Phase 1 with the weak answer: 2 of 3 tests, fitness below 0.8, queued high."""
    model()
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    assert not artifact.test_passed and engine.store.queue_position(artifact.node_id) == 1
    return artifact.node_id


