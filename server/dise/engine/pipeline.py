"""Phase 1 of one request: sentinel → tests → generate → sandboxed tests → fix → score → store.

``Run`` holds one request's timings and state so each stage stays a small method: it
classifies the request (``sentinel``), collects tests (``testgen``), recalls or generates
(``dise.engine.recall``), tests each candidate in its file context, autofixes, lets the model
repair with the test output (``_test_and_fix``), scores and stores (``dise.engine.saving``).
``dise.engine.core.Engine.generate`` makes one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dise.config import GeneratorConfig
from dise.engine import (
    autofix,
    credibility,
    examples,
    extract,
    prompts,
    reshape,
    scoring,
    sentinel,
    stubs,
    testgen,
)
from dise.engine.best_of_k import BestOfKSteps, fails_trusted
from dise.engine.candidates import Candidate, needs_repair, repair_view, run_in_context
from dise.engine.recall import RecallSteps
from dise.engine.request_names import apply_signature
from dise.engine.request_spec import spec_for, validate_request
from dise.engine.saving import SavingSteps
from dise.engine.types import (
    Artifact,
    CancelToken,
    DiseError,
    FunctionSpec,
    ProgressFn,
    Request,
    RunReport,
    TestCase,
)
from dise.text import count_noun

if TYPE_CHECKING:
    from dise.engine.core import Engine


class GenerationFailed(DiseError):
    """The model gave nothing usable; ``raw`` keeps what it said, for the log."""

    def __init__(self, message: str, raw: str = "", tests: list[TestCase] | None = None,
                 node_id: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        #: The request's tests, so the failure can be kept (``Run.keep_failed``).
        self.tests = list(tests or [])
        #: The node the failed request was stored as ("" when it was not).
        self.node_id = node_id


class Run(RecallSteps, BestOfKSteps, SavingSteps):
    """One Phase 1 request: holds its timings so stages stay small functions."""

    def __init__(self, engine: Engine, request: Request, progress: ProgressFn,
                 cancel: CancelToken) -> None:
        self.engine, self.cfg, self.request = engine, engine.cfg, request
        self.progress, self.cancel = progress, cancel
        self.times: dict[str, float] = {}
        self.started = time.perf_counter()  # execute() resets it: the request's wall time
        self.tools: list[str] = []
        self.found = examples.ExampleReport()
        #: The first, independently generated candidate (it votes on the model's tests).
        self.first: Candidate | None = None
        #: The store's registry records, once read (``BestOfKSteps._registry_records``).
        self._records: list[dict] | None = None
        #: Best-of-k samples drawn for this request (``BestOfKSteps._best_of_k``).
        self.samples_drawn = 0
        #: Sampling stopped on a sample failing as an earlier answer did: the repair follows.
        self.samples_agreed = False

    @contextmanager
    def stage(self, name: str, message: str) -> Iterator[None]:
        self.cancel.raise_if_cancelled()
        self.progress(name, message)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - start

    def execute(self) -> Artifact:
        request, cfg = self.request, self.cfg
        validate_request(request)
        started = self.started = time.perf_counter()
        with self.stage("sentinel", "understanding the request…"):
            text = request.text or (request.spec.docstring if request.spec else "")
            cls = sentinel.classify(text or (request.spec.name if request.spec else ""))
        budget = (cfg.pipeline.interactive_budget_s if cls.intent == "interactive"
                  else cfg.pipeline.batch_budget_s)
        self.deadline, self.budget_s = started + budget, budget
        spec = spec_for(request, cls.function_name_hint)
        self.task_type = cls.task_type
        gen, why = self.engine.choose_generator(request, cls.task_type)
        backend = self.engine.backend(gen)
        self.tools.append(f"generator {gen.name} ({why})")
        self.few_shot_k = self._learned_few_shot(cls.task_type) if why.startswith("registry") \
            else cfg.retrieval.few_shot_k

        self.ctx = prompts.stub_context(request, spec) if spec.signature else None
        if self.ctx is not None and self.ctx.kind != "function":
            where = ".".join(self.ctx.qualname[:-1])
            self.tools.append(f"tested in its context ({self.ctx.kind} of {where})")
        self.not_runnable: dict[str, TestCase] = {}
        with self.stage("tests", "collecting tests…"):
            self.found = examples.ExampleReport()
            tests = testgen.derive_tests(request, spec, found=self.found)
            if self.found.contradictions:
                self.progress("tests", "contradictory examples, not used: "
                              + "; ".join(self.found.contradictions))
            if self.found.skipped:
                self.tools.append(f"{len(self.found.skipped)} example line(s) skipped: "
                                  "no known notation")

        tests = self._runnable(tests)

        warm = self.engine._memory is not None and self.engine._memory.loaded
        if self.few_shot_k > 0 or warm:  # the prompt needs the examples, or recall is cheap
            reused, shots = self._recall(text, spec, tests)
            if reused is not None:
                best, tests = reused
                self.generation_time = 0.0
            else:
                try:
                    best, tests = self._generate(request, spec, tests, gen, backend, shots)
                except GenerationFailed as exc:
                    raise self.keep_failed(request, spec, cls, gen, backend, exc) from None
        else:
            try:
                best, tests = self._generate_while_recalling(text, request, spec, tests, gen,
                                                             backend)
            except GenerationFailed as exc:
                raise self.keep_failed(request, spec, cls, gen, backend, exc) from None

        with self.stage("score", "scoring…"):
            scores = scoring.score(best.report, cfg.scoring, tests)
        with self.stage("store", "storing…"):
            artifact = self._store(request, spec, cls, gen, backend, best, tests, scores)
            if self.memory is not None:
                self.memory.on_saved(artifact)
        artifact.stage_times = self.stage_times()
        self.progress("done", f"fitness {artifact.fitness_score:.2f}")
        return artifact

    def _generate(self, request: Request, spec: FunctionSpec, tests: list[TestCase],
                  gen: GeneratorConfig, backend, examples: list[tuple[str, str]],
                  cascade: bool = True) -> tuple[Candidate, list[TestCase]]:
        """Ask the model, derive the tests that need its signature, then test and fix; a first
        answer that fails the user's tests may go to a stronger generator first (``_cascade``).

        With a known signature the model's tests are written while it generates when the
        backend serves two requests at once (``backend.concurrent``: Ollama; llama.cpp runs
        one request per model at a time, so there it stays sequential)."""
        ahead = None
        if spec.signature and len(tests) < self.cfg.pipeline.min_derived_tests \
                and getattr(backend, "concurrent", False):
            ahead = _Background(lambda: self._model_tests(backend, gen, request, spec))
        with self.stage("generation", f"generating with {gen.name}…"):
            messages = prompts.generation_messages(request, spec, examples, self.ctx)
            raw = backend.generate(messages, temperature=gen.temperature,
                                   max_tokens=prompts.answer_tokens(gen.max_tokens, spec),
                                   seed=gen.seed, cancel=self.cancel)
        self.generation_time = self.times["generation"]
        extracted = extract.extract_code(raw, spec.name)
        code = self._code_of(raw, spec, extracted)
        if cascade:
            escalated = self._cascade(request, spec, tests, gen, code, examples)
            if escalated is not None:
                return escalated
        # Free text: smoke tests and model-written tests follow the signature the model chose.
        test_spec = spec if spec.signature else (stubs.spec_of(code, spec.name) or spec)
        if test_spec is not spec:
            tests = testgen.dedupe(tests + testgen.smoke_tests(test_spec))
        if ahead is not None:
            with self.stage("test_writing", "writing tests…"):
                tests += ahead.result()
        elif len(tests) < self.cfg.pipeline.min_derived_tests:
            if not self._fits(0.0):  # the answer alone overran the budget (a loaded machine)
                self.tools.append(f"model tests skipped: the {self.budget_s:.0f} s budget is spent")
            else:
                with self.stage("test_writing", "writing tests…"):
                    tests += self._model_tests(backend, gen, request, test_spec)
        tests = credibility.assess(self._runnable(tests))
        contradicted = sum(t.credibility == 0.0 for t in tests if t.kind == "model")
        if contradicted:
            self.tools.append(f"{contradicted} model test(s) contradict your examples: "
                              "weight 0, never repaired toward")

        best = self._test_and_fix(code, raw, spec, tests, backend, gen)
        if not best.code.strip() and "no answer after the reasoning" in extracted.notes:
            raise GenerationFailed(
                f"{gen.name} answered with reasoning only (it stopped before giving an "
                f"answer), so there is no code for {spec.name!r}: raise its max_tokens in "
                "dise.toml or try another generator.", raw=raw)
        if not best.code.strip():
            raise GenerationFailed(
                f"{gen.name} returned no usable Python code for {spec.name!r}: rephrase the "
                "request or try a stronger generator (--generator qwen-1.5b).", raw=raw,
                tests=tests)
        return best, tests

    def _cascade(self, request: Request, spec: FunctionSpec, tests: list[TestCase],
                 gen: GeneratorConfig, code: str, examples: list[tuple[str, str]]
                 ) -> tuple[Candidate, list[TestCase]] | None:
        """The learned generator's whole Phase 1 when ``gen``'s first answer fails a user test
        (``BestOfKSteps._cascade_target``), keeping ``gen``'s answer if it passes more of them.
        None: no cascade, or the other generator gave no code (``gen``'s run goes on)."""
        target = self._cascade_target(code, spec, tests, gen)
        if target is None:
            return None
        other, backend, first, plan = target
        taken = self.generation_time
        self.progress("generation", f"your examples fail: asking {other.name}…")
        self.tools.append(f"cascade: {gen.name}'s answer failed your tests, so {other.name} "
                          f"answered ({plan.reason})")
        try:
            best, tests = self._generate(request, spec, tests, other, backend, examples,
                                         cascade=False)
        except GenerationFailed:
            self.tools.append(f"cascade: {other.name} gave no usable code; {gen.name}'s "
                              "answer goes on")
            self.generation_time = taken
            return None
        best.generator, best.model = best.generator or other.name, best.model or backend.model_label
        if best.temperature is None:
            best.temperature = other.temperature
        if fails_trusted(best, tests) and first.code.strip():
            mine = Candidate(first.code, self._run(first.code, spec, tests), first.origin,
                             first.fixes, tests=tests, temperature=gen.temperature)
            if mine.rank() > best.rank():
                self.tools.append(f"cascade: kept {gen.name}'s answer: it passes more of "
                                  "your tests")
                best = mine
        return best, tests

    def keep_failed(self, request: Request, spec: FunctionSpec, cls, gen: GeneratorConfig,
                    backend, exc: GenerationFailed) -> GenerationFailed:
        """Nothing is lost: store the failed request as a node (no code, its request and
        tests, ``extra["failed"]``, fitness 0) queued at high priority for Phase 2, and return
        the error to raise, which names the node."""
        self.failed = str(exc)
        self.generation_time = self.times.get("generation", 0.0)
        best = Candidate("", RunReport(load_error="no usable code from the model"), "failed")
        scores = scoring.score(best.report, self.cfg.scoring, exc.tests)
        artifact = self._store(request, spec, cls, gen, backend, best, exc.tests, scores)
        self.engine.store.enqueue(artifact.node_id, "high",
                                  "phase 1 failed: no usable code from the model")
        return GenerationFailed(f"{exc} Kept as {artifact.node_id} (failed) and queued for "
                                "background optimisation.", raw=exc.raw, tests=exc.tests,
                                node_id=artifact.node_id)

    def _model_tests(self, backend, gen: GeneratorConfig, request: Request,
                     spec: FunctionSpec) -> list[TestCase]:
        limit = self.cfg.pipeline.model_tests_max
        messages = testgen.tests_prompt(spec, request.text, limit)
        answer = backend.generate(messages, temperature=0.0, max_tokens=gen.max_tokens,
                                  seed=gen.seed, cancel=self.cancel)
        found = testgen.model_tests(answer, spec.name, limit)
        self.tools.append(f"model wrote {len(found)} tests")
        return found

    def _runnable(self, tests: list[TestCase]) -> list[TestCase]:
        """``tests`` without those that cannot run in the stub's context (they call a nested
        function that needs its enclosing scope); those are kept in ``self.not_runnable``."""
        if self.ctx is None:
            return tests
        runnable, skipped = self.ctx.split_runnable(tests)
        for test in skipped:
            self.not_runnable[test.code] = test
        return runnable

    def _code_of(self, raw: str, spec: FunctionSpec, extracted=None) -> str:
        """The function in a generation answer, with the signature the request gave."""
        extracted = extracted or extract.extract_code(raw, spec.name)
        code = self._only_function(extracted.code, spec)
        if code and spec.signature and not (self.request.spec and self.request.spec.name):
            code = apply_signature(code, spec)  # the signature the request itself gave
        return code

    def _extract(self, raw: str, spec: FunctionSpec) -> str:
        """The code in a model answer; for a method, only the method (never a class copy)."""
        return self._only_function(extract.extract_code(raw, spec.name).code, spec)

    def _only_function(self, code: str, spec: FunctionSpec) -> str:
        if code and self.ctx is not None and self.ctx.kind == "method":
            code = reshape.only_function(code, spec.name)
        return code

    def _run(self, code: str, spec: FunctionSpec, tests: list[TestCase]) -> RunReport:
        """Run ``tests`` against ``code``; a stub from a file is tested in its context (its
        class, imports and helpers). Tests that cannot run there are set aside as not
        runnable by ``_runnable`` before any run, never counted as failed."""
        # ``tests`` stay aligned with the report: the not-runnable ones were set aside before
        return run_in_context(self.ctx, code, spec.name, tests, self.cfg, self.cancel)

    def _fits(self, seconds: float) -> bool:
        """Whether a step like one that took ``seconds`` fits in the budget left (×1.5)."""
        return self.deadline - time.perf_counter() >= seconds * 1.5

    def _autofixed(self, best: Candidate, source: str, spec: FunctionSpec,
                   tests: list[TestCase]) -> Candidate:
        """``best``, or ``source`` autofixed against ``best``'s failures (those the fixers may
        see, ``repair_view``) when that runs at least as well on ``tests``."""
        fixed = autofix.autofix(source, spec.name, repair_view(best.report, tests),
                                budget_s=self.cfg.pipeline.autofix_budget_s)
        if fixed.fixes and fixed.code.strip() and fixed.code != best.code:
            cand = Candidate(fixed.code, self._run(fixed.code, spec, tests), "autofix",
                             fixed.fixes, tests=tests)
            if cand.rank() >= best.rank():
                return cand
        return best

    def _test_and_fix(self, code: str, raw: str, spec: FunctionSpec, tests: list[TestCase],
                      backend, gen: GeneratorConfig) -> Candidate:
        with self.stage("tests", f"testing against {count_noun(len(tests), 'test')}…"):
            best = self.first = Candidate(code, self._run(code, spec, tests), "model",
                                          tests=tests)
        if not needs_repair(best.report, tests):
            return best

        with self.stage("fix", "fixing…"):
            fixed = self._autofixed(best, code or raw, spec, tests)
            if fixed is not best:
                best = fixed
                self.tools.extend(fixed.fixes)
        # Samples first: at an equal budget resampling does as well as self-repair for models
        # this size (Olausson et al., 2023), and a repair costs 1.7 samples here (a new prompt
        # to read). Samples that each failed their own way take the repair's place; sampling
        # stopped by one failing like an earlier answer (the model keeps its reading) is
        # followed by the repair, which shows the model what its code did: skipping it lost
        # Mbpp/398, 410, 294 to the single arm (bench/phase2.py pass B, seeds 2026, 5151).
        # Still failing: queued for Phase 2. With no samples drawn the repair runs.
        best = self._best_of_k(best, spec, tests, backend, gen)
        if not needs_repair(best.report, tests):
            return best
        if self.samples_drawn and not self.samples_agreed and fails_trusted(best, tests):
            self.tools.append("repair skipped: the samples took its place; the function is "
                              "queued for background optimisation")
            return best

        for _ in range(self.cfg.pipeline.repair_rounds):
            if not self._fits(self.generation_time):
                self.tools.append("repair skipped: it would not fit in the time left of the "
                                  f"request's {self.budget_s:.0f} s budget")
                break
            with self.stage("repair", "repairing with the test output…"):
                messages = prompts.repair_messages(
                    self.request, spec, best.code or extract.strip_reasoning(raw)[0],
                    repair_view(best.report, tests))
                answer = backend.generate(messages, temperature=gen.temperature,
                                          max_tokens=prompts.answer_tokens(gen.max_tokens, spec),
                                          seed=gen.seed, cancel=self.cancel)
                repaired = self._extract(answer, spec)
                repaired = autofix.autofix(repaired, spec.name, None).code if repaired else ""
                cand = Candidate(repaired, self._run(repaired, spec, tests), "repair",
                                 tests=tests)
                if repaired and cand.rank() > best.rank():
                    best = cand
                    self.tools.append("model repair round")
                else:
                    self.tools.append("model repair round: no better answer")
            if not needs_repair(best.report, tests):
                break
        return best


class _Background:
    """``fn()`` in a daemon thread; ``result()`` waits and re-raises its error."""

    def __init__(self, fn) -> None:
        self._box: dict = {}
        self._thread = threading.Thread(target=self._work, args=(fn,), daemon=True,
                                        name="dise-background")
        self._thread.start()

    def _work(self, fn) -> None:
        try:
            self._box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in result()
            self._box["error"] = exc

    def result(self):
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]
