"""`dise store migrate --to URL`: copy the store between TinyDB and PostgreSQL; the logic is
``dise.store.migrate``."""

from __future__ import annotations

import argparse
from typing import Any

from dise.config import Config


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from dise.store.migrate import add_store_parser

    add_store_parser(sub)


def run(cfg: Config, args: argparse.Namespace) -> int:
    from dise.store.migrate import cmd_store

    return cmd_store(cfg, args)
