"""Judging a candidate: run its tests (in the user's file when it came from one) and rank it.

``run_in_context`` runs a candidate's tests, inside the stub's file context when there is one;
a ``Candidate`` is code with its ``RunReport`` and ranks by loading, the user's tests passed,
the credibility-weighted pass rate, then lint. ``repair_view`` and ``needs_repair`` say what
the fixers may repair toward (never a model test a trusted test contradicts). Phase 1
(``dise.engine.pipeline``) and Phase 2 (``dise.optimize.experiments``) both judge with these.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from dise.config import Config
from dise.engine import credibility, scoring
from dise.engine.types import CancelToken, DiseError, RunReport, TestCase
from dise.sandbox import run_candidate

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    code: str
    report: RunReport
    origin: str
    fixes: list[str] = field(default_factory=list)
    #: The tests the report is for (aligned by index); with them, ranking weighs the user's
    #: tests first and the model's by credibility.
    tests: list[TestCase] | None = None
    #: Sampling temperature and seed when they differ from the generator's (a best-of-k
    #: sample, ``dise.engine.best_of_k``); None: the request generator's own.
    temperature: float | None = None
    seed: int | None = None
    #: The generator and model label when another generator than the request's made it.
    generator: str | None = None
    model: str | None = None

    def rank(self) -> tuple[int, int, float, int]:
        """Loads, then trusted tests passed, then weighted pass rate, then fewer lint."""
        report = self.report
        trusted = sum(r.passed for r, t in zip(report.results, self.tests or [])
                      if t.trusted) if self.tests else 0
        weighted = round(scoring.weighted_pass_rate(report, self.tests), 6) \
            if self.tests else report.passed
        return (0 if report.load_error else 1, trusted, weighted, -len(report.lint))


def repair_view(report: RunReport, tests: list[TestCase] | None) -> RunReport:
    """``report`` as the fixers may see it: without the failures of model tests that are not
    to be repaired toward (``credibility.repairable``: a trusted test contradicts them)."""
    if not tests or len(tests) != len(report.results):
        return report
    keep = [r for r, t in zip(report.results, tests) if r.passed or credibility.repairable(t)]
    return dataclasses.replace(report, results=keep)


def needs_repair(report: RunReport, tests: list[TestCase] | None) -> bool:
    """Something worth fixing: it does not load, or a test it may be repaired toward fails."""
    if report.load_error or report.total == 0:
        return True
    return bool(repair_view(report, tests).failures(1))


def trusted_failures(report: RunReport, tests: list[TestCase], limit: int = 5) -> list[str]:
    """``code -> error`` of the user's tests the run failed (at most ``limit``), for messages."""
    out = []
    for result, test in zip(report.results, tests):
        if test.trusted and not result.passed:
            shown = test.source or test.call or test.code.splitlines()[-1]
            error = result.error or report.load_error
            # the sandbox's "assert f(2) == 5 failed: …" already names the test
            out.append(error if error.startswith(f"{shown} failed: ") else f"{shown} -> {error}")
    return out[:limit]


def run_in_context(ctx, code: str, name: str, tests: list[TestCase], cfg: Config,
                   cancel: CancelToken | None = None) -> RunReport:
    """Run ``tests`` against ``code``; with ``ctx`` (a ``context.StubContext``) the candidate
    is tested inside the user's file, cut down to what it needs (``StubContext.compose``: a
    method in its class), and lint is kept to its own lines. Phase 1 and Phase 2 both judge
    with this. Falls back to the candidate alone when it cannot be spliced."""
    if not code.strip():
        return RunReport(load_error="no code")
    composed = None
    if ctx is not None:
        try:
            composed = ctx.compose(code, tests)
        except DiseError as exc:  # e.g. no such function: the plain run says why
            log.debug("not tested in context: %s", exc)
    if composed is None:
        return run_candidate(code, name, tests, cfg.sandbox, cancel=cancel)
    report = run_candidate(composed.module, name, tests, cfg.sandbox, cancel=cancel)
    report.lint = ctx.lint_filter(report.lint, composed.span)
    return report
