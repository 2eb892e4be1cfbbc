"""`dise search "description"`: stored functions similar to a description (embeddings)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Column, Table

from dise.cli import output
from dise.cli.common import EngineFactory, make_engine
from dise.config import Config
from dise.errors import DiseError


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    search = sub.add_parser("search", help="list stored functions similar to a description")
    search.add_argument("query", help='what the function does, e.g. "validate an email"')
    search.add_argument("-k", type=int, default=None, help="how many (default 10)")


def run(cfg: Config, args: argparse.Namespace, *,
        engine_factory: EngineFactory = make_engine) -> int:
    """Print the ``args.k`` best matches with their similarity; DiseError when the embedding
    model cannot load."""
    console = output.console
    engine = engine_factory(cfg)
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
    table = Table("score", Column("node", no_wrap=True), "version", "fitness", "tests",
                  "request")
    for a, score in hits:
        table.add_row(f"{score:.2f}", a.node_id, f"v{a.version}", f"{a.fitness_score:.2f}",
                      f"{a.tests_passed}/{a.tests_total}", escape(output.first_line(a.prompt, 60)))
    console.print(table)
    return 0
