"""Phase 2 plumbing with a test-double model: stages, versions, registry, stopping, pause,
pre-emption by interactive work, triggers. The real-model story is in test_optimize_model.py,
the kill -9 story in test_optimize_resume.py."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from dise.engine.types import Cancelled, CancelToken, DiseError, Request
from dise.optimize import NodeBusy, Optimizer, load_state, optimize_node
from dise.optimize import state as st
from support.optimize_engine import make_engine, model, weak_node  # noqa: F401  (fixture)
from support.optimize_worker import ASSERTS, GOOD, REQUEST, WEAK

HW = Path(__file__).resolve().parent / "data" / "hardware"  # copied from shared/data/hardware
RECORDED_CPU = {"cpu_count": 2, "mem_total_kb": 24684100, "error": "NVMLError_LibraryNotFound(12)"}


def collect():
    events: list[tuple[str, dict]] = []
    return events, lambda event, data: events.append((event, data))


# -- one node, synchronously ----------------------------------------------------------------
def test_better_candidate_becomes_v2_with_lineage_and_registry(model):
    engine = make_engine(registry_min_wins=1)
    node = weak_node(engine, model)
    model({0.3: GOOD})
    events, progress = collect()
    result = optimize_node(engine, node, progress=progress)

    versions = engine.store.versions(node)
    assert [v.version for v in versions] == [1, 2]
    v1, v2 = versions
    assert v2.parent == v1.artifact_id and v2.phase == "phase2"
    assert v2.test_passed and v2.fitness_score > v1.fitness_score
    assert v2.temperature == 0.3 and v2.extra["approach"] == "plain"
    assert v2.optimized_at and v2.optimization_iterations >= 1
    assert v2.improvement_percentage == pytest.approx(
        100 * (v2.fitness_score - v1.fitness_score) / v1.fitness_score, abs=0.1)
    assert engine.store.frozen_tests(node)[0].code == ASSERTS[0]

    assert result.status == "improved" and result.new_artifact_ids == [v2.artifact_id]
    improved = [d for e, d in events if e == "improved"]
    assert improved == [{"node_id": node, "old_artifact_id": v1.artifact_id,
                         "new_artifact_id": v2.artifact_id, "old_fitness": v1.fitness_score,
                         "new_fitness": v2.fitness_score, "generator": "qwen-0.5b",
                         "temperature": 0.3, "approach": "plain", "registry_updated": True}]
    messages = [d["message"] for e, d in events if e == "progress"]
    assert any(m.startswith("Optimising is_even: 1/") for m in messages)
    assert any("best 1.00" in m or "best 0.9" in m for m in messages)

    best = engine.store.best_generator(v1.task_type)
    assert best["generator"] == "qwen-0.5b" and best["temperature"] == 0.3
    assert best["tool"]["approach"] == "plain" and best["tool"]["evidence"]["artifact_id"] == \
        v2.artifact_id
    assert engine.store.queue_position(node) is None
    state = load_state(engine.store, node)
    assert state.status == "done" and state.versions == [v2.artifact_id]
    assert all("code" not in h for h in state.history)


def test_the_phase1_setup_is_not_repeated_and_stage3_steps_around_the_best(model):
    engine = make_engine(temperatures=[0.0, 0.3], incremental_max_steps=4, target_fitness=1.01)
    node = weak_node(engine, model)
    backend = model({0.3: GOOD})
    optimize_node(engine, node)
    # Phase 1 ran at 0.0 with this generator: stage 1 tries only 0.3, stage 3 then 0.4 and
    # 0.2 (0.2 is the first step down without gain), and stops.
    state = load_state(engine.store, node)
    tried = [(h["stage"], h["variant"]["temperature"]) for h in state.history]
    assert tried == [("experiments", 0.3), ("incremental", 0.4), ("incremental", 0.2)]
    assert state.stop_reason == "temperature steps found no further gain"
    assert {t for t, _ in backend.calls} == {0.3, 0.4, 0.2}


def test_stage3_gain_is_one_more_version(model):
    engine = make_engine(temperatures=[0.3], incremental_max_steps=2, target_fitness=1.01,
                         min_gain=0.0)
    node = weak_node(engine, model)
    # 0.3 passes but carries an unused import (lint costs fitness); 0.4 is clean: stage 3's
    # first step up finds it.
    sloppy = GOOD.replace("def is_even", "import os\n\ndef is_even")
    model({0.3: sloppy, 0.4: GOOD})
    result = optimize_node(engine, node)
    versions = engine.store.versions(node)
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[2].parent == versions[1].artifact_id
    assert versions[2].fitness_score > versions[1].fitness_score > versions[0].fitness_score
    assert versions[2].temperature == 0.4 and result.new_artifact_ids == ["is_even_v2",
                                                                          "is_even_v3"]


def test_no_gain_stops_after_patience_and_keeps_the_version(model):
    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.4, 0.5], patience=3)
    node = weak_node(engine, model)
    model()  # always the weak answer
    result = optimize_node(engine, node)
    assert result.status == "unchanged" and result.attempts == 3
    assert [v.version for v in engine.store.versions(node)] == [1]
    assert not (engine.store.best_generator("validation") or {}).get("generator")  # none promoted
    state = load_state(engine.store, node)
    assert "no better candidate in the last 3 attempts" in " ".join(state.notes)
    assert engine.store.queue_position(node) is None


def test_target_fitness_and_attempt_budget_stop_the_run(model):
    engine = make_engine(temperatures=[0.1, 0.2, 0.3], incremental_max_steps=3)
    node = weak_node(engine, model)
    model({0.1: GOOD})
    result = optimize_node(engine, node)
    assert result.attempts == 1 and "above the target" in result.stop_reason

    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.4], max_attempts=2, patience=10)
    node = weak_node(engine, model)
    model()
    result = optimize_node(engine, node)
    assert result.attempts == 2 and "budget" in result.stop_reason


def test_no_regression_on_tests_even_if_faster(model):
    """A candidate passing fewer frozen tests never wins, whatever its fitness."""
    engine = make_engine(temperatures=[0.3])
    model({0.0: GOOD})
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    engine.store.enqueue(node, "normal", "manual")
    model({0.3: WEAK})
    result = optimize_node(engine, node)
    assert result.status in ("skipped", "unchanged")
    assert len(engine.store.versions(node)) == 1


def test_cancel_keeps_state_and_the_next_call_resumes(model):
    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.4], patience=10,
                         incremental_max_steps=0)
    node = weak_node(engine, model)
    model({0.4: GOOD})
    cancel = CancelToken()

    def progress(event, data):
        if event == "progress" and data["done"] == 2:
            cancel.cancel()

    with pytest.raises(Cancelled):
        optimize_node(engine, node, cancel=cancel, progress=progress)
    state = load_state(engine.store, node)
    assert state.status == "running" and state.attempts == 2
    assert [p["temperature"] for p in state.pending] == [0.3, 0.4]
    assert engine.store.queue_position(node) == 1

    backend = model({0.4: GOOD})
    result = optimize_node(engine, node)
    assert result.resumed and result.attempts == 4
    assert [t for t, _ in backend.calls] == [0.3, 0.4]  # nothing re-run
    assert result.new_artifact_ids == ["is_even_v2"]


def test_node_owned_by_a_live_process_is_left_alone(model):
    engine = make_engine()
    node = weak_node(engine, model)
    import os
    import socket
    st.save_state(engine.store, st.NodeState(node_id=node, owner={
        "pid": os.getppid(), "host": socket.gethostname()}, current_artifact_id=f"{node}_v1"))
    with pytest.raises(NodeBusy) as err:
        optimize_node(engine, node)
    assert "\n" not in str(err.value) and "another DiSE process" in str(err.value)


def test_unknown_node_and_bad_settings_are_one_line_errors(model):
    engine = make_engine()
    with pytest.raises(DiseError, match="No stored function 'nope'"):
        optimize_node(engine, "nope")
    engine = make_engine(approaches=["plain", "telepathy"])
    node = weak_node(engine, model)
    with pytest.raises(DiseError, match="Unknown optimisation approach 'telepathy'"):
        optimize_node(engine, node)


# -- approaches -----------------------------------------------------------------------------
class FakeMemory:
    """A retrieval double: ``ready`` as given, ``examples`` from a fixed list."""

    def __init__(self, ready: bool, pairs=(), reason="sentence-transformers missing") -> None:
        self._ready, self.pairs, self.reason = ready, list(pairs), reason

    def ready(self) -> bool:
        return self._ready

    def examples(self, text, k=None, max_tokens=None):
        return self.pairs[:k]


def test_few_shot_variants_use_retrieved_examples(model):
    engine = make_engine(temperatures=[0.3], approaches=["plain", "few_shot"], patience=5)
    node = weak_node(engine, model)
    example = ("check if a number is odd", "def is_odd(n):\n    return n % 2 == 1")
    engine.memory = FakeMemory(True, [(REQUEST, "own code"), example])
    backend = model({0.3: WEAK})
    optimize_node(engine, node)
    approaches = {h["variant"]["approach"] for h in load_state(engine.store, node).history}
    assert approaches == {"plain", "few_shot"}
    shown = [m[-1]["content"] for _, m in backend.calls]
    assert sum("def is_odd" in text for text in shown) == 1  # only the few-shot variant
    assert not any("own code" in text for text in shown)  # never its own request


def test_few_shot_is_dropped_with_a_note_when_retrieval_cannot_run(model):
    engine = make_engine(temperatures=[0.3], approaches=["few_shot", "plain"])
    node = weak_node(engine, model)
    engine.memory = FakeMemory(False)
    model()
    optimize_node(engine, node)
    state = load_state(engine.store, node)
    assert {h["variant"]["approach"] for h in state.history} == {"plain"}
    assert any("few-shot off: sentence-transformers missing" in n for n in state.notes)


def test_repair_approach_shows_the_model_its_failing_tests(model):
    engine = make_engine(temperatures=[0.3], approaches=["repair"])
    node = weak_node(engine, model)
    backend = model()
    optimize_node(engine, node)
    repair_prompts = [m for _, m in backend.calls if len(m) > 2]
    assert repair_prompts and "is_even(0)" in repair_prompts[0][-1]["content"]


# -- the registry feeds Phase 1 -------------------------------------------------------------
ODD = GOOD.replace("is_even", "is_odd").replace("== 0", "== 1")
ODD_ASSERTS = ["assert is_odd(3)", "assert not is_odd(4)"]


def test_registry_update_changes_the_next_phase1_choice(model):
    engine = make_engine(experiment_generators=["smollm2-135m"], temperatures=[0.3],
                         registry_min_wins=1)
    node = weak_node(engine, model)
    first = engine.store.latest(node)
    assert first.generator_used == "qwen-0.5b"
    model({0.3: GOOD})
    assert optimize_node(engine, node).registry_updated
    model({0.3: ODD})
    second = engine.generate(Request(text="check if a number is odd", asserts=ODD_ASSERTS))
    assert second.task_type == first.task_type
    assert second.generator_used == "smollm2-135m" and second.temperature == 0.3
    assert any("registry best" in t for t in second.tool_usage)


def test_a_setup_needs_wins_on_two_functions_before_phase1_uses_it(model):
    """One lucky win does not redirect every later request of the task type: a setup needs
    ``registry_min_wins`` (here 2; the default, 4, is measured by bench/phase2.py)."""
    engine = make_engine(experiment_generators=["smollm2-135m"], temperatures=[0.3],
                         registry_min_wins=2)
    even = weak_node(engine, model)
    task_type = engine.store.latest(even).task_type
    model({0.3: GOOD})
    assert not optimize_node(engine, even).registry_updated       # one win: counted only
    record = engine.store.best_generator(task_type)
    assert record["wins"] == {"smollm2-135m@0.3/plain": ["is_even"]}
    assert engine.choose_generator(Request(text="x"), task_type)[1] == "default"

    model({0.0: "```python\ndef is_odd(n):\n    return n == 1\n```"})   # weak again
    odd = engine.generate(Request(text="check if a number is odd", asserts=ODD_ASSERTS))
    assert odd.task_type == task_type and not odd.test_passed
    model({0.3: ODD})
    assert optimize_node(engine, odd.node_id).registry_updated    # a second function: used
    gen, why = engine.choose_generator(Request(text="x"), task_type)
    assert gen.name == "smollm2-135m" and gen.temperature == 0.3 and why.startswith("registry")
    assert engine.store.best_generator(task_type)["tool"]["evidence"]["wins"] == 2


# -- the background optimiser ---------------------------------------------------------------
def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def optimizers():
    started: list[Optimizer] = []

    def make(engine, **kwargs) -> Optimizer:
        opt = Optimizer(engine, probe_fn=lambda: RECORDED_CPU, **kwargs)
        started.append(opt)
        return opt
    yield make
    for opt in started:
        opt.stop(timeout=30)


def test_background_optimiser_works_the_queue_and_reports(model, optimizers):
    engine = make_engine()
    node = weak_node(engine, model)
    model({0.3: GOOD})
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    assert opt.state()["state"] == "idle" and opt.state()["queue"] == 1
    opt.start()
    assert wait_for(lambda: ("idle", {"queue": 0}) in events)
    names = [e for e, _ in events]
    assert "progress" in names and "improved" in names
    assert names.index("improved") < names.index("idle")
    state = opt.state()
    assert state["state"] == "idle" and state["queue"] == 0 and state["node"] is None
    assert engine.store.latest(node).version == 2


def test_interactive_work_preempts_experiments_and_they_resume(model, optimizers):
    engine = make_engine(temperatures=[0.3], incremental_max_steps=0)
    node = weak_node(engine, model)
    gate = threading.Event()
    backend = model({0.3: GOOD}, block=gate)  # generation waits until the gate opens
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    opt.start()
    assert wait_for(lambda: len(backend.calls) == 1)
    assert opt.state()["state"] == "optimising" and opt.state()["node"] == node
    with opt.interactive():
        assert wait_for(lambda: backend.cancelled == 1)  # the experiment stopped at once
        assert opt.state()["state"] == "paused"
        gate.set()
        time.sleep(0.2)
        assert len(backend.calls) == 1  # nothing new starts during the request
    assert wait_for(lambda: ("idle", {"queue": 0}) in events)
    assert len(backend.calls) == 2  # the cancelled experiment ran again
    assert [e for e, d in events if e in ("paused", "resumed")] == ["paused", "resumed"]
    state = load_state(engine.store, node)
    assert state.attempts == 1 and state.status == "done"


def test_pause_and_resume(model, optimizers):
    engine = make_engine()
    weak_node(engine, model)
    model({0.3: GOOD})
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    opt.pause()
    opt.start()
    time.sleep(0.3)
    assert opt.state()["state"] == "paused" and opt.state()["queue"] == 1
    opt.resume()
    assert wait_for(lambda: ("idle", {"queue": 0}) in events)
    assert [e for e, _ in events][:1] == ["paused"] and "resumed" in [e for e, _ in events]


def test_stop_mid_run_and_start_again_resumes(model, optimizers):
    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.4], patience=10,
                         incremental_max_steps=0)
    node = weak_node(engine, model)
    model({0.4: GOOD}, delay=0.2)
    opt = optimizers(engine)
    opt.start()
    assert wait_for(lambda: (load_state(engine.store, node) or st.NodeState(node)).attempts >= 2)
    assert opt.stop(timeout=30)
    state = load_state(engine.store, node)
    assert state.status == "running" and state.owner is None  # free for any process
    done_before = state.attempts

    again = optimizers(engine)
    events, callback = collect()
    again.subscribe(callback)
    again.start()
    assert wait_for(lambda: ("idle", {"queue": 0}) in events)
    state = load_state(engine.store, node)
    assert state.status == "done" and state.attempts == 4 and done_before < 4
    temps = [h["variant"]["temperature"] for h in state.history]
    assert temps == [0.1, 0.2, 0.3, 0.4]


# -- triggers -------------------------------------------------------------------------------
def test_idle_trigger_waits_for_the_user_to_stop(model, optimizers):
    engine = make_engine(when_idle=True, idle_after_s=2.0)
    node = weak_node(engine, model)
    model({0.3: GOOD})
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    opt.note_activity()
    opt.start()
    for _ in range(10):  # the user keeps typing: nothing starts
        opt.note_activity()
        time.sleep(0.1)
        assert opt.state()["state"] == "idle" and opt.state()["queue"] == 1
    assert opt.state()["next_run"] > time.time()
    assert wait_for(lambda: ("idle", {"queue": 0}) in events)
    assert engine.store.latest(node).version == 2


def test_manual_request_does_not_wait_for_idle(model, optimizers):
    engine = make_engine(when_idle=True, idle_after_s=3600)
    model()
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    engine.store.dequeue(node)
    model({0.3: GOOD})
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    opt.note_activity()
    opt.start()
    assert opt.request(node, priority="high") == [node]
    assert wait_for(lambda: any(e == "improved" for e, _ in events))
    with pytest.raises(DiseError, match="'is_eve' to optimise. Did you mean: is_even"):
        opt.request("is_eve")


def test_request_all_and_below(model):
    engine = make_engine()
    model()
    weak = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    model({0.0: GOOD})
    good = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    for node in (weak, good):
        engine.store.dequeue(node)
    opt = Optimizer(engine, probe_fn=lambda: RECORDED_CPU)
    assert opt.request_below(0.8) == [weak]
    assert engine.store.queue()[0]["priority"] == "high"
    assert sorted(opt.request("all", priority="low")) == sorted([weak, good])


def test_time_trigger_fires_when_idle(model, optimizers):
    engine = make_engine(schedule_interval_s=0.3, idle_after_s=0.0, when_idle=True)
    model({0.0: GOOD.replace("def is_even", "import os\n\ndef is_even")})  # passes, lint
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    assert engine.store.queue_position(node) is None  # fitness above 0.8: not queued
    model({0.3: GOOD})
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    opt.start()
    assert wait_for(lambda: any(e == "triggered" and d["trigger"] == "schedule"
                                and d["nodes"] == [node] for e, d in events))
    assert wait_for(lambda: any(e == "improved" for e, _ in events))


def test_usage_trigger_queues_a_much_used_function(model, optimizers):
    engine = make_engine(usage_threshold=10, scan_interval_s=0.05)
    model({0.0: GOOD})
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    opt.pause()  # only the trigger is under test
    opt.start()
    for _ in range(10):
        engine.store.record_use(node)
    time.sleep(0.3)
    assert engine.store.queue_position(node) is None  # 10 uses: not more than 10
    engine.store.record_use(node)
    assert wait_for(lambda: engine.store.queue_position(node) == 1)
    assert engine.store.queue()[0]["reason"] == "used 11 times"
    assert wait_for(lambda: any(e == "triggered" and d["trigger"] == "usage"
                                for e, d in events))


def test_fitness_trigger_queues_low_fitness_functions_never_optimised(model):
    engine = make_engine()
    node = weak_node(engine, model)
    engine.store.dequeue(node)
    from dise.optimize import Triggers
    triggers = Triggers(engine.cfg, engine.store, probe_fn=lambda: RECORDED_CPU)
    fired = triggers.scan(time.time())
    assert [(f.trigger, f.nodes) for f in fired] == [("fitness", [node])]
    assert engine.store.queue()[0]["priority"] == "high"


def test_hardware_is_checked_at_start_and_periodically_and_an_upgrade_requeues(
        model, optimizers):
    engine = make_engine(hardware={"check_interval_s": 0.1})
    model({0.0: GOOD})
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    no_gpu = json.loads((HW / "pynvml-no-driver.json").read_text())
    h200 = json.loads((HW / "pynvml-h200.json").read_text())
    opt = optimizers(engine, when_idle=True)
    opt.triggers.probe_fn = lambda: no_gpu
    events, callback = collect()
    opt.subscribe(callback)
    opt.pause()  # only the trigger is under test
    opt.start()
    assert wait_for(lambda: st.global_record(engine.store, st.HARDWARE_KEY).get("fingerprint"))
    assert not any(e == "hardware-changed" for e, _ in events)  # the first probe is no change
    first = st.global_record(engine.store, st.HARDWARE_KEY)["fingerprint"]

    opt.triggers.probe_fn = lambda: h200  # the machine got a GPU
    assert wait_for(lambda: any(e == "hardware-changed" for e, _ in events))
    data = next(d for e, d in events if e == "hardware-changed")
    assert data["upgrade"] and data["queued"] == 1 and "NVIDIA H200" in data["after"]
    assert engine.store.queue()[0]["reason"].startswith("hardware upgrade")
    assert engine.store.queue_position(node) == 1
    hw = st.global_record(engine.store, st.HARDWARE_KEY)
    assert hw["fingerprint"] != first and hw["record"]["devices"][0]["name"] == "NVIDIA H200"
    assert opt.hardware.gpus[0].name == "NVIDIA H200"  # the next runs use the new budget


def test_concurrent_experiments_are_each_recorded_once(model):
    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.4], workers=2, patience=10,
                         incremental_max_steps=0, target_fitness=1.01)
    node = weak_node(engine, model)
    model({0.3: GOOD}, delay=0.2)
    result = optimize_node(engine, node)
    state = load_state(engine.store, node)
    assert sorted(h["variant"]["temperature"] for h in state.history) == [0.1, 0.2, 0.3, 0.4]
    assert [h["attempt"] for h in state.history] == [1, 2, 3, 4]
    assert result.new_artifact_ids == ["is_even_v2"]
    assert engine.store.latest(node).temperature == 0.3


def test_models_too_large_for_the_machine_are_not_tried(model):
    from dise.hardware import HardwareInfo
    engine = make_engine(experiment_generators=["qwen-0.5b", "smollm2-135m"],
                         temperatures=[0.3])
    node = weak_node(engine, model)
    model()
    small = HardwareInfo(cpu_count=2, ram_total=1024 ** 3)  # 1 GiB: only SmolLM2 fits
    optimize_node(engine, node, hardware=small)
    state = load_state(engine.store, node)
    assert {h["variant"]["generator"] for h in state.history} == {"smollm2-135m"}
    assert "not tried: qwen-0.5b: too large for this machine's memory" in state.notes


def test_a_failing_node_is_dequeued_with_the_reason_in_its_state(model, optimizers):
    engine = make_engine(experiment_generators=["gpt-17"])
    node = weak_node(engine, model)
    opt = optimizers(engine)
    events, callback = collect()
    opt.subscribe(callback)
    opt.start()
    assert wait_for(lambda: ("idle", {"queue": 0}) in events)
    state = load_state(engine.store, node)
    assert state.status == "done" and state.stop_reason.startswith(
        "failed: [optimize] experiment_generators names unknown generator(s) gpt-17")
    assert opt.running  # one bad node does not stop the optimiser
