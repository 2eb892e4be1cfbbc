"""Phase 2 state that survives a kill: one record per node being (or last) optimised, and a few
global records (hardware fingerprint, trigger clocks, user activity), in the store's
``optimizer`` table.

A node's record is written after every attempt, so a process killed at any moment loses at
most the experiment that was running; the next process resumes from the record. The record
names its owner (pid and host) and the store holds a lease on the node (renewed with every
save, lapsing if its holder dies), so two DiSE processes, on one machine or several sharing a
store, never optimise the same node at once; a dead owner's record is taken over.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from dise.engine.types import DiseError
from dise.store import Store
from dise.store.common import DEFAULT_LEASE_S

#: Keys of the global records (node ids never start with an underscore).
HARDWARE_KEY = "__hardware__"
TRIGGERS_KEY = "__triggers__"
ACTIVITY_KEY = "__activity__"
OPTIMIZERS_KEY = "__optimizers__"


class NodeBusy(DiseError):
    """Another live DiSE process is optimising this node."""


@dataclass
class NodeState:
    """Where the optimisation of one node stands; see the module docstring."""

    node_id: str
    #: "running" until the run ends, then "done".
    status: str = "running"
    #: "baseline" → "experiments" → "incremental" → "done".
    stage: str = "baseline"
    reason: str = ""
    started_at: float = 0.0
    finished_at: float | None = None
    #: Working seconds so far, across restarts (time paused or killed does not count).
    elapsed_s: float = 0.0
    #: The version the run started from and its stored fitness.
    base_artifact_id: str = ""
    base_fitness: float = 0.0
    #: The latest version (the run's own new versions included) and its stored fitness.
    current_artifact_id: str = ""
    current_fitness: float = 0.0
    #: The starting code re-measured now on the frozen tests (same load, same sandbox).
    baseline_fitness: float | None = None
    baseline_passed: int = 0
    #: Of those, the user's (trusted) tests passed: a better candidate never passes fewer.
    baseline_trusted: int = 0
    #: The best candidate so far (an ``Outcome`` dict, code included), or None.
    best: dict[str, Any] | None = None
    attempts: int = 0
    #: Attempt number of the last better candidate (0: none yet).
    last_improvement: int = 0
    #: Next strategies, in order (``Variant`` dicts); an attempt leaves it when recorded.
    pending: list[dict[str, Any]] = field(default_factory=list)
    #: Every recorded attempt, without code.
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Stage 3: {"direction": 1 | -1, "temperature": t, "steps": n}.
    incremental: dict[str, Any] | None = None
    #: Few-shot (request, code) pairs chosen when planning, so a resumed run asks the same.
    examples: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Generators of the pool this run could not use: {"generator", "reason", "how"}.
    unavailable: list[dict[str, str]] = field(default_factory=list)
    #: Attempts that produced nothing (the setup broke); they never count as "no gain".
    errors: int = 0
    #: Differential inputs the model proposed (``repr`` of argument tuples), asked once a
    #: run; None until asked.
    model_inputs: list[str] | None = None
    #: Artifact ids this run created.
    versions: list[str] = field(default_factory=list)
    registry_updated: bool = False
    stop_reason: str = ""
    owner: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def load_state(store: Store, node_id: str) -> NodeState | None:
    rec = store.optimizer_state(node_id)
    return None if rec is None else NodeState.from_dict(rec)


def save_state(store: Store, state: NodeState) -> None:
    store.set_optimizer_state(state.node_id, state.to_dict())


# -- ownership -----------------------------------------------------------------------------
def me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def owner_alive(owner: dict[str, Any] | None) -> bool:
    """Is the process that owns a record still running? Other hosts are trusted to be."""
    if not owner:
        return False
    if owner.get("host") != socket.gethostname():
        return True
    pid = int(owner.get("pid") or 0)
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    """A killed child that was not reaped yet still answers kill(0); /proc says it is dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owned_by_other(state: NodeState | None) -> bool:
    return bool(state and state.status == "running" and state.owner
                and state.owner != me() and owner_alive(state.owner))


# -- leases (the store's, shared by every process and machine) -------------------------------
def lease_seconds(cfg: Any) -> float:
    """How long an optimiser's lease on a node lasts unless renewed (``[store] lease_s``)."""
    return float(getattr(getattr(cfg, "store", None), "lease_s", DEFAULT_LEASE_S))


def _dead_here(holder: str) -> bool:
    """Is a lease holder (``user@host:pid``) a process of this machine that is gone?"""
    who, _, pid = holder.rpartition(":")
    host = who.rpartition("@")[2]
    return host == socket.gethostname() and pid.isdigit() and not owner_alive(
        {"host": host, "pid": int(pid)})


def take_lease(store: Store, state: NodeState | None, node_id: str, cfg: Any) -> None:
    """Take (or renew) this process's lease on ``node_id``; ``NodeBusy`` when another live
    optimiser holds it: a live lease anywhere, or a live owner process on this host. An owner
    on another machine counts as dead once its lease lapsed (it stopped renewing)."""
    here = socket.gethostname()
    local_owner = bool(state and state.owner and state.owner.get("host") == here)
    ttl = lease_seconds(cfg)
    taken = store.claim(node_id, ttl_s=ttl)
    lease = None if taken else store.lease(node_id)
    if lease is not None and _dead_here(lease["holder"]):  # killed on this machine: no wait
        store.release(node_id, holder=lease["holder"])
        taken = store.claim(node_id, ttl_s=ttl)
    if taken and not (local_owner and owned_by_other(state)):
        return
    lease = store.lease(node_id)
    who = lease["holder"] if lease else f"pid {(state.owner or {}).get('pid')}" if state else "?"
    raise NodeBusy(f"{node_id} is being optimised by another DiSE process ({who}); wait for "
                   "it to finish or stop that process.")


# -- global records ------------------------------------------------------------------------
def global_record(store: Store, key: str) -> dict[str, Any]:
    return store.optimizer_state(key) or {}


def update_global(store: Store, key: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into a global record atomically (other processes write it too)."""
    with store.batch():
        rec = global_record(store, key)
        rec.update(fields)
        store.set_optimizer_state(key, rec)
    return rec


def persisted_activity(store: Store) -> float:
    """When any DiSE process last saw the user edit or ask (0.0: never)."""
    return float(global_record(store, ACTIVITY_KEY).get("last_activity") or 0.0)


def record_activity(store: Store, when: float | None = None) -> None:
    when = time.time() if when is None else when
    with store.batch():
        if persisted_activity(store) < when:
            store.set_optimizer_state(ACTIVITY_KEY, {"last_activity": when})


def announce_optimizer(store: Store, running: bool) -> None:
    """Record this process as a running optimiser (``running``), or take it off the record,
    so ``dise status`` can say whether queued work will run at all."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    with store.batch():
        holders = dict(global_record(store, OPTIMIZERS_KEY).get("holders") or {})
        if running:
            holders[holder] = me()
        else:
            holders.pop(holder, None)
        store.set_optimizer_state(OPTIMIZERS_KEY, {"holders": holders})


def optimizers_running(store: Store) -> int:
    """How many optimisers (``dise serve``, ``dise optimize``) are alive now, on any machine
    that shares the store (``owner_alive``: other hosts are trusted to be)."""
    holders = global_record(store, OPTIMIZERS_KEY).get("holders") or {}
    return sum(owner_alive(owner) for owner in holders.values())
