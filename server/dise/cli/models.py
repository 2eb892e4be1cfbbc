"""`dise models` (installed models and what they need) and `dise models pull NAME`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Column, Table

from dise.cli import output
from dise.config import Config
from dise.errors import DiseError


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    models = sub.add_parser("models", help="list installed models, or pull one")
    models.add_argument("action", nargs="?", choices=["list", "pull"], default="list")
    models.add_argument("name", nargs="?", help="model to pull, e.g. qwen2.5-coder-0.5b")
    models.add_argument("--force", action="store_true", help="download again even if present")


def run(cfg: Config, args: argparse.Namespace) -> int:
    """List the catalogue's models with size and memory, or pull ``args.name``."""
    from dise.llm import catalog

    console = output.console
    if args.action == "pull":
        if not args.name:
            raise DiseError("Say which model: dise models pull qwen2.5-coder-0.5b")
        with console.status(f"pulling {args.name}…") as status:
            def progress(message: str, fraction: float) -> None:
                status.update(f"{escape(message)} {fraction:.0%}")

            path = catalog.pull(args.name, cfg, force=args.force, progress=progress)
        console.print(f"[green]{args.name} is ready:[/] {path}")
        return 0
    # The name is what `dise models pull` takes: never cut it on a narrow terminal.
    table = Table(Column("model", no_wrap=True), "installed", "size", "memory to run", "notes")
    for m in catalog.installed(cfg):
        table.add_row(m["name"], "[green]yes[/]" if m["installed"] else "no",
                      f"{m['size'] / 1e6:,.0f} MB", f"~{m['ram_bytes'] / 2**30:.1f} GiB",
                      escape(m.get("description", "")) if m["installed"]
                      else f"dise models pull {m['name']}")
    console.print(table)
    console.print(f"[dim]Models live in {cfg.models_path}. Any GGUF works too: set a "
                  f"generator's model to its path in {cfg.home / 'dise.toml'}.[/]")
    from dise.llm.servers import print_served  # generators on OpenAI-compatible servers
    print_served(cfg, console)
    return 0
