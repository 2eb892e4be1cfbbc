"""What the configured OpenAI-compatible servers offer right now, for people: the rows of
``dise models`` and the ``openai`` line of ``dise doctor``.

Each row asks the server once (``GET /models``, through ``OpenAIBackend.check``), so a
generator that names a model the server does not list, a server that is down, or a key it
refuses is reported with the same one-line error a generation would get.
"""

from __future__ import annotations

from dataclasses import dataclass

from dise.config import Config
from dise.errors import DiseError


@dataclass(frozen=True)
class ServedGenerator:
    """One generator with ``backend = "openai"``: where it points and whether it works now."""

    generator: str
    model: str
    #: The base URL without credentials.
    url: str
    #: "" when the server answers and serves the model; else the error, one line.
    problem: str

    @property
    def available(self) -> bool:
        return not self.problem


def served_generators(cfg: Config, *, fresh: bool = False) -> list[ServedGenerator]:
    """Every ``backend = "openai"`` generator, in configuration order, checked now
    (``fresh``: ignore the few seconds' cache of model listings)."""
    from dise.llm import openai_backend
    from dise.llm.openai_backend import OpenAIBackend, display_url

    rows = []
    for name, gen in cfg.generators.items():
        if gen.backend != "openai":
            continue
        base_url = gen.base_url or cfg.openai.base_url
        if fresh:
            openai_backend.forget(base_url)
        try:
            OpenAIBackend(gen, cfg).check()
            problem = ""
        except DiseError as exc:
            problem = str(exc)
        rows.append(ServedGenerator(name, gen.model, display_url(base_url), problem))
    return rows


def print_served(cfg: Config, console) -> None:
    """``dise models``' second table (nothing when no generator uses a server): generator,
    model, whether it is usable now (with the error when it is not), and the server."""
    from rich.markup import escape
    from rich.table import Table

    rows = served_generators(cfg, fresh=True)
    if not rows:
        return
    table = Table("generator", "model", "available")
    table.add_column("server (OpenAI-compatible)", overflow="fold")  # a URL is never cut
    for row in rows:
        table.add_row(row.generator, escape(row.model),
                      "[green]yes[/]" if row.available else f"[red]no[/]: {escape(row.problem)}",
                      escape(row.url))
    console.print(table)
