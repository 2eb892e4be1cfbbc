"""Phase 1's best-of-k (``[pipeline] best_of_k``): when the answer still fails the user's own
tests after the autofix, Phase 1 draws extra hot samples, but on a default install only once
Phase 2's samples have fixed enough failing functions (the learned part). Test-double model
for the plumbing, the real 0.5B for the sampling path; the pass-rate figures are
``bench/phase2.py``'s."""

from __future__ import annotations

import time

import pytest

from dise.config import ConfigError, load_config
from dise.engine import best_of_k
from dise.engine.core import Engine
from dise.engine.types import Request
from dise.optimize import optimize_node
from dise.optimize.failures import failed_setups
from dise.optimize.variants import resample_seeds
from support.optimize_worker import ASSERTS, GOOD, REQUEST
from support.optimize_engine import make_engine, model, weak_node  # noqa: F401  (fixture)


def _sample(trusted_passed: int, **extra) -> dict:
    return {"sample": True, "attempt": 1, "scores": {"evidence": {
        "trusted_passed": trusted_passed}}, **extra}


def test_a_runs_outcome_counts_only_the_first_k_samples():
    assert best_of_k.outcome([_sample(1), _sample(1)], trusted=3, k=3) is None  # 2 drawn
    assert best_of_k.outcome([_sample(1), _sample(3)], trusted=3, k=3) == "gain"
    assert best_of_k.outcome([_sample(1), _sample(3)], trusted=3, k=2) == "gain"
    assert best_of_k.outcome([_sample(1)] * 3 + [_sample(3)], trusted=3, k=3) == "no_gain"
    assert best_of_k.outcome([_sample(3, load_error="SyntaxError")] * 3, 3, 3) == "no_gain"
    assert best_of_k.outcome([_sample(0)] * 3, trusted=0, k=3) is None  # no user tests


def _records(generator: str = "qwen-0.5b", **by_type) -> list[dict]:
    key = best_of_k.evidence_key(generator)
    return [{"task_type": t, "trials": {key: {
        "gain": [f"{t}{i}" for i in range(fixed)],
        "no_gain": [f"{t}x{i}" for i in range(tried - fixed)]}}}
        for t, (fixed, tried) in by_type.items()]


def test_policy_follows_the_evidence_pooled_over_task_types():
    cfg = load_config()
    fresh = best_of_k.policy(cfg, [], "math", ["qwen-0.5b"])
    assert fresh.samples == 0 and "not learned yet" in fresh.reason

    learned = best_of_k.policy(cfg, _records(math=(2, 6), string=(1, 4)), "math", ["qwen-0.5b"])
    assert learned.samples == cfg.pipeline.best_of_k and learned.temperature == 0.7
    assert learned.generator == "qwen-0.5b" and "answers fixed 3 of 10" in learned.reason
    # a type never seen follows the pool; one with much evidence against it does not
    assert best_of_k.policy(cfg, _records(math=(2, 6)), "string", ["qwen-0.5b"]).samples == 3
    against = _records(math=(3, 5), string=(0, 40))
    assert best_of_k.policy(cfg, against, "string", ["qwen-0.5b"]).samples == 0
    # one fixed function is no pattern; evidence of another generator says nothing here
    assert best_of_k.policy(cfg, _records(math=(1, 2)), "math", ["qwen-0.5b"]).samples == 0
    assert best_of_k.policy(cfg, _records(math=(4, 6)), "math", ["qwen-1.5b"]).samples == 0


def test_a_bigger_generator_whose_samples_fixed_more_is_sampled_instead():
    """The cascade: the request's small model answered wrong; Phase 2 saw the 1.5B's samples
    fix more failing functions than the 0.5B's, so Phase 1 samples the 1.5B."""
    cfg = load_config()
    records = [{**small, "trials": {**small["trials"], **big["trials"]}} for small, big in
               zip(_records(math=(2, 8)), _records("qwen-1.5b", math=(5, 8)))]
    plan = best_of_k.policy(cfg, records, "math", ["qwen-0.5b", "qwen-1.5b"])
    assert plan.samples == 3 and plan.generator == "qwen-1.5b"
    assert "qwen-1.5b's answers fixed 5 of 8 failing functions of all types" in plan.reason
    # a forced generator is the only candidate
    assert best_of_k.policy(cfg, records, "math", ["qwen-0.5b"]).generator == "qwen-0.5b"


def test_always_never_and_a_cold_plan_are_respected():
    cfg = load_config({"pipeline": {"best_of_k_when": "always"}})
    assert best_of_k.policy(cfg, [], "math", ["qwen-0.5b"]).samples == 3
    cfg = load_config({"pipeline": {"best_of_k_when": "never"}})
    assert best_of_k.policy(cfg, _records(math=(5, 6)), "math", ["qwen-0.5b"]).samples == 0
    cfg = load_config({"pipeline": {"best_of_k_when": "always"},
                       "optimize": {"temperatures": [0.0]}})
    assert best_of_k.policy(cfg, [], "math", ["qwen-0.5b"]).samples == 0  # all samples alike
    with pytest.raises(ConfigError, match="best_of_k_when must be learned, always or never"):
        load_config({"pipeline": {"best_of_k_when": "sometimes"}})


def test_the_evidence_is_not_shown_as_a_setup_phase2_could_not_use():
    assert failed_setups(_records(math=(0, 4))[0]) == []


#: Wrong answers that fail the user's tests each in its own way (WEAK fails is_even(0)).
OTHER = "```python\ndef is_even(n):\n    return n == 0\n```"  # fails is_even(2)
THIRD = "```python\ndef is_even(n):\n    return n > 1\n```"  # fails is_even(3), is_even(0)
FOURTH = "```python\ndef is_even(n):\n    return n == 3\n```"  # fails all three


def _phase1_with(engine, model, **by_seed):
    backend = model(by_seed={best_of_k.SEED_BASE + int(k[1:]): v for k, v in by_seed.items()})
    return engine.generate(Request(text=REQUEST, asserts=ASSERTS)), backend


def test_phase2_samples_teach_phase1_to_draw_its_own(model):
    """Fresh store: a failing Phase 1 answer stays as it is. After Phase 2's answers fixed two
    functions, the same kind of request gets three samples and keeps the one that passes."""
    engine = make_engine(temperatures=[0.0, 0.7], patience=1, resample_k=3,
                         incremental_max_steps=0, max_attempts=8)
    seeds = resample_seeds(engine.cfg.optimize, 3)

    before, backend = _phase1_with(engine, model, s1=OTHER, s2=GOOD)
    assert not before.test_passed and set(backend.seeds) == {0}  # nothing learned: 1 sample
    engine.store.dequeue(before.node_id)
    from dise.cli.status import status_lines
    told = [ln for ln in status_lines(engine, before.node_id) if ln.startswith("Phase 1, ")]
    assert told and "draws no extra samples" in told[0] and "not learned yet" in told[0]

    for _ in range(2):  # Phase 2: a hot sample fixes each weak function
        node = weak_node(engine, model)
        model(by_seed={seeds[0]: GOOD})
        assert optimize_node(engine, node).status == "improved"
    records = engine.store.registry_records()
    assert best_of_k.counts(records, "qwen-0.5b") == {before.task_type: (2, 2)}

    after, backend = _phase1_with(engine, model, s1=OTHER, s2=GOOD)
    assert after.test_passed and after.phase == "phase1"
    first, second, third = (best_of_k.SEED_BASE + i for i in (1, 2, 3))
    assert backend.seeds.count(first) == 1 and backend.seeds.count(second) == 1
    assert third not in backend.seeds
    assert after.temperature == 0.7 and after.extra["seed"] == second
    assert after.extra["origin"] == "sample" and "samples" in after.stage_times
    told = next(t for t in after.tool_usage if t.startswith("best-of-k:"))
    assert "sample 2 of 3 passes your tests" in told and "answers fixed 2 of 2" in told
    from dise.lsp.hover import hover_markdown
    shown = hover_markdown(after, queue_position=None, optimise_below=0.8, edited=False)
    assert f"temperature 0.7 · best-of-k sample (seed {second})" in shown
    told = next(ln for ln in status_lines(engine, after.node_id) if ln.startswith("Phase 1, "))
    assert f"{after.task_type} functions: draws 3 extra samples of qwen-0.5b" in told
    assert "learned" in told


def test_samples_that_all_fail_keep_the_best_and_take_the_repairs_place(model):
    """Three samples, each failing in its own way: all are drawn, the best-ranked answer is
    kept, and no repair round follows (the samples took its place; the function is queued)."""
    engine = make_engine(temperatures=[0.0, 0.7])
    engine.cfg.pipeline.best_of_k_when = "always"
    artifact, backend = _phase1_with(engine, model, s1=OTHER, s2=THIRD, s3=FOURTH)
    base = best_of_k.SEED_BASE
    assert not artifact.test_passed and backend.seeds == [0, base + 1, base + 2, base + 3]
    assert not any("This code fails:" in str(messages) for _, messages in backend.calls)
    assert artifact.temperature == 0.0  # the first answer kept: no sample ranks higher
    assert any("3 of 3 samples drawn, none passes your tests (best-of-k always on)" in t
               for t in artifact.tool_usage)
    assert "repair skipped: the samples took its place; the function is queued for " \
        "background optimisation" in artifact.tool_usage
    assert engine.store.queue_position(artifact.node_id) == 1


def test_a_sample_failing_like_an_earlier_answer_stops_the_samples(model):
    """The model keeps its reading of the task: a sample failing the user's tests exactly as
    the first answer did (here: the same code) ends the sampling, and the tools line says
    why; one failing differently lets the next be drawn."""
    engine = make_engine(temperatures=[0.0, 0.7])
    engine.cfg.pipeline.best_of_k_when = "always"
    artifact, backend = _phase1_with(engine, model)  # every sample is the first answer
    assert not artifact.test_passed and backend.seeds[:2] == [0, best_of_k.SEED_BASE + 1]
    told = next(t for t in artifact.tool_usage if t.startswith("best-of-k:"))
    assert told.startswith("best-of-k: 1 of 3 samples drawn, none passes your tests; "
                           "stopped: sample 1 fails your tests the same way as an earlier "
                           "answer, so more samples would likely fail too")
    # the model keeps its reading: the repair round, which shows it the failing tests, follows
    asked = ["This code fails:" in str(messages) for _, messages in backend.calls]
    assert asked == [False, False, True] and "repair" in artifact.stage_times
    assert not any(t.startswith("repair skipped") for t in artifact.tool_usage)
    assert "model repair round: no better answer" in artifact.tool_usage

    artifact, backend = _phase1_with(engine, model, s1=OTHER, s2=OTHER)  # s2 agrees with s1
    assert backend.seeds[:3] == [0, best_of_k.SEED_BASE + 1, best_of_k.SEED_BASE + 2]
    assert any("2 of 3 samples drawn" in t and "sample 2 fails your tests the same way" in t
               for t in artifact.tool_usage)


def test_the_time_budget_stops_the_samples_and_the_tools_line_says_what_was_kept(model):
    """A slow first sample (better, still failing) uses up the budget: the stored function is
    that sample, and the tools line says so and why the other samples were not drawn."""
    engine = make_engine(temperatures=[0.0, 0.7])
    engine.cfg.pipeline.best_of_k_when = "always"
    engine.cfg.pipeline.interactive_budget_s = 5.0
    engine.cfg.pipeline.repair_rounds = 0
    slow = best_of_k.SEED_BASE + 1
    better = "```python\ndef is_even(n):\n    return n in (0, 2)\n```"  # fails is_even(4)
    backend = model(by_seed={slow: better})
    answer = backend.generate

    def generate(messages, **kwargs):
        if kwargs.get("seed") == slow:
            time.sleep(4.0)  # this sample alone leaves no time for another
        return answer(messages, **kwargs)

    backend.generate = generate
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS + ["assert is_even(4)"]))
    assert not artifact.test_passed and artifact.extra["origin"] == "sample"
    told = next(t for t in artifact.tool_usage if t.startswith("best-of-k:"))
    assert told.startswith("best-of-k: 1 of 3 samples drawn, none passes your tests; kept the "
                           "sample that passes most of them; stopped: another would not fit in "
                           "the time left of the request's 5 s budget")


def test_the_samples_come_before_the_repair_round_and_replace_it(model):
    """A sample that passes the user's tests ends the request: no repair round is asked for.
    Sampling that stopped on a sample failing like the first answer is followed by the repair
    (a repair that fixes it is kept); with no samples drawn (best-of-k off, as on a store
    that learned nothing) the repair round runs."""
    engine = make_engine(temperatures=[0.0, 0.7])
    engine.cfg.pipeline.best_of_k_when = "always"
    backend = model(by_seed={best_of_k.SEED_BASE + 1: GOOD})
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    asked = ["This code fails:" in str(messages) for _, messages in backend.calls]
    assert artifact.test_passed and artifact.extra["origin"] == "sample" and not any(asked)

    artifact, backend = _phase1_with(engine, model, s1=OTHER)  # s2 agrees with the first
    asked = ["This code fails:" in str(messages) for _, messages in backend.calls]
    assert not artifact.test_passed and asked == [False, False, False, True]

    backend = model(by_seed={best_of_k.SEED_BASE + 2: OTHER}, repair=GOOD)
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS))  # s1 = the first
    asked = ["This code fails:" in str(messages) for _, messages in backend.calls]
    assert asked == [False, False, True] and artifact.test_passed
    assert artifact.extra["origin"] == "repair" and "model repair round" in artifact.tool_usage

    engine.cfg.pipeline.best_of_k_when = "never"
    backend = model()
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    asked = ["This code fails:" in str(messages) for _, messages in backend.calls]
    assert not artifact.test_passed and asked == [False, True]  # the answer, one repair


def test_a_passing_answer_draws_no_samples(model):
    engine = make_engine()
    engine.cfg.pipeline.best_of_k_when = "always"
    backend = model(default=GOOD)
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    assert artifact.test_passed and set(backend.seeds) == {0}


@pytest.mark.model
def test_real_model_draws_samples_when_the_users_example_fails(models_dir, tmp_path):
    """The real 0.5B through llama.cpp: an example no honest answer passes (2 + 2 == 5) makes
    every sample fail. They are drawn at the hot temperature until one fails the way an
    earlier answer did (``return a + b`` again: add(2, 2) is 4; the repair round follows) or
    all three are (each failing its own way: the samples take the repair's place)."""
    engine = Engine(load_config({"pipeline": {"best_of_k_when": "always",  # a loaded CI
                                              "interactive_budget_s": 600.0},  # may be slow
                                 "retrieval": {"enabled": False}}))
    progress: list[str] = []
    artifact = engine.generate(Request(
        text="Return the sum of a and b.", asserts=["assert add(2, 2) == 5"]),
        progress=lambda stage, message: progress.append(message))
    assert not artifact.test_passed and "def add" in artifact.code
    assert "samples" in artifact.stage_times
    assert any("sample 1 of 3" in m for m in progress)
    told = next(t for t in artifact.tool_usage if t.startswith("best-of-k:"))
    assert "none passes your tests" in told
    skipped = any(t.startswith("repair skipped: the samples took its place")
                  for t in artifact.tool_usage)
    if "the same way as an earlier answer" in told:
        assert "repair" in artifact.stage_times and not skipped
    else:
        assert "3 of 3 samples drawn" in told and skipped
        assert "repair" not in artifact.stage_times


CUBE = "Return the cube of the number n."
CUBE_ASSERTS = ["assert cube(2) == 8", "assert cube(3) == 27"]
CUBE_GOOD = "```python\ndef cube(n):\n    return n ** 3\n```"
CUBE_WRONG = "```python\ndef cube(n):\n    return n * 3\n```"
CUBE_HALF = "```python\ndef cube(n):\n    return 8 if n == 2 else 0\n```"  # cube(2) only


def _learned_cascade(engine) -> None:
    """Phase 2's evidence: the 1.5B's answers fixed 2 of 3 failing math functions."""
    for node in ("a", "b", "c"):
        engine.store.record_registry_trial("math", best_of_k.evidence_key("qwen-1.5b"), node,
                                           "gain" if node != "c" else "no_gain")


def _two_models(small, big):
    """The 0.5B and the 1.5B as separate test doubles (``SLOT`` serves every engine)."""
    from support.optimize_engine import SLOT

    SLOT.factory = lambda gen, cfg: small if gen.name == "qwen-0.5b" else big
    return small, big


def test_a_first_answer_failing_the_users_tests_goes_to_the_learned_generator_at_once(model):
    """The cascade at the first answer: the 0.5B's answer fails the user's asserts and Phase 2
    saw the 1.5B fix such functions, so the 1.5B answers before the 0.5B writes tests or
    repairs (one 0.5B call in all); the stored function is the 1.5B's and says why."""
    from support.optimize_worker import VariantBackend

    engine = make_engine()
    _learned_cascade(engine)
    small, big = _two_models(VariantBackend(default=CUBE_WRONG), VariantBackend(default=CUBE_GOOD))
    artifact = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS))
    assert artifact.task_type == "math" and artifact.test_passed
    assert artifact.generator_used == "qwen-1.5b" and artifact.extra["origin"] == "model"
    assert len(small.calls) == 1 and big.calls
    told = next(t for t in artifact.tool_usage if t.startswith("cascade:"))
    assert told.startswith("cascade: qwen-0.5b's answer failed your tests, so qwen-1.5b "
                           "answered (learned: qwen-1.5b's answers fixed 2 of 3")
    from dise.cli.status import status_lines
    told = next(ln for ln in status_lines(engine, artifact.node_id)
                if ln.startswith("Phase 1, "))
    assert told.startswith("Phase 1, math functions: asks qwen-1.5b when qwen-0.5b's answer "
                           "fails your tests, then draws up to 3 samples of it (learned:")


def test_the_cascade_samples_the_bigger_generator_and_a_forced_one_stays_put(model):
    """The 1.5B's own answer fails too: its hot samples follow, and the one that passes is
    stored with its temperature and seed. Forcing the generator keeps everything on it."""
    from support.optimize_worker import VariantBackend

    engine = make_engine()
    _learned_cascade(engine)
    lucky = best_of_k.SEED_BASE + 2  # the second hot sample
    small, big = _two_models(VariantBackend(default=CUBE_WRONG),
                             VariantBackend(default=CUBE_WRONG, by_seed={lucky: CUBE_GOOD,
                                                                         lucky - 1: CUBE_HALF}))
    artifact = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS))
    assert artifact.test_passed and artifact.generator_used == "qwen-1.5b"
    assert artifact.extra["origin"] == "sample" and artifact.temperature == 0.7
    assert artifact.extra["seed"] == lucky and big.seeds[-2:] == [lucky - 1, lucky]
    assert len(small.calls) == 1

    asked = len(big.calls)
    forced = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS, generator="qwen-0.5b"))
    assert not forced.test_passed and forced.generator_used == "qwen-0.5b"
    assert len(big.calls) == asked and not any(t.startswith("cascade:")
                                               for t in forced.tool_usage)


def test_the_cascade_keeps_the_first_answer_when_it_passes_more_of_the_users_tests(model):
    from support.optimize_worker import VariantBackend

    engine = make_engine()
    _learned_cascade(engine)
    _two_models(VariantBackend(default=CUBE_HALF), VariantBackend(default=CUBE_WRONG))
    artifact = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS))
    assert not artifact.test_passed and artifact.generator_used == "qwen-0.5b"
    assert "return 8 if n == 2" in artifact.code
    assert any(t == "cascade: kept qwen-0.5b's answer: it passes more of your tests"
               for t in artifact.tool_usage)


def test_a_cascade_target_without_usable_code_lets_the_first_generator_go_on(model):
    from support.optimize_worker import VariantBackend

    engine = make_engine()
    _learned_cascade(engine)
    small, _ = _two_models(VariantBackend(default=CUBE_HALF),
                           VariantBackend(default="I am sorry, I cannot write that."))
    artifact = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS))
    assert artifact.generator_used == "qwen-0.5b" and "return 8 if n == 2" in artifact.code
    assert len(small.calls) >= 2  # its repair round ran after the 1.5B gave nothing
    assert "cascade: qwen-1.5b gave no usable code; qwen-0.5b's answer goes on" in \
        artifact.tool_usage


def _timed(engine, seconds: dict[str, float], answers: int = 3) -> None:
    """Phase 2 node records whose history has ``answers`` answers of each generator."""
    history = [{"variant": {"generator": g, "approach": "plain"}, "generation_time": t,
                "attempt": 1} for g, t in seconds.items() for _ in range(answers)]
    engine.store.set_optimizer_state("timed_node", {"node_id": "timed_node",
                                                    "history": history})


def test_a_learned_generator_no_slower_than_the_default_answers_first(model):
    """Phase 2 saw the 1.5B fix failing math functions and answer faster than the 0.5B (a
    small model at a hot temperature rambles): asking the 0.5B first would only add time,
    so the request starts with the 1.5B. `dise status` says so and why."""
    from support.optimize_worker import VariantBackend

    engine = make_engine()
    _learned_cascade(engine)
    _timed(engine, {"qwen-0.5b": 16.0, "qwen-1.5b": 9.0})
    small, big = _two_models(VariantBackend(default=CUBE_WRONG), VariantBackend(default=CUBE_GOOD))
    artifact = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS))
    assert artifact.test_passed and artifact.generator_used == "qwen-1.5b"
    assert not small.calls and big.calls
    assert artifact.tool_usage[0] == ("generator qwen-1.5b (learned: its answers fixed 2 of 3 "
                                      "failing functions of all types in Phase 2 (2 of 3 math) "
                                      "and took 9 s each, qwen-0.5b's 16 s)")
    from dise.cli.status import status_lines
    told = next(ln for ln in status_lines(engine, artifact.node_id)
                if ln.startswith("Phase 1, "))
    assert told.startswith("Phase 1, math functions: starts with qwen-1.5b instead of "
                           "qwen-0.5b, then draws up to 3 samples of it when the answer fails")


@pytest.mark.parametrize("seconds, answers", [({"qwen-0.5b": 5.0, "qwen-1.5b": 9.0}, 3),
                                              ({"qwen-0.5b": 16.0, "qwen-1.5b": 9.0}, 2)])
def test_a_slower_or_untimed_learned_generator_waits_for_the_cascade(model, seconds, answers):
    from support.optimize_worker import VariantBackend

    engine = make_engine()
    _learned_cascade(engine)
    _timed(engine, seconds, answers)
    small, big = _two_models(VariantBackend(default=CUBE_WRONG), VariantBackend(default=CUBE_GOOD))
    artifact = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS))
    assert artifact.test_passed and artifact.generator_used == "qwen-1.5b"
    assert len(small.calls) == 1 and artifact.tool_usage[0] == "generator qwen-0.5b (default)"


def test_without_learned_evidence_there_is_no_cascade(model):
    from support.optimize_worker import VariantBackend

    engine = make_engine()
    small, big = _two_models(VariantBackend(default=CUBE_WRONG), VariantBackend(default=CUBE_GOOD))
    artifact = engine.generate(Request(text=CUBE, asserts=CUBE_ASSERTS))
    assert not artifact.test_passed and not big.calls and len(small.calls) >= 2  # + repair


def test_phase2_evidence_comes_from_plain_answers_on_functions_failing_their_tests(model):
    """A grid setup's plain answer that fixes a failing function counts (Phase 1's samples
    are plain answers too)."""
    engine = make_engine(temperatures=[0.0, 0.3, 0.7], incremental_max_steps=0)
    node = weak_node(engine, model)
    model({0.3: GOOD})
    assert optimize_node(engine, node).status == "improved"
    task_type = engine.store.latest(node).task_type
    assert best_of_k.counts(engine.store.registry_records(), "qwen-0.5b") == {task_type: (1, 1)}


def test_a_function_passing_its_users_tests_is_no_evidence(model):
    engine = make_engine(temperatures=[0.0, 0.3, 0.7], target_fitness=1.5,
                         incremental_max_steps=0)
    model({0.0: GOOD}, default=GOOD)
    passing = engine.generate(Request(text=REQUEST, asserts=ASSERTS)).node_id
    assert optimize_node(engine, passing).attempts > 0
    assert best_of_k.counts(engine.store.registry_records(), "qwen-0.5b") == {}


def test_no_sample_fits_the_time_left_and_the_tools_line_says_so(model):
    """A first answer that used up the budget leaves no room for a sample or a repair: the
    tools line says none was drawn and why, not "none passes"."""
    engine = make_engine(temperatures=[0.0, 0.7])
    engine.cfg.pipeline.best_of_k_when = "always"
    engine.cfg.pipeline.interactive_budget_s = 1.0
    backend = model(delay=0.8)
    artifact = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    assert not artifact.test_passed and len(backend.calls) == 1
    assert ("best-of-k: no sample drawn: one would not fit in the time left of the request's "
            "1 s budget (best-of-k always on)") in artifact.tool_usage
    assert "repair skipped: it would not fit in the time left of the request's 1 s budget" \
        in artifact.tool_usage
