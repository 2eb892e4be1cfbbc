"""Phase 2 runs what can run (issue 11): uninstalled or broken generators are noted, never
counted as "no gain"; a failed Phase 1 request is kept and queued; a stronger generator
becoming usable re-queues low nodes; the bandit prefers setups that have won; differential
testing keeps an unchecked change of behaviour from counting as better. A test-double model
(``VariantBackend``) serves the generators that are "installed"; the real-model story is in
test_optimize_model.py."""

from __future__ import annotations

import random

import pytest

from dise.cli.status import status_lines
from dise.config import load_config
from dise.engine.core import Engine
from dise.engine.pipeline import GenerationFailed
from dise.engine.types import Request
from dise.llm.base import BackendError, ModelNotInstalled
from dise.llm.select import resolve_backend
from dise.optimize import Optimizer, Triggers, Variant, bandit, load_state, optimize_node
from support.optimize_worker import ASSERTS, GOOD, REQUEST, WEAK, VariantBackend
from support.scripted_backend import BackendSlot

RECORDED_CPU = {"cpu_count": 2, "mem_total_kb": 24684100, "error": "NVMLError_LibraryNotFound(12)"}
REAL_RESOLVE = resolve_backend
#: The model of every engine these tests make (``Engine(backend_factory=SLOT)``).
SLOT = BackendSlot()


def make_engine(**optimize) -> Engine:
    base = {"temperatures": [0.0, 0.3, 0.7], "approaches": ["plain"], "seeds": [0],
            "differential_model_inputs": 0, "resample_k": 0,  # see test_optimize_resample.py
            "poll_interval_s": 0.02, "when_idle": False, "workers": 1}
    base.update(optimize)
    return Engine(load_config({"optimize": base, "retrieval": {"enabled": False}}),
                  backend_factory=SLOT)


class Broken:
    """A generator whose backend fails on every call (e.g. a server that went away)."""

    name = "broken"
    model_label = "broken (test double)"

    def generate(self, *args, **kwargs) -> str:
        raise BackendError("the backend answered 500: model crashed")


@pytest.fixture
def pool():
    """Serve the "installed" generators with one VariantBackend; the others are really not
    installed (real ``resolve_backend`` on an empty models directory) or ``Broken``."""
    def install(installed: set[str], answers=None, broken: set[str] = frozenset(),
                default: str = WEAK) -> VariantBackend:
        backend = VariantBackend(answers, default=default)

        def resolve(gen, cfg):
            if gen.name in broken:
                return Broken()
            if gen.name in installed:
                return backend
            return REAL_RESOLVE(gen, cfg)
        SLOT.factory = resolve
        return backend
    yield install
    SLOT.clear()


@pytest.fixture
def no_models(tmp_path, monkeypatch):
    monkeypatch.setenv("DISE_MODELS_DIR", str(tmp_path / "no-models"))


def weak_node(engine: Engine) -> str:
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    assert not artifact.test_passed
    return artifact.node_id


# -- run what can run -----------------------------------------------------------------------
def test_an_uninstalled_generator_gives_a_note_and_no_attempt(pool, no_models):
    engine = make_engine(experiment_generators=["qwen-0.5b", "qwen-1.5b"])
    pool({"qwen-0.5b"})
    node = weak_node(engine)
    pool({"qwen-0.5b"}, {0.7: GOOD})
    result = optimize_node(engine, node)

    assert result.status == "improved"
    state = load_state(engine.store, node)
    tried = {h["variant"]["generator"] for h in state.history}
    assert tried == {"qwen-0.5b"} and state.errors == 0
    assert state.unavailable == [{"generator": "qwen-1.5b", "how":
                                  "dise models pull qwen2.5-coder-1.5b",
                                  "reason": state.unavailable[0]["reason"]}]
    assert "not installed" in state.unavailable[0]["reason"]
    assert any("qwen-1.5b" in n for n in result.notes)
    lines = status_lines(engine, node)
    assert "Phase 2 cannot use: qwen-1.5b (not installed; add it: dise models pull " \
           "qwen2.5-coder-1.5b)" in lines
    optimizer = Optimizer(engine, probe_fn=lambda: RECORDED_CPU)
    optimizer.triggers.models(0.0, force=True)
    assert [u["generator"] for u in optimizer.state()["unavailable"]] == ["qwen-1.5b"]


def test_only_uninstalled_generators_say_so_and_how_to_add_one(pool, no_models):
    engine = make_engine(experiment_generators=["qwen-1.5b"])
    pool({"qwen-0.5b"})
    node = weak_node(engine)
    result = optimize_node(engine, node)
    assert result.attempts == 0 and result.status == "unchanged"
    assert result.stop_reason.startswith("no experiment could run: qwen-1.5b")
    assert "dise models pull qwen2.5-coder-1.5b" in result.stop_reason


def test_a_generator_that_errors_is_not_a_no_gain_attempt(pool):
    # With errors counted, patience 2 would stop after the broken 1.5B and one weak 0.5B
    # attempt, before the 0.5B finds the good answer at T=0.7.
    engine = make_engine(experiment_generators=["qwen-1.5b", "qwen-0.5b"], patience=2,
                         incremental_max_steps=0)
    pool({"qwen-0.5b"})
    node = weak_node(engine)
    pool({"qwen-0.5b"}, {0.7: GOOD}, broken={"qwen-1.5b"})
    result = optimize_node(engine, node)

    assert result.status == "improved"
    state = load_state(engine.store, node)
    errors = [h for h in state.history if h.get("error")]
    assert len(errors) == 1 and "model crashed" in errors[0]["error"]
    assert state.errors == 1 and state.attempts == 2  # the error is not an attempt
    assert [u["generator"] for u in state.unavailable] == ["qwen-1.5b"]
    assert engine.store.latest(node).generator_used == "qwen-0.5b"


def test_the_registry_records_what_failed_and_every_face_says_it(pool):
    from dise.lsp.index import Known
    from dise.lsp.render import hover_section
    from dise.optimize import failures

    engine = make_engine(experiment_generators=["qwen-1.5b", "qwen-0.5b"], patience=2,
                         incremental_max_steps=0)
    pool({"qwen-0.5b"})
    node = weak_node(engine)
    pool({"qwen-0.5b"}, {0.7: GOOD}, broken={"qwen-1.5b"})
    optimize_node(engine, node)
    task_type = engine.store.latest(node).task_type
    failed = failures.failed_setups(engine.store.best_generator(task_type))
    by_setup = {f["setup"]: f for f in failed}
    assert by_setup["qwen-1.5b@0/plain"]["errors"] == 1
    assert "model crashed" in by_setup["qwen-1.5b@0/plain"]["last_error"]
    assert by_setup["qwen-0.5b@0.3/plain"]["no_gain"] == 1  # weak at 0.3, good at 0.7
    assert "qwen-0.5b@0.7/plain" not in by_setup  # it gained

    line = next(ln for ln in status_lines(engine, node) if "could not use" in ln)
    assert line.startswith(f"Phase 2 could not use for {task_type} functions: "
                           "qwen-1.5b@0/plain (1 error: the backend answered 500")
    assert "qwen-0.5b@0.3/plain (no gain on 1 function)" in line
    optimizer = Optimizer(engine, probe_fn=lambda: RECORDED_CPU)
    optimizer._refresh_failed()
    assert optimizer.state()["failed_setups"][task_type] == failed
    latest = engine.store.latest(node)
    known = Known(node_id=node, name=latest.function_name, content_hash="", artifact=latest,
                  current=latest)
    assert line in hover_section(known, None, [], optimizer.state()["failed_setups"])


def test_a_setup_that_gained_nothing_elsewhere_starts_with_a_worse_belief():
    arms = [Variant("qwen-0.5b", 0.3, "plain"), Variant("qwen-0.5b", 0.7, "plain")]
    registry = {"trials": {"qwen-0.5b@0.3/plain": {"gain": [], "no_gain": ["a", "b", "me"],
                                                   "errors": 0}}}
    cold, hot = bandit.beliefs(arms, [], registry, node_id="me")
    assert cold.beta == 3.0 and hot.beta == 1.0  # its own node is left to the history
    assert cold.mean < hot.mean


# -- nothing is lost ------------------------------------------------------------------------
def test_a_failed_phase1_request_is_stored_failed_and_queued_high(pool):
    engine = make_engine(experiment_generators=["qwen-0.5b"])
    pool({"qwen-0.5b"}, default="I cannot help with that.")
    with pytest.raises(GenerationFailed) as err:
        engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    node = err.value.node_id
    assert node and node in str(err.value) and "queued" in str(err.value)
    v1 = engine.store.latest(node)
    assert v1.code == "" and v1.fitness_score == 0.0 and not v1.test_passed
    assert v1.prompt == REQUEST and "no usable Python code" in v1.extra["failed"]
    assert [t.code for t in engine.store.frozen_tests(node)][:3] == ASSERTS
    entry = engine.store.queue()[0]
    assert entry["node_id"] == node and entry["priority"] == "high"
    assert "phase 1 failed" in entry["reason"]

    pool({"qwen-0.5b"}, {0.3: GOOD}, default="I cannot help with that.")
    result = optimize_node(engine, node)
    assert result.status == "improved" and engine.store.latest(node).test_passed


# -- bigger models --------------------------------------------------------------------------
def test_a_stronger_generator_becoming_usable_requeues_low_nodes(pool, no_models):
    engine = make_engine(experiment_generators=[])  # the pool: every configured generator
    installed = {"qwen-0.5b"}
    pool(installed, default=GOOD)
    good = engine.generate(Request(text="return n plus one", asserts=["assert inc(1) == 2"]))
    pool(installed)
    low = weak_node(engine)
    for node in (good.node_id, low):
        engine.store.dequeue(node)
    triggers = Triggers(engine.cfg, engine.store, probe_fn=lambda: RECORDED_CPU,
                        backend_factory=engine.backend_factory)
    triggers.hardware(0.0, force=True)
    assert triggers.models(0.0, force=True) is None  # first look: remembered, nothing fires
    assert {u["generator"] for u in triggers.unavailable} == {"qwen-1.5b", "smollm2-135m"}

    installed.add("smollm2-135m")  # weaker than what was usable: nothing to gain
    assert triggers.models(100.0, force=True) is None
    assert engine.store.queue() == []

    installed.add("qwen-1.5b")     # e.g. after `dise models pull qwen2.5-coder-1.5b`
    fired = triggers.models(200.0, force=True)
    assert fired is not None and fired.trigger == "models"
    assert fired.data["generators"] == ["qwen-1.5b"]
    queue = engine.store.queue()
    assert low in [e["node_id"] for e in queue]
    assert all("qwen-1.5b now usable" in e["reason"] for e in queue)
    if good.fitness_score > engine.cfg.optimize.target_fitness:
        assert good.node_id not in [e["node_id"] for e in queue]
    assert triggers.unavailable == []


# -- the adaptive plan ----------------------------------------------------------------------
ARMS = [Variant("qwen-0.5b", 0.0, "repair"), Variant("qwen-0.5b", 0.3, "plain"),
        Variant("qwen-0.5b", 0.7, "plain"), Variant("qwen-1.5b", 0.3, "plain")]


def test_the_bandit_prefers_a_setup_that_has_won_for_the_task_type():
    registry = {"task_type": "validation", "wins": {"qwen-1.5b@0.3/plain": ["a", "b", "c"]}}
    picks = [bandit.choose(ARMS, [], registry, rng=random.Random(i)).key for i in range(200)]
    # Beta(4, 1) against three Beta(1, 1): the largest draw 4/7 of the time (uniform: 1/4)
    assert picks.count("qwen-1.5b@0.3/plain") > 100


def test_the_bandit_learns_from_the_node_and_follows_the_plan_without_evidence():
    assert bandit.choose(ARMS, [], None, rng=random.Random(0)) == ARMS[0]
    history = [{"variant": ARMS[0].to_dict(), "better": False},
               {"variant": ARMS[1].to_dict(), "better": False},
               {"variant": ARMS[3].to_dict(), "better": True},
               {"variant": ARMS[2].to_dict(), "better": False, "error": "crashed"}]
    picks = [bandit.choose(ARMS, history, None, rng=random.Random(i)) for i in range(200)]
    assert picks.count(ARMS[3]) > picks.count(ARMS[0]) + picks.count(ARMS[1])
    beliefs = bandit.beliefs(ARMS, history, None)
    # its sibling at T=0.3 failed (half a failure); its own error taught nothing
    assert beliefs[2] == bandit.Belief(1.0, 1.0 + bandit.SIBLING_WEIGHT)


def test_a_setup_that_won_before_is_tried_first_on_a_new_node(pool):
    engine = make_engine(experiment_generators=["qwen-0.5b"], temperatures=[0.0, 0.3, 0.7, 1.0],
                         max_attempts=1)
    pool({"qwen-0.5b"})
    node = weak_node(engine)
    engine.store.record_registry_win("validation", "qwen-0.5b@1/plain", "x")
    engine.store.record_registry_win("validation", "qwen-0.5b@1/plain", "y")
    engine.store.record_registry_win("validation", "qwen-0.5b@1/plain", "z")
    v1 = engine.store.latest(node)
    if v1.task_type != "validation":
        for n in "xyz":
            engine.store.record_registry_win(v1.task_type, "qwen-0.5b@1/plain", n)
    optimize_node(engine, node)
    state = load_state(engine.store, node)
    assert [h["variant"]["temperature"] for h in state.history][:1] == [1.0]


# -- differential testing -------------------------------------------------------------------
LINTY = "```python\nimport os\n\n\ndef is_even(n):\n    return n % 2 == 0\n```"
#: Lint-free (higher fitness), passes the same tests, but answers differently for n < 0.
CHANGED = "```python\ndef is_even(n):\n    return n >= 0 and n % 2 == 0\n```"
FAITHFUL = "```python\ndef is_even(n):\n    return not n % 2\n```"


def test_a_candidate_that_only_changes_untested_answers_is_not_better(pool):
    engine = make_engine(experiment_generators=["qwen-0.5b"], target_fitness=1.01,
                         incremental_max_steps=0, patience=5)
    pool({"qwen-0.5b"}, default=LINTY)
    v1 = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    assert v1.test_passed and v1.lint
    pool({"qwen-0.5b"}, {0.3: CHANGED, 0.7: FAITHFUL}, default=LINTY)
    result = optimize_node(engine, v1.node_id)

    state = load_state(engine.store, v1.node_id)
    by_temp = {h["variant"]["temperature"]: h for h in state.history}
    changed = by_temp[0.3]
    assert changed["fitness"] > v1.fitness_score and not changed["better"]
    assert changed["differential"]["disagreements"]
    assert any("(-2,)" in d["args"] for d in changed["differential"]["disagreements"])
    assert by_temp[0.7]["better"]
    v2 = engine.store.latest(v1.node_id)
    assert result.status == "improved" and "not n % 2" in v2.code
    assert v2.extra["differential"]["agreed"] == v2.extra["differential"]["inputs"] > 0


def test_the_hover_says_which_generators_phase2_cannot_use_and_how_to_add_them():
    from dise.lsp.render import unavailable_hover
    line = unavailable_hover([{"generator": "qwen-1.5b", "how": "dise models pull "
                               "qwen2.5-coder-1.5b", "reason": "Model qwen2.5-coder-1.5b is not "
                               "installed: run `dise models pull qwen2.5-coder-1.5b`"}])
    assert "Phase 2 cannot use qwen-1.5b: not installed (`dise models pull " \
           "qwen2.5-coder-1.5b`)" in line
    assert unavailable_hover([]) == ""
