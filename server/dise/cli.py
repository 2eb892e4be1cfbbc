"""`dise`: the command line and the `DiSE>` shell over the same engine as the language server."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from dise import __version__
from dise.config import Config, ConfigError, load_config
from dise.engine import verdict
from dise.engine.types import Artifact, Cancelled, CancelToken, DiseError, Request

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


# -- rendering ----------------------------------------------------------------------------
def _fmt_latency(latency: float | None) -> str:
    if latency is None:
        return "n/a (no passing test)"
    if latency < 1e-3:
        return f"{latency * 1e6:.1f} µs"
    return f"{latency * 1e3:.2f} ms"


def metrics_table(a: Artifact) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    tests = ", ".join(f"{k} {p}/{t}" for k, (p, t) in a.test_kinds.items()) or "none"
    table.add_row("fitness", f"{a.fitness_score:.2f}")
    table.add_row("quality", f"{a.quality_score:.2f}")
    table.add_row("latency", _fmt_latency(a.latency))
    table.add_row("coverage", "n/a" if a.coverage is None else f"{a.coverage:.0%}")
    table.add_row("tests", f"{a.tests_passed}/{a.tests_total} passed ({tests})")
    table.add_row("judged by", escape(verdict.authority_line(a)))
    note = verdict.evidence_note(a)
    if note:
        table.add_row("evidence", escape(note))
    if a.extra.get("isolation"):
        table.add_row("sandbox", str(a.extra["isolation"]))
    table.add_row("generator", f"{a.generator_used} · {a.model} @ T={a.temperature}")
    table.add_row("generation time", f"{a.generation_time:.1f} s")
    table.add_row("task type", f"{a.task_type} ({a.intent})")
    table.add_row("version", f"{a.artifact_id}" + (f" (parent {a.parent})" if a.parent else ""))
    table.add_row("phase", a.phase)
    if a.tool_usage:
        table.add_row("tools", "; ".join(a.tool_usage))
    return table


def _trust(test: dict[str, Any]) -> str:
    """``yours`` for the user's tests, ``check`` for smoke calls, the credibility of a
    model test (``guess 0.50``; ``guess 0 ✗`` when the user's tests contradict it)."""
    from dise.engine import credibility
    from dise.engine.types import TRUSTED_KINDS, TestCase

    if test.get("kind") in TRUSTED_KINDS:
        return "yours"
    if test.get("kind") != "model":
        return "check"
    weight = credibility.weight(TestCase.from_dict(dict(test)))
    return f"guess {weight:.2f}" + (" ✗" if weight == 0 else "")


def print_artifact(a: Artifact, *, queue_position: int | None = None) -> None:
    console.print(Panel(Syntax(a.code.rstrip(), "python", theme="ansi_dark", word_wrap=True),
                        title=f"[bold]{escape(a.function_name)}[/] · {a.artifact_id}",
                        expand=False))
    tests = Table(title="tests", title_justify="left", box=None)
    tests.add_column("kind")
    tests.add_column("trust")
    tests.add_column("test", overflow="fold")
    tests.add_column("result")
    failures = {f.split(" -> ")[0]: f.split(" -> ", 1)[-1] for f in a.extra.get("failures", [])}
    skipped = {f.split(" -> ")[0]: f.split(" -> ", 1)[-1]
               for f in a.extra.get("not_runnable", [])}
    for t in a.tests[:12]:
        code = t.get("source") or (t["code"] + (f"  ==  {t['expect']}" if t.get("expect")
                                                else ""))
        failed = failures.get(t["code"])
        result = f"[red]✗ {escape(failed)}[/]" if failed is not None else "[green]✓[/]"
        if t["code"] in skipped:
            result = f"[yellow]– {escape(skipped[t['code']])}[/]"
        if a.extra.get("load_error"):
            result = "[red]✗ not run[/]"
        tests.add_row(t["kind"], _trust(t), escape(code), result)
    if len(a.tests) > 12:
        tests.add_row("…", "", f"{len(a.tests) - 12} more", "")
    if a.tests:
        console.print(tests)
    else:
        console.print("[yellow]No tests could be derived or written for this function.[/]")
    if a.extra.get("load_error"):
        console.print(f"[red]The code does not load:[/] {escape(a.extra['load_error'])}")
    found = a.extra.get("examples") or {}
    for line in found.get("contradictions") or []:
        console.print(f"[yellow]Contradictory examples, neither used as a test:[/] "
                      f"{escape(line)}")
    if found.get("skipped"):
        console.print("[yellow]Example lines skipped (no known notation):[/] "
                      + escape(" | ".join(found["skipped"][:5])))
    console.print(metrics_table(a))
    if queue_position:
        console.print(f"[dim]Queued for optimisation (position {queue_position}): "
                      f"fitness below the threshold.[/]")


# -- commands -----------------------------------------------------------------------------
def _engine(cfg: Config):
    from dise.engine.pipeline import Engine  # imported late: keeps `dise --help` instant

    return Engine(cfg)


def run_generation(engine, request: Request) -> Artifact:
    """Generate in a worker thread with a live progress line; Ctrl-C cancels cleanly."""
    cancel = CancelToken()
    with console.status("starting…", spinner="dots") as status:
        def progress(stage: str, message: str) -> None:
            status.update(f"[bold cyan]{stage}[/] {escape(message)}")

        return run_cancellable(
            lambda: engine.generate(request, progress=progress, cancel=cancel), cancel,
            name="dise-generate", stopped="Cancelled: nothing was stored.",
            on_cancel=lambda: status.update("cancelling…"))


def run_cancellable(work: Any, cancel: CancelToken, *, name: str, stopped: str,
                    grace_s: float = 30.0, on_cancel: Any = None) -> Any:
    """Run ``work()`` in a thread so Ctrl-C reaches the main thread; Ctrl-C cancels it, gives
    it ``grace_s`` to stop and raises ``Cancelled(stopped)``. Its result or error otherwise."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        if on_cancel is not None:
            on_cancel()
        cancel.cancel()
        worker.join(grace_s)
        raise Cancelled(stopped) from None
    if "error" in box:
        raise box["error"]
    return box["result"]


def _request_from_args(args: argparse.Namespace) -> tuple[Request, Any]:
    if args.file:
        from dise.engine import stubs
        from dise.engine.sourcefile import read_source

        source_file = read_source(args.file)  # encoding, BOM and line endings as on disk
        path, source = source_file.path, source_file.text
        stub = stubs.find_stub(source, name=args.function)
        if stub is None:
            names = ", ".join(s.spec.name for s in stubs.find_stubs(source)) or "none"
            raise DiseError(f"No stub named {args.function!r} in {path} (stubs found: {names}). "
                            "A stub is a def whose body is only a docstring, ... or pass.")
        text = args.request or stub.spec.docstring or stub.spec.name
        request = Request(text=text, spec=stub.spec, file_source=source, file_path=str(path),
                          workspace=str(path.resolve().parent), asserts=args.asserts or [],
                          generator=args.generator)
        return request, (path, source_file, stub)
    return Request(text=args.request or "", asserts=args.asserts or [],
                   generator=args.generator), None


def cmd_generate(cfg: Config, args: argparse.Namespace) -> int:
    if args.function and not args.file:
        raise DiseError("--function needs --file: dise generate --file F --function NAME.")
    if args.file and not args.function:
        raise DiseError("--file needs --function NAME: the stub to fill.")
    from dise.optimize.state import record_activity

    engine = _engine(cfg)
    request, target = _request_from_args(args)
    record_activity(engine.store)  # a --when-idle optimiser elsewhere waits for the user
    artifact = run_generation(engine, request) if not args.json else \
        engine.generate(request)
    if target is not None:
        _write_into_file(artifact, *target)
    if args.json:
        print(json.dumps(artifact.to_dict(), indent=2, default=str))
    else:
        queue = engine.store.queue_position(artifact.node_id)
        print_artifact(artifact, queue_position=queue)
        failed = verdict.failed_line(artifact, queue)
        if target is not None:
            wrote = f"Wrote {artifact.function_name} into {target[0]}"
            console.print(f"[yellow]{escape(wrote)}, but {escape(failed)}[/]" if failed
                          else f"[green]{escape(wrote)}.[/]", soft_wrap=True)
        elif failed:  # one unwrapped last line, so scripts can read it
            console.print(f"[yellow]{escape(failed)}[/]", soft_wrap=True)
    return 0


def _write_into_file(artifact: Artifact, path: Path, source_file, stub) -> None:
    from dise.engine import stubs
    from dise.engine.sourcefile import SourceFileError, write_source

    result = stubs.splice(source_file.text, stub, artifact.code, artifact.function_name)
    try:
        write_source(source_file, result.new_source)
    except SourceFileError as exc:
        raise DiseError(f"{exc} The artifact is stored as {artifact.artifact_id}: run the "
                        "command again.") from None


def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    from dise.cli_optimize import status_info, status_lines

    engine = _engine(cfg)
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
    print_artifact(latest, queue_position=info["queue_position"])
    lineage = " → ".join(f"{v.artifact_id} ({v.fitness_score:.2f})" for v in info["versions"])
    console.print(f"[bold]lineage[/] {lineage}")
    for line in status_lines(engine, node):
        console.print(line, markup=False)
    return 0


def cmd_list(cfg: Config, args: argparse.Namespace) -> int:
    store = _engine(cfg).store
    nodes = store.nodes()
    if not nodes:
        console.print('No functions stored yet. Try: dise generate "reverse a string"')
        return 0
    table = Table("node", "version", "fitness", "tests", "task type", "generator", "request")
    for node in nodes[: args.limit]:
        a = store.latest(node["node_id"])
        if a is None:
            continue
        table.add_row(a.node_id, f"v{a.version}", f"{a.fitness_score:.2f}",
                      f"{a.tests_passed}/{a.tests_total}", a.task_type, a.generator_used,
                      escape(a.prompt[:60]))
    console.print(table)
    return 0


def cmd_models(cfg: Config, args: argparse.Namespace) -> int:
    from dise.llm import catalog

    if args.action == "pull":
        if not args.name:
            raise DiseError("Say which model: dise models pull qwen2.5-coder-0.5b")
        with console.status(f"pulling {args.name}…") as status:
            def progress(message: str, fraction: float) -> None:
                status.update(f"{escape(message)} {fraction:.0%}")

            path = catalog.pull(args.name, cfg, force=args.force, progress=progress)
        console.print(f"[green]{args.name} is ready:[/] {path}")
        return 0
    table = Table("model", "installed", "size", "memory to run", "notes")
    for m in catalog.installed(cfg):
        table.add_row(m["name"], "[green]yes[/]" if m["installed"] else "no",
                      f"{m['size'] / 1e6:,.0f} MB", f"~{m['ram_bytes'] / 2**30:.1f} GiB",
                      escape(m.get("description", "")) if m["installed"]
                      else f"dise models pull {m['name']}")
    console.print(table)
    console.print(f"[dim]Models live in {cfg.models_path}. Any GGUF works too: set a "
                  f"generator's model to its path in {cfg.home / 'dise.toml'}.[/]")
    return 0


def cmd_search(cfg: Config, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    if engine.store.count() == 0:
        console.print('Nothing stored yet. Try: dise generate "reverse a string"')
        return 0
    with console.status("loading the embedding model…"):
        hits = engine.memory.search(args.query, args.k)
    if engine.memory.reason:
        raise DiseError(engine.memory.reason)
    if not hits:
        console.print("No stored function is similar enough.")
        return 0
    table = Table("score", "node", "version", "fitness", "tests", "request")
    for a, score in hits:
        table.add_row(f"{score:.2f}", a.node_id, f"v{a.version}", f"{a.fitness_score:.2f}",
                      f"{a.tests_passed}/{a.tests_total}", escape(a.prompt[:60]))
    console.print(table)
    return 0


def cmd_serve(cfg: Config, args: argparse.Namespace) -> int:
    from dise.lsp.server import serve

    return serve({"backend": args.backend} if getattr(args, "backend", None) else None)


# -- the DiSE> shell ----------------------------------------------------------------------
SHELL_HELP = """Type what a function should do and press Enter to generate it.
  /status <node>   metrics, lineage and queue position of a stored function
  /optimize <node> | all | --fitness-below=0.8
                   improve stored functions now (Phase 2)
  /list            stored functions
  /models          installed models
  /help            this text
  /quit            leave (Ctrl-D works too)"""


def cmd_shell(cfg: Config, args: argparse.Namespace, stdin=None) -> int:
    stdin = stdin or sys.stdin
    engine = _engine(cfg)
    console.print(f"DiSE {__version__} — describe a function, or /help.")
    while True:
        console.print("DiSE> ", end="")
        line = stdin.readline()
        if not line:
            console.print()
            return 0
        line = line.strip()
        if not line:
            continue
        try:
            if line in ("/quit", "/exit"):
                return 0
            if line == "/help":
                console.print(SHELL_HELP)
            elif line.startswith("/status"):
                parts = shlex.split(line)
                if len(parts) != 2:
                    raise DiseError("Usage: /status <node>  (see /list for node names)")
                cmd_status(cfg, argparse.Namespace(node=parts[1], json=False))
            elif line.startswith("/optimize"):
                from dise.cli_optimize import shell_optimize

                shell_optimize(cfg, line)
            elif line == "/list":
                cmd_list(cfg, argparse.Namespace(limit=50))
            elif line == "/models":
                cmd_models(cfg, argparse.Namespace(action="list", name=None, force=False))
            elif line.startswith("/"):
                raise DiseError(f"Unknown command {line.split()[0]}; type /help.")
            else:
                artifact = run_generation(engine, Request(text=line))
                print_artifact(artifact,
                               queue_position=engine.store.queue_position(artifact.node_id))
        except DiseError as exc:
            err_console.print(f"[red]error:[/] {escape(str(exc))}")


# -- entry point --------------------------------------------------------------------------
BACKENDS = ["auto", "ollama", "llamacpp"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dise", description="Writes Python functions with a local model, tests them, "
        "and keeps improving them.")
    parser.add_argument("--version", action="version", version=f"dise {__version__}")
    backend_help = ("where models run (default: auto = Ollama if it answers, else embedded "
                    "llama.cpp)")
    parser.add_argument("--backend", choices=BACKENDS, help=backend_help)
    # Also accepted after the command; SUPPRESS keeps a subcommand from clobbering it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=BACKENDS, default=argparse.SUPPRESS,
                        help=backend_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser("generate", parents=[common],
                         help="generate a function from a request or a stub")
    gen.add_argument("request", nargs="?", help='what the function should do, in quotes')
    gen.add_argument("--file", help="Python file holding a stub to fill")
    gen.add_argument("--function", help="name of the stub in --file")
    gen.add_argument("--generator", help="force a generator (see dise.toml; e.g. qwen-1.5b)")
    gen.add_argument("--assert", dest="asserts", action="append", metavar="ASSERT",
                     help='a test the function must pass, e.g. --assert "f(2) == 4" (repeatable)')
    gen.add_argument("--json", action="store_true", help="print the stored artifact as JSON")

    status = sub.add_parser("status", help="show a stored function: metrics, lineage, queue")
    status.add_argument("node", help="node id or function name, e.g. is_valid_email")
    status.add_argument("--json", action="store_true")

    lst = sub.add_parser("list", help="list stored functions")
    lst.add_argument("--limit", type=int, default=100)

    models = sub.add_parser("models", help="list installed models, or pull one")
    models.add_argument("action", nargs="?", choices=["list", "pull"], default="list")
    models.add_argument("name", nargs="?", help="model to pull, e.g. qwen2.5-coder-0.5b")
    models.add_argument("--force", action="store_true", help="download again even if present")

    search = sub.add_parser("search", help="list stored functions similar to a description")
    search.add_argument("query", help='what the function does, e.g. "validate an email"')
    search.add_argument("-k", type=int, default=None, help="how many (default 10)")

    from dise.cli_optimize import add_optimize_parser

    add_optimize_parser(sub, common)
    sub.add_parser("shell", parents=[common], help="interactive DiSE> prompt")
    sub.add_parser("serve", parents=[common], help="run the language server over stdio")
    sub.add_parser("doctor", help="check the setup: sandbox, models, Ollama, store, editors")
    return parser


def cmd_doctor(cfg: Config, args: argparse.Namespace) -> int:
    from dise.doctor import main as doctor

    return doctor(cfg, lambda line: console.print(escape(line), soft_wrap=True))


def cmd_optimize(cfg: Config, args: argparse.Namespace) -> int:
    from dise.cli_optimize import cmd_optimize as run

    return run(cfg, args)


COMMANDS = {"generate": cmd_generate, "status": cmd_status, "list": cmd_list,
            "models": cmd_models, "shell": cmd_shell, "serve": cmd_serve,
            "optimize": cmd_optimize, "search": cmd_search, "doctor": cmd_doctor}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    if args.command == "generate" and not args.asserts:
        args.asserts = []
    try:
        overrides = {"backend": args.backend} if args.backend else None
        cfg = load_config(overrides)
        if args.command == "generate" and args.asserts:
            args.asserts = [a if a.lstrip().startswith("assert") else f"assert {a}"
                            for a in args.asserts]
        return COMMANDS[args.command](cfg, args)
    except Cancelled as exc:
        err_console.print(f"[yellow]{escape(str(exc))}[/]")
        return 130
    except (DiseError, ConfigError) as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
