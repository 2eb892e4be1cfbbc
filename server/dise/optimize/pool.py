"""Phase 2's generator pool: which configured generators can run here, and how to add the others.

Eligibility is the same as Phase 1's: a generator must fit the machine's memory
(``hardware.allowed_generators``) and its model must be installed (asked of the engine's
``backend_factory``, default ``resolve_backend``, which loads nothing). The others are reported
with their reason and the command that adds them (``dise models pull …``).
"""

from __future__ import annotations

from typing import Any

from dise.config import Config
from dise.engine import core
from dise.engine.types import DiseError


def backend_for(engine: Any, gen: Any, cfg: Config) -> Any:
    """The backend for ``gen`` from the engine's ``backend_factory``
    (``Engine(backend_factory=…)``), else ``resolve_backend``."""
    factory = getattr(engine, "backend_factory", None) or core.resolve_backend
    return factory(gen, cfg)


def unavailable(generator: str, cfg: Config, backend_factory: Any = None) -> str:
    """Why ``generator`` cannot run here now ("" when it can): unknown, or its model is not
    installed (the message says ``dise models pull …``). Loads nothing: backends load lazily.
    ``backend_factory``: an engine's (default ``resolve_backend``).
    """
    try:
        (backend_factory or core.resolve_backend)(cfg.generator(generator), cfg)
    except (DiseError, ValueError) as exc:
        return str(exc)
    return ""


def how_to_add(generator: str, cfg: Config) -> str:
    """The command that makes ``generator`` usable (``dise models pull NAME``), or ""."""
    gen = cfg.generators.get(generator)
    if gen is None or gen.backend == "openai":  # its reason says what to fix on the server
        return ""
    from dise.llm import catalog
    return f"dise models pull {gen.model}" if catalog.entry_for(gen.model) else ""


def generator_pool(cfg: Config, info: Any = None, backend_factory: Any = None,
                   ) -> tuple[list[str], list[dict[str, str]]]:
    """Phase 2's pool: ``[optimize] experiment_generators`` (or every configured generator)
    split into those that can run here (fit ``info``'s memory, a ``HardwareInfo``, when
    given; installed, asked of ``backend_factory``) and the others as
    ``{"generator", "reason", "how"}``.

    Unknown names raise ``DiseError`` listing the known ones.
    """
    from dise.hardware import allowed_generators

    wanted = cfg.optimize.experiment_generators or list(cfg.generators)
    unknown = [g for g in wanted if g not in cfg.generators]
    if unknown:
        known = ", ".join(sorted(cfg.generators))
        raise DiseError(f"[optimize] experiment_generators names unknown generator(s) "
                        f"{', '.join(unknown)}; known generators: {known}.")
    fits = allowed_generators(cfg, info) if info is not None else list(cfg.generators)
    usable, missing = [], []
    for name in wanted:
        why = "too large for this machine's memory" if name not in fits else \
            unavailable(name, cfg, backend_factory)
        if why:
            missing.append({"generator": name, "reason": why, "how": how_to_add(name, cfg)})
        else:
            usable.append(name)
    return usable, missing
