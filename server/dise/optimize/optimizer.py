"""The background optimiser: a daemon thread that works through the queue, one node at a time.

It yields to interactive work: ``interactive()`` (wrapped around every Phase 1 request) cancels
the experiments in flight at once (the model and the cores are shared) and holds new ones until
the request is done; the cancelled experiments run again afterwards and are not counted.
``pause()``/``resume()`` do the same on the user's word. ``stop()`` ends the thread; the node's
state stays in the store and the next ``start()`` (in this or any later process) resumes it.

Subscribers get events from the optimiser thread, ``callback(event, data)``:

* "progress": {node, done, total, best, stage, message} (message like
  "Optimising is_valid_email: 3/5 experiments, best 0.89"; ``finished`` at the end of a node);
* "improved": {node_id, old_artifact_id, new_artifact_id, old_fitness, new_fitness,
  generator, temperature, approach, registry_updated};
* "idle": {queue} when nothing is left to do now; "paused"/"resumed": {reason};
* "hardware-changed": {upgrade, before, after, fingerprint, queued};
* "triggered": {trigger, detail, nodes} when a trigger queued work (trigger "models": a
  stronger generator became usable);
* "error": {message, failures} when a cycle failed on an unexpected error: the thread logs it,
  waits (longer after each failure in a row, at most ``loop.MAX_BACKOFF_S``) and carries on, and
  ``state()`` says "error" until a cycle succeeds. Also, once per outage, when the executor's
  cluster (``[optimize] executor = "ray"``) is unreachable: the node's state and queue entry
  stay, the thread tries again every ``scan_interval_s``, and "recovered" follows once an
  experiment ran again.

The thread's cycle is in ``loop`` (``QueueLoop``, a mixin of ``Optimizer``); this module is
the public face: lifecycle, requests, interactive work, subscriptions and ``state()``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dise.hardware import HardwareInfo, probe
from dise.optimize import state as st
from dise.optimize.loop import QueueLoop, _OptimizerControl
from dise.optimize.runner import OptimizeResult
from dise.optimize.triggers import MANUAL, Triggers, next_run

log = logging.getLogger(__name__)

Callback = Callable[[str, dict[str, Any]], None]


class Optimizer(QueueLoop):
    """Phase 2 in the background, over one ``Engine`` (shared with Phase 1)."""

    def __init__(self, engine: Any, *, when_idle: bool | None = None,
                 probe_fn: Callable[[], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.cfg = engine.cfg.optimize
        self.when_idle = self.cfg.when_idle if when_idle is None else when_idle
        self.clock = clock
        self.triggers = Triggers(engine.cfg, engine.store, probe_fn=probe_fn or probe,
                                 clock=clock,
                                 backend_factory=getattr(engine, "backend_factory", None))
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._paused = False
        self._interactive = 0
        self._control: _OptimizerControl | None = None
        self._subscribers: list[Callback] = []
        self._last_activity = 0.0
        self._activity_saved = 0.0
        self._activity_dirty = False
        self._busy_until: dict[str, float] = {}
        self._idle_announced = False
        self._status: dict[str, Any] = {"node": None, "done": 0, "total": 0, "best": None}
        #: ``failures.by_task_type`` of the registry, refreshed on this thread after each run.
        self._failed_setups: dict[str, list[dict[str, Any]]] | None = None
        #: The last unexpected error ("" after a cycle that went well) and failures in a row.
        self._error = ""
        self._failures = 0
        #: The executor's cluster is unreachable: why (said once), and when to try again.
        self._cluster_lost = ""
        self._cluster_retry_at = 0.0
        self._started = False
        self.results: list[OptimizeResult] = []

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the daemon thread (a no-op when it runs)."""
        with self._cv:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._started = True
            self._thread = threading.Thread(target=self._main, name="dise-optimizer",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop the thread (the node's state is kept for the next start); True once stopped."""
        with self._cv:
            self._stopping = True
            control = self._control
            self._cv.notify_all()
        if control is not None:
            control.cancel.cancel()
            control.preempt()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def pause(self) -> None:
        with self._cv:
            if self._paused:
                return
            self._paused = True
        self._preempt()
        self._emit("paused", {"reason": "user"})

    def resume(self) -> None:
        with self._cv:
            if not self._paused:
                return
            self._paused = False
            self._cv.notify_all()
        self._emit("resumed", {"reason": "user"})

    # -- requests and activity ------------------------------------------------------------
    def request(self, target: str, *, priority: str = "normal",
                reason: str = MANUAL) -> list[str]:
        """Queue a node, or every node with ``"all"``; returns the queued node ids.

        Reasons starting with "manual" run without waiting for the user to be idle. A thread
        that was started and has died is started again, so queued work is worked on.
        """
        self._restart_if_dead()
        store = self.engine.store
        if target == "all":
            nodes = [rec["node_id"] for rec in store.nodes()]
        else:
            nodes = [store.resolve(target, " to optimise")]  # a node id or a function name
        self._enqueue(nodes, priority, reason)
        return nodes

    def request_below(self, fitness: float, *, priority: str = "high",
                      reason: str | None = None) -> list[str]:
        """Queue every node whose latest fitness is below ``fitness``."""
        nodes = [rec["node_id"] for rec in self.engine.store.nodes()
                 if rec.get("fitness") is not None and rec["fitness"] < fitness]
        self._enqueue(nodes, priority, reason or f"{MANUAL}: fitness below {fitness}")
        return nodes

    def _enqueue(self, nodes: list[str], priority: str, reason: str) -> None:
        store = self.engine.store
        with store.batch():
            for node_id in nodes:
                store.enqueue(node_id, priority, reason)
        with self._cv:
            for node_id in nodes:
                self._busy_until.pop(node_id, None)
            self._idle_announced = False
            self._cv.notify_all()

    def note_activity(self) -> None:
        """The user edited or asked for something: restarts the idle clock (cheap)."""
        now = self.clock()
        with self._cv:
            self._last_activity = max(self._last_activity, now)
            self._activity_dirty = True

    @contextmanager
    def interactive(self) -> Iterator[None]:
        """Wrap a Phase 1 request: experiments stop at once and resume after it."""
        self.note_activity()
        with self._cv:
            self._interactive += 1
            first = self._interactive == 1
            working = self._status["node"] is not None
        if first:
            self._preempt()
            if working:
                self._emit("paused", {"reason": "interactive"})
        try:
            yield
        finally:
            self.note_activity()
            with self._cv:
                self._interactive -= 1
                last = self._interactive == 0
                self._cv.notify_all()
            if last and working:
                self._emit("resumed", {"reason": "interactive"})

    # -- observing ------------------------------------------------------------------------
    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event, data)`` from the optimiser thread; returns an unsubscribe."""
        with self._cv:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._cv:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    def state(self) -> dict[str, Any]:
        """{"state", "node", "done", "total", "best", "queue", "next_run", "message",
        "unavailable", "error"}; ``unavailable``: pool generators Phase 2 cannot use now, each
        {"generator", "reason", "how"} (``how``: e.g. "dise models pull qwen2.5-coder-1.5b");
        ``failed_setups``: by task type, the setups that errored or never gave a gain
        (``dise.optimize.failures``).

        "state" is "paused", "optimising", "idle", "error" (the last cycle failed; "error"
        says why, the thread retries) or "stopped" (started once, no thread running now).
        """
        store = self.engine.store
        with self._cv:
            status = dict(self._status)
            paused = self._paused or self._interactive > 0
            error, started = self._error, self._started
            lost = self._cluster_lost
        message = status.get("message", "")
        if started and not self.running:
            name = "stopped"
            message = message or "the optimiser is not running"
        elif error:
            name, message = "error", f"the optimiser failed and retries: {error}"
        elif lost:  # the cluster's own message says what happens next
            name, message, error = "error", lost, lost
        else:
            name = "paused" if paused else ("optimising" if status["node"] else "idle")
        queue = len(store.queue())
        upcoming = None if status["node"] and not paused else \
            next_run(store, self.engine.cfg, self.clock(), self.last_activity())
        return {"state": name, "node": status["node"], "done": status["done"],
                "total": status["total"], "best": status["best"], "queue": queue,
                "next_run": upcoming, "message": message, "error": error or None,
                "unavailable": [dict(u) for u in self.triggers.unavailable],
                "failed_setups": self.failed_setups()}

    def _restart_if_dead(self) -> None:
        with self._cv:
            dead = self._started and not self._stopping and not self.running
        if dead:
            log.warning("the optimiser thread had stopped; starting it again")
            self.start()

    def last_activity(self) -> float:
        with self._cv:
            mine = self._last_activity
        return max(mine, st.persisted_activity(self.engine.store))

    @property
    def hardware(self) -> HardwareInfo | None:
        return self.triggers.info

    def failed_setups(self) -> dict[str, list[dict[str, Any]]]:
        """By task type, the setups that errored or never gave a gain (as last read on the
        optimiser thread; cheap, never touches the store)."""
        return dict(self._failed_setups or {})
