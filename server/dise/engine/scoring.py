"""How a candidate is scored: fitness = quality × speed × coverage (each 0..1).

* quality = weighted pass rate × lint_factor; 0 when the code did not load or has no tests.
  Each test weighs ``credibility.weight(test)``: the user's tests (examples, doctests,
  asserts, workspace tests) and smoke checks 1, the model's tests their credibility (0 when
  a trusted test contradicts them). Without the tests, every result weighs 1.
  lint_factor = max(lint_floor, 1 − lint_penalty × number of pyflakes findings), so sloppy code
  (unused imports, undefined names) loses a little, never more than down to ``lint_floor``.
* speed = 1.0 when the median latency per test call is at most ``latency_fast_s``; slower code
  gets 1 / (1 + log10(latency / latency_fast_s)), so each tenfold slowdown costs about as much
  as the one before; no latency measured (nothing passed) gives 0.
* coverage = share of the function body's lines (not the def line or docstring) the tests ran;
  untested code cannot earn a high score. Coverage that was not measured (None: no
  ``coverage`` module, or no time left for it) is not 0: it stays None and is left out.
* fitness = quality × speed × coverage (quality × speed when coverage is None), capped by the
  evidence (``credibility.evidence``: a function no trusted test checks stays below the "done"
  bars however many model tests it passes), rounded to 4 places.

The tuning numbers live in ``ScoringConfig`` (``[scoring]`` in dise.toml).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dise.config import ScoringConfig
from dise.engine import credibility
from dise.engine.types import RunReport, TestCase

#: Decimal places kept in stored scores.
PLACES = 4


@dataclass
class Scores:
    quality: float
    speed: float
    coverage: float | None
    fitness: float
    lint_factor: float
    #: ``credibility.Evidence.to_dict()``: trusted tests run/passed, the cap applied.
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def trusted_failed(self) -> int:
        """Trusted tests (the user's) the candidate failed."""
        return int(self.evidence.get("trusted_total", 0)) - int(
            self.evidence.get("trusted_passed", 0))


def lint_factor(findings: int, cfg: ScoringConfig) -> float:
    """Quality multiplier for ``findings`` pyflakes messages."""
    return max(cfg.lint_floor, 1.0 - cfg.lint_penalty * findings)


def speed_score(latency: float | None, cfg: ScoringConfig) -> float:
    """1.0 up to ``latency_fast_s``, then 1 / (1 + log10(latency / latency_fast_s)); None → 0."""
    if latency is None:
        return 0.0
    if latency <= cfg.latency_fast_s:
        return 1.0
    return 1.0 / (1.0 + math.log10(latency / cfg.latency_fast_s))


def weighted_pass_rate(report: RunReport, tests: Sequence[TestCase] | None) -> float:
    """Share of the test weight the run passed (unweighted without ``tests`` or when they do
    not line up with the results)."""
    if report.load_error or report.total == 0:
        return 0.0
    if tests is None or len(tests) != len(report.results):
        return report.passed / report.total
    # A test not runnable in this context weighs nothing (neither passed nor failed).
    weights = [credibility.weight(t) if r.runnable else 0.0
               for t, r in zip(tests, report.results)]
    total = sum(weights)
    if total <= 0:
        return 0.0
    return sum(w for w, r in zip(weights, report.results) if r.passed) / total


def score(report: RunReport, cfg: ScoringConfig,
          tests: Sequence[TestCase] | None = None) -> Scores:
    """Scores for one sandbox run of ``tests`` (see the module docstring for the formula).

    Without ``tests`` every result weighs 1 and there is no evidence cap (old callers)."""
    factor = lint_factor(len(report.lint), cfg)
    quality = weighted_pass_rate(report, tests) * factor
    speed = speed_score(report.latency, cfg)
    if report.coverage is None:     # not measured: re-weighted out, never counted as 0 %
        coverage, fitness = None, quality * speed
    else:
        coverage = round(min(max(report.coverage, 0.0), 1.0), PLACES)
        fitness = quality * speed * coverage
    evidence: dict[str, Any] = {}
    if tests is not None:
        runnable = [(t, r) for t, r in zip(tests, report.results) if r.runnable] \
            if len(tests) == len(report.results) else list(zip(tests, report.results))
        passed = [r.passed and not report.load_error for _, r in runnable]
        ev = credibility.evidence([t for t, _ in runnable], passed)
        fitness = min(fitness, ev.cap)
        evidence = ev.to_dict()
    return Scores(quality=round(quality, PLACES), speed=round(speed, PLACES),
                  coverage=coverage, fitness=round(fitness, PLACES),
                  lint_factor=round(factor, PLACES), evidence=evidence)
