"""Running one Phase 2 experiment: generate with a ``Variant``, judge it, return an ``Outcome``.

Every variant of a node is judged the same way as Phase 1 judged the node: its frozen tests in
the sandbox, the deterministic auto-fixes, then ``scoring.score``. The approaches:

* ``plain``: the Phase 1 prompt, auto-fixes, no model repair;
* ``repair``: as plain, then up to ``repair_rounds`` model repair rounds shown the failing tests;
* ``few_shot`` / ``few_shot+repair``: the same with retrieved verified functions as examples.
  Retrieval (``dise.engine.retrieval``) is optional: when it cannot run, or finds nothing
  similar, the few-shot variants are dropped with a note and the rest go on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from dise.config import Config
from dise.engine import autofix, candidates, context, extract, prompts, reshape, scoring
from dise.engine.sourcefile import read_source
from dise.engine.types import (
    Artifact,
    Cancelled,
    CancelToken,
    DiseError,
    FunctionSpec,
    Request,
    RunReport,
    TestCase,
)
from dise.optimize.pool import backend_for
from dise.optimize.variants import Outcome, Variant

log = logging.getLogger(__name__)


# -- few-shot examples ----------------------------------------------------------------------
class ExampleSource:
    """Few-shot examples from the engine's retrieval memory (``Engine.memory``), opened once
    per engine since the embedding model is costly to load. Any failure means "no examples".
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._reason = ""

    def _open(self) -> Any:
        try:
            return self.engine.memory
        except Exception as exc:  # noqa: BLE001 - an optional part: failure = none
            self._reason = f"retrieval unavailable ({type(exc).__name__}: {exc})"
            return None

    def examples(self, artifact: Artifact, k: int) -> tuple[list[list[str]], str]:
        """Up to ``k`` (request, code) pairs for ``artifact``'s request, and a note when none."""
        memory = self._open()
        if memory is None:
            return [], f"few-shot off: {self._reason or 'retrieval unavailable'}"
        try:
            if not memory.ready():
                return [], f"few-shot off: {getattr(memory, 'reason', '') or 'retrieval off'}"
            pairs = memory.examples(artifact.prompt, k=k + 2)
        except Exception as exc:  # noqa: BLE001
            log.warning("few-shot retrieval failed: %s", exc)
            return [], f"few-shot off: retrieval failed ({type(exc).__name__}: {exc})"
        own = artifact.prompt.strip()
        chosen = [[p, c] for p, c in pairs if p.strip() != own and artifact.code.strip()
                  != c.strip()][:k]
        if not chosen:
            return [], "few-shot off: no similar verified function in the store"
        return chosen, ""


# -- running one variant --------------------------------------------------------------------
def request_for(artifact: Artifact, tests: Sequence[TestCase]) -> tuple[Request, FunctionSpec]:
    """The Phase 1 request and spec, rebuilt from the stored artifact and its frozen tests.

    A function Phase 1 wrote into a file keeps its context: the file as it is now, with the
    function emptied back to its stub (``reshape.restub``), is the request's ``file_source``,
    so the prompt shows its class, imports and helpers and ``context_for`` tests each
    candidate there. A file that is gone or no longer holds the function gives the bare
    request, as before."""
    signature = str(artifact.extra.get("signature") or "")
    path = str(artifact.extra.get("file") or "")
    request = Request(text=artifact.prompt, asserts=[t.code for t in tests if t.kind == "given"],
                      file_path=path)
    spec = FunctionSpec(name=artifact.function_name, signature=signature,
                        docstring=artifact.prompt)
    qualname = [p for p in str(artifact.extra.get("context") or "").split(".") if p]
    if path and signature and qualname:
        try:
            source = read_source(path).text
        except (OSError, DiseError):
            source = ""
        stubbed = reshape.restub(source, qualname) if source else None
        ctx = context.locate(stubbed or "", spec)
        if ctx is not None:
            request.file_source = stubbed
            spec = ctx.stub.spec
    return request, spec


def context_for(request: Request, spec: FunctionSpec):
    """The ``context.StubContext`` candidates of ``request`` are tested in, or None."""
    return prompts.stub_context(request, spec) if request.file_source else None


def _kinds(report: RunReport) -> dict[str, list[int]]:
    kinds: dict[str, list[int]] = {}
    for result in report.results:
        if not result.runnable:
            continue
        entry = kinds.setdefault(result.kind, [0, 0])
        entry[0] += int(result.passed)
        entry[1] += 1
    return kinds


def measure(code: str, function_name: str, tests: Sequence[TestCase], cfg: Config,
            cancel: CancelToken | None = None, ctx=None) -> tuple[RunReport, scoring.Scores]:
    """Run ``code`` on ``tests`` in the sandbox and score it, exactly as Phase 1 does (in the
    user's file with ``ctx``, ``context_for``)."""
    report = candidates.run_in_context(ctx, code, function_name, list(tests), cfg, cancel)
    return report, scoring.score(report, cfg.scoring, list(tests))


def outcome_of(variant: Variant, best: candidates.Candidate, cfg: Config, **extra: Any) -> Outcome:
    scores = scoring.score(best.report, cfg.scoring, best.tests)
    report = best.report
    return Outcome(variant=variant.to_dict(), code=best.code, fitness=scores.fitness,
                   scores=scores.to_dict(), passed=report.passed, total=report.total,
                   test_kinds=_kinds(report), latency=report.latency, coverage=scores.coverage,
                   lint=list(report.lint), load_error=report.load_error, killed=report.killed,
                   failures=[f"{f.code} -> {f.error}" for f in report.failures()],
                   origin=best.origin, tools=list(best.fixes), isolation=report.isolation,
                   verdicts=[] if report.load_error else [r.passed for r in report.results],
                   **extra)


def run_variant(engine: Any, artifact: Artifact, tests: Sequence[TestCase], variant: Variant,
                *, examples: Sequence[Sequence[str]] = (), repair_rounds: int = 1,
                cancel: CancelToken | None = None) -> Outcome:
    """Generate with ``variant`` and judge the result on ``tests``.

    Raises ``Cancelled``; any other failure of the model layer comes back as an ``Outcome``
    with ``error`` set, so one broken generator does not end the run.
    """
    cfg: Config = engine.cfg
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    request, spec = request_for(artifact, tests)
    ctx = context_for(request, spec)
    try:
        gen = dataclasses.replace(cfg.generator(variant.generator),
                                  temperature=variant.temperature)
        if variant.seed:
            gen = dataclasses.replace(gen, seed=variant.seed)
        backend = backend_for(engine, gen, cfg)
        shots = [(p, c) for p, c in examples] if variant.few_shot else None
        raw = backend.generate(prompts.generation_messages(request, spec, shots),
                               temperature=gen.temperature, max_tokens=gen.max_tokens,
                               seed=gen.seed, cancel=cancel)
        generation_time = time.perf_counter() - started
        code = _only_function(extract.extract_code(raw, spec.name).code, spec, ctx)
        best = _fix_and_repair(code, raw, request, spec, list(tests), backend, gen, cfg,
                               repair_rounds if variant.repair else 0, cancel, ctx)
        if ctx is not None:  # tested with the imports the splice adds: keep them
            best.code = ctx.with_forgotten_imports(best.code)
    except Cancelled:
        raise
    except DiseError as exc:
        return Outcome(variant=variant.to_dict(), error=str(exc),
                       seconds=round(time.perf_counter() - started, 3))
    tools = [f"phase 2: {variant.key}" + (f" with {len(shots)} examples" if shots else "")]
    outcome = outcome_of(variant, best, cfg, model=backend.model_label, backend=backend.name,
                         generation_time=round(generation_time, 3),
                         seconds=round(time.perf_counter() - started, 3))
    outcome.tools = tools + outcome.tools
    return outcome


def _only_function(code: str, spec: FunctionSpec, ctx) -> str:
    """For a method, the method alone even when the model answered with its whole class."""
    return reshape.only_function(code, spec.name) if code and ctx is not None and \
        ctx.kind == "method" else code


def _fix_and_repair(code: str, raw: str, request: Request, spec: FunctionSpec,
                    tests: list[TestCase], backend: Any, gen: Any, cfg: Config,
                    repair_rounds: int, cancel: CancelToken, ctx=None) -> candidates.Candidate:
    """Phase 1's test → auto-fix → repair loop, with the repair rounds the approach allows."""
    def judge(source: str, origin: str, fixes: list[str] | None = None) -> candidates.Candidate:
        report, _ = measure(source, spec.name, tests, cfg, cancel, ctx)
        return candidates.Candidate(source, report, origin, list(fixes or []), tests=tests)

    best = judge(code, "model")
    if not candidates.needs_repair(best.report, tests):
        return best
    fixed = autofix.autofix(code or raw, spec.name, candidates.repair_view(best.report, tests),
                            budget_s=cfg.pipeline.autofix_budget_s)
    if fixed.fixes and fixed.code.strip() and fixed.code != code:
        cand = judge(fixed.code, "autofix", fixed.fixes)
        if cand.rank() >= best.rank():
            best = cand
    for _ in range(repair_rounds):
        if not candidates.needs_repair(best.report, tests):
            break
        cancel.raise_if_cancelled()
        # never toward a model test the user's tests contradict (credibility 0)
        messages = prompts.repair_messages(request, spec, best.code or raw,
                                           candidates.repair_view(best.report, tests))
        answer = backend.generate(messages, temperature=gen.temperature,
                                  max_tokens=gen.max_tokens, seed=gen.seed, cancel=cancel)
        repaired = _only_function(extract.extract_code(answer, spec.name).code, spec, ctx)
        repaired = autofix.autofix(repaired, spec.name, None).code if repaired else ""
        if repaired:
            cand = judge(repaired, "repair", best.fixes + ["model repair round"])
            if cand.rank() > best.rank():
                best = cand
    return best
