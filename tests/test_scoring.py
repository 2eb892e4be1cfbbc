"""Fitness = quality × speed × coverage, with the lint penalty on quality."""

from __future__ import annotations

import pytest

from dise.config import ScoringConfig
from dise.engine.scoring import score
from dise.engine.types import RunReport
from dise.engine.types import TestResult as Result


def report(passed: int, failed: int = 0, *, latency: float | None = 0.0005,
           coverage: float = 1.0, lint: int = 0, load_error: str = "") -> RunReport:
    results = [Result("given", "t", True) for _ in range(passed)]
    results += [Result("given", "t", False, "boom") for _ in range(failed)]
    return RunReport(results=results, latency=latency, coverage=coverage,
                     lint=[f"line {i}: finding" for i in range(lint)], load_error=load_error)


CFG = ScoringConfig()


def test_perfect_run_scores_one():
    scores = score(report(3), CFG)
    assert (scores.quality, scores.speed, scores.coverage, scores.fitness) == (1, 1, 1, 1)
    assert scores.lint_factor == 1


def test_quality_is_the_pass_rate():
    assert score(report(3, 1), CFG).quality == 0.75


def test_no_tests_or_load_error_gives_zero_quality():
    assert score(report(0), CFG).quality == 0
    assert score(report(2, load_error="SyntaxError: x at line 1"), CFG).fitness == 0


def test_lint_lowers_quality_but_not_below_the_floor():
    assert score(report(4, lint=2), CFG).quality == pytest.approx(1 - 2 * CFG.lint_penalty)
    many = score(report(4, lint=100), CFG)
    assert many.lint_factor == CFG.lint_floor and many.quality == CFG.lint_floor


def test_slower_code_scores_lower_speed():
    fast = score(report(1, latency=CFG.latency_fast_s), CFG).speed
    ten_x = score(report(1, latency=CFG.latency_fast_s * 10), CFG).speed
    hundred_x = score(report(1, latency=CFG.latency_fast_s * 100), CFG).speed
    assert fast == 1.0
    assert ten_x == pytest.approx(0.5)
    assert hundred_x == pytest.approx(1 / 3, abs=1e-4)


def test_no_latency_means_zero_speed_and_fitness():
    scores = score(report(0, 2, latency=None), CFG)
    assert scores.speed == 0 and scores.fitness == 0


def test_fitness_is_the_rounded_product():
    scores = score(report(2, 1, latency=CFG.latency_fast_s * 10, coverage=0.8), CFG)
    assert scores.fitness == round((2 / 3) * 0.5 * 0.8, 4)
