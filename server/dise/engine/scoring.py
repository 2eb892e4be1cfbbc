"""How a candidate is scored: fitness = quality × speed × coverage (each 0..1).

* quality = passed / total tests × lint_factor; 0 when the code did not load or has no tests.
  lint_factor = max(lint_floor, 1 − lint_penalty × number of pyflakes findings), so sloppy code
  (unused imports, undefined names) loses a little, never more than down to ``lint_floor``.
* speed = 1.0 when the median latency per test call is at most ``latency_fast_s``; slower code
  gets 1 / (1 + log10(latency / latency_fast_s)), so each tenfold slowdown costs about as much
  as the one before; no latency measured (nothing passed) gives 0.
* coverage = share of the function body's lines (not the def line or docstring) the tests ran;
  untested code cannot earn a high score.
* fitness = quality × speed × coverage, rounded to 4 places.

The tuning numbers live in ``ScoringConfig`` (``[scoring]`` in dise.toml).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from dise.config import ScoringConfig
from dise.engine.types import RunReport

#: Decimal places kept in stored scores.
PLACES = 4


@dataclass
class Scores:
    quality: float
    speed: float
    coverage: float
    fitness: float
    lint_factor: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


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


def score(report: RunReport, cfg: ScoringConfig) -> Scores:
    """Scores for one sandbox run (see the module docstring for the formula)."""
    factor = lint_factor(len(report.lint), cfg)
    if report.load_error or report.total == 0:
        pass_rate = 0.0
    else:
        pass_rate = report.passed / report.total
    quality = pass_rate * factor
    speed = speed_score(report.latency, cfg)
    coverage = min(max(report.coverage, 0.0), 1.0)
    fitness = quality * speed * coverage
    return Scores(quality=round(quality, PLACES), speed=round(speed, PLACES),
                  coverage=round(coverage, PLACES), fitness=round(fitness, PLACES),
                  lint_factor=round(factor, PLACES))
