"""Kill -9 the optimising process at any moment; the next process resumes where it stopped.

A real subprocess (tests/support/optimize_worker.py) runs the background optimiser over a store with
one weak function and eight planned experiments (the sixth finds the better version). It is
SIGKILLed twice: mid-experiment, and after the better version was found but before it was
stored (from a chosen temperature on, the test backend never answers, so each kill lands at a
known point and never races the worker's own end). A third process finishes. Nothing may be
lost or done twice: every planned experiment is recorded exactly once, there is exactly one
new version, and the queue ends empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dise.store import Store

WORKER = Path(__file__).resolve().parent / "support" / "optimize_worker.py"
PLANNED = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def start_worker(delay: float, hang_from: float | None = None) -> subprocess.Popen:
    """A worker whose experiments take ``delay`` s each; from temperature ``hang_from`` on they
    never finish, so the kill always lands before the worker could end on its own."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "server")}
    args = [str(delay)] + ([str(hang_from)] if hang_from is not None else [])
    return subprocess.Popen([sys.executable, str(WORKER), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def node_state(store_path: Path) -> dict | None:
    if not store_path.exists():
        return None
    with Store(store_path) as store:
        return store.optimizer_state("is_even")


def kill_when(proc: subprocess.Popen, store_path: Path, predicate, timeout=180.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = node_state(store_path)
        if state is not None and predicate(state):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            return node_state(store_path)
        if proc.poll() is not None:
            raise AssertionError(f"worker ended early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the worker made no progress in time")


def test_sigkill_at_any_moment_then_resume(tmp_path):
    store_path = Path(os.environ["DISE_HOME"]) / "store.json"

    # 1: killed after two recorded attempts, mid-experiment
    first = kill_when(start_worker(0.2, hang_from=0.3), store_path,
                      lambda s: s["attempts"] >= 2)
    assert first["status"] == "running" and first["stage"] == "experiments"
    assert first["attempts"] >= 2 and first["pending"]

    # 2: killed after attempt 6 found the better version, before it was stored
    second = kill_when(start_worker(0.2, hang_from=0.7), store_path,
                       lambda s: s["best"] is not None)
    assert second["attempts"] > first["attempts"]
    assert second["best"]["variant"]["temperature"] == 0.6 and second["versions"] == []

    # 3: runs to the end
    proc = start_worker(0.0)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    results = json.loads(out)["results"]
    assert len(results) == 1, out
    result = results[0]
    assert result["resumed"] is True

    final = node_state(store_path)
    assert final["status"] == "done" and final["owner"] is None
    temps = [h["variant"]["temperature"] for h in final["history"]]
    assert temps == PLANNED  # each planned experiment exactly once, in order
    assert [h["attempt"] for h in final["history"]] == list(range(1, 9))
    with Store(store_path) as store:
        versions = store.versions("is_even")
        assert [v.version for v in versions] == [1, 2]
        assert versions[1].temperature == 0.6 and versions[1].test_passed
        assert versions[1].parent == "is_even_v1"
        assert store.queue() == []
