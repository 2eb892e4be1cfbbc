"""`dise optimize …` and `/optimize …` in the DiSE> shell (Phase 2).

    dise optimize is_valid_email              optimise one function now, with a progress display
    dise optimize all --priority=high         every stored function
    dise optimize --fitness-below=0.8         every function below a fitness
    dise optimize --background --when-idle    work through the queue whenever you are idle

An interrupted run (Ctrl-C, a closed terminal, a killed process) is saved after every
experiment; the same command, `dise serve` or `--background` resumes it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import threading
import time
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dise.cli import output
from dise.cli.common import EngineFactory, make_engine, run_cancellable
from dise.cli.status import describe_state
from dise.config import Config
from dise.errors import DiseError
from dise.store import PRIORITIES
from dise.types import CancelToken

USAGE = ("dise optimize <node> | all [--priority=high] | --fitness-below=0.8 | "
         "--background [--when-idle]")
#: How often the background display refreshes (seconds).
REFRESH_S = 0.25


# -- arguments ------------------------------------------------------------------------------
def add_optimize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?",
                        help='a node id (see `dise list`), or "all"')
    parser.add_argument("--priority", choices=PRIORITIES, default="normal",
                        help="queue priority (default: normal)")
    parser.add_argument("--fitness-below", type=float, metavar="FITNESS",
                        help="every function whose fitness is below FITNESS, e.g. 0.8")
    parser.add_argument("--background", action="store_true",
                        help="keep working through the queue (Ctrl-C stops; work resumes later)")
    parser.add_argument("--when-idle", action="store_true",
                        help="with --background: wait until you stop editing and asking")
    parser.add_argument("--until-empty", action="store_true",
                        help="with --background: exit once the queue is empty")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def add_parser(sub: Any, common: argparse.ArgumentParser | None = None) -> None:
    """Add the `optimize` command to `dise`'s subparsers."""
    parents = [common] if common is not None else []
    parser = sub.add_parser("optimize", parents=parents,
                            help="improve stored functions (Phase 2), now or in the background")
    add_optimize_arguments(parser)


class _ShellParser(argparse.ArgumentParser):
    """argparse that reports a mistake as a DiseError instead of exiting the shell."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise DiseError(f"{message}; usage: /{USAGE.removeprefix('dise ')}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise DiseError(message or f"usage: /{USAGE.removeprefix('dise ')}")


def shell_optimize(cfg: Config, line: str, *, engine_factory: EngineFactory = make_engine) -> int:
    """`/optimize …` in the DiSE> shell: the same options as `dise optimize`."""
    parser = _ShellParser(prog="/optimize", add_help=False)
    add_optimize_arguments(parser)
    try:
        words = shlex.split(line)[1:]
    except ValueError as exc:
        raise DiseError(f"Cannot read {line!r} ({exc}); usage: /{USAGE}") from None
    return run(cfg, parser.parse_args(words), engine_factory=engine_factory)


# -- the command ----------------------------------------------------------------------------
def _targets(store: Any, args: argparse.Namespace) -> list[str]:
    if args.target and args.fitness_below is not None:
        raise DiseError("Give a node, all, or --fitness-below, not both; usage: " + USAGE)
    if args.fitness_below is not None:
        return [r["node_id"] for r in store.nodes()
                if r.get("fitness") is not None and r["fitness"] < args.fitness_below]
    if args.target == "all":
        return [r["node_id"] for r in store.nodes()]
    if args.target:
        return [store.resolve(args.target)]  # a node id or the function's name
    return []


def run(cfg: Config, args: argparse.Namespace, *,
        engine_factory: EngineFactory = make_engine) -> int:
    """Queue the targets and optimise them now, or run the optimiser with --background."""
    if args.when_idle and not args.background:
        raise DiseError("--when-idle needs --background: dise optimize --background --when-idle")
    engine = engine_factory(cfg)
    targets = _targets(engine.store, args)
    if args.background:
        return run_background(engine, targets, args)
    if not args.target and args.fitness_below is None:
        raise DiseError(f"Say what to optimise: {USAGE}")
    if not targets:
        output.console.print(
            f"Nothing to optimise: no stored function has fitness below "
            f"{args.fitness_below}." if args.fitness_below is not None else
            'Nothing to optimise yet. Try: dise generate "reverse a string"')
        return 0
    store = engine.store
    with store.batch():
        for node_id in targets:
            store.enqueue(node_id, args.priority, "manual: dise optimize")
    order = {e["node_id"]: i for i, e in enumerate(store.queue())}
    targets.sort(key=lambda n: order.get(n, len(order)))
    results = run_foreground(engine, targets, quiet=args.json)
    if args.json:
        print(json.dumps([_result_json(r) for r in results], indent=2))
    else:
        print_results(results)
    return 0


def _result_json(result: Any) -> dict[str, Any]:
    data = dict(result.__dict__)
    data["candidates"] = len(data["candidates"])
    return data


def run_foreground(engine: Any, targets: list[str], *, quiet: bool = False) -> list[Any]:
    """Optimise ``targets`` one after the other with a live progress display; Ctrl-C stops
    (the interrupted node resumes next time)."""
    from dise.optimize import NodeBusy, optimize_node

    results = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=output.console, transient=True, disable=quiet) as bar:
        for node_id in targets:
            task = bar.add_task(f"Optimising {node_id}", total=None)
            cancel = CancelToken()

            def on_event(event: str, data: dict, task: Any = task) -> None:
                if event == "progress":
                    bar.update(task, description=escape(data["message"]),
                               completed=data["done"], total=max(data["total"], 1))
                elif event == "improved" and not quiet:
                    bar.console.print(_improved_line(data))

            def work(node_id: str = node_id, cancel: CancelToken = cancel,
                     on_event: Any = on_event) -> Any:
                return optimize_node(engine, node_id, cancel=cancel, progress=on_event)

            try:
                results.append(run_cancellable(
                    work, cancel, name="dise-optimize", grace_s=60,
                    stopped="Stopped: the optimisation so far is saved; run the same "
                            "command, or `dise serve`, to resume it."))
            except NodeBusy as exc:
                output.err_console.print(f"[yellow]{escape(str(exc))}[/]")
            finally:
                bar.remove_task(task)
    return results


def _improved_line(data: dict[str, Any]) -> str:
    return (f"[green]↑ {escape(data['node_id'])}: fitness {data['old_fitness']:.2f} → "
            f"{data['new_fitness']:.2f}[/] ({escape(data['new_artifact_id'])}, "
            f"{escape(data['generator'])} @ {data['temperature']:g}, {data['approach']})")


def print_results(results: list[Any]) -> None:
    """One table row per optimised node: fitness change, new versions, why it stopped."""
    if not results:
        return
    table = Table("node", "fitness", "versions", "experiments", "stopped because")
    for r in results:
        change = f"{r.old_fitness:.2f} → {r.final_fitness:.2f}" if r.new_artifact_ids else \
            f"{r.old_fitness:.2f} (kept)"
        table.add_row(escape(r.node_id), change, ", ".join(r.new_artifact_ids) or "—",
                      str(r.attempts), escape(r.stop_reason))
    output.console.print(table)
    if any(r.registry_updated for r in results):
        output.console.print(
            "[dim]The winning setups now serve new requests of the same task type.[/]")


# -- background ---------------------------------------------------------------------------
def run_background(engine: Any, targets: list[str], args: argparse.Namespace) -> int:
    """The optimiser thread in this process, with a live status line, until Ctrl-C (or an
    empty queue with --until-empty)."""
    from dise.optimize import Optimizer

    console = output.console
    optimizer = Optimizer(engine, when_idle=bool(args.when_idle))
    reason = "requested: dise optimize --background --when-idle" if args.when_idle else \
        "manual: dise optimize --background"
    with engine.store.batch():
        for node_id in targets:
            engine.store.enqueue(node_id, args.priority, reason)
    finished = threading.Event()

    def on_event(event: str, data: dict) -> None:
        if event == "improved":
            console.print(_improved_line(data))
        elif event == "hardware-changed":
            console.print(f"[cyan]{escape(data['summary'])}[/]")
        elif event == "triggered":
            console.print(f"[dim]queued {len(data['nodes'])} by the {data['trigger']} trigger "
                          f"({escape(data['detail'])})[/]")
        elif event == "progress" and data.get("finished"):
            console.print(escape(data["message"]))
        elif event == "idle" and data.get("queue") == 0:
            finished.set()

    optimizer.subscribe(on_event)
    optimizer.start()
    try:
        with console.status("starting…", spinner="dots") as status:
            while not (args.until_empty and finished.is_set()):
                status.update(escape(describe_state(optimizer.state())))
                time.sleep(REFRESH_S)
    except KeyboardInterrupt:
        console.print("[yellow]Stopping; queued and interrupted work resumes on the next "
                      "start.[/]")
    finally:
        optimizer.stop(timeout=60)
    return 0
