"""Optimise one node: baseline → stage 1 experiments → select → stage 3 temperature steps.

``optimize_node`` is synchronous (the CLI calls it directly; the background ``Optimizer`` calls
it from its thread) and persists the node's ``NodeState`` after every attempt, so it can be
stopped at any moment and resumed by the next call.

* Baseline: the current code re-measured on the frozen tests, so every comparison is made under
  the same conditions (latency depends on the machine's load).
* Stage 1: the planned variants, up to ``workers`` at once. A candidate is *better* when its
  fitness beats the best so far and it passes at least as many tests as the current code.
  The stage ends when the plan is done or after ``patience`` attempts without a better one;
  while the best so far fails a user's test, best-of-k samples (``resample_k``) go on past
  patience and are not counted against it.
* Select: the best becomes a new version when it beats the current fitness by ``min_gain``;
  more than ``registry_gain`` better is a win for its setup in the task type's registry, and
  once a setup has won on ``registry_min_wins`` distinct functions it becomes the registry's
  choice, with a specialised tool definition (the next Phase 1 of that type uses it).
* Stage 3: temperature steps of ``temperature_step`` from the best setup, up, then down; each
  direction stops at its first step without gain. A further gain is one more version.
* Whole run: stops at fitness above ``target_fitness``, after ``max_attempts`` attempts or
  ``node_time_limit_s`` working seconds; the time limit cancels the experiments in flight
  (``Control.count_down``), which are not counted.

Each experiment runs through an executor (``executors``; ``executor_for`` picks it): in this
process, or as a Ray task; either way the outcome comes back here and is recorded here.

Where each part lives: ``control`` (``Control``, ``executor_for``), ``stage1`` (baseline, plan,
experiment loop, select), ``judging`` (the bar, differential testing, test votes),
``incremental`` (stage 3), ``versions`` (new versions, the registry); this module holds the
run's state, bookkeeping, recording and end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dise.engine import credibility
from dise.engine.types import Artifact, CancelToken, DiseError, TestCase
from dise.hardware import HardwareInfo
from dise.optimize import executors
from dise.optimize import state as st
from dise.optimize.control import Control, executor_for
from dise.optimize.incremental import IncrementalStage
from dise.optimize.judging import Judging
from dise.optimize.stage1 import ExperimentStage
from dise.optimize.state import NodeState
from dise.optimize.variants import Outcome, Variant, is_resample
from dise.optimize.versions import VersionSaving

log = logging.getLogger(__name__)

#: ``progress(event, data)``: "progress" and "improved" events (see ``Optimizer.subscribe``).
EventFn = Callable[[str, dict[str, Any]], None]


@dataclass
class OptimizeResult:
    node_id: str
    #: "improved" (new versions), "unchanged" or "skipped" (nothing to do).
    status: str
    old_artifact_id: str
    old_fitness: float
    final_artifact_id: str
    final_fitness: float
    new_artifact_ids: list[str] = field(default_factory=list)
    best_fitness: float | None = None
    attempts: int = 0
    stop_reason: str = ""
    registry_updated: bool = False
    elapsed_s: float = 0.0
    resumed: bool = False
    #: Every attempt this call ran (code included), for benchmarks' pass@k.
    candidates: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def optimize_node(engine: Any, node_id: str, *, cancel: CancelToken | None = None,
                  progress: EventFn | None = None, control: Control | None = None,
                  reason: str = "manual", hardware: HardwareInfo | None = None,
                  dequeue: bool = True) -> OptimizeResult:
    """Optimise ``node_id`` now (or resume its interrupted run) and return what happened.

    Raises ``Cancelled`` when cancelled (the state is kept: call again to resume), ``NodeBusy``
    when another live process is optimising the node, ``DiseError`` for an unknown node.
    """
    control = control or Control(cancel)
    run = _NodeRun(engine, node_id, control, progress or (lambda event, data: None), reason,
                   hardware, dequeue)
    return run.execute()


class _NodeRun(ExperimentStage, IncrementalStage, Judging, VersionSaving):
    """One call's run over one node: its state, bookkeeping, recording and end. The stages and
    the judging are mixins (``stage1``, ``incremental``, ``judging``, ``versions``)."""

    def __init__(self, engine: Any, node_id: str, control: Control, emit: EventFn, reason: str,
                 hardware: HardwareInfo | None, dequeue: bool) -> None:
        self.engine, self.node_id, self.control = engine, node_id, control
        self.cfg = engine.cfg
        self.ocfg = engine.cfg.optimize
        self.store = engine.store
        self.emit, self.reason, self.dequeue = emit, reason, dequeue
        self.hardware = hardware
        self.candidates: list[dict[str, Any]] = []
        #: Where experiments run ([optimize] executor): this process, or a Ray cluster.
        self.executor = executor_for(engine)
        self._mark = time.monotonic()
        self.resumed = False

    # -- bookkeeping ----------------------------------------------------------------------
    def _account(self) -> None:
        now = time.monotonic()
        self.state.elapsed_s = round(self.state.elapsed_s + now - self._mark, 3)
        self._mark = now

    def _persist(self) -> None:
        self._account()
        with self.store.batch():
            if self.state.owner:  # renew the lease; NodeBusy if it lapsed and was taken
                st.take_lease(self.store, None, self.node_id, self.cfg)
            st.save_state(self.store, self.state)

    def _gate(self) -> None:
        """Wait while the run may not work (paused, interactive work): the time limit's
        countdown stops meanwhile, since that time is not working time."""
        self._account()
        self.control.stop_countdown()
        self.control.gate()
        self._mark = time.monotonic()
        self._count_down()

    def _count_down(self) -> None:
        """(Re)start the time limit's countdown with the working time left: when it runs
        out, the experiments in flight are cancelled (not counted) and the run stops."""
        self._account()
        self.control.count_down(self.ocfg.node_time_limit_s - self.state.elapsed_s)

    def _message(self, text: str = "") -> dict[str, Any]:
        s = self.state
        best = s.best["fitness"] if s.best else None
        done = s.attempts
        total = min(self.ocfg.max_attempts, done + len(s.pending))
        if s.stage == "incremental":
            total = min(self.ocfg.max_attempts, done + 1)
        total = max(total, done)
        shown = best if best is not None else s.baseline_fitness
        text = text or (f"Optimising {self.name}: {done}/{total} experiments"
                        + (f", best {shown:.2f}" if shown is not None else ""))
        return {"node": self.node_id, "done": done, "total": total, "best": shown,
                "stage": s.stage, "message": text}

    def _progress(self, text: str = "") -> None:
        self.emit("progress", self._message(text))

    # -- entry ----------------------------------------------------------------------------
    def execute(self) -> OptimizeResult:
        latest = self.store.latest(self.node_id)
        if latest is None:
            self.store.dequeue(self.node_id)
            raise DiseError(f"No stored function {self.node_id!r} to optimise; "
                            "run `dise list` to see stored functions.")
        self.name = latest.function_name
        # weights fixed for this run (comparisons stay consistent); votes cast during the run
        # change the stored credibility, which the next run uses
        self.tests = credibility.assess(self.store.frozen_tests(self.node_id) or
                                        [TestCase.from_dict(t) for t in latest.tests])
        self.state = self._claim(latest)
        try:
            self._count_down()
            return self._run(latest)
        except BaseException:
            self._release()
            raise
        finally:
            self.control.stop_countdown()

    def _release(self) -> None:
        """Interrupted (stop, Ctrl-C, an error): keep the state, let any process resume it."""
        self.state.owner = None
        try:
            self._persist()
            self.store.release(self.node_id)
        except Exception:
            log.exception("could not save the optimisation state of %s", self.node_id)

    def _claim(self, latest: Artifact) -> NodeState:
        """Resume this node's interrupted run, or start a fresh one; take ownership."""
        with self.store.batch():
            state = st.load_state(self.store, self.node_id)
            st.take_lease(self.store, state, self.node_id, self.cfg)
            if state is not None and state.status == "running" \
                    and state.current_artifact_id == latest.artifact_id:
                self.resumed = True
            else:
                state = NodeState(node_id=self.node_id, reason=self.reason,
                                  started_at=time.time(), base_artifact_id=latest.artifact_id,
                                  base_fitness=latest.fitness_score,
                                  current_artifact_id=latest.artifact_id,
                                  current_fitness=latest.fitness_score)
            state.owner = st.me()
            st.save_state(self.store, state)
        return state

    def _run(self, latest: Artifact) -> OptimizeResult:
        s = self.state
        if s.stage == "baseline":
            if not self.tests:
                return self._finish("skipped: the function has no frozen tests to judge by")
            if latest.fitness_score > self.ocfg.target_fitness:
                return self._finish(f"skipped: fitness {latest.fitness_score:.2f} is already "
                                    f"above {self.ocfg.target_fitness}")
            self._baseline(latest)
        if s.stage == "experiments":
            self._progress()
            ended = self._experiments(latest)
            self._select(latest, stage_done=ended)
        if s.stage == "incremental":
            self._incremental(latest)
        return self._finish(s.stop_reason or "done")

    def _hard_stop(self) -> str:
        s, o = self.state, self.ocfg
        if s.best is not None and s.best["fitness"] > o.target_fitness:
            return f"fitness {s.best['fitness']:.2f} above the target {o.target_fitness}"
        if s.attempts >= o.max_attempts:
            return f"attempt budget spent ({o.max_attempts} experiments)"
        self._account()
        if self.control.expired or s.elapsed_s >= o.node_time_limit_s:
            return f"time limit reached ({o.node_time_limit_s:.0f} s)"
        return ""

    def _record(self, variant: Variant, outcome: Outcome) -> bool:
        """Count one attempt, persist it, report it; True when it was a better candidate.

        An attempt that errored is kept in the history but is not counted (neither against
        the budget nor the patience): the setup is broken, which says nothing about gain. Its
        generator is dropped from the rest of the run, with a note.
        """
        s = self.state
        if outcome.error:
            return self._record_error(variant, outcome)
        better = self._is_better(outcome)
        self._trial(variant, "gain" if better else "no_gain")
        s.attempts += 1
        entry = outcome.summary()
        entry.update(attempt=s.attempts, stage=s.stage, better=better,
                     sample=is_resample(self.ocfg, variant))
        s.history.append(entry)
        s.pending = [p for p in s.pending if Variant.from_dict(p) != variant]
        if better:
            s.best = outcome.to_dict()
            s.last_improvement = s.attempts
        self.candidates.append({**outcome.to_dict(), "attempt": s.attempts, "stage": s.stage})
        self._vote(outcome)
        self._persist()
        self._progress()
        return better

    def _trial(self, variant: Variant, result: str, reason: str = "") -> None:
        """Count the attempt in the task type's registry record (``dise.optimize.failures``).
        """
        self.store.record_registry_trial(self._latest_for_prompt.task_type, variant.setup,
                                         self.node_id, result, reason)

    def _record_error(self, variant: Variant, outcome: Outcome) -> bool:
        s = self.state
        s.errors += 1
        self._trial(variant, "error", outcome.error)
        entry = outcome.summary()
        entry.update(attempt=None, stage=s.stage, better=False)
        s.history.append(entry)
        s.pending = [p for p in s.pending if Variant.from_dict(p).generator != variant.generator]
        self._unusable(variant.generator, f"failed: {outcome.error}")
        self.candidates.append({**outcome.to_dict(), "attempt": None, "stage": s.stage})
        self._persist()
        self._progress()
        return False

    def _attempt(self, variant: Variant, token: CancelToken) -> Outcome:
        job = executors.Experiment(self._latest_for_prompt, list(self.tests), variant,
                                   self.state.examples, self.ocfg.repair_rounds)
        return self.executor.run(job, token)

    # -- the end --------------------------------------------------------------------------
    def _finish(self, stop_reason: str) -> OptimizeResult:
        s = self.state
        s.status, s.stage, s.finished_at = "done", "done", time.time()
        s.stop_reason, s.owner, s.pending = stop_reason, None, []
        with self.store.batch():
            self._record_samples()
            self._persist()
            self.store.release(self.node_id)
            if self.dequeue:
                self.store.dequeue(self.node_id)
        final = self.store.latest(self.node_id)
        assert final is not None
        best = s.best["fitness"] if s.best else None
        status = "improved" if s.versions else ("skipped" if stop_reason.startswith("skipped")
                                                else "unchanged")
        summary = (f"Optimised {self.name}: {s.base_fitness:.2f} → {final.fitness_score:.2f} "
                   f"({', '.join(s.versions)})" if s.versions else
                   f"Optimised {self.name}: no better version ({stop_reason})")
        self.emit("progress", {**self._message(summary), "finished": True, "status": status})
        return OptimizeResult(
            node_id=self.node_id, status=status, old_artifact_id=s.base_artifact_id,
            old_fitness=s.base_fitness, final_artifact_id=final.artifact_id,
            final_fitness=final.fitness_score, new_artifact_ids=list(s.versions),
            best_fitness=best, attempts=s.attempts, stop_reason=stop_reason,
            registry_updated=s.registry_updated, elapsed_s=s.elapsed_s, resumed=self.resumed,
            candidates=self.candidates, notes=list(s.notes))
