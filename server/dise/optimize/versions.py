"""Saving a node run's best candidate as a new version, and what the registry learns from it.

A mixin of the runner's node run (``runner._NodeRun``). The best becomes a new version when it
beats the current fitness by ``min_gain`` and passes as many of the user's tests as the start;
more than ``registry_gain`` better than where the run started is a win for its setup in the task
type's registry, and once a setup has won on ``registry_min_wins`` distinct functions it becomes
the registry's choice, with a specialised tool definition (the next Phase 1 of that type uses
it). The version, the registry and the run's state are written in one store batch.
"""

from __future__ import annotations

import time
from typing import Any

from dise.engine.types import Artifact
from dise.optimize.variants import Outcome, Variant, is_resample


class VersionSaving:
    """New versions and registry updates of a node run."""

    state: Any
    ocfg: Any

    def _maybe_save(self) -> None:
        s = self.state
        assert s.best is not None
        best = Outcome.from_dict(s.best)
        needed = max(s.current_fitness, s.baseline_fitness or 0.0) + self.ocfg.min_gain
        if best.error or best.fitness < needed or best.trusted_passed < s.baseline_trusted:
            return
        self._save_version(best)

    def _save_version(self, best: Outcome) -> None:
        s = self.state
        parent = self.store.get(s.current_artifact_id) or self.store.latest(self.node_id)
        assert parent is not None
        variant = Variant.from_dict(best.variant)
        now = time.time()
        gain = best.fitness - parent.fitness_score
        pct = round(100.0 * gain / parent.fitness_score, 1) if parent.fitness_score > 0 else None
        version = self.store.next_version(self.node_id)
        from dise.engine import autofix
        imports, _ = autofix.split_imports(best.code)
        artifact = Artifact(
            node_id=self.node_id, version=version, function_name=parent.function_name,
            code=best.code, prompt=parent.prompt, task_type=parent.task_type,
            intent=parent.intent, generator_used=variant.generator, model=best.model,
            backend=best.backend, temperature=variant.temperature,
            generation_time=best.generation_time, test_passed=best.all_passed,
            tests_passed=best.passed, tests_total=best.total, test_kinds=best.test_kinds,
            quality_score=best.scores.get("quality", 0.0), latency=best.latency,
            coverage=best.coverage, fitness_score=best.fitness, tool_usage=best.tools,
            phase="phase2", timestamp=now, tests=[t.to_dict() for t in self.tests],
            imports=imports, lint=best.lint, parent=parent.artifact_id,
            extra={**{k: parent.extra.get(k) for k in ("signature", "file") if k in parent.extra},
                   "load_error": best.load_error, "killed": best.killed,
                   "isolation": best.isolation,
                   "failures": best.failures, "speed": best.scores.get("speed"),
                   "evidence": best.scores.get("evidence") or {},
                   "trusted_failures": self._trusted_failures(best),
                   "differential": best.differential,
                   "origin": best.origin, "approach": variant.approach,
                   "optimization": {"reason": s.reason, "stage": s.stage,
                                    "baseline_fitness": s.baseline_fitness,
                                    "started_from": s.base_artifact_id}},
            optimized_at=now, optimization_iterations=s.attempts, improvement_percentage=pct)
        promote = False
        with self.store.batch():  # the version, the registry and the state: all or nothing
            self.store.save(artifact)
            # a best-of-k sample won by being drawn often, not by a better setup: promoting
            # its (hot) setup would make Phase 1's single sample worse, so it is no win
            if self._wins(best.fitness) and not is_resample(self.ocfg, variant):
                wins = self.store.record_registry_win(artifact.task_type, variant.setup,
                                                      self.node_id)
                promote = wins >= self.ocfg.registry_min_wins
                if promote:
                    self._update_registry(artifact, variant, wins)
            s.versions.append(artifact.artifact_id)
            s.current_artifact_id, s.current_fitness = artifact.artifact_id, artifact.fitness_score
            self._persist()
        self.emit("improved", {"node_id": self.node_id, "old_artifact_id": parent.artifact_id,
                               "new_artifact_id": artifact.artifact_id,
                               "old_fitness": parent.fitness_score,
                               "new_fitness": artifact.fitness_score,
                               "generator": variant.generator,
                               "temperature": variant.temperature,
                               "approach": variant.approach,
                               "registry_updated": promote})

    def _wins(self, fitness: float) -> bool:
        """More than ``registry_gain`` better than where the run started: a win for the
        setup; ``registry_min_wins`` of them on distinct functions promote it."""
        base = self.state.base_fitness
        return fitness > base * (1.0 + self.ocfg.registry_gain) if base > 0 else fitness > 0

    def _update_registry(self, artifact: Artifact, variant: Variant, wins: int) -> None:
        previous = self.store.best_generator(artifact.task_type)
        tool = {"name": f"{artifact.task_type}-specialist", "task_type": artifact.task_type,
                "generator": variant.generator, "temperature": variant.temperature,
                "approach": variant.approach, "few_shot": variant.few_shot,
                "few_shot_k": self.ocfg.few_shot_k if variant.few_shot else 0,
                "repair_rounds": self.ocfg.repair_rounds if variant.repair else 0,
                "evidence": {"artifact_id": artifact.artifact_id,
                             "from_fitness": self.state.base_fitness,
                             "to_fitness": artifact.fitness_score, "wins": wins},
                "created": time.time()}
        self.store.set_best_generator(
            artifact.task_type, variant.generator, artifact.fitness_score,
            temperature=variant.temperature, approach=variant.approach, tool=tool,
            source=artifact.artifact_id,
            previous={k: previous.get(k) for k in ("generator", "temperature", "approach",
                                                   "fitness")} if previous else None)
        self.state.registry_updated = True
