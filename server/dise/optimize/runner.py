"""Optimise one node: baseline → stage 1 experiments → select → stage 3 temperature steps.

``optimize_node`` is synchronous (the CLI calls it directly; the background ``Optimizer`` calls
it from its thread) and persists the node's ``NodeState`` after every attempt, so it can be
stopped at any moment and resumed by the next call.

* Baseline: the current code re-measured on the frozen tests, so every comparison is made under
  the same conditions (latency depends on the machine's load).
* Stage 1: the planned variants, up to ``workers`` at once. A candidate is *better* when its
  fitness beats the best so far and it passes at least as many tests as the current code.
  The stage ends when the plan is done or after ``patience`` attempts without a better one.
* Select: the best becomes a new version when it beats the current fitness by ``min_gain``;
  more than ``registry_gain`` better is a win for its setup in the task type's registry, and
  once a setup has won on ``registry_min_wins`` distinct functions it becomes the registry's
  choice, with a specialised tool definition (the next Phase 1 of that type uses it).
* Stage 3: temperature steps of ``temperature_step`` from the best setup, up, then down; each
  direction stops at its first step without gain. A further gain is one more version.
* Whole run: stops at fitness above ``target_fitness``, after ``max_attempts`` attempts or
  ``node_time_limit_s`` working seconds.

Each experiment runs through an executor (``executors``; ``executor_for`` picks it): in this
process, or as a Ray task; either way the outcome comes back here and is recorded here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from dise.config import ConfigError
from dise.engine import credibility
from dise.engine.types import (Artifact, Cancelled, CancelToken, DiseError, LinkedToken,
                              TestCase)
from dise.hardware import HardwareInfo, current, worker_count
from dise.optimize import bandit, differential, executors, model_inputs
from dise.optimize import state as st
from dise.optimize.experiments import (
    ExampleSource,
    Outcome,
    Variant,
    context_for,
    generator_pool,
    how_to_add,
    measure,
    plan,
    request_for,
)
from dise.optimize.state import NodeState

log = logging.getLogger(__name__)

#: ``progress(event, data)``: "progress" and "improved" events (see ``Optimizer.subscribe``).
EventFn = Callable[[str, dict[str, Any]], None]


class Control:
    """How a run is steered from outside.

    ``cancel`` ends the run (its state stays, to be resumed). ``preempt()`` cancels only the
    experiments in flight: they are not counted and run again after ``gate()``, which the
    background optimiser makes wait while it is paused or interactive work runs.
    """

    def __init__(self, cancel: CancelToken | None = None) -> None:
        self.cancel = cancel or CancelToken()
        self._lock = threading.Lock()
        self._tokens: set[LinkedToken] = set()

    def gate(self) -> None:
        self.cancel.raise_if_cancelled()

    def attempt_token(self) -> LinkedToken:
        token = LinkedToken(self.cancel)
        with self._lock:
            self._tokens.add(token)
        return token

    def release(self, token: LinkedToken) -> None:
        with self._lock:
            self._tokens.discard(token)

    def preempt(self) -> None:
        with self._lock:
            for token in self._tokens:
                token.cancel()


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


def executor_for(engine: Any) -> executors.Executor:
    """The executor ``[optimize] executor`` names: "thread" (default) or "ray" (Ray is
    imported only then). Raises ``ConfigError`` for another name or a bad Ray address."""
    ocfg = engine.cfg.optimize
    if ocfg.executor == "thread":
        return executors.ThreadExecutor(engine)
    if ocfg.executor == "ray":
        from dise.optimize.ray_executor import connection
        return connection(engine.cfg)
    raise ConfigError(f'[optimize] executor must be one of {", ".join(executors.EXECUTORS)}, '
                      f'not {ocfg.executor!r}.')


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


class _NodeRun:
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
        self._account()
        self.control.gate()
        self._mark = time.monotonic()

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
            return self._run(latest)
        except BaseException:
            self._release()
            raise

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

    # -- baseline and planning ------------------------------------------------------------
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
        variants = plan(self.ocfg, latest, generators, few_shot=few_shot,
                        registry=self.store.best_generator(latest.task_type))
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

    # -- comparing ------------------------------------------------------------------------
    def _bar(self) -> float:
        """Fitness a candidate must beat to count as better."""
        s = self.state
        if s.best is not None:
            return float(s.best["fitness"])
        return max(s.current_fitness, s.baseline_fitness or 0.0)

    def _is_better(self, outcome: Outcome) -> bool:
        """Beats the bar and passes as many of the user's tests as the starting code; and
        when it answers differently from the best so far on inputs no test covers
        (``differential``), it must also pass more tests than that best: a changed answer
        nobody checked is no gain."""
        s = self.state
        # weighted: the user's tests may not get worse; model tests count through fitness
        if outcome.error or outcome.trusted_passed < s.baseline_trusted \
                or outcome.fitness <= self._bar():
            return False
        best_passed = int(s.best["passed"]) if s.best else s.baseline_passed
        found = self._differential(outcome)  # recorded either way, for the judge
        if outcome.passed > best_passed or model_inputs.against(found.disagreements) < 1.0:
            return True  # more tests passed outrank any probe; model inputs weigh less
        s.notes.append(f"{Variant.from_dict(outcome.variant).key}: answers differently from "
                       f"the best so far on {len(found.disagreements)} of {found.inputs} "
                       "untested inputs and passes no more tests: not counted as better")
        return False

    def _differential(self, outcome: Outcome) -> differential.Comparison:
        """Compare ``outcome``'s code with the best so far on extra inputs; recorded on the
        outcome (``outcome.differential``). Pre-emption or a sandbox failure: no verdict."""
        s = self.state
        limit = self.ocfg.differential_inputs
        current = s.best["code"] if s.best else self._latest_for_prompt.code
        if limit <= 0 or not current.strip():
            return differential.Comparison()
        proposed = self._model_inputs()
        inputs = differential.probe_inputs(
            self.name, str(self._latest_for_prompt.extra.get("signature") or ""), self.tests,
            max(1, limit - len(proposed)))
        taken = {repr(a) for a in inputs}
        proposed = [a for a in proposed if repr(a) not in taken]
        sources = ["tests"] * len(inputs) + ["model"] * len(proposed)
        token = self.control.attempt_token()
        try:
            found = differential.compare(current, outcome.code, self.name, inputs + proposed,
                                         self.cfg.sandbox, token, sources)
        except Cancelled:
            self.control.cancel.raise_if_cancelled()
            found = differential.Comparison(error="pre-empted")
        finally:
            self.control.release(token)
        outcome.differential = found.to_dict()
        return found

    def _model_inputs(self) -> list[tuple]:
        """The calls the model proposed for differential testing, asked once a run (kept in
        the state, so a resumed run asks nothing); none when pre-empted (asked again later).
        """
        s = self.state
        if s.model_inputs is None:
            token = self.control.attempt_token()
            try:
                s.model_inputs, note = model_inputs.for_node(
                    self.engine, self._latest_for_prompt, self.tests, self._generators(),
                    self.ocfg.differential_model_inputs, token)
            except Cancelled:
                self.control.cancel.raise_if_cancelled()
                return []
            finally:
                self.control.release(token)
            if note:
                s.notes.append(note)
        return model_inputs.restore(s.model_inputs)

    def _hard_stop(self) -> str:
        s, o = self.state, self.ocfg
        if s.best is not None and s.best["fitness"] > o.target_fitness:
            return f"fitness {s.best['fitness']:.2f} above the target {o.target_fitness}"
        if s.attempts >= o.max_attempts:
            return f"attempt budget spent ({o.max_attempts} experiments)"
        self._account()
        if s.elapsed_s >= o.node_time_limit_s:
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
        entry.update(attempt=s.attempts, stage=s.stage, better=better)
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

    def _vote(self, outcome: Outcome) -> None:
        """An independent candidate's verdicts update the stored credibility of the model
        tests (CodeT's dual agreement); this run keeps judging with the weights it began
        with."""
        if outcome.error or outcome.load_error or not outcome.code.strip() \
                or len(outcome.verdicts) != len(self.tests):
            return
        stored = self.store.frozen_tests(self.node_id)
        if not stored or not any(t.kind == "model" for t in stored):
            return
        voted = credibility.vote(stored, outcome.verdicts)
        self.store.update_test_credibility(self.node_id, voted,
                                           credibility.code_id(outcome.code))

    def _trusted_failures(self, outcome: Outcome) -> list[str]:
        """The user's tests ``outcome`` failed, as ``test -> failed`` lines."""
        out = []
        for test, ok in zip(self.tests, outcome.verdicts or [False] * len(self.tests)):
            if test.trusted and not ok:
                out.append(f"{test.source or test.call or test.code.splitlines()[-1]} -> failed")
        return out[:5]

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

    # -- stage 1 --------------------------------------------------------------------------
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
                    if s.attempts - s.last_improvement >= self.ocfg.patience:
                        s.notes.append(f"experiments ended: no better candidate in the last "
                                       f"{self.ocfg.patience} attempts")
                        return True
                    busy = {v for v, _ in running.values()}
                    queued = [Variant.from_dict(p) for p in s.pending]
                    free = [v for v in queued if v not in busy]
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
                            continue  # pre-empted: still pending, runs again after the gate
                        self._record(variant, outcome)
            finally:
                for _, token in running.values():
                    token.cancel()

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

    # -- stage 3 --------------------------------------------------------------------------
    def _tried(self, variant: Variant) -> bool:
        return any(Variant.from_dict(h["variant"]) == variant for h in self.state.history)

    def _next_step(self) -> Variant | None:
        """The next temperature step, turning down once up is done; None when both are."""
        s = self.state
        inc = s.incremental or {}
        assert s.best is not None
        best = Variant.from_dict(s.best["variant"])
        while True:
            if inc["steps"] >= self.ocfg.incremental_max_steps:
                return None
            temp = round(inc["temperature"] + inc["direction"] * self.ocfg.temperature_step, 3)
            step = Variant(best.generator, temp, best.approach)
            if 0.0 <= temp <= self.ocfg.temperature_max and not self._tried(step):
                return step
            if inc["direction"] < 0:
                return None
            inc.update(direction=-1, temperature=best.temperature)

    def _incremental(self, latest: Artifact) -> None:
        s = self.state
        self._latest_for_prompt = latest
        if not s.best or s.best.get("error"):
            s.stage = "done"
            self._persist()
            return
        while True:
            stop = self._hard_stop()
            if stop:
                s.stop_reason = stop
                break
            step = self._next_step()
            if step is None:
                s.stop_reason = "temperature steps found no further gain"
                break
            s.pending = [step.to_dict()]
            self._persist()
            outcome = self._attempt_until_done(step)
            if outcome.error:  # a broken setup is no "no gain": stop stepping, say why
                self._record(step, outcome)
                s.stop_reason = f"temperature steps stopped: {step.generator} failed"
                break
            assert s.incremental is not None
            s.incremental["steps"] += 1
            if self._record(step, outcome):
                s.incremental["temperature"] = step.temperature
            elif s.incremental["direction"] > 0:
                best = Variant.from_dict(s.best["variant"]) if s.best else step
                s.incremental.update(direction=-1, temperature=best.temperature)
            else:
                s.stop_reason = "temperature steps found no further gain"
                break
        s.pending = []
        self._maybe_save()
        s.stage = "done"
        self._persist()

    def _attempt_until_done(self, variant: Variant) -> Outcome:
        while True:
            self._gate()
            token = self.control.attempt_token()
            try:
                return self._attempt(variant, token)
            except Cancelled:
                self.control.cancel.raise_if_cancelled()
            finally:
                self.control.release(token)

    # -- versions and the registry --------------------------------------------------------
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
            if self._wins(best.fitness):
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

    # -- the end --------------------------------------------------------------------------
    def _finish(self, stop_reason: str) -> OptimizeResult:
        s = self.state
        s.status, s.stage, s.finished_at = "done", "done", time.time()
        s.stop_reason, s.owner, s.pending = stop_reason, None, []
        with self.store.batch():
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
