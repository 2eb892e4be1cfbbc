"""Phase 1's recall steps: reuse a verified function, else fetch few-shot examples.

``RecallSteps`` is mixed into ``dise.engine.pipeline.Run`` and works on its state (``engine``,
``cfg``, ``cancel``, ``stage``, ``tools``, ``progress``, ``few_shot_k``, ``_generate``, ``_run``).
A near-identical stored request (``dise.engine.retrieval.Memory.reuse_match``) is reused only
when its function also passes this request's own tests, run now in the sandbox; otherwise the
closest passing functions become few-shot examples. When the embedding model is cold, the
search runs beside the generation and a passing reuse stops it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from dise.config import GeneratorConfig
from dise.engine import credibility, stubs, testgen
from dise.engine.candidates import Candidate
from dise.engine.types import Cancelled, DiseError, FunctionSpec, LinkedToken, Request, TestCase

log = logging.getLogger(__name__)


class RecallSteps:
    """The retrieval stages of one Phase 1 run (a mixin of ``dise.engine.pipeline.Run``)."""

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
