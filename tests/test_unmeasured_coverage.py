"""Coverage that was not measured is "n/a", not 0 %, and does not zero the fitness.

Issue 14, bug 6: a run without a coverage measurement (no ``coverage`` module in the sandbox, or
no time left for it) reported 0.0, so fitness = quality × speed × 0 = 0 and hover said "0%".
"""

from __future__ import annotations

import time

from dise.config import ScoringConfig
from dise.engine.scoring import score
from dise.engine.types import Artifact, RunReport, TestResult
from dise.lsp.hover import hover_markdown

CFG = ScoringConfig()


def passing_run(**extra) -> RunReport:
    results = [TestResult("given", f"assert f({n}) == {n}", True) for n in range(4)]
    return RunReport(results=results, latency=CFG.latency_fast_s / 2, **extra)


def test_unmeasured_coverage_is_left_out_of_the_fitness() -> None:
    scores = score(passing_run(), CFG)
    assert scores.coverage is None
    assert scores.fitness == scores.quality * scores.speed == 1.0
    measured = score(passing_run(coverage=0.5), CFG)
    assert (measured.coverage, measured.fitness) == (0.5, 0.5)
    assert score(passing_run(coverage=0.0), CFG).fitness == 0.0   # measured 0 % still counts


def test_hover_says_n_a_for_unmeasured_coverage() -> None:
    artifact = Artifact(
        node_id="f", version=1, function_name="f", code="", prompt="", task_type="other",
        intent="interactive", generator_used="g", model="m", backend="b", temperature=0.0,
        generation_time=0.1, test_passed=True, tests_passed=4, tests_total=4, test_kinds={},
        quality_score=1.0, latency=1e-6, coverage=None, fitness_score=1.0, tool_usage=[],
        phase="phase1", timestamp=time.time(), tests=[])
    text = hover_markdown(artifact, queue_position=None, optimise_below=0.8, edited=False)
    assert "| n/a |" in text and "0%" not in text
