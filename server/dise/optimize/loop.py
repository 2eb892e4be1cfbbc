"""The background optimiser's daemon thread: the cycle that works through the queue.

A mixin of ``optimizer.Optimizer``, which owns the shared state (``_cv``, the flags, the
status, the subscribers, ``triggers``) and the public face. Each cycle saves the user's last
activity now and then, checks the triggers, picks the queue entry to work on (an interrupted
run first; entries wait for idleness unless manual) and optimises it with ``optimize_node``
under an ``_OptimizerControl``, whose gate waits while the optimiser is paused or interactive
work runs. A cycle that raises is logged and reported ("error"), and the thread backs off (at
most ``MAX_BACKOFF_S``) and carries on; a node whose run fails is dequeued with the reason in
its state; an unreachable cluster keeps the node and is retried every ``scan_interval_s``.
"""

from __future__ import annotations

import logging
from typing import Any

from dise.engine.types import Cancelled, DiseError
from dise.optimize import state as st
from dise.optimize.control import Control
from dise.optimize.executors import ClusterUnavailable
from dise.optimize.runner import optimize_node
from dise.optimize.state import NodeBusy
from dise.optimize.triggers import Fired, is_manual

log = logging.getLogger(__name__)

#: Longest wait after failed cycles in a row (seconds).
MAX_BACKOFF_S = 60.0


class _OptimizerControl(Control):
    """Control whose gate waits while the optimiser is paused or interactive work runs."""

    def __init__(self, owner: QueueLoop) -> None:
        super().__init__()
        self.owner = owner

    def gate(self) -> None:
        self.owner._wait_until_free(self.cancel)


class QueueLoop:
    """The optimiser thread's side of ``Optimizer``: events, waiting, the cycle, one node."""

    cfg: Any
    engine: Any

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        with self._cv:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event, data)
            except Exception:
                log.exception("optimiser subscriber failed on %s", event)

    def _preempt(self) -> None:
        with self._cv:
            control = self._control
        if control is not None:
            control.preempt()

    def _blocked(self) -> bool:
        return self._paused or self._interactive > 0

    def _wait_until_free(self, cancel: Any) -> None:
        with self._cv:
            while self._blocked() and not self._stopping:
                self._cv.wait(self.cfg.poll_interval_s)
        cancel.raise_if_cancelled()

    def _sleep(self) -> None:
        with self._cv:
            if not self._stopping:
                self._cv.wait(self.cfg.poll_interval_s)

    def _idle(self, now: float) -> bool:
        return now - self.last_activity() >= self.cfg.idle_after_s

    def _save_activity(self, now: float) -> None:
        with self._cv:
            due = self._activity_dirty and now - self._activity_saved >= \
                self.cfg.activity_persist_s
            when = self._last_activity
            if due:
                self._activity_dirty = False
                self._activity_saved = now
        if due:
            st.record_activity(self.engine.store, when)

    def _main(self) -> None:
        first = True
        try:
            self._announce(True)
            while not self._stopping:
                try:
                    if first:
                        self._fire(self.triggers.hardware(self.clock(), force=True))
                        self._fire(self.triggers.models(self.clock(), force=True))
                        first = False
                    self._cycle()
                except Exception as exc:   # never die silently: log, say so, retry
                    self._failed(exc)
                else:
                    self._recovered()
        finally:
            self._set_status(None)
            try:
                self._save_activity(float("inf"))
            except Exception:
                log.exception("the optimiser could not save the user's last activity")
            self._announce(False)

    def _announce(self, running: bool) -> None:
        """Say in the store that this optimiser runs (or stopped); a failure is only logged."""
        try:
            st.announce_optimizer(self.engine.store, running)
        except Exception:
            log.exception("the optimiser could not record that it %s",
                          "runs" if running else "stopped")

    def _failed(self, exc: Exception) -> None:
        """A cycle raised: log it with its traceback, report it, back off, carry on."""
        log.exception("the optimiser's cycle failed; retrying")
        said = str(exc).strip()
        text = f"{type(exc).__name__}: {said.splitlines()[0]}" if said else type(exc).__name__
        with self._cv:
            self._error = text
            self._failures += 1
            failures = self._failures
        self._set_status(None)
        self._emit("error", {"message": self._error, "failures": failures})
        with self._cv:
            if not self._stopping:
                self._cv.wait(min(MAX_BACKOFF_S,
                                  self.cfg.poll_interval_s * 2 ** min(failures, 12)))

    def _recovered(self) -> None:
        with self._cv:
            if not self._error:
                return
            self._error, self._failures = "", 0
        self._emit("recovered", {})

    def _cycle(self) -> None:
        if self._failed_setups is None:
            self._refresh_failed()
        now = self.clock()
        self._save_activity(now)
        idle = self._idle(now)
        for fired in self.triggers.check(now, idle):
            self._fire(fired)
        if self._blocked() or (self._cluster_lost and now < self._cluster_retry_at):
            self._sleep()
            return
        entry = self._pick(now, idle)
        if entry is None:
            self._announce_idle()
            self._sleep()
            return
        self._idle_announced = False
        self._optimise(entry)

    def _fire(self, fired: Fired | None) -> None:
        if fired is None:
            return
        if fired.trigger == "hardware":
            self._emit("hardware-changed", dict(fired.data, summary=fired.detail))
        if fired.nodes:
            self._emit("triggered", {"trigger": fired.trigger, "detail": fired.detail,
                                     "nodes": list(fired.nodes)})

    def _announce_idle(self) -> None:
        if not self._idle_announced:
            self._idle_announced = True
            self._emit("idle", {"queue": len(self.engine.store.queue())})

    def _pick(self, now: float, idle: bool) -> dict[str, Any] | None:
        """The queue entry to work on: an interrupted run first, then queue order; entries
        wait for idleness unless manual."""
        store = self.engine.store
        allowed = [e for e in store.queue()
                   if (idle or not self.when_idle or is_manual(e))
                   and self._busy_until.get(e["node_id"], 0.0) <= now]
        for entry in allowed:
            rec = st.load_state(store, entry["node_id"])
            if rec is not None and rec.status == "running" and not st.owned_by_other(rec):
                return entry
        return allowed[0] if allowed else None

    def _set_status(self, node: str | None, **fields: Any) -> None:
        with self._cv:
            self._status = {"node": node, "done": fields.get("done", 0),
                            "total": fields.get("total", 0), "best": fields.get("best"),
                            "message": fields.get("message", "")}

    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "progress":
            self._set_status(data["node"], **{k: v for k, v in data.items() if k != "node"})
        self._emit(event, data)

    def _optimise(self, entry: dict[str, Any]) -> None:
        node_id = entry["node_id"]
        control = _OptimizerControl(self)
        with self._cv:
            if self._stopping:
                return
            self._control = control
        self._set_status(node_id, message=f"Optimising {node_id}")
        try:
            result = optimize_node(self.engine, node_id, control=control,
                                   progress=self._on_event, reason=entry.get("reason", ""),
                                   hardware=self.triggers.info)
            self.results.append(result)
            self._cluster_back()
        except ClusterUnavailable as exc:  # before DiseError: keep the node, say so once
            self._cluster_gone(exc)
        except Cancelled:
            pass  # stopping: the state stays for the next start
        except NodeBusy as exc:
            log.info("%s", exc)
            self._busy_until[node_id] = self.clock() + self.cfg.scan_interval_s
        except DiseError as exc:
            log.warning("optimising %s failed: %s", node_id, exc)
            self._give_up(node_id, f"failed: {exc}")
        except Exception:  # one bad node must not stop the others
            log.exception("optimising %s failed", node_id)
            self._give_up(node_id, "failed: see the DiSE log")
        finally:
            with self._cv:
                self._control = None
            self._refresh_failed()
            self._set_status(None)

    def _refresh_failed(self) -> None:
        """Re-read which setups failed per task type (on the optimiser thread)."""
        from dise.optimize import failures
        self._failed_setups = failures.by_task_type(self.engine.store.registry_records())
    def _cluster_gone(self, exc: ClusterUnavailable) -> None:
        """The run stopped with its state saved; say so once per outage, retry later."""
        with self._cv:
            first = not self._cluster_lost
            self._cluster_lost = str(exc)
            self._cluster_retry_at = self.clock() + self.cfg.scan_interval_s
        if first:
            log.warning("%s", exc)
            self._emit("error", {"message": str(exc), "failures": 1})

    def _cluster_back(self) -> None:
        with self._cv:
            was = self._cluster_lost
            self._cluster_lost = ""
        if was:
            log.info("the optimiser's cluster is back")
            self._emit("recovered", {})

    def _give_up(self, node_id: str, why: str) -> None:
        """Dequeue a node whose run failed, and say why in its state (for `dise status`)."""
        store = self.engine.store
        with store.batch():
            rec = st.load_state(store, node_id)
            if rec is not None:
                rec.status, rec.stage, rec.owner = "done", "done", None
                rec.stop_reason = why
                rec.finished_at = self.clock()
                st.save_state(store, rec)
            store.dequeue(node_id)
