"""Differential testing's third source (issue 11): inputs the model proposes, weighed as
hypotheses (a disagreement on one counts half, none when a version raised there), never
outranking a test. ``VariantBackend`` (a scripted test double from support/optimize_worker.py) plays
the model in the plumbing tests; one test asks the real 0.5B."""

from __future__ import annotations

import pytest

from dise.config import load_config
from dise.engine import core
from dise.engine.core import Engine
from dise.engine.types import Request, TestCase
from dise.optimize import load_state, model_inputs, optimize_node
from support.optimize_worker import ASSERTS, REQUEST, VariantBackend

LINTY = "```python\nimport os\n\n\ndef is_even(n):\n    return n % 2 == 0\n```"
#: Lint-free (higher fitness), agrees on every small input, wrong from 1000 on.
BIG_WRONG = "```python\ndef is_even(n):\n    return n < 1000 and n % 2 == 0\n```"


def make_engine(**optimize) -> Engine:
    base = {"temperatures": [0.0, 0.3], "approaches": ["plain"], "seeds": [0],
            "poll_interval_s": 0.02, "when_idle": False, "workers": 1,
            "experiment_generators": ["qwen-0.5b"], "target_fitness": 1.01,
            "incremental_max_steps": 0, "patience": 5, "differential_model_inputs": 4}
    base.update(optimize)
    return Engine(load_config({"optimize": base, "retrieval": {"enabled": False}}))


def serve(monkeypatch, backend) -> None:
    monkeypatch.setattr(core, "resolve_backend", lambda gen, cfg: backend)


def run_with_proposals(monkeypatch, proposals: str):
    """v1 = LINTY, then Phase 2 where the model proposes ``proposals`` (asked at T=0) and
    the only experiment (T=0.3) answers BIG_WRONG; returns (engine, v1, history entry)."""
    engine = make_engine()
    serve(monkeypatch, VariantBackend(default=LINTY))
    v1 = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    assert v1.test_passed and v1.lint
    backend = VariantBackend({0.0: proposals, 0.3: BIG_WRONG}, default=LINTY)
    serve(monkeypatch, backend)
    optimize_node(engine, v1.node_id)
    state = load_state(engine.store, v1.node_id)
    tried = [h for h in state.history if h["variant"]["temperature"] == 0.3]
    asked = [m for t, m in backend.calls if m[0]["content"] == model_inputs.SYSTEM]
    return engine, v1, state, tried[0], asked


def test_two_disagreements_on_model_inputs_refuse_an_unchecked_change(monkeypatch):
    _, v1, state, tried, asked = run_with_proposals(
        monkeypatch, "```python\nis_even(1000000)\nis_even(2048)\nis_even(3)\n```")
    assert len(asked) == 1  # asked once a run, the tests' calls shown to it
    assert "is_even(2)" in asked[0][1]["content"]
    model = [d for d in tried["differential"]["disagreements"] if d["source"] == "model"]
    assert sorted(d["args"] for d in model) == ["(1000000,)", "(2048,)"]
    assert tried["fitness"] > v1.fitness_score and not tried["better"]
    assert any("answers differently" in n for n in state.notes)
    assert any(n == "model-proposed inputs: 2 from qwen-0.5b" for n in state.notes)  # (3,) tested


def test_one_model_disagreement_weighs_half_and_does_not_refuse(monkeypatch):
    engine, v1, _, tried, _ = run_with_proposals(monkeypatch, "is_even(1000000)\n")
    assert [d["source"] for d in tried["differential"]["disagreements"]] == ["model"]
    assert tried["better"]
    assert "n < 1000" in engine.store.latest(v1.node_id).code


def test_a_resumed_run_does_not_ask_again_and_a_failing_model_costs_only_a_note(monkeypatch):
    from dise.llm.base import BackendError

    class Fails(VariantBackend):
        def generate(self, messages, **kw):
            if messages[0]["content"] == model_inputs.SYSTEM:
                raise BackendError("the backend answered 500")
            return super().generate(messages, **kw)

    engine = make_engine()
    serve(monkeypatch, VariantBackend(default=LINTY))
    v1 = engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    serve(monkeypatch, Fails({0.3: BIG_WRONG}, default=LINTY))
    optimize_node(engine, v1.node_id)
    state = load_state(engine.store, v1.node_id)
    assert state.model_inputs == []
    assert any("model-proposed inputs: qwen-0.5b failed" in n for n in state.notes)
    assert any(h["better"] for h in state.history)  # the run went on without them


def test_the_engine_s_backend_factory_answers_the_proposals(monkeypatch):
    """An engine built with a backend factory (a test double's) asks it, never the real
    model (the LSP Phase 2 double loaded the real 0.5B here)."""
    def real(gen, cfg):
        raise AssertionError("resolve_backend asked instead of the engine's factory")
    monkeypatch.setattr(core, "resolve_backend", real)
    backend = VariantBackend(default="is_even(7)\nis_even(10)")
    engine = Engine(make_engine().cfg, backend_factory=lambda gen, cfg: backend)
    v1 = type("A", (), {"function_name": "is_even", "extra": {"signature": "def is_even(n)"},
                        "prompt": REQUEST})()
    found, note = model_inputs.for_node(engine, v1, [], ["qwen-0.5b"], 4)
    assert found == ["(7,)", "(10,)"], (found, note)
    assert len(backend.calls) == 1


def test_proposals_keep_literal_calls_of_the_right_arity_not_already_tested():
    tests = [TestCase("given", "assert add(2, 3) == 5")]
    backend = VariantBackend({0.0: "```python\n>>> add(1, 2)\nadd(2, 3)\nadd(1)\nadd(x, 1)\n"
                                    "print(add(-1, 1))\nadd(a=1, b=2)\nadd(1, 2)\n```"})
    got = model_inputs.propose(backend, "add", "def add(a, b):", "Add two numbers.", tests, 5)
    assert got == [(1, 2), (-1, 1)]
    assert model_inputs.arity("def f(a, b=1, *, c=2):", "f") == (1, 2)
    assert model_inputs.arity("def f(*args):", "f") is None
    assert model_inputs.restore(["(1, 'a')", "not python", "[1]"]) == [(1, "a")]


def test_weights_model_inputs_below_tests_and_ignore_raised_answers():
    tests_d = {"args": "(1,)", "detail": "x was '1', expected '2'", "source": "tests"}
    model_d = {**tests_d, "source": "model"}
    raised = {**model_d, "detail": "x was '1', expected 'raises ValueError'"}
    assert model_inputs.weight(tests_d) == 1.0
    assert model_inputs.weight(model_d) == 0.5 and model_inputs.weight(raised) == 0.0
    assert model_inputs.against([model_d, raised]) < 1.0 <= model_inputs.against([model_d] * 2)


@pytest.mark.model
def test_the_real_model_proposes_calls_the_sandbox_can_run(models_dir):
    cfg = load_config({"models_dir": str(models_dir)})
    backend = core.resolve_backend(cfg.generator("qwen-0.5b"), cfg)
    tests = [TestCase("given", "assert is_valid_email('a@b.com') is True")]
    got = model_inputs.propose(backend, "is_valid_email", "def is_valid_email(address: str):",
                               "Quickly write a function to validate email addresses",
                               tests, 4)
    assert got, "the model proposed no usable call"
    assert all(len(args) == 1 for args in got) and ("a@b.com",) not in got
