"""Phase 1: request → sentinel → generator → generate → sandboxed tests → fix → score → store.

``Engine`` is the one API every face calls (CLI, language server, benchmarks). It is
synchronous and thread-safe: faces run it in a worker thread and pass a ``ProgressFn``
and a ``CancelToken``.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dise.config import Config, GeneratorConfig, load_config
from dise.engine import (
    autofix,
    context,
    credibility,
    examples,
    extract,
    prompts,
    scoring,
    sentinel,
    stubs,
    testgen,
)
from dise.engine.request_names import apply_signature, spec_from_text
from dise.engine.types import (
    Artifact,
    Cancelled,
    CancelToken,
    DiseError,
    LinkedToken,
    FunctionSpec,
    ProgressFn,
    Request,
    RunReport,
    TestCase,
)
from dise.llm.select import eligible_generators, resolve_backend
from dise.sandbox import run_candidate
from dise.store import Store, open_store

log = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


class BadRequest(DiseError):
    """The request cannot describe a function."""


class GenerationFailed(DiseError):
    """The model gave nothing usable; ``raw`` keeps what it said, for the log."""

    def __init__(self, message: str, raw: str = "", tests: list[TestCase] | None = None,
                 node_id: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        #: The request's tests, so the failure can be kept (``_Run.keep_failed``).
        self.tests = list(tests or [])
        #: The node the failed request was stored as ("" when it was not).
        self.node_id = node_id


@dataclass
class Candidate:
    code: str
    report: RunReport
    origin: str
    fixes: list[str] = field(default_factory=list)
    #: The tests the report is for (aligned by index); with them, ranking weighs the user's
    #: tests first and the model's by credibility.
    tests: list[TestCase] | None = None

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
            out.append(f"{shown} -> {result.error or report.load_error}")
    return out[:limit]


def validate_request(request: Request) -> None:
    """Reject empty or meaningless requests before any model time is spent."""
    text = (request.text or "").strip()
    if request.spec and request.spec.name:
        return
    if not text:
        raise BadRequest('The request is empty: describe the function, e.g. '
                         'dise generate "check whether a string is a palindrome".')
    if len(text) > 20_000:
        raise BadRequest(f"The request is {len(text):,} characters long: describe one function "
                         "in a few sentences (at most 20,000 characters).")
    if not _WORD.search(text):
        raise BadRequest(f"The request {text[:40]!r} does not describe a function: say what it "
                         'should do, e.g. "reverse the words in a sentence".')


def spec_for(request: Request, name_hint: str) -> FunctionSpec:
    """The function to write: the stub's spec, else the name the given asserts call, else the
    name, signature, parameter names and return type the request itself gives
    ("is_valid_email(s: str) -> bool", "called clamp", "with parameters nums and k"), else
    a name from the naming convention."""
    if request.spec and request.spec.name:
        return request.spec
    for line in request.asserts:
        name = _called_name(line)
        if name:
            named = spec_from_text(request.text, name)
            return named if named is not None and named.name == name else \
                FunctionSpec(name=name, docstring=request.text.strip())
    named = spec_from_text(request.text, name_hint or "generated_function")
    if named is not None:
        return named
    return FunctionSpec(name=name_hint or "generated_function", docstring=request.text.strip())


def _called_name(assert_line: str) -> str:
    try:
        tree = ast.parse(assert_line.strip())
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if not hasattr(builtins, node.func.id):
                return node.func.id
    return ""


#: ``BackendFactory(generator, cfg) -> Backend``: how an engine gets the model for a generator.
BackendFactory = Callable[[GeneratorConfig, Config], Any]


class Engine:
    """Phase 1 over one store. Thread-safe; heavy work happens in the calling thread.

    ``backend_factory`` (default ``dise.llm.select.resolve_backend``) makes the backend for a
    generator; tests and embedders inject a double or another client here. The optimiser's
    experiments use the same factory.
    """

    def __init__(self, cfg: Config | None = None, store: Store | None = None, *,
                 backend_factory: BackendFactory | None = None) -> None:
        self.cfg = cfg or load_config()
        self.backend_factory = backend_factory
        self._store = store
        self._memory = None
        self._store_lock = threading.Lock()

    @property
    def store(self) -> Store:
        """Opened on first use so that starting a face costs no disk work."""
        with self._store_lock:
            if self._store is None:
                self._store = open_store(self.cfg)
            return self._store

    @property
    def memory(self):
        """Retrieval over the store (``dise.engine.retrieval.Memory``), made on first use; the
        embedding model loads on the first query or ``warm_up()``."""
        from dise.engine.retrieval import Memory  # numpy/faiss only when memory is used

        store = self.store  # takes _store_lock itself: call it first
        with self._store_lock:
            if self._memory is None:
                self._memory = Memory(self.cfg, store)
            return self._memory

    @memory.setter
    def memory(self, memory) -> None:
        """Faces and tests may supply their own (e.g. one already warmed up)."""
        self._memory = memory

    def backend(self, gen: GeneratorConfig):
        """The backend that runs ``gen`` (a ``dise.llm.Backend``), from ``backend_factory``."""
        return (self.backend_factory or resolve_backend)(gen, self.cfg)

    # -- generator choice -------------------------------------------------------------
    def choose_generator(self, request: Request, task_type: str) -> tuple[GeneratorConfig, str]:
        """Forced generator, else the registry's best for this task type, else the default.

        Returns the generator and why it was chosen. Generators whose model does not fit in
        the available memory are skipped.
        """
        if request.generator:
            return self.cfg.generator(request.generator), "forced"
        eligible = set(eligible_generators(self.cfg))
        best = self.store.best_generator(task_type)
        if best and best.get("generator") in self.cfg.generators and best["generator"] in eligible:
            gen = self.cfg.generators[best["generator"]]
            if best.get("temperature") is not None:
                gen = dataclasses.replace(gen, temperature=best["temperature"])
            return gen, f"registry best for {task_type}"
        default = self.cfg.generator()
        if default.name in eligible or not eligible:
            return default, "default"
        return self.cfg.generators[min(eligible)], "default does not fit in memory"

    # -- the pipeline -----------------------------------------------------------------
    def generate(self, request: Request, *, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> Artifact:
        """Run Phase 1 for ``request`` and return the stored artifact."""
        run = _Run(self, request, progress or (lambda stage, msg: None), cancel or CancelToken())
        return run.execute()

    def status(self, node_id: str) -> dict:
        """Latest version, lineage and queue position of a node, named by its id or its
        function's name (``NodeNotFoundError``, a DiseError, when neither is stored)."""
        store = self.store
        node_id = store.resolve(node_id)  # a node id or the function's name
        versions = store.versions(node_id)
        return {"latest": versions[-1], "versions": versions,
                "queue_position": store.queue_position(node_id)}


class _Run:
    """One Phase 1 request: holds its timings so stages stay small functions."""

    def __init__(self, engine: Engine, request: Request, progress: ProgressFn,
                 cancel: CancelToken) -> None:
        self.engine, self.cfg, self.request = engine, engine.cfg, request
        self.progress, self.cancel = progress, cancel
        self.times: dict[str, float] = {}
        self.tools: list[str] = []
        self.found = examples.ExampleReport()
        #: The first, independently generated candidate (it votes on the model's tests).
        self.first: Candidate | None = None

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
        started = time.perf_counter()
        with self.stage("sentinel", "understanding the request…"):
            text = request.text or (request.spec.docstring if request.spec else "")
            cls = sentinel.classify(text or (request.spec.name if request.spec else ""))
        budget = (cfg.pipeline.interactive_budget_s if cls.intent == "interactive"
                  else cfg.pipeline.batch_budget_s)
        self.deadline = started + budget
        spec = spec_for(request, cls.function_name_hint)
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
        artifact.stage_times = {k: round(v, 4) for k, v in self.times.items()}
        self.progress("done", f"fitness {artifact.fitness_score:.2f}")
        return artifact

    def _generate_while_recalling(self, text: str, request: Request, spec: FunctionSpec,
                                  tests: list[TestCase], gen: GeneratorConfig, backend
                                  ) -> tuple[Candidate, list[TestCase]]:
        """Generate while the store is searched for a function to reuse (the embedding model
        loads meanwhile, instead of before the generation); a reuse that passes this request's
        tests stops the generation. An empty store loads nothing."""
        if not self.cfg.retrieval.enabled or self.engine.store.count() == 0:
            self.memory = None  # an empty store has nothing to recall: nothing is loaded
            return self._generate(request, spec, tests, gen, backend, [])
        outer = self.cancel
        self.cancel = linked = LinkedToken(outer)
        box: dict = {}

        def recall() -> None:
            try:
                box["reused"], _ = self._recall(text, spec, tests)
                if box["reused"] is not None:
                    linked.cancel()  # the generation is not needed any more
            except BaseException as exc:  # noqa: BLE001 - reported below, in the caller
                box["error"] = exc

        worker = threading.Thread(target=recall, name="dise-recall", daemon=True)
        worker.start()
        failure: DiseError | None = None
        try:
            generated = self._generate(request, spec, tests, gen, backend, [])
        except Cancelled:
            if outer.cancelled:
                raise
            generated = None
        except DiseError as exc:  # e.g. no usable code: a passing reuse still answers
            failure, generated = exc, None
        finally:
            worker.join()
            self.cancel = outer
        if "error" in box and not isinstance(box["error"], Cancelled):
            log.warning("looking for a function to reuse failed: %s", box["error"])
        if box.get("reused") is not None:
            self.generation_time = 0.0  # the stored function is not the model's work now
            return box["reused"]
        if failure is not None:
            raise failure
        if generated is None:  # only the reuse cancels the generation, so this is rare
            return self._generate(request, spec, tests, gen, backend, [])
        return generated

    def _generate(self, request: Request, spec: FunctionSpec, tests: list[TestCase],
                  gen: GeneratorConfig, backend, examples: list[tuple[str, str]]
                  ) -> tuple[Candidate, list[TestCase]]:
        """Ask the model, derive the tests that need its signature, then test and fix.

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
        code = self._only_function(extracted.code, spec)
        if spec.signature and not (request.spec and request.spec.name):
            code = apply_signature(code, spec)  # the signature the request itself gave
        # Free text: smoke tests and model-written tests follow the signature the model chose.
        test_spec = spec if spec.signature else (stubs.spec_of(code, spec.name) or spec)
        if test_spec is not spec:
            tests = testgen.dedupe(tests + testgen.smoke_tests(test_spec))
        if ahead is not None:
            with self.stage("test_writing", "writing tests…"):
                tests += ahead.result()
        elif len(tests) < self.cfg.pipeline.min_derived_tests:
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

    def _recall(self, text: str, spec: FunctionSpec, tests: list[TestCase]
                ) -> tuple[tuple[Candidate, list[TestCase]] | None, list[tuple[str, str]]]:
        """Reuse a near-identical verified function, else few-shot examples (issue 5).

        An empty store has nothing to recall, so the embedding model is not even loaded.
        """
        self.memory = None
        if not self.cfg.retrieval.enabled or self.engine.store.count() == 0:
            return None, []
        with self.stage("retrieval", "looking for verified functions like this one…"):
            self.memory = memory = self.engine.memory
            match = memory.reuse_match(text)
            reused = self._reuse(match, spec, tests) if match else None
            examples = [] if reused else memory.examples(text, k=self.few_shot_k)
        if examples and self.few_shot_k != self.cfg.retrieval.few_shot_k:
            self.tools.append(f"{len(examples)} few-shot examples (learned setup)")
        if memory.reason:  # embedding model not installed: say it once, go on without
            self.progress("retrieval", memory.reason)
            self.tools.append(memory.reason)
        return reused, examples

    def _learned_few_shot(self, task_type: str) -> int:
        """Examples per prompt in the setup Phase 2 learned for this task type (its registry
        tool: ``few_shot_k`` > 0 when a few-shot approach won), else the configured number.
        The learned repair rounds are not applied: Phase 1 always keeps its own repair round,
        since a "plain" win says nothing against repairing."""
        tool = (self.engine.store.best_generator(task_type) or {}).get("tool") or {}
        return max(int(tool.get("few_shot_k") or 0), self.cfg.retrieval.few_shot_k)

    def _reuse(self, match, spec: FunctionSpec, tests: list[TestCase]
               ) -> tuple[Candidate, list[TestCase]] | None:
        """A stored passing artifact for a near-identical request, if it also passes this
        request's own tests (run now, in the sandbox); None otherwise."""
        old = match.artifact
        code = old.code if old.function_name == spec.name else \
            f"{old.code.rstrip()}\n\n\n{spec.name} = {old.function_name}\n"
        if not spec.signature:
            shape = stubs.spec_of(old.code, old.function_name)
            if shape is not None:
                shape = dataclasses.replace(shape, name=spec.name)
                tests = testgen.dedupe(tests + testgen.smoke_tests(shape))
        tests = credibility.assess(tests)
        cand = Candidate(code, self._run(code, spec, tests), f"reused {old.artifact_id}",
                         tests=tests)
        if not cand.report.all_passed:
            self.tools.append(f"not reused {old.artifact_id}: fails this request's tests")
            return None
        self.tools.append(f"reused {old.artifact_id} (similarity {match.score:.2f})")
        return cand, tests

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

    def _extract(self, raw: str, spec: FunctionSpec) -> str:
        """The code in a model answer; for a method, only the method (never a class copy)."""
        return self._only_function(extract.extract_code(raw, spec.name).code, spec)

    def _only_function(self, code: str, spec: FunctionSpec) -> str:
        if code and self.ctx is not None and self.ctx.kind == "method":
            code = context.only_function(code, spec.name)
        return code

    def _run(self, code: str, spec: FunctionSpec, tests: list[TestCase]) -> RunReport:
        """Run ``tests`` against ``code``; a stub from a file is tested in its context (its
        class, imports and helpers). Tests that cannot run there are set aside as not
        runnable by ``_runnable`` before any run, never counted as failed."""
        # ``tests`` stay aligned with the report: the not-runnable ones were set aside before
        return run_in_context(self.ctx, code, spec.name, tests, self.cfg, self.cancel)

    def _test_and_fix(self, code: str, raw: str, spec: FunctionSpec, tests: list[TestCase],
                      backend, gen: GeneratorConfig) -> Candidate:
        with self.stage("tests", f"testing against {len(tests)} tests…"):
            best = self.first = Candidate(code, self._run(code, spec, tests), "model",
                                          tests=tests)
        if not needs_repair(best.report, tests):
            return best

        with self.stage("fix", "fixing…"):
            fixed = autofix.autofix(code or raw, spec.name, repair_view(best.report, tests),
                                    budget_s=self.cfg.pipeline.autofix_budget_s)
            if fixed.fixes and fixed.code.strip() and fixed.code != code:
                cand = Candidate(fixed.code, self._run(fixed.code, spec, tests), "autofix",
                                 fixed.fixes, tests=tests)
                if cand.rank() >= best.rank():
                    best = cand
                    self.tools.extend(fixed.fixes)
        if not needs_repair(best.report, tests):
            return best

        for _ in range(self.cfg.pipeline.repair_rounds):
            remaining = self.deadline - time.perf_counter()
            if remaining < self.generation_time * 1.5:
                self.tools.append("repair skipped: time budget spent")
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
            if not needs_repair(best.report, tests):
                break
        return best

    def _store(self, request: Request, spec: FunctionSpec, cls, gen: GeneratorConfig, backend,
               best: Candidate, tests: list[TestCase], scores) -> Artifact:
        store = self.engine.store
        with store.batch():  # one atomic write for the node, its tests and its queue entry
            return self._save(store, request, spec, cls, gen, backend, best, tests, scores)

    def _save(self, store: Store, request: Request, spec: FunctionSpec, cls, gen, backend,
              best: Candidate, tests: list[TestCase], scores) -> Artifact:
        node_id = store.allocate_node_id(spec.name)
        if self.ctx is not None:  # tested with the imports the splice adds: store them too
            best.code = self.ctx.with_forgotten_imports(best.code)
        imports, _ = autofix.split_imports(best.code)
        report = best.report
        kinds: dict[str, list[int]] = {}
        for result in report.results:
            if not result.runnable:
                continue
            entry = kinds.setdefault(result.kind, [0, 0])
            entry[0] += int(result.passed)
            entry[1] += 1
        artifact = Artifact(
            node_id=node_id, version=1, function_name=spec.name, code=best.code,
            prompt=request.text or spec.docstring, task_type=cls.task_type, intent=cls.intent,
            generator_used=gen.name, model=backend.model_label, backend=backend.name,
            temperature=gen.temperature, generation_time=round(self.generation_time, 3),
            test_passed=report.all_passed, tests_passed=report.passed, tests_total=report.total,
            test_kinds=kinds, quality_score=scores.quality, latency=report.latency,
            coverage=scores.coverage, fitness_score=scores.fitness, tool_usage=self.tools,
            phase="phase1", timestamp=time.time(), tests=[t.to_dict() for t in tests],
            imports=imports, lint=report.lint,
            stage_times={k: round(v, 4) for k, v in self.times.items()},
            extra={"load_error": report.load_error, "killed": report.killed,
                   "isolation": report.isolation,
                   "not_runnable": [f"{r.code} -> {r.error}" for r in report.not_runnable]
                   + [f"{t.code} -> not runnable in context: it calls a nested function "
                      "that needs its enclosing scope" for t in self.not_runnable.values()],
                   "failures": [f"{f.code} -> {f.error}" for f in report.failures()],
                   "evidence": scores.evidence,
                   "trusted_failures": trusted_failures(report, tests),
                   "examples": {"skipped": list(self.found.skipped),
                                "contradictions": list(self.found.contradictions)},
                   "speed": scores.speed, "origin": best.origin,
                   "signature": spec.signature, "file": request.file_path,
                   "context": ".".join(self.ctx.qualname) if self.ctx is not None else "",
                   **({"failed": self.failed} if getattr(self, "failed", "") else {})},
        )
        if self.not_runnable:
            self.tools.append(f"{len(self.not_runnable)} tests not runnable in context "
                              "(they call a nested function that needs its enclosing scope)")
        store.save(artifact)
        first = self.first or best
        frozen, witnesses = tests, []
        if not first.report.load_error and first.code.strip():
            # the first, independent generation votes on the model's tests for later candidates
            frozen = credibility.vote(tests, [r.passed for r in first.report.results])
            witnesses = [credibility.code_id(first.code)]
        store.freeze_tests(node_id, frozen, witnesses=witnesses)
        failed = sum(not r.passed for r, t in zip(report.results, tests) if t.trusted)
        if artifact.fitness_score < self.cfg.pipeline.optimise_below:
            store.enqueue(node_id, "high", f"fitness {artifact.fitness_score:.2f} < "
                          f"{self.cfg.pipeline.optimise_below}")
        elif failed:
            store.enqueue(node_id, "high", f"{failed} of your tests fail")
        return artifact


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
