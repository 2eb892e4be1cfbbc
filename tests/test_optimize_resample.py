"""Best-of-k resampling (``[optimize] resample_k``): while the current version fails one of the
user's own tests, Phase 2 draws extra hot samples that do not count against ``patience``, so a
model that is right one time in five still gets its chance. Test-double model; the real-model
figures are ``bench/phase2.py``'s."""

from __future__ import annotations

from dise.engine.types import Request
from dise.optimize import load_state, optimize_node
from dise.optimize.variants import resample_seeds
from support.optimize_worker import ASSERTS, GOOD, REQUEST
from support.optimize_engine import make_engine, model, weak_node  # noqa: F401  (fixture)


def test_failing_node_keeps_sampling_past_patience_until_a_sample_passes(model):
    """Patience 2 would stop after two failed setups; the fourth extra sample is right."""
    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.7], patience=2, resample_k=6,
                         incremental_max_steps=0, max_attempts=20)
    node = weak_node(engine, model)
    lucky = resample_seeds(engine.cfg.optimize, 6)[3]
    backend = model(by_seed={lucky: GOOD})
    result = optimize_node(engine, node)

    assert result.status == "improved", result.stop_reason
    latest = engine.store.latest(node)
    assert latest.test_passed and latest.version == 2
    assert latest.temperature == 0.7  # the hottest of the plan
    assert lucky in backend.seeds
    state = load_state(engine.store, node)
    counted = [e for e in state.history if e.get("attempt")]
    assert len(counted) > 2  # past patience: the failed extra samples were not counted
    assert "extra samples" in " ".join(state.notes)
    # a lucky draw is no evidence that its setup is better: the registry learns nothing
    assert not (engine.store.best_generator(latest.task_type) or {}).get("wins")
    # `dise status <node>` says why the run went past patience
    from dise.cli.status import status_lines
    line = next(ln for ln in status_lines(engine, node) if ln.startswith("last optimised"))
    assert "extra samples drawn because it failed your tests" in line


def test_without_resampling_the_same_node_stops_at_patience(model):
    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.7], patience=2, resample_k=0,
                         incremental_max_steps=0, max_attempts=20)
    node = weak_node(engine, model)
    backend = model(by_seed={resample_seeds(engine.cfg.optimize, 6)[3]: GOOD})
    result = optimize_node(engine, node)
    assert result.status == "unchanged" and result.attempts == 2
    assert set(backend.seeds) <= {0}


def test_a_node_passing_the_users_tests_gets_no_extra_samples(model):
    """Resampling is for functions the user's examples show wrong; a passing one is judged
    by patience as before."""
    engine = make_engine(temperatures=[0.1, 0.2, 0.3, 0.7], patience=2, resample_k=6,
                         incremental_max_steps=0, max_attempts=20, target_fitness=1.5)
    model({0.0: GOOD})
    node = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    backend = model({0.0: GOOD}, default=GOOD)
    result = optimize_node(engine, node)
    assert result.attempts == 2
    assert set(backend.seeds) <= {0}


def test_resampling_still_stops_at_the_attempt_budget(model):
    engine = make_engine(temperatures=[0.1, 0.7], patience=1, resample_k=10,
                         incremental_max_steps=0, max_attempts=5)
    node = weak_node(engine, model)
    model()  # never right
    result = optimize_node(engine, node)
    assert result.attempts == 5 and "budget" in result.stop_reason
