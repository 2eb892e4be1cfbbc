"""Stage 1 experiments: one variant = a generator, a temperature and a prompt approach.

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
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dise.config import Config, OptimizeConfig
from dise.engine import autofix, candidates, context, core, extract, prompts, reshape, scoring
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

log = logging.getLogger(__name__)

APPROACHES: tuple[str, ...] = ("plain", "repair", "few_shot", "few_shot+repair")
#: Phase 1 generates, auto-fixes and repairs: these approaches repeat it with its own setup.
PHASE1_APPROACHES = ("plain", "repair")


@dataclass(frozen=True)
class Variant:
    """One setup to try: generator, temperature, prompt approach and sampling seed (0: the
    generator's own seed; other seeds matter only above T=0)."""

    generator: str
    temperature: float
    approach: str = "plain"
    seed: int = 0

    @property
    def few_shot(self) -> bool:
        return "few_shot" in self.approach

    @property
    def repair(self) -> bool:
        return "repair" in self.approach

    @property
    def key(self) -> str:
        """``generator@temperature/approach`` (the registry's setup), ``#seed`` when not 0."""
        return f"{self.setup}#{self.seed}" if self.seed else self.setup

    @property
    def setup(self) -> str:
        """``generator@temperature/approach``: what the registry learns (seed left out)."""
        return f"{self.generator}@{self.temperature:g}/{self.approach}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        return cls(str(data["generator"]), round(float(data["temperature"]), 3),
                   str(data.get("approach", "plain")), int(data.get("seed") or 0))


@dataclass
class Outcome:
    """What one experiment produced and how it scored (JSON-able via ``to_dict``)."""

    variant: dict[str, Any]
    code: str = ""
    fitness: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    passed: int = 0
    total: int = 0
    test_kinds: dict[str, list[int]] = field(default_factory=dict)
    latency: float | None = None
    coverage: float | None = None
    lint: list[str] = field(default_factory=list)
    load_error: str = ""
    killed: str = ""
    #: The sandbox's isolation level for this run ("bubblewrap", "namespaces", "process").
    isolation: str = ""
    failures: list[str] = field(default_factory=list)
    origin: str = ""
    tools: list[str] = field(default_factory=list)
    model: str = ""
    backend: str = ""
    generation_time: float = 0.0
    seconds: float = 0.0
    #: Why the experiment produced nothing (model missing, backend failed), else "".
    #: Such an attempt is a broken setup, not a "no gain": it never counts against patience.
    error: str = ""
    #: Differential testing against the best so far (``differential.Comparison.to_dict``).
    differential: dict[str, Any] = field(default_factory=dict)
    #: Per frozen test (by index): did this candidate pass it? Its vote on the model tests.
    verdicts: list[bool] = field(default_factory=list)

    @property
    def trusted_passed(self) -> int:
        """The user's (trusted) tests this candidate passed."""
        return int((self.scores.get("evidence") or {}).get("trusted_passed", 0))

    @property
    def all_passed(self) -> bool:
        return not self.error and not self.load_error and self.total > 0 \
            and self.passed == self.total

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> dict[str, Any]:
        """For the persisted history: everything but the code."""
        data = self.to_dict()
        del data["code"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# -- planning -------------------------------------------------------------------------------
def check_approaches(approaches: Sequence[str]) -> None:
    for approach in approaches:
        if approach not in APPROACHES:
            raise DiseError(f"Unknown optimisation approach {approach!r} in [optimize] "
                            f"approaches; use {', '.join(APPROACHES)}.")


def _same_setup(variant: Variant, artifact: Artifact) -> bool:
    """The variant would redo how ``artifact`` was made (same model, temperature and seed)."""
    if variant.generator != artifact.generator_used or variant.seed \
            or abs(variant.temperature - artifact.temperature) > 1e-9:
        return False
    made_with = artifact.extra.get("approach")
    if made_with:
        return variant.approach == made_with
    return variant.approach in PHASE1_APPROACHES


def plan(cfg: OptimizeConfig, artifact: Artifact, generators: Sequence[str], *,
         few_shot: bool, registry: dict[str, Any] | None = None) -> list[Variant]:
    """Stage 1 variants (the bandit's arms), in a sensible default order.

    The registry's winning setup for the task type comes first; then generators take turns,
    each walking its temperature × approach grid diagonally (then again with the other seeds
    of ``cfg.seeds``, above T=0 only), so the first few attempts already differ in every
    dimension. The runner picks from this list with ``bandit.choose``, which follows this
    order until evidence tells the setups apart. Variants that would redo how
    the current version was made are left out.
    """
    check_approaches(cfg.approaches)
    approaches = [a for a in cfg.approaches if few_shot or "few_shot" not in a]
    temps = [round(float(t), 3) for t in cfg.temperatures]
    grid = sorted(itertools.product(range(len(temps)), range(len(approaches))),
                  key=lambda ta: (ta[0] + ta[1], ta[0]))
    seeds = list(dict.fromkeys(int(s) for s in (cfg.seeds or [0])))
    per_generator = [[Variant(g, temps[t], approaches[a], seed) for seed in seeds
                      for t, a in grid if seed == seeds[0] or temps[t] > 0]
                     for g in generators]
    ordered: list[Variant] = []
    if registry and registry.get("generator") in generators:
        temp = registry.get("temperature")
        approach = registry.get("approach") or "plain"
        if temp is not None and approach in approaches:
            ordered.append(Variant(registry["generator"], round(float(temp), 3), approach))
    for layer in itertools.zip_longest(*per_generator):
        ordered.extend(v for v in layer if v is not None)
    seen: set[Variant] = set()
    out = []
    for variant in ordered:
        if variant in seen or _same_setup(variant, artifact):
            continue
        seen.add(variant)
        out.append(variant)
    return out


def backend_for(engine: Any, gen: Any, cfg: Config) -> Any:
    """The backend for ``gen`` from the engine's ``backend_factory``
    (``Engine(backend_factory=…)``), else ``resolve_backend``."""
    factory = getattr(engine, "backend_factory", None) or core.resolve_backend
    return factory(gen, cfg)


def unavailable(generator: str, cfg: Config, backend_factory: Any = None) -> str:
    """Why ``generator`` cannot run here now ("" when it can): unknown, or its model is not
    installed (the message says ``dise models pull …``). Loads nothing: backends load lazily.
    ``backend_factory``: an engine's (default ``resolve_backend``).
    """
    try:
        (backend_factory or core.resolve_backend)(cfg.generator(generator), cfg)
    except (DiseError, ValueError) as exc:
        return str(exc)
    return ""


def how_to_add(generator: str, cfg: Config) -> str:
    """The command that makes ``generator`` usable (``dise models pull NAME``), or ""."""
    gen = cfg.generators.get(generator)
    if gen is None or gen.backend == "openai":  # its reason says what to fix on the server
        return ""
    from dise.llm import catalog
    return f"dise models pull {gen.model}" if catalog.entry_for(gen.model) else ""


def generator_pool(cfg: Config, info: Any = None, backend_factory: Any = None,
                   ) -> tuple[list[str], list[dict[str, str]]]:
    """Phase 2's pool: ``[optimize] experiment_generators`` (or every configured generator)
    split into those that can run here (fit ``info``'s memory, a ``HardwareInfo``, when
    given; installed, asked of ``backend_factory``) and the others as
    ``{"generator", "reason", "how"}``.

    Unknown names raise ``DiseError`` listing the known ones.
    """
    from dise.hardware import allowed_generators

    wanted = cfg.optimize.experiment_generators or list(cfg.generators)
    unknown = [g for g in wanted if g not in cfg.generators]
    if unknown:
        known = ", ".join(sorted(cfg.generators))
        raise DiseError(f"[optimize] experiment_generators names unknown generator(s) "
                        f"{', '.join(unknown)}; known generators: {known}.")
    fits = allowed_generators(cfg, info) if info is not None else list(cfg.generators)
    usable, missing = [], []
    for name in wanted:
        why = "too large for this machine's memory" if name not in fits else \
            unavailable(name, cfg, backend_factory)
        if why:
            missing.append({"generator": name, "reason": why, "how": how_to_add(name, cfg)})
        else:
            usable.append(name)
    return usable, missing


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
