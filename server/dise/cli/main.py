"""The `dise` entry point: parse the arguments, load the configuration, dispatch to the command's
module, and turn errors into exit codes (0 ok, 1 a ``DiseError``/``ConfigError``, 130 cancelled
or interrupted; a command may return its own, e.g. `dise doctor`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.markup import escape

from dise import __version__
from dise.cli import (
    doctor,
    generate,
    listing,
    models,
    optimize,
    output,
    search,
    serve,
    shell,
    status,
    store,
)
from dise.cli.common import EngineFactory
from dise.config import ConfigError, load_config
from dise.errors import Cancelled, DiseError

BACKENDS = ["auto", "ollama", "llamacpp"]

#: Command name -> its module (``add_parser(sub, common)``, ``run(cfg, args)``), in the
#: order `dise --help` lists them.
COMMANDS = {"generate": generate, "status": status, "list": listing, "models": models,
            "search": search, "optimize": optimize, "shell": shell, "serve": serve,
            "doctor": doctor, "store": store}
#: Commands whose ``run`` takes ``engine_factory=`` (the others need no engine).
ENGINE_COMMANDS = frozenset({"generate", "status", "list", "search", "optimize", "shell"})


def build_parser() -> argparse.ArgumentParser:
    """The `dise` parser with every command's subparser."""
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
    for module in COMMANDS.values():
        module.add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None, *,
         engine_factory: EngineFactory | None = None) -> int:
    """Run `dise` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.
    ``engine_factory(cfg)`` replaces the real engine (an embedder's or a test's)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        overrides = {"backend": args.backend} if args.backend else None
        cfg = load_config(overrides)
        command = COMMANDS[args.command]
        if engine_factory is not None and args.command in ENGINE_COMMANDS:
            return command.run(cfg, args, engine_factory=engine_factory)
        return command.run(cfg, args)
    except Cancelled as exc:
        output.err_console.print(f"[yellow]{escape(str(exc))}[/]")
        return 130
    except (DiseError, ConfigError) as exc:
        output.err_console.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        output.err_console.print("[yellow]Interrupted.[/]")
        return 130
