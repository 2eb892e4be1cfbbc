"""Editor settings → ``Config`` plus the few knobs that only the language server has.

Clients send settings as ``initializationOptions`` and again with
``workspace/didChangeConfiguration``. Both may be the bare settings object or wrapped in a
``"dise"`` section (VS Code style)::

    {
      "backend": "auto" | "ollama" | "llamacpp",
      "ollama": {"host": "http://127.0.0.1:11434"},
      "generators": {"qwen-0.5b": {"temperature": 0.2}},
      "pipeline": {"default_generator": "qwen-0.5b", "interactive_budget_s": 30},
      "sandbox": {"wall_timeout_s": 10},
      "home": "~/.local/share/dise",          # where the store lives (default: per-user)
      "storeScope": "user" | "workspace",     # "workspace": keep the store in <root>/.dise
      "lsp": {"generation_workers": 1, "shutdown_grace_s": 5}
    }

Every key except ``storeScope`` and ``lsp`` is a ``dise.config.Config`` field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dise.config import Config, ConfigError, load_config

#: Directory (under the workspace root) holding the store when ``storeScope`` is "workspace".
WORKSPACE_STORE_DIR = ".dise"


@dataclass
class LspSettings:
    """Limits of the language server itself; engine limits live in ``Config``."""

    #: Generations that may run at once (each holds a model and a sandbox).
    generation_workers: int = 1
    #: After ``shutdown``/``exit``, seconds a cancelled generation gets to stop before the
    #: process leaves anyway, so an editor never waits on a model that ignores cancellation.
    shutdown_grace_s: float = 5.0
    #: Documents larger than this get no code lenses (which need a whole-file parse).
    max_scan_chars: int = 4 * 1024 * 1024
    #: Lines of a selection examined for stubs when listing actions (a select-all in a
    #: huge file must not parse every function in it).
    action_range_lines: int = 200
    #: Times a finished generation looks again for its stub when the document keeps changing
    #: while the edit is being prepared; after that the user is told and nothing is written.
    reanchor_attempts: int = 3
    #: Seconds a hover waits for the first look-up of its document's functions in the store
    #: (only right after opening a file); later hovers answer from memory.
    first_index_wait_s: float = 2.0


@dataclass
class ServerSettings:
    config: Config
    lsp: LspSettings
    raw: dict[str, Any]


def unwrap(options: Any) -> dict[str, Any]:
    """The settings object, whether sent bare or in a ``{"dise": {...}}`` section."""
    if not isinstance(options, dict):
        return {}
    section = options.get("dise")
    if isinstance(section, dict):
        return dict(section)
    if section == []:   # Neovim's Lua encodes an empty ``{ dise = {} }`` as {"dise": []}
        return {}
    return dict(options)


def build_settings(options: Any, workspace_root: str | None) -> ServerSettings:
    """Turn client settings into a ``Config`` and ``LspSettings``; ConfigError says what is wrong."""
    raw = unwrap(options)
    overrides = {k: v for k, v in raw.items() if k not in ("storeScope", "lsp")}
    lsp = _lsp_settings(raw.get("lsp") or {})
    cfg = load_config(overrides)
    scope = raw.get("storeScope", "user")
    if scope not in ("user", "workspace"):
        raise ConfigError(f'storeScope must be "user" or "workspace", not {scope!r}.')
    if scope == "workspace":
        if not workspace_root:
            raise ConfigError('storeScope "workspace" needs a workspace folder; open a folder '
                              'or use storeScope "user".')
        models = cfg.models_path
        cfg.home = Path(workspace_root) / WORKSPACE_STORE_DIR
        cfg.models_dir = models     # models stay shared; only the store moves
    return ServerSettings(config=cfg, lsp=lsp, raw=raw)


def config_for_root(settings: ServerSettings, root: str) -> Config:
    """The ``Config`` for documents of the workspace folder ``root``: with ``storeScope``
    "workspace" its store is ``<root>/.dise`` (models stay shared); otherwise the one Config."""
    if settings.raw.get("storeScope") != "workspace" or not root:
        return settings.config
    home = Path(root) / WORKSPACE_STORE_DIR
    if home == Path(settings.config.home):
        return settings.config
    return dataclasses.replace(settings.config, home=home,
                               models_dir=settings.config.models_path)


def _lsp_settings(values: dict[str, Any]) -> LspSettings:
    if not isinstance(values, dict):
        raise ConfigError("The lsp setting must be an object, e.g. {\"generation_workers\": 1}.")
    names = {f.name for f in dataclasses.fields(LspSettings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"Unknown setting lsp.{unknown[0]}; expected one of: "
                          f"{', '.join(sorted(names))}.")
    settings = LspSettings(**values)
    if settings.generation_workers < 1:
        raise ConfigError("lsp.generation_workers must be at least 1.")
    return settings
