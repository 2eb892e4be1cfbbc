"""What every store backend shares: who is writing (provenance, lease holders), the queue's
priorities and lease rules, and registry updates, so TinyDB and PostgreSQL answer alike."""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

from dise import __version__

#: Seconds a queue lease lasts unless renewed: a holder that dies frees its node after this.
DEFAULT_LEASE_S = 600.0

#: Queue priorities, most urgent first.
PRIORITIES: tuple[str, ...] = ("high", "normal", "low")
#: Priority -> its place in ``PRIORITIES`` (lower is more urgent).
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}


def made_by() -> str:
    """``user@host`` of this process, recorded on every artifact it stores."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (containers): the uid says enough
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def holder_id() -> str:
    """``user@host:pid``: names one process as a lease holder, on any machine."""
    return f"{made_by()}:{os.getpid()}"


def stamp(extra: dict[str, Any]) -> None:
    """Add provenance (``made_by``, ``dise_version``) to an artifact's ``extra`` unless it
    has some already (a migrated or imported artifact keeps its maker)."""
    extra.setdefault("made_by", made_by())
    extra.setdefault("dise_version", __version__)


def lease_free(lease: dict[str, Any] | None, holder: str, now: float) -> bool:
    """May ``holder`` take a node whose lease is ``lease`` (``{"holder", "until"}``) at ``now``?
    Yes when there is none, it expired, or it is the holder's own."""
    return lease is None or lease.get("holder") == holder or float(lease.get("until", 0)) <= now


def add_registry_win(rec: dict[str, Any] | None, task_type: str, setup: str,
                     node_id: str) -> tuple[dict[str, Any], int]:
    """Count a win of ``setup`` on ``node_id`` in a registry record (``None``: a new one for
    ``task_type``), in place; returns the record and how many distinct functions it won on."""
    rec = rec or {"task_type": task_type, "wins": {}}
    nodes = rec.setdefault("wins", {}).setdefault(setup, [])
    if node_id not in nodes:
        nodes.append(node_id)
    return rec, len(nodes)


def add_registry_trial(rec: dict[str, Any] | None, task_type: str, setup: str, node_id: str,
                       result: str, reason: str = "") -> dict[str, Any]:
    """Count one Phase 2 attempt of ``setup`` in a registry record (``None``: a new one for
    ``task_type``), in place: ``result`` "gain"/"no_gain" lists ``node_id`` once, "error"
    counts it and keeps ``reason`` (first 200 characters) as ``last_error``."""
    rec = rec or {"task_type": task_type, "wins": {}}
    trial = rec.setdefault("trials", {}).setdefault(
        setup, {"gain": [], "no_gain": [], "errors": 0, "last_error": ""})
    if result == "error":
        trial["errors"] += 1
        trial["last_error"] = reason[:200]
    elif node_id not in trial[result]:
        trial[result].append(node_id)
    return rec
