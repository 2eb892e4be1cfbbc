"""`dise status <node>`: metrics, lineage, and the Phase 2 facts (queue, optimisation, next run).

``status_info``/``status_lines`` read the store alone (no optimiser needed); `/status` in the
shell prints the same.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from dise.cli import output
from dise.cli.common import EngineFactory, make_engine
from dise.config import Config


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser("status", help="show a stored function: metrics, lineage, queue")
    status.add_argument("node", help="node id or function name, e.g. is_valid_email")
    status.add_argument("--json", action="store_true")


def run(cfg: Config, args: argparse.Namespace, *,
        engine_factory: EngineFactory = make_engine) -> int:
    """Print the latest version of ``args.node`` (id or function name) with its lineage."""
    engine = engine_factory(cfg)
    info = engine.status(args.node)
    node = info["latest"].node_id  # args.node may be the function's name
    if args.json:
        print(json.dumps({"latest": info["latest"].to_dict(),
                          "versions": [v.artifact_id for v in info["versions"]],
                          "queue_position": info["queue_position"],
                          "optimisation": status_info(engine, node)},
                         indent=2, default=str))
        return 0
    latest = info["latest"]
    output.print_artifact(latest)  # the queue position is in status_lines, with its reason
    lineage = " → ".join(f"{v.artifact_id} ({v.fitness_score:.2f})" for v in info["versions"])
    output.console.print(f"[bold]lineage[/] {lineage}")
    for line in status_lines(engine, node):
        output.console.print(line, markup=False)
    return 0


# -- Phase 2 facts --------------------------------------------------------------------------
def describe_state(state: dict[str, Any], now: float | None = None) -> str:
    """One line for people from ``Optimizer.state()``."""
    now = time.time() if now is None else now
    queue = f"queue {state['queue']}"
    if state["state"] == "paused":
        return f"paused · {queue}"
    if state["state"] == "optimising":
        return f"{state.get('message') or 'optimising ' + str(state['node'])} · {queue}"
    return f"idle · {queue} · next run {describe_next_run(state.get('next_run'), now)}"


def describe_next_run(when: float | None, now: float) -> str:
    """"now", "in 5 min", "in 1 h 30 min" or "not scheduled" (``when``, ``now``: epoch s)."""
    if when is None:
        return "not scheduled"
    wait = when - now
    if wait <= 1:
        return "now"
    return f"in {_duration(wait)}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def status_info(engine: Any, node_id: str, now: float | None = None) -> dict[str, Any]:
    """Phase 2 facts about a node, from the store alone (no optimiser needed)."""
    from dise.optimize import load_state, next_run
    from dise.optimize.state import optimizers_running, owner_alive, persisted_activity

    now = time.time() if now is None else now
    store = engine.store
    queue = store.queue()
    entry = next((e for e in queue if e["node_id"] == node_id), None)
    rec = load_state(store, node_id)
    info: dict[str, Any] = {
        "queue_position": store.queue_position(node_id), "queue_length": len(queue),
        "queue_priority": entry["priority"] if entry else None,
        "queue_reason": entry["reason"] if entry else None,
        "next_run": next_run(store, engine.cfg, now, persisted_activity(store)),
        "optimisers_running": optimizers_running(store), "optimisation": None}
    if rec is not None:
        info["optimisation"] = {
            "status": rec.status, "stage": rec.stage, "attempts": rec.attempts,
            "best": rec.best["fitness"] if rec.best else None, "versions": rec.versions,
            "stop_reason": rec.stop_reason, "finished_at": rec.finished_at,
            "active": rec.status == "running" and owner_alive(rec.owner),
            "errors": rec.errors, "samples": sum(1 for e in rec.history if e.get("sample"))}
    info["unavailable"] = unavailable_now(engine.cfg, getattr(engine, "backend_factory", None))
    info["failed_setups"] = failed_setups(engine, node_id)
    info["best_of_k"] = phase1_samples(engine, info["failed_setups"][0])
    return info


def phase1_samples(engine: Any, task_type: str) -> dict[str, Any]:
    """What Phase 1 does for a request of ``task_type`` and when its answer fails the user's
    tests: {"task_type", "default", "start", "start_reason", "generator", "samples",
    "reason"} (``dise.engine.best_of_k.learned_start`` and ``policy``)."""
    from dise.engine import best_of_k

    default = engine.cfg.pipeline.default_generator
    plan = best_of_k.policy(engine.cfg, engine.store.registry_records(), task_type,
                            best_of_k.sample_generators(engine.cfg, default))
    start = best_of_k.learned_start(engine.cfg, engine.store, task_type, default)
    return {"task_type": task_type, "generator": plan.generator or default,
            "samples": plan.samples, "reason": plan.reason, "default": default,
            "start": start[0] if start else default, "start_reason": start[1] if start else ""}


def failed_setups(engine: Any, node_id: str) -> tuple[str, list[dict[str, Any]]]:
    """(task type, the setups that failed for it) of ``node_id``'s latest version."""
    from dise.optimize import failures

    latest = engine.store.latest(node_id)
    task_type = latest.task_type if latest is not None else ""
    return task_type, failures.failed_setups(engine.store.best_generator(task_type))


def unavailable_now(cfg: Any, backend_factory: Any = None) -> list[dict[str, str]]:
    """Phase 2's pool generators that cannot run now, each {"generator", "reason", "how"}
    (a bad pool setting comes back as one entry with the error)."""
    from dise.errors import DiseError
    from dise.optimize.pool import generator_pool

    try:
        return generator_pool(cfg, None, backend_factory)[1]
    except DiseError as exc:
        return [{"generator": "", "reason": str(exc), "how": ""}]


def unavailable_line(unavailable: list[dict[str, str]]) -> str:
    """"Phase 2 cannot use: qwen-1.5b (not installed; add it: dise models pull …)" or ""."""
    if not unavailable:
        return ""
    parts = []
    for u in unavailable:
        why = "not installed" if "not installed" in u["reason"] else u["reason"]
        how = f"; add it: {u['how']}" if u.get("how") else ""
        parts.append(f"{u['generator']} ({why}{how})" if u["generator"] else why)
    return "Phase 2 cannot use: " + ", ".join(parts)


def status_lines(engine: Any, node_id: str, now: float | None = None) -> list[str]:
    """Plain-text lines for `dise status <node>`: queue position, optimisation, next run."""
    now = time.time() if now is None else now
    info = status_info(engine, node_id, now)
    lines = []
    if info["queue_position"]:
        lines.append(f"queue: position {info['queue_position']} of {info['queue_length']} "
                     f"({info['queue_priority']}: {info['queue_reason']})")
    else:
        lines.append("queue: not queued for optimisation")
    opt = info["optimisation"]
    if opt and opt["status"] == "running":
        best = f", best {opt['best']:.2f}" if opt["best"] is not None else ""
        where = "running now" if opt["active"] else "interrupted, resumes on the next run"
        lines.append(f"optimisation: {where}: {opt['stage']}, {opt['attempts']} experiments"
                     f"{best}")
    elif opt:
        ago = _duration(now - (opt["finished_at"] or now))
        made = f"made {', '.join(opt['versions'])}" if opt["versions"] else "no better version"
        samples = (f", {opt['samples']} of them extra samples drawn because it failed "
                   "your tests" if opt.get("samples") else "")
        lines.append(f"last optimised {ago} ago: {made} in {opt['attempts']} experiments"
                     f"{samples} ({opt['stop_reason']})")
    when = info["next_run"]
    if info["queue_position"]:
        waits = " (waits until you are idle)" if when is not None and when > now + 1 else ""
        lines.append(f"next run: {describe_next_run(when, now)}{waits}")
    else:
        lines.append(f"the optimiser's next scheduled run: {describe_next_run(when, now)}")
    if info["queue_position"] and not info["optimisers_running"] and not (opt and opt["active"]):
        lines[-1] += ("; no optimiser is running: open your editor (`dise serve`) or run "
                      "`dise optimize --background`")
    if info["unavailable"]:
        lines.append(unavailable_line(info["unavailable"]))
    plan = info["best_of_k"]
    drawn = (f"draws {plan['samples']} extra samples of {plan['generator']} when the answer "
             "fails your tests" if plan["samples"] else
             "draws no extra samples when the answer fails your tests")
    why = plan["reason"]
    if plan["start"] != plan["default"]:
        drawn = (f"starts with {plan['start']} instead of {plan['default']}, then draws up to "
                 f"{plan['samples']} samples of it when the answer fails your tests")
        why = plan["start_reason"]
    elif plan["samples"] and plan["generator"] != plan["default"]:
        drawn = (f"asks {plan['generator']} when {plan['default']}'s answer fails your tests, "
                 f"then draws up to {plan['samples']} samples of it")
    lines.append(f"Phase 1, {plan['task_type'] or 'this kind of'} functions: {drawn} ({why})")
    from dise.optimize.failures import describe
    if describe(*info["failed_setups"]):
        lines.append(describe(*info["failed_setups"]))
    return lines
