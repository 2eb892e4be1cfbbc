"""`dise shell`: the interactive `DiSE>` prompt (a request per line, or a /command)."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from rich.markup import escape

from dise import __version__
from dise.cli import listing, models, optimize, output, status
from dise.cli.common import EngineFactory, make_engine, run_generation
from dise.config import Config
from dise.errors import DiseError
from dise.types import Request

SHELL_HELP = """Type what a function should do and press Enter to generate it.
  /status <node>   metrics, lineage and queue position of a stored function
  /optimize <node> | all | --fitness-below=0.8
                   improve stored functions now (Phase 2)
  /list            stored functions
  /models          installed models
  /help            this text
  /quit            leave (Ctrl-D works too)"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("shell", parents=[common], help="interactive DiSE> prompt")


def run(cfg: Config, args: argparse.Namespace, stdin: Any = None, *,
        engine_factory: EngineFactory = make_engine) -> int:
    """Read lines from ``stdin`` until EOF or /quit; an error is printed and the shell goes on."""
    stdin = stdin or sys.stdin
    console = output.console
    engine = engine_factory(cfg)
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
                status.run(cfg, argparse.Namespace(node=parts[1], json=False),
                           engine_factory=engine_factory)
            elif line.startswith("/optimize"):
                optimize.shell_optimize(cfg, line, engine_factory=engine_factory)
            elif line == "/list":
                listing.run(cfg, argparse.Namespace(limit=50), engine_factory=engine_factory)
            elif line == "/models":
                models.run(cfg, argparse.Namespace(action="list", name=None, force=False))
            elif line.startswith("/"):
                raise DiseError(f"Unknown command {line.split()[0]}; type /help.")
            else:
                artifact = run_generation(engine, Request(text=line))
                output.print_artifact(
                    artifact, queue_position=engine.store.queue_position(artifact.node_id))
        except DiseError as exc:
            output.err_console.print(f"[red]error:[/] {escape(str(exc))}")
