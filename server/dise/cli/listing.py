"""`dise list`: the stored functions, one row each (latest version)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Column, Table

from dise.cli import output
from dise.cli.common import EngineFactory, make_engine
from dise.config import Config


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    lst = sub.add_parser("list", help="list stored functions")
    lst.add_argument("--limit", type=int, default=100)


def run(cfg: Config, args: argparse.Namespace, *,
        engine_factory: EngineFactory = make_engine) -> int:
    """Print up to ``args.limit`` stored functions, or how to make the first one."""
    store = engine_factory(cfg).store
    nodes = store.nodes()
    if not nodes:
        output.console.print('No functions stored yet. Try: dise generate "reverse a string"')
        return 0
    # The node id is what `dise status`/`dise optimize` take: never cut it (narrow terminals
    # shrink the request instead, which shows only its first line).
    table = Table(Column("node", no_wrap=True), "version", "fitness", "tests", "task type",
                  "generator", "request")
    for node in nodes[: args.limit]:
        a = store.latest(node["node_id"])
        if a is None:
            continue
        table.add_row(a.node_id, f"v{a.version}", f"{a.fitness_score:.2f}",
                      f"{a.tests_passed}/{a.tests_total}", a.task_type, a.generator_used,
                      escape(output.first_line(a.prompt, 60)))
    output.console.print(table)
    return 0
