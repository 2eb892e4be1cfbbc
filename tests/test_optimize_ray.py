"""Phase 2 on Ray (issue 15): ``[optimize] executor = "ray"`` runs each experiment as a task
on a real Ray head started here on 127.0.0.1 (tests/support/ray_head.py), and the results are the
thread pool's.

The weak first version comes from the scripted generator of tests/weak_setup.py. The plumbing
tests' better candidate comes from a second scripted Ollama tag (``scripted-good``, the same
``ScriptedOllama`` over HTTP, reachable from the Ray workers), so what the optimiser finds is
known; the real-model test asks the embedded Qwen2.5-Coder-0.5B inside the Ray worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dise.config import ConfigError, load_config
from dise.engine.core import Engine
from dise.engine.types import Request
from dise.llm import catalog
from dise.optimize import Optimizer, load_state
from dise.optimize.executors import ThreadExecutor, resources_for, slots
from dise.optimize.ray_executor import address_of
from dise.optimize.control import executor_for
from dise.store import Store
from support.ray_head import CLIENT_ENV, SERVER, RayHead, free_port
from support.scripted_ollama import ScriptedOllama
from support.weak_setup import (WEAK_ANSWER, WEAK_GENERATOR, WEAK_TAG, as_toml,
                                weak_then_quick)

NAME = "sum_digit_squares"
TASK = "Return the sum of the squares of the decimal digits of a non-negative integer n."
ASSERTS = ["assert sum_digit_squares(12) == 5", "assert sum_digit_squares(0) == 0",
           "assert sum_digit_squares(99) == 162"]
GOOD_TAG = "dise-scripted-good:latest"
GOOD_ANSWER = ("```python\ndef sum_digit_squares(n: int) -> int:\n"
               "    return sum(int(d) ** 2 for d in str(n))\n```\n")


def scripted_settings(host: str, executor: str = "thread", address: str = "") -> dict:
    """Weak first version, then two experiments (T=0 and 0.3) with the good scripted tag;
    no early stop (target above 1), so both executors run the same plan to its end."""
    return {
        "ollama": {"host": host},
        "generators": {WEAK_GENERATOR: {"backend": "ollama", "ollama_model": WEAK_TAG},
                       "scripted-good": {"backend": "ollama", "ollama_model": GOOD_TAG}},
        "pipeline": {"default_generator": WEAK_GENERATOR},
        "retrieval": {"enabled": False},
        "optimize": {"experiment_generators": ["scripted-good"], "temperatures": [0.0, 0.3],
                     "approaches": ["plain"], "seeds": [0], "max_attempts": 2, "patience": 5,
                     "resample_k": 0,  # a fixed two-experiment plan: no best-of-k samples
                     "incremental_max_steps": 0, "target_fitness": 1.01, "when_idle": False,
                     "poll_interval_s": 0.05, "executor": executor, "ray_address": address},
    }


@pytest.fixture
def scripted():
    with ScriptedOllama({WEAK_TAG: WEAK_ANSWER, GOOD_TAG: GOOD_ANSWER}) as server:
        yield server


@pytest.fixture(scope="module")
def ray_head():
    head = RayHead()
    try:
        yield head.start()
    finally:
        head.close()


def user_env(home: Path) -> dict[str, str]:
    """This test's environment for a DiSE home whose ``dise.toml`` names the Ollama host
    (the suite's closed ``OLLAMA_HOST`` would override it)."""
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    return {**env, **CLIENT_ENV, "DISE_HOME": str(home)}


def weak_home(home: Path, settings: dict) -> str:
    """A DiSE home with ``dise.toml`` = ``settings`` and the weak first version stored;
    returns its node id."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dise.toml").write_text(as_toml(settings))
    engine = Engine(load_config(env=user_env(home)))
    try:
        v1 = engine.generate(Request(text=TASK, asserts=ASSERTS))
        assert not v1.test_passed
        return v1.node_id
    finally:
        engine.store.close()


def set_executor(home: Path, settings: dict, executor: str, address: str = "") -> None:
    settings = json.loads(json.dumps(settings))
    settings["optimize"].update(executor=executor, ray_address=address)
    (home / "dise.toml").write_text(as_toml(settings))


def dise_optimize(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``dise optimize NAME --json`` as a user runs it, in its own process."""
    env = {**user_env(home), "PYTHONPATH": str(SERVER),
           "GRPC_VERBOSITY": "ERROR", "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "dise.cli", "optimize", NAME, "--json", *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def history(home: Path, node: str) -> list[tuple]:
    with Store(home / "store.json") as store:
        state = load_state(store, node)
    assert state is not None
    # which of two equal candidates counts as "better" is which came back first: left out
    return sorted((h["variant"]["temperature"], h["variant"]["generator"], h["passed"],
                   h["total"], round(h["fitness"], 2), bool(h.get("error")))
                  for h in state.history)


def betters(home: Path, node: str) -> int:
    with Store(home / "store.json") as store:
        return sum(bool(h["better"]) for h in load_state(store, node).history)


def latest(home: Path, node: str):
    with Store(home / "store.json") as store:
        return store.latest(node)


# -- no cluster needed ----------------------------------------------------------------------
def test_resource_requests_follow_the_generators_model():
    cfg = load_config({"sandbox": {"memory_mb": 512}, "hardware": {"cores_per_worker": 2}})
    small = resources_for("qwen-0.5b", cfg)
    large = resources_for("qwen-1.5b", cfg)
    assert small.memory == catalog.CATALOG["qwen2.5-coder-0.5b"].ram_bytes + 512 * 2**20
    assert large.memory > small.memory and small.num_cpus == 2 and small.num_gpus == 0
    served = resources_for(WEAK_GENERATOR, load_config(scripted_settings("http://x:1")))
    assert (served.num_cpus, served.memory, served.num_gpus) == (1, 1024 * 2**20, 0)
    gpu = resources_for("qwen-0.5b", load_config({"llamacpp": {"n_gpu_layers": -1}}))
    assert gpu.num_gpus == 1
    node = {"CPU": 8.0, "memory": 16 * 2**30, "GPU": 1.0}
    assert slots(small, node) == 4 and slots(gpu, node) == 1
    assert slots(gpu, {"CPU": 8.0, "memory": 16 * 2**30}) == 0


def test_the_default_is_the_thread_pool_and_bad_ray_settings_say_what_to_set():
    engine = Engine(load_config({"retrieval": {"enabled": False}}))
    assert isinstance(executor_for(engine), ThreadExecutor)
    with pytest.raises(ConfigError, match="ray_address"):
        address_of(load_config({"optimize": {"executor": "ray"}}), env={})
    with pytest.raises(ConfigError, match="ray://"):
        address_of(load_config({"optimize": {"ray_address": "10.0.0.1:6379"}}), env={})
    assert address_of(load_config(), env={"RAY_ADDRESS": "ray://h:10001"}) == "ray://h:10001"
    engine.cfg.optimize.executor = "dask"
    with pytest.raises(ConfigError, match="thread, ray"):
        executor_for(engine)


def test_no_cluster_at_the_address_stops_once_with_the_state_saved(scripted, tmp_path):
    settings = scripted_settings(scripted.host, "ray", f"ray://127.0.0.1:{free_port()}")
    node = weak_home(tmp_path / "home", settings)
    done = dise_optimize(tmp_path / "home")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("unreachable") == 1, done.stderr
    assert "resumes once the cluster is back" in done.stderr
    with Store(tmp_path / "home" / "store.json") as store:
        state = load_state(store, node)
        assert [e["node_id"] for e in store.queue()] == [node]
    assert state.status == "running" and state.owner is None and state.attempts == 0
    assert len(state.pending) == 2  # the plan is kept: the next run resumes it


# -- a real head ----------------------------------------------------------------------------
@pytest.mark.timeout(1500)
def test_ray_improves_the_weak_function_exactly_as_the_thread_pool(scripted, ray_head,
                                                                   tmp_path):
    settings = scripted_settings(scripted.host)
    node = weak_home(tmp_path / "thread", settings)
    shutil.copytree(tmp_path / "thread", tmp_path / "ray")
    set_executor(tmp_path / "ray", settings, "ray", ray_head.address)

    by_thread = dise_optimize(tmp_path / "thread")
    by_ray = dise_optimize(tmp_path / "ray")

    assert by_thread.returncode == 0, by_thread.stderr[-3000:]
    assert by_ray.returncode == 0, by_ray.stderr[-3000:]
    (threaded,), (rayed,) = json.loads(by_thread.stdout), json.loads(by_ray.stdout)
    assert rayed["status"] == threaded["status"] == "improved"
    for key in ("attempts", "old_fitness", "final_fitness", "stop_reason"):
        assert rayed[key] == threaded[key], key
    assert history(tmp_path / "ray", node) == history(tmp_path / "thread", node)
    assert betters(tmp_path / "ray", node) == betters(tmp_path / "thread", node) == 1
    v2_thread, v2_ray = latest(tmp_path / "thread", node), latest(tmp_path / "ray", node)
    assert v2_ray.version == v2_thread.version == 2
    assert v2_ray.code == v2_thread.code and v2_ray.test_passed
    # the experiment that made it ran in a Ray worker, the thread pool's did not
    assert any(t.startswith("ray task on") for t in v2_ray.tool_usage)
    assert not any(t.startswith("ray task on") for t in v2_thread.tool_usage)


@pytest.mark.timeout(1500)
def test_the_head_dies_mid_run_said_once_then_the_run_resumes(scripted, ray_head, tmp_path,
                                                             monkeypatch):
    """The background optimiser (as in ``dise serve``) loses the cluster mid-experiment:
    one "error" event however often it retries, the node stays queued with its plan; the
    head comes back and the same run finishes, counting the lost experiment once."""
    monkeypatch.setenv("RAY_CLIENT_RECONNECT_GRACE_PERIOD", "5")  # Ray Client's; 30 s default
    for key, value in CLIENT_ENV.items():
        monkeypatch.setenv(key, value)
    settings = scripted_settings(scripted.host, "ray", ray_head.address)
    settings["optimize"].update(scan_interval_s=1.0, workers=1)
    node = weak_home(tmp_path / "home", settings)
    engine = Engine(load_config(env=user_env(tmp_path / "home")))
    events: list[tuple[str, dict]] = []
    seen = threading.Condition()

    def on_event(event: str, data: dict) -> None:
        with seen:
            events.append((event, data))
            seen.notify_all()

    def wait_for(predicate, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        with seen:
            while not predicate():
                left = end - time.monotonic()
                assert left > 0, f"no {what} in {timeout:.0f} s: {[e for e, _ in events]}"
                seen.wait(min(left, 0.5))

    def good_requests() -> int:
        return sum(1 for method, path, body in list(scripted.requests)
                   if method == "POST" and body.get("model") == GOOD_TAG)

    scripted.delay_s = 600.0  # the experiment hangs in the worker until the head dies
    optimizer = Optimizer(engine)
    optimizer.subscribe(on_event)
    optimizer.request(node)
    optimizer.start()
    try:
        end = time.monotonic() + 300
        while good_requests() == 0:  # a Ray worker is generating
            assert time.monotonic() < end, f"no experiment reached the model: {events}"
            time.sleep(0.2)
        ray_head.stop()
        wait_for(lambda: any(e == "error" for e, _ in events), 180, "error event")
        time.sleep(5)  # several retries (every scan_interval_s), none said again
        errors = [d["message"] for e, d in events if e == "error"]
        assert len(errors) == 1 and "unreachable" in errors[0], errors
        state = optimizer.state()
        assert state["state"] == "error" and "resumes once the cluster is back" in \
            state["message"]
        assert [e["node_id"] for e in engine.store.queue()] == [node]
        saved = load_state(engine.store, node)
        assert saved.status == "running" and saved.attempts == 0 and len(saved.pending) == 2

        scripted.delay_s = 0.0
        ray_head.start()
        wait_for(lambda: any(e == "improved" for e, _ in events), 600, "improved event")
        wait_for(lambda: bool(optimizer.results), 120, "result")
    finally:
        optimizer.stop(timeout=60)
        engine.store.close()
    assert [e for e, _ in events].count("error") == 1
    assert "recovered" in [e for e, _ in events]
    result = optimizer.results[-1]
    assert result.resumed and result.status == "improved" and result.attempts == 2
    v2 = latest(tmp_path / "home", node)
    assert v2.version == 2 and v2.test_passed


@pytest.mark.model
@pytest.mark.timeout(1800)
def test_the_real_model_improves_the_weak_function_on_ray(models_dir, ray_head, tmp_path):
    with ScriptedOllama({WEAK_TAG: WEAK_ANSWER}) as weak:
        settings = weak_then_quick(weak.host)
        settings["retrieval"] = {"enabled": False}
        settings["optimize"].update(executor="ray", ray_address=ray_head.address)
        node = weak_home(tmp_path / "home", settings)
        done = dise_optimize(tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = json.loads(done.stdout)
    assert result["status"] == "improved", result["stop_reason"]
    v2 = latest(tmp_path / "home", node)
    assert v2.version == 2 and v2.generator_used == "qwen-0.5b" and v2.test_passed
    assert any(t.startswith("ray task on") for t in v2.tool_usage)
