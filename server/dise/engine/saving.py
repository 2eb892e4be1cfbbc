"""Phase 1's last step: the artifact built from a run, stored with its tests and queue entry.

``SavingSteps`` is mixed into ``dise.engine.pipeline.Run`` and reads its state (``engine``,
``cfg``, ``ctx``, ``times``, ``started``, ``tools``, ``found``, ``not_runnable``, ``first``,
``generation_time``, ``failed``). One atomic store batch writes the node, its frozen tests
(the first, independent candidate votes on the model's tests) and, when the function is weak
or fails the user's tests, its Phase 2 queue entry.
"""

from __future__ import annotations

import time

from dise.config import GeneratorConfig
from dise.engine import autofix, credibility
from dise.engine.candidates import Candidate, trusted_failures
from dise.engine.types import Artifact, FunctionSpec, Request, TestCase
from dise.store import Store


class SavingSteps:
    """Storing the outcome of one Phase 1 run (a mixin of ``dise.engine.pipeline.Run``)."""

    def stage_times(self) -> dict[str, float]:
        """Seconds spent in each stage so far (``times``), and ``total``: the request's wall
        time since ``started`` (stages can overlap: retrieval runs beside the generation)."""
        return {**{k: round(v, 4) for k, v in self.times.items()},
                "total": round(time.perf_counter() - self.started, 4)}

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
            generator_used=best.generator or gen.name,
            model=best.model or backend.model_label, backend=backend.name,
            temperature=gen.temperature if best.temperature is None else best.temperature,
            generation_time=round(self.generation_time, 3),
            test_passed=report.all_passed, tests_passed=report.passed, tests_total=report.total,
            test_kinds=kinds, quality_score=scores.quality, latency=report.latency,
            coverage=scores.coverage, fitness_score=scores.fitness, tool_usage=self.tools,
            phase="phase1", timestamp=time.time(), tests=[t.to_dict() for t in tests],
            imports=imports, lint=report.lint,
            stage_times=self.stage_times(),
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
                   **({"seed": best.seed} if best.seed is not None else {}),
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

