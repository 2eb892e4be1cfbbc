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
    # One line a function. The node id is what `dise status`/`dise optimize` take: never cut
    # it; the request (its first line only) gets the width the other columns leave.
    rows = []
    for node in nodes[: args.limit]:
        a = store.latest(node["node_id"])
        if a is not None:
            rows.append([a.node_id, f"v{a.version}", f"{a.fitness_score:.2f}",
                         f"{a.tests_passed}/{a.tests_total}", a.task_type, a.generator_used,
                         a.prompt])
    headers = ["node", "ver", "fitness", "tests", "task type", "generator", "request"]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers[:-1])]
    room = output.console.width - sum(widths) - 2 * len(widths) - 1
    if room < 20:  # a narrow terminal: the generator is in `dise status`, the request is not
        room += widths[5] + 2
        headers, rows = headers[:5] + headers[6:], [r[:5] + r[6:] for r in rows]
    room = max(12, room)
    table = Table(*(Column(h, no_wrap=True) for h in headers), box=None, pad_edge=False)
    for row in rows:
        table.add_row(*map(escape, row[:-1]), escape(output.first_line(row[-1], room)))
    output.console.print(table)
    return 0
