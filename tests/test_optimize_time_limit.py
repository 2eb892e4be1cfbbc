"""The per-node time limit pre-empts the experiments in flight (issue 11).

Before, ``node_time_limit_s`` was checked only between experiments: one slow experiment overran
a 120 s limit to 293 s and was then counted as a "no gain" attempt. Here every generator is a
slow TEST DOUBLE (``VariantBackend`` from tests/support/optimize_worker.py: it answers after
30 s unless its cancel token is cancelled first); the real-model path of the runner is covered
by test_optimize_model.py and test_optimize_default_model.py.
"""

from __future__ import annotations

import threading
import time

from dise.config import load_config
from dise.engine.core import Engine
from dise.engine.types import Cancelled, CancelToken, Request
from dise.optimize import load_state, optimize_node
from support.optimize_worker import ASSERTS, GOOD, REQUEST, VariantBackend
from support.scripted_backend import BackendSlot

LIMIT = "time limit reached (2 s)"


def make_engine(slot: BackendSlot, **optimize) -> Engine:
    """One experiment at a time over one generator; the store is this test's DISE_HOME."""
    base = {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.0, 0.3, 0.7],
            "approaches": ["plain"], "seeds": [0], "when_idle": False,
            "differential_model_inputs": 0, "workers": 1}
    return Engine(load_config({"optimize": {**base, **optimize},
                               "retrieval": {"enabled": False}}), backend_factory=slot)


def trials(engine: Engine) -> list:
    """Every attempt the registry counted (``record_registry_trial``), of any result."""
    return [t for rec in engine.store.registry_records() for t in (rec.get("trials") or {}).values()]


def test_the_time_limit_cancels_a_slow_experiment_which_is_not_counted():
    slot = BackendSlot()
    engine = make_engine(slot, node_time_limit_s=2)
    slot.use(VariantBackend())  # Phase 1: the weak answer, at once
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    slow = slot.use(VariantBackend({0.3: GOOD}, delay=30))

    result = optimize_node(engine, node)

    assert result.stop_reason == LIMIT
    assert result.attempts == 0 and result.new_artifact_ids == []
    # what was started was cancelled rather than waited for (under heavy load the limit can
    # already run out while the baseline is measured: then nothing starts at all)
    assert len(slow.calls) <= 1 and slow.cancelled == len(slow.calls)
    state = load_state(engine.store, node)
    assert state.status == "done" and state.stop_reason == LIMIT and state.owner is None
    assert state.attempts == 0 and state.errors == 0 and state.history == []
    assert trials(engine) == []  # not a "no gain" for the setup either
    assert len(engine.store.versions(node)) == 1

    # later, with time to spare, the node is optimised again: nothing was left locked
    again_engine = make_engine(slot, node_time_limit_s=900)
    slot.use(VariantBackend({0.3: GOOD}))
    again = optimize_node(again_engine, node)
    assert again.stop_reason != LIMIT and again.attempts >= 1
    assert again.new_artifact_ids == [f"{node}_v2"]


def test_a_resumed_run_gets_only_the_time_left_and_its_experiment_in_flight_is_cancelled():
    """Deterministic about what was in flight: the baseline is measured in a first call (stopped
    once the first experiment runs), so the resumed call, limited to the working time already
    used plus 2 s, is cut off inside its first experiment."""
    slot = BackendSlot()
    engine = make_engine(slot)
    slot.use(VariantBackend())
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    first = slot.use(VariantBackend(delay=30))
    cancel = CancelToken()
    stopped: list[BaseException] = []

    def run() -> None:
        try:
            optimize_node(engine, node, cancel=cancel)
        except Cancelled as exc:
            stopped.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    end = time.monotonic() + 120
    while not first.calls and worker.is_alive() and time.monotonic() < end:
        time.sleep(0.01)
    cancel.cancel()
    worker.join(60)
    assert stopped and first.calls, "the first call should stop inside its first experiment"
    used = load_state(engine.store, node).elapsed_s

    limit = used + 2
    slow = slot.use(VariantBackend({0.3: GOOD}, delay=30))
    result = optimize_node(make_engine(slot, node_time_limit_s=limit), node)

    assert result.resumed and result.stop_reason == f"time limit reached ({limit:.0f} s)"
    assert result.attempts == 0 and len(slow.calls) == 1 and slow.cancelled == 1
    state = load_state(engine.store, node)
    assert state.status == "done" and state.history == [] and trials(engine) == []
