"""`dise doctor`: check the setup (sandbox, models, Ollama, store, editors); see ``dise.doctor``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape

from dise.cli import output
from dise.config import Config


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("doctor", help="check the setup: sandbox, models, Ollama, OpenAI servers, "
                                  "embedding, store, editors")


def run(cfg: Config, args: argparse.Namespace) -> int:
    """Print one line per check; the exit status is ``dise.doctor.main``'s."""
    from dise.doctor import main as doctor

    return doctor(cfg, lambda line: output.console.print(escape(line), soft_wrap=True))
