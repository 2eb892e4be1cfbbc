"""What puts functions on the optimisation queue, and when queued work may run.

* fitness threshold: Phase 1 queues an artifact below ``pipeline.optimise_below`` as high
  priority; the scan also queues such functions that are neither queued nor ever optimised;
* usage: a function used more than ``usage_threshold`` times (and again after each further
  ``usage_threshold`` uses) is queued;
* time: every ``schedule_interval_s``, when the user is idle, functions below
  ``target_fitness`` not optimised within that interval are queued (low priority);
* hardware: at start and every ``hardware.check_interval_s`` the machine is probed; a new
  fingerprint is a change, and an upgrade queues every function again, now with the larger
  models the memory allows;
* model pool: every ``scan_interval_s`` (and at start) Phase 2's generator pool is checked;
  when a generator stronger than every one usable before becomes usable (installed with
  ``dise models pull``, served by Ollama, or now fitting the memory), every function below
  ``target_fitness`` is queued again for it. The generators that cannot run are kept in
  ``Triggers.unavailable`` (with how to add them) for ``dise status`` and the editor;
* idle: queued work waits until the user has been idle ``idle_after_s`` (when ``when_idle``);
* manual: entries whose reason starts with "manual" run at once.

Clocks and marks live in the store's global ``optimizer`` records, so they hold across restarts
and across DiSE processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dise.config import Config
from dise.hardware import HardwareChange, HardwareInfo, compare, probe
from dise.optimize import state as st
from dise.store import Store

log = logging.getLogger(__name__)

MANUAL = "manual"


def is_manual(entry: dict[str, Any]) -> bool:
    return str(entry.get("reason", "")).startswith(MANUAL)


@dataclass
class Fired:
    """One trigger that queued work (or noticed something, like a hardware change)."""

    trigger: str
    detail: str
    nodes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


class Triggers:
    """Runs the due checks; each returns what it queued. Not thread-safe: one caller thread."""

    def __init__(self, cfg: Config, store: Store, *,
                 probe_fn: Callable[[], dict[str, Any]] = probe,
                 clock: Callable[[], float] = time.time,
                 backend_factory: Callable[..., Any] | None = None) -> None:
        self.cfg, self.store = cfg, store
        #: The engine's ``backend_factory``: asked whether each pool generator can run.
        self.backend_factory = backend_factory
        self.probe_fn, self.clock = probe_fn, clock
        self.info: HardwareInfo | None = None
        self._hw_checked: float | None = None
        self._scanned: float | None = None
        self._models_checked: float | None = None
        #: Pool generators that cannot run now: {"generator", "reason", "how"}.
        self.unavailable: list[dict[str, str]] = []

    def check(self, now: float, idle: bool) -> list[Fired]:
        fired: list[Fired] = []
        for found in (self.hardware(now), self.models(now), *self.scan(now),
                      self.schedule(now, idle)):
            if found is not None:
                fired.append(found)
        return fired

    # -- hardware -------------------------------------------------------------------------
    def hardware(self, now: float, *, force: bool = False) -> Fired | None:
        """Probe when due; a fingerprint unlike the persisted one fires "hardware"."""
        due = self._hw_checked is None or \
            now - self._hw_checked >= self.cfg.hardware.check_interval_s
        if not (due or force):
            return None
        self._hw_checked = now
        record = self.probe_fn()
        self.info = info = HardwareInfo.from_record(record)
        before_rec = st.global_record(self.store, st.HARDWARE_KEY)
        before = HardwareInfo.from_record(before_rec["record"]) if before_rec.get("record") \
            else None
        change = compare(before, info, self.cfg.hardware)
        fields: dict[str, Any] = {"record": record, "fingerprint": change.fingerprint,
                                  "summary": info.summary(), "checked_at": now}
        if change.changed:
            fields.update(changed_at=now, change=change.summary)
        st.update_global(self.store, st.HARDWARE_KEY, **fields)
        if not change.changed:
            return None
        log.info("%s", change.summary)
        queued = self._requeue_all(change) if change.upgrade else []
        return Fired("hardware", change.summary, queued,
                     {"upgrade": change.upgrade, "before": change.before,
                      "after": change.after, "fingerprint": change.fingerprint,
                      "queued": len(queued)})

    def _requeue_all(self, change: HardwareChange) -> list[str]:
        nodes = [rec["node_id"] for rec in self.store.nodes()]
        with self.store.batch():
            for node_id in nodes:
                self.store.enqueue(node_id, "normal", "hardware upgrade: larger models allowed "
                                   f"({change.after})")
        return nodes

    # -- model pool -----------------------------------------------------------------------
    def models(self, now: float, *, force: bool = False) -> Fired | None:
        """When due: which pool generators can run; a stronger one than before re-queues every
        function below the target (normal priority)."""
        due = self._models_checked is None or \
            now - self._models_checked >= self.cfg.optimize.scan_interval_s
        if not (due or force):
            return None
        self._models_checked = now
        from dise.optimize.pool import generator_pool
        try:
            usable, self.unavailable = generator_pool(self.cfg, self.info,
                                                      self.backend_factory)
        except Exception as exc:  # noqa: BLE001 - a bad pool is reported by the runner
            log.warning("could not check the generator pool: %s", exc)
            return None
        before = st.global_record(self.store, st.TRIGGERS_KEY).get("usable_generators")
        st.update_global(self.store, st.TRIGGERS_KEY, usable_generators=usable)
        if before is None:
            return None
        strongest = max((self._strength(g) for g in before if g in self.cfg.generators),
                        default=0)
        stronger = [g for g in usable if g not in before and self._strength(g) > strongest]
        if not stronger:
            return None
        target = self.cfg.optimize.target_fitness
        nodes = [n["node_id"] for n in self.store.nodes()
                 if n.get("fitness") is not None and n["fitness"] <= target]
        reason = f"model pool: {', '.join(stronger)} now usable"
        with self.store.batch():
            for node_id in nodes:
                self.store.enqueue(node_id, "normal", reason)
        log.info("%s: %d functions queued again", reason, len(nodes))
        return Fired("models", reason, nodes, {"generators": stronger})

    def _strength(self, name: str) -> int:
        """How strong a generator is taken to be: its model's memory need (bytes)."""
        from dise.llm.select import model_ram_bytes
        return model_ram_bytes(self.cfg.generators[name], self.cfg)

    # -- usage and fitness ----------------------------------------------------------------
    def scan(self, now: float) -> list[Fired]:
        if self._scanned is not None and now - self._scanned < self.cfg.optimize.scan_interval_s:
            return []
        self._scanned = now
        ocfg, below = self.cfg.optimize, self.cfg.pipeline.optimise_below
        queued = {e["node_id"] for e in self.store.queue()}
        states = {s["key"]: s for s in self.store.optimizer_states()}
        rec = st.global_record(self.store, st.TRIGGERS_KEY)
        marks: dict[str, int] = dict(rec.get("usage_marks") or {})
        by_usage, by_fitness = [], []
        for node in self.store.nodes():
            node_id, usage = node["node_id"], int(node.get("usage") or 0)
            if usage > ocfg.usage_threshold and usage - marks.get(node_id, 0) > \
                    ocfg.usage_threshold:
                by_usage.append((node_id, usage))
            fitness = node.get("fitness")
            if fitness is not None and fitness < below and node_id not in queued \
                    and node_id not in states:
                by_fitness.append((node_id, fitness))
        if not by_usage and not by_fitness:
            return []
        with self.store.batch():
            for node_id, usage in by_usage:
                self.store.enqueue(node_id, "normal", f"used {usage} times")
                marks[node_id] = usage
            for node_id, fitness in by_fitness:
                self.store.enqueue(node_id, "high", f"fitness {fitness:.2f} < {below}")
            if by_usage:
                st.update_global(self.store, st.TRIGGERS_KEY, usage_marks=marks)
        fired = []
        if by_usage:
            fired.append(Fired("usage", f"used more than {ocfg.usage_threshold} times",
                               [n for n, _ in by_usage]))
        if by_fitness:
            fired.append(Fired("fitness", f"fitness below {below}", [n for n, _ in by_fitness]))
        return fired

    # -- time -----------------------------------------------------------------------------
    def schedule(self, now: float, idle: bool) -> Fired | None:
        """Every ``schedule_interval_s`` (counted from the first start), when idle."""
        ocfg = self.cfg.optimize
        rec = st.global_record(self.store, st.TRIGGERS_KEY)
        last = rec.get("last_scheduled")
        if last is None:
            st.update_global(self.store, st.TRIGGERS_KEY, last_scheduled=now)
            return None
        if not idle or now - float(last) < ocfg.schedule_interval_s:
            return None
        queued = {e["node_id"] for e in self.store.queue()}
        states = {s["key"]: s for s in self.store.optimizer_states()}
        due = []
        for node in self.store.nodes():
            node_id, fitness = node["node_id"], node.get("fitness")
            if node_id in queued or fitness is None or fitness > ocfg.target_fitness:
                continue
            done = states.get(node_id)
            if done and (done.get("status") == "running" or
                         float(done.get("finished_at") or 0.0) > now - ocfg.schedule_interval_s):
                continue
            due.append(node_id)
        with self.store.batch():
            for node_id in due:
                self.store.enqueue(node_id, "low", "scheduled re-optimisation")
            st.update_global(self.store, st.TRIGGERS_KEY, last_scheduled=now)
        return Fired("schedule", f"every {ocfg.schedule_interval_s:g} s when idle", due)


def last_scheduled(store: Store) -> float | None:
    value = st.global_record(store, st.TRIGGERS_KEY).get("last_scheduled")
    return None if value is None else float(value)


def next_run(store: Store, cfg: Config, now: float, last_activity: float) -> float | None:
    """When queued or scheduled work will next start (``now`` when it can start at once)."""
    ocfg = cfg.optimize
    idle_at = last_activity + ocfg.idle_after_s
    queue = store.queue()
    if queue:
        if not ocfg.when_idle or any(is_manual(e) for e in queue):
            return now
        return max(now, idle_at)
    last = last_scheduled(store)
    if last is None:
        return None
    return max(now, last + ocfg.schedule_interval_s, idle_at)
