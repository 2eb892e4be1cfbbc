"""The background optimiser survives an unexpected error and says so.

Issue 14, bug 3: an exception outside one node's run (a trigger, the store) ended the thread
silently while ``state()`` kept saying "idle" and ``dise.optimize`` kept answering "queued".
Here a real ``Optimizer`` over a real ``Engine`` gets a trigger check that fails until the test
lets it pass (``FlakyCheck``, a TEST-ONLY fault injector around the real ``Triggers.check``).
"""

from __future__ import annotations

import time

from dise.config import load_config
from dise.engine.core import Engine
from dise.optimize import Optimizer

RECORDED_CPU = {"cpu_count": 2, "mem_total_kb": 24684100, "error": "NVMLError_LibraryNotFound(12)"}


def wait_for(predicate, timeout=60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class FlakyCheck:
    """TEST-ONLY: raises while ``failing`` is set, else calls the real check."""

    def __init__(self, real) -> None:
        self.real, self.failing, self.calls = real, True, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.failing:
            raise RuntimeError("store went away")
        return self.real(*args, **kwargs)


def test_an_unexpected_error_is_reported_and_the_optimiser_carries_on() -> None:
    engine = Engine(load_config({"optimize": {"poll_interval_s": 0.01, "when_idle": False},
                                 "retrieval": {"enabled": False}}))
    optimizer = Optimizer(engine, probe_fn=lambda: RECORDED_CPU)
    flaky = FlakyCheck(optimizer.triggers.check)
    optimizer.triggers.check = flaky
    events: list[tuple[str, dict]] = []
    optimizer.subscribe(lambda event, data: events.append((event, data)))
    optimizer.start()
    try:
        assert wait_for(lambda: flaky.calls >= 2)             # it failed and tried again
        assert optimizer.running
        state = optimizer.state()
        assert state["state"] == "error" and "store went away" in state["error"]
        assert "store went away" in state["message"]
        assert any(e == "error" and "store went away" in d["message"] for e, d in events)

        flaky.failing = False
        assert wait_for(lambda: optimizer.state()["state"] == "idle")
        assert wait_for(lambda: any(e == "idle" for e, _ in events))
        assert optimizer.running and optimizer.state()["error"] is None
    finally:
        optimizer.stop(timeout=30)


def test_a_dead_thread_is_reported_as_stopped_and_restarted_by_a_request() -> None:
    engine = Engine(load_config({"optimize": {"poll_interval_s": 0.01, "when_idle": False},
                                 "retrieval": {"enabled": False}}))
    optimizer = Optimizer(engine, probe_fn=lambda: RECORDED_CPU)
    optimizer.start()
    try:
        optimizer._stopping = True                      # the thread ends as if it had died
        assert wait_for(lambda: not optimizer.running)
        optimizer._stopping = False
        assert optimizer.state()["state"] == "stopped"
        assert optimizer.request("all") == []
        assert wait_for(lambda: optimizer.running)
        assert optimizer.state()["state"] != "stopped"
    finally:
        optimizer.stop(timeout=30)
