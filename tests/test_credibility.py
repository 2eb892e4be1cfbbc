"""Model tests are hypotheses: credibility (CodeT dual agreement), weighted scores, the
evidence cap, repair that never targets a contradicted model test, stored votes, and what the
CLI and the editor say when the user's tests fail.

The repair plumbing uses ``ScriptedBackend`` (a clearly named test double for the model);
the sandbox, scoring and store are real. One test at the end uses the real model."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dise import cli
from dise.cli import generate, output
from dise.config import load_config
from dise.engine import credibility, scoring, verdict
from dise.engine.core import Engine
from dise.engine.types import Request, RunReport, TestCase, TestResult
from dise.lsp.index import Known
from dise.lsp.verdicts import failing_tests_diagnostics

from support.scripted_slot import model_slot, scripted, slot_factory  # noqa: F401 (fixtures)

STUB_DOC = '''Add one.

Example:
    inc(1) => 2
    inc(5) => 6
'''


@pytest.fixture
def engine(tmp_path, monkeypatch, model_slot):
    monkeypatch.setenv("DISE_HOME", str(tmp_path))
    return Engine(load_config(), backend_factory=slot_factory(model_slot))


def _inc_request(doc: str = STUB_DOC) -> Request:
    from dise.engine.types import FunctionSpec
    spec = FunctionSpec(name="inc", signature="def inc(n):", docstring=doc, params=[("n", "")])
    return Request(text=doc, spec=spec)


# -- credibility ------------------------------------------------------------------------

def test_model_test_contradicting_an_example_weighs_zero():
    example = TestCase(kind="example", code="assert inc(1) == 2", call="inc(1)", want="2")
    wrong = TestCase(kind="model", code="assert inc(1) == 3")
    agrees = TestCase(kind="model", code="assert inc(1) == 2")
    other = TestCase(kind="model", code="assert inc(9) == 10")
    doctest = TestCase(kind="doctest", code="inc(9)", expect="11")
    tests = credibility.assess([example, wrong, agrees, other])
    assert [credibility.weight(t) for t in tests] == [1.0, 0.0, 0.5, 0.5]
    assert not credibility.repairable(tests[1]) and credibility.repairable(tests[2])
    # a doctest contradicts too, and an exception example contradicts a value
    assert credibility.weight(credibility.assess([doctest, other])[1]) == 0.0
    raises = TestCase(kind="example", code="...", call="inc(-1)", want="raises ValueError")
    assert credibility.weight(credibility.assess(
        [raises, TestCase(kind="model", code="assert inc(-1) == 0")])[1]) == 0.0


def test_credibility_grows_with_independent_agreeing_candidates():
    tests = [TestCase(kind="example", code="assert inc(1) == 2", call="inc(1)", want="2"),
             TestCase(kind="model", code="assert inc(2) == 3"),
             TestCase(kind="model", code="assert inc(3) == 5")]
    weights = []
    for _ in range(3):  # three candidates that pass the example: agree, disagree
        tests = credibility.vote(tests, [True, True, False])
        weights.append((tests[1].credibility, tests[2].credibility))
    assert weights[0][0] < weights[1][0] < weights[2][0] and weights[2][0] == 0.8
    assert weights[0][1] > weights[1][1] > weights[2][1] and weights[2][1] == 0.2
    # a candidate that fails the user's example does not vote
    assert credibility.vote(tests, [False, False, True])[2].credibility == 0.2


# -- scoring ----------------------------------------------------------------------------

def _report(passed: list[bool]) -> RunReport:
    return RunReport(results=[TestResult("x", "c", p) for p in passed], latency=1e-6,
                     coverage=1.0)


def test_quality_counts_model_tests_by_credibility():
    cfg = load_config().scoring
    tests = credibility.assess([
        TestCase(kind="example", code="assert inc(1) == 2", call="inc(1)", want="2"),
        TestCase(kind="model", code="assert inc(1) == 3"),     # contradicted: weight 0
        TestCase(kind="model", code="assert inc(4) == 5")])    # prior 0.5
    assert scoring.score(_report([True, False, True]), cfg, tests).quality == 1.0
    assert scoring.score(_report([True, True, False]), cfg, tests).quality == round(1 / 1.5, 4)
    assert scoring.score(_report([True, False, True]), cfg).quality == round(2 / 3, 4)


def test_model_only_evidence_cannot_reach_the_done_bars():
    cfg = load_config()
    two_trivial = [TestCase(kind="model", code="assert is_valid_email('a@b.com') is True"),
                   TestCase(kind="model", code="assert is_valid_email('nope') is False")]
    scores = scoring.score(_report([True, True]), cfg.scoring, two_trivial)
    assert scores.fitness == credibility.MODEL_ONLY_CAP
    assert scores.fitness < cfg.pipeline.optimise_below < cfg.optimize.target_fitness
    assert scores.evidence["strength"] == "model"
    # even fully credible model tests stay below the optimiser's target
    believed = [TestCase(kind="model", code=t.code, agree=50) for t in two_trivial]
    high = scoring.score(_report([True, True]), cfg.scoring, credibility.assess(believed))
    assert MODEL_CAP_RANGE[0] < high.fitness <= credibility.MODEL_ONLY_MAX < 0.95
    # one example of the user's lifts the cap
    trusted = two_trivial + [TestCase(kind="example", code="assert is_valid_email('x@y.z')")]
    assert scoring.score(_report([True] * 3), cfg.scoring, trusted).fitness == 1.0


MODEL_CAP_RANGE = (credibility.MODEL_ONLY_CAP, credibility.MODEL_ONLY_MAX)


# -- Phase 1 with the scripted model ----------------------------------------------------

def _fenced(body: str) -> str:
    return f"```python\n{body}```"


def test_repair_never_targets_a_model_test_an_example_contradicts(engine, scripted,
                                                                   monkeypatch):
    monkeypatch.setattr(engine.cfg.pipeline, "min_derived_tests", 10)  # ask for model tests
    correct = _fenced("def inc(n):\n    return n + 1\n")
    backend = scripted(correct, "assert inc(1) == 3\nassert inc(2) == 3\n",
                       _fenced("def inc(n):\n    return 3\n"))
    artifact = engine.generate(_inc_request())
    # the wrong model test (inc(1) == 3) fails, but the example says 2: no repair round
    assert len(backend.calls) == 2, "repair was asked to satisfy a contradicted model test"
    assert artifact.code.strip().endswith("return n + 1")
    frozen = engine.store.frozen_tests(artifact.node_id)
    wrong = next(t for t in frozen if t.code == "assert inc(1) == 3")
    assert wrong.credibility == 0.0
    assert artifact.test_kinds["example"] == [2, 2]
    assert artifact.fitness_score > 0.8 and verdict.failed_line(artifact) == ""
    assert "model's guesses: 2" in verdict.authority_line(artifact)


def test_repair_still_targets_failing_examples(engine, scripted):
    wrong = _fenced("def inc(n):\n    return n\n")
    backend = scripted(wrong, _fenced("def inc(n):\n    return n + 1\n"))
    artifact = engine.generate(_inc_request())
    assert len(backend.calls) == 2 and "inc(1)" in str(backend.calls[1])
    assert artifact.test_passed and artifact.test_kinds["example"] == [2, 2]


def test_failing_examples_are_said_and_queued(engine, scripted):
    scripted(_fenced("def inc(n):\n    return n\n"))  # repair answers the same wrong code
    artifact = engine.generate(_inc_request())
    queue = engine.store.queue_position(artifact.node_id)
    assert queue == 1
    assert verdict.trusted_counts(artifact) == (2, 2)
    line = verdict.failed_line(artifact, queue)
    assert line.startswith("2/2 tests failed") and "queued for the optimiser" in line
    assert "inc(1) => 2" in line


def test_no_docstring_stub_works_with_untrusted_model_tests(engine, scripted, monkeypatch):
    from dise.engine.types import FunctionSpec
    monkeypatch.setattr(engine.cfg.pipeline, "min_derived_tests", 10)
    scripted(_fenced("def inc(n):\n    return n + 1\n"), "assert inc(1) == 2\n")
    spec = FunctionSpec(name="inc", signature="def inc(n):", params=[("n", "")])
    artifact = engine.generate(Request(text="", spec=spec))
    assert set(artifact.test_kinds) == {"model"}
    assert artifact.extra["evidence"]["strength"] == "model"
    assert artifact.fitness_score <= credibility.MODEL_ONLY_CAP
    assert engine.store.queue_position(artifact.node_id) is not None  # Phase 2 adds evidence
    assert verdict.authority_line(artifact).startswith("trusted: 0")


def test_stored_votes_are_counted_once_per_candidate(engine, scripted):
    scripted(_fenced("def inc(n):\n    return n + 1\n"))
    artifact = engine.generate(_inc_request())
    store, node = engine.store, artifact.node_id
    tests = store.frozen_tests(node) + []
    model = TestCase(kind="model", code="assert inc(7) == 8")
    voted = credibility.vote(tests, [True] * len(tests))
    assert store.update_test_credibility(node, voted, "cand-1")
    assert not store.update_test_credibility(node, voted, "cand-1")  # one vote per candidate
    assert not store.update_test_credibility(node, voted + [model], "cand-2")  # tests frozen
    assert "cand-1" in store.test_witnesses(node)


# -- what the faces say -----------------------------------------------------------------

def test_cli_last_line_says_how_many_tests_failed(engine, scripted, monkeypatch, tmp_path):
    scripted(_fenced("def inc(n):\n    return n\n"))
    out = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=out, width=200, highlight=False))
    path = tmp_path / "m.py"
    path.write_text(f'def inc(n):\n    """{STUB_DOC}"""\n')
    args = cli.build_parser().parse_args(["generate", "--file", str(path), "--function", "inc"])
    # exit status 1, as a test runner's: the function is written, but fails the user's tests
    assert generate.run(engine.cfg, args, engine_factory=lambda cfg: engine) == 1
    assert "return n" in path.read_text()
    last = [ln for ln in out.getvalue().splitlines() if ln.strip()][-1]
    assert last.startswith(f"Wrote inc into {path}, but 2/2 tests failed")
    assert "queued for the optimiser" in last
    assert "judged by" in out.getvalue() and "yours" in out.getvalue()
    assert out.getvalue().count("position 1") == 1  # the queue position, said once
    assert "model repair round: no better answer" in out.getvalue()  # it ran, and says so


def test_editor_warns_on_a_function_failing_the_users_tests(engine, scripted):
    scripted(_fenced("def inc(n):\n    return n\n"))
    failing = engine.generate(_inc_request())
    source = "import os\n\n\ndef inc(n):\n    return n\n"
    known = [Known(node_id=failing.node_id, name="inc", content_hash="", artifact=failing)]
    [diag] = failing_tests_diagnostics(source, known)
    assert diag.code == "tests-failed" and diag.range.start.line == 3
    assert diag.severity == 2 and "2/2" in diag.message  # Warning
    scripted(_fenced("def inc(n):\n    return n + 1\n"))
    passing = engine.generate(_inc_request())
    known = [Known(node_id=passing.node_id, name="inc", content_hash="", artifact=passing)]
    assert failing_tests_diagnostics(source, known) == []  # regenerated passing: cleared


def test_hover_and_status_say_which_tests_are_trusted(engine, scripted):
    from dise.lsp.hover import artifact_summary, hover_markdown
    scripted(_fenced("def inc(n):\n    return n\n"))
    artifact = engine.generate(_inc_request())
    text = hover_markdown(artifact, queue_position=1, optimise_below=0.8, edited=False)
    assert "judged by: trusted: 2 (2 example)" in text and "2/2 tests failed" in text
    summary = artifact_summary(artifact, 1)
    assert summary["trustedFailed"] == 2 and summary["trustedTotal"] == 2


# -- the real model ---------------------------------------------------------------------

@pytest.mark.model
def test_real_model_stub_with_arrow_examples_gets_example_tests(tmp_path, monkeypatch,
                                                                models_dir):
    monkeypatch.setenv("DISE_HOME", str(tmp_path))
    engine = Engine(load_config())
    doc = ("Return the larger of a and b.\n\nExamples:\n    bigger(1, 2) => 2\n"
           "    bigger(7, 3) => 7\n    bigger(-1, -5) => -1\n")
    from dise.engine.types import FunctionSpec
    spec = FunctionSpec(name="bigger", signature="def bigger(a: int, b: int) -> int:",
                        docstring=doc, params=[("a", "int"), ("b", "int")])
    artifact = engine.generate(Request(text=doc, spec=spec))
    assert artifact.test_kinds["example"][1] == 3
    failed, total = verdict.trusted_counts(artifact)
    assert total == 3 and 0 <= failed <= 3
    assert artifact.extra["evidence"]["strength"] == "trusted"
    line = verdict.failed_line(artifact, engine.store.queue_position(artifact.node_id))
    assert (line == "") == (failed == 0)
    if failed:
        assert line.startswith(f"{failed}/3 tests failed")


# -- Phase 2 ----------------------------------------------------------------------------

def test_phase2_uses_the_weights_never_repairs_toward_contradicted_tests_and_records_votes(
        tmp_path, monkeypatch, scripted, model_slot):
    from dise.optimize import optimize_node
    from dise.optimize.experiments import run_variant
    from dise.optimize.variants import Variant

    monkeypatch.setenv("DISE_HOME", str(tmp_path))
    engine = Engine(load_config({
        "optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.3],
                     "approaches": ["repair"], "workers": 1, "when_idle": False,
                     "target_fitness": 1.01, "incremental_max_steps": 0},
        "pipeline": {"min_derived_tests": 10}, "retrieval": {"enabled": False}}),
        backend_factory=slot_factory(model_slot))
    backend = scripted(_fenced("def inc(n):\n    return n + 1\n"),
                       "assert inc(1) == 3\nassert inc(3) == 4\n")
    artifact = engine.generate(_inc_request())
    node = artifact.node_id
    frozen = engine.store.frozen_tests(node)
    by_code = {t.code: t for t in frozen}
    assert by_code["assert inc(1) == 3"].credibility == 0.0
    first_vote = by_code["assert inc(3) == 4"].credibility
    assert first_vote == round(2 / 3, 4)  # the first candidate agreed with it

    calls = len(backend.calls)
    other = _fenced("def inc(n):\n    return 1 + n\n")
    backend.answers = [other]
    outcome = run_variant(engine, artifact, credibility.assess(frozen),
                          Variant("qwen-0.5b", 0.3, "repair"))
    assert len(backend.calls) == calls + 1, "repair targeted a contradicted model test"
    assert outcome.scores["quality"] == 1.0 and outcome.trusted_passed == 2

    engine.store.enqueue(node, "normal", "manual")
    optimize_node(engine, node)
    after = {t.code: t for t in engine.store.frozen_tests(node)}
    assert after["assert inc(3) == 4"].credibility > first_vote  # an independent witness
    assert after["assert inc(1) == 3"].credibility == 0.0
    assert len(engine.store.test_witnesses(node)) == 2


def test_design_email_validator_on_two_trivial_model_tests_is_not_done(engine, scripted,
                                                                       monkeypatch):
    monkeypatch.setattr(engine.cfg.pipeline, "min_derived_tests", 10)
    scripted(_fenced("def is_valid_email(email: str) -> bool:\n    return '@' in email\n"),
             "assert is_valid_email('a@b.com') == True\n"
             "assert is_valid_email('abc') == False\n")
    artifact = engine.generate(Request(text="Quickly write a function to validate email "
                                            "addresses"))
    assert artifact.test_kinds.get("model") == [2, 2] and artifact.test_passed
    assert artifact.fitness_score <= credibility.MODEL_ONLY_CAP < 0.95
    assert engine.store.queue_position(artifact.node_id) is not None  # Phase 2 will look
    assert "weak evidence" in verdict.evidence_note(artifact)
