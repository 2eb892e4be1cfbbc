"""`dise serve`: the language server over stdio."""

from __future__ import annotations

import argparse
from typing import Any

from dise.config import Config


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("serve", parents=[common], help="run the language server over stdio")


def run(cfg: Config, args: argparse.Namespace) -> int:
    """Serve until the client exits; ``--backend`` overrides the configured one."""
    from dise.lsp.setup import serve

    return serve({"backend": args.backend} if getattr(args, "backend", None) else None)
