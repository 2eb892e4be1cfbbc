"""Stage 1 of a node run: re-measure the current code, plan the variants, run them.

A mixin of the runner's node run (``runner._NodeRun``), which owns the state, the control
and the recording (``_record``, ``_attempt``, ``_hard_stop``). The baseline is the current
code re-measured on the frozen tests (latency depends on the machine's load, so comparisons
are made under the same conditions). The plan's variants run up to ``_workers()`` at once,
the next one chosen by Thompson sampling (``bandit``); the stage ends when the plan is done,
after ``patience`` attempts without a better one, or on a hard stop. ``_select`` then saves
the best as a version (``versions``) and moves on to stage 3 (``incremental``).
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from dise.engine import best_of_k
from dise.engine.types import Artifact, Cancelled
from dise.hardware import HardwareInfo, current, worker_count
from dise.optimize import bandit
from dise.optimize.experiments import ExampleSource, context_for, measure, request_for
from dise.optimize.pool import generator_pool, how_to_add
from dise.optimize.variants import Outcome, Variant, is_resample, plan


class ExperimentStage:
    """The baseline, the plan and the stage 1 experiment loop of a node run."""

    state: Any
    ocfg: Any

    def _baseline(self, latest: Artifact) -> None:
        s = self.state
        while True:
            self._gate()
            token = self.control.attempt_token()
            try:
                report, scores = measure(latest.code, latest.function_name, self.tests,
                                         self.cfg, token, context_for(*request_for(
                                             latest, self.tests)))  # in its file, as variants
                break
            except Cancelled:
                self.control.cancel.raise_if_cancelled()  # stopped: leave; else pre-empted
                if self.control.expired:  # out of time: the run ends unmeasured
                    s.stop_reason = self._hard_stop()
                    return
            finally:
                self.control.release(token)
        s.baseline_fitness, s.baseline_passed = scores.fitness, report.passed
        s.baseline_trusted = int(scores.evidence.get("trusted_passed", 0))
        generators = self._generators()
        few_shot = any("few_shot" in a for a in self.ocfg.approaches)
        if few_shot:
            s.examples, note = ExampleSource(self.engine).examples(latest, self.ocfg.few_shot_k)
            few_shot = bool(s.examples)
            if note:
                s.notes.append(note)
        resample = self.ocfg.resample_k if self._fails_trusted() else 0
        variants = plan(self.ocfg, latest, generators, few_shot=few_shot,
                        registry=self.store.best_generator(latest.task_type), resample=resample)
        if resample and any(is_resample(self.ocfg, v) for v in variants):
            s.notes.append(f"the current version fails {self._trusted_total() - s.baseline_trusted}"
                           f" of the user's {self._trusted_total()} tests: up to {resample} "
                           "extra samples per generator, not counted against patience")
        s.pending = [v.to_dict() for v in variants]
        s.stage = "experiments"
        self._persist()

    def _hardware(self) -> HardwareInfo:
        if self.hardware is None:
            self.hardware = current()
        return self.hardware

    def _generators(self) -> list[str]:
        """Generators to try: configured (or all) that the hardware can hold and that are
        installed; the others go to ``state.unavailable`` and the notes, with how to add them.
        """
        usable, missing = generator_pool(self.cfg, self._hardware(),
                                         getattr(self.engine, "backend_factory", None))
        for entry in missing:
            self._unusable(entry["generator"], entry["reason"])
        return usable

    def _unusable(self, name: str, why: str) -> None:
        """Note that ``name`` is left out of this run (once), with how to add it."""
        s = self.state
        if any(u["generator"] == name for u in s.unavailable):
            return
        how = how_to_add(name, self.cfg)
        s.unavailable.append({"generator": name, "reason": why, "how": how})
        s.notes.append(f"not tried: {name}: {why}")

    def _workers(self) -> int:
        """Concurrent experiments: ``[optimize] workers``, else what a cluster executor
        holds, else what the cores allow (``worker_count``) and the memory holds (the largest
        planned model once per worker)."""
        if self.ocfg.workers:
            return self.ocfg.workers
        from dise.hardware import model_budget_bytes
        from dise.llm.select import model_ram_bytes

        planned = {p["generator"] for p in self.state.pending if p["generator"] in
                   self.cfg.generators}
        remote = self.executor.capacity(sorted(planned))
        if remote:
            return remote
        info = self._hardware()
        by_cores = worker_count(info, self.cfg.hardware)
        largest = max((model_ram_bytes(self.cfg.generators[g], self.cfg) for g in planned),
                      default=0)
        if largest <= 0:
            return by_cores
        by_memory = model_budget_bytes(info, self.cfg.hardware) // largest
        return max(1, min(by_cores, by_memory))

    def _experiments(self, latest: Artifact) -> bool:
        """Run the plan; True when it ended by itself (plan done or patience), False on a
        hard stop."""
        s = self.state
        self._latest_for_prompt = latest
        self._registry = self.store.best_generator(latest.task_type)
        workers = max(1, self._workers())
        running: dict[Future[Outcome], tuple[Variant, Any]] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dise-experiment") as pool:
            try:
                while True:
                    stop = self._hard_stop()
                    if stop:
                        s.stop_reason = stop
                        return False
                    # patience over: only best-of-k samples go on, while the user's tests fail
                    only_samples = self._stale() >= self.ocfg.patience
                    busy = {v for v, _ in running.values()}
                    queued = [Variant.from_dict(p) for p in s.pending]
                    free = [v for v in queued if v not in busy and not (
                        only_samples and not self._resampling(v))]
                    if only_samples and not free and not any(
                            self._resampling(v) for v, _ in running.values()):
                        s.notes.append(f"experiments ended: no better candidate in the last "
                                       f"{self.ocfg.patience} attempts")
                        return True
                    # never start more than the budget allows
                    room = self.ocfg.max_attempts - s.attempts - len(running)
                    while free and len(running) < workers and room > 0:
                        self._gate()
                        variant = self._choose(free, len(running))
                        free.remove(variant)
                        token = self.control.attempt_token()
                        running[pool.submit(self._attempt, variant, token)] = (variant, token)
                        room -= 1
                    if not running:
                        return True
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        variant, token = running.pop(future)
                        self.control.release(token)
                        try:
                            outcome = future.result()
                        except Cancelled:
                            self.control.cancel.raise_if_cancelled()
                            # pre-empted: still pending, runs again after the gate; out of
                            # time: not counted, the next _hard_stop ends the stage
                            continue
                        self._record(variant, outcome)
            finally:
                for _, token in running.values():
                    token.cancel()

    def _trusted_total(self) -> int:
        return sum(1 for t in self.tests if t.trusted)

    def _fails_trusted(self) -> bool:
        """The best so far (else the starting code) fails one of the user's tests."""
        s = self.state
        passed = Outcome.from_dict(s.best).trusted_passed if s.best else s.baseline_trusted
        return passed < self._trusted_total()

    def _record_samples(self) -> None:
        """What this run says for Phase 1's best-of-k when the function failed its user's
        tests at the start, per generator: did one of its first ``[pipeline] best_of_k``
        plain-prompt answers (grid setups and best-of-k samples, in the order drawn) pass
        every user test (``best_of_k.outcome``)? Kept as the registry trial
        ``best-of-k/<generator>`` of the task type."""
        s = self.state
        if s.baseline_fitness is None or s.baseline_trusted >= self._trusted_total():
            return
        found = best_of_k.outcomes(s.history, self._trusted_total(), self.cfg.pipeline.best_of_k)
        latest = self.store.latest(self.node_id) if found else None
        for generator, result in found.items():
            if latest is not None:
                self.store.record_registry_trial(latest.task_type,
                                                 best_of_k.evidence_key(generator),
                                                 self.node_id, result)

    def _resampling(self, variant: Variant) -> bool:
        """``variant`` is a best-of-k sample and the best so far still fails a user's test."""
        return is_resample(self.ocfg, variant) and self._fails_trusted()

    def _stale(self) -> int:
        """Attempts since the last better candidate that count against ``patience``: not
        errors, and not best-of-k resamples while the best still fails a user's test."""
        s = self.state
        exempt = self._fails_trusted()
        return sum(1 for e in s.history if not e.get("error") and e.get("attempt")
                   and e["attempt"] > s.last_improvement
                   and not (exempt and e.get("sample")))

    def _choose(self, free: list[Variant], running: int) -> Variant:
        """The next experiment: Thompson sampling over the planned setups (``bandit``)."""
        s = self.state
        return bandit.choose(free, s.history, self._registry,
                             rng=bandit.rng_for(self.node_id, s.attempts + s.errors, running),
                             prior_weight=self.ocfg.bandit_prior_weight,
                             node_id=self.node_id)

    def _select(self, latest: Artifact, *, stage_done: bool) -> None:
        s = self.state
        if s.best is not None:
            self._maybe_save()
        if stage_done and s.best is not None and not self._hard_stop():
            s.stage = "incremental"
            best = Variant.from_dict(s.best["variant"])
            s.incremental = {"direction": 1, "temperature": best.temperature, "steps": 0}
        else:
            s.stop_reason = s.stop_reason or self._hard_stop() or self._nothing_ran() or \
                "no better candidate than the current version"
            s.stage = "done"
        self._persist()

    def _nothing_ran(self) -> str:
        """The stop reason when no experiment could run at all, else ""."""
        s = self.state
        if s.attempts or not s.unavailable:
            return ""
        adds = [u["how"] for u in s.unavailable if u.get("how")]
        return ("no experiment could run: " + "; ".join(
            f"{u['generator']} {u['reason']}" for u in s.unavailable)
            + (f" (add one: {', '.join(adds)})" if adds else ""))
