"""Building a ``Config``: defaults, then ``$DISE_HOME/dise.toml``, the environment and
explicit overrides merged in, each value checked (unknown settings, backends a generator
cannot use, API keys in the file) with a ``ConfigError`` that says what to fix.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import tomllib

from dise.config.backends import GENERATOR_BACKENDS, GLOBAL_BACKENDS, GeneratorConfig
from dise.config.root import Config, ConfigError


def _merge_section(obj: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in names:
            raise ConfigError(f"Unknown setting {where}{key!r}; expected one of: "
                              f"{', '.join(sorted(names))}.")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            _merge_section(current, value, f"{where}{key}.")
        elif key == "generators":
            _merge_generators(obj, value)
        elif key in ("home", "models_dir"):
            setattr(obj, key, Path(os.path.expanduser(str(value))) if value else None)
        else:
            setattr(obj, key, _typed(current, value, f"{where}{key}"))


def _typed(default: Any, value: Any, name: str) -> Any:
    """``value`` checked against the type of the setting's ``default`` (an int where a float
    is expected becomes a float); ``ConfigError`` naming the setting when it does not fit."""
    if default is None or isinstance(default, dict):
        return value
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    elif isinstance(default, (list, tuple)):
        ok, kind = isinstance(value, (list, tuple)), "a list"
    else:
        return value
    if not ok:
        raise ConfigError(f"Setting {name} must be {kind}, not {value!r}.")
    return value


def _merge_generators(cfg: Config, values: dict[str, Any] | list[Any]) -> None:
    items = values.items() if isinstance(values, dict) else ((v["name"], v) for v in values)
    for name, spec in items:
        spec = {k.replace("-", "_"): v for k, v in dict(spec).items() if k != "name"}
        nested = [k for k, v in spec.items() if isinstance(v, dict)]
        if nested:  # TOML `[generators.qwen-0.5b]` splits the name at the dot
            raise ConfigError(
                f"Bad generator {name!r}: {nested[0]!r} is a table, not a setting. A name with "
                f'a dot needs quotes in TOML: [generators."{name}.{nested[0]}"]')
        if "api_key" in spec:
            raise ConfigError(f"Generator {name!r}: an API key does not belong in the "
                              f"configuration; put it in an environment variable and name "
                              f"that with api_key_env, or in the OS keyring (service "
                              f"dise-openai, user = the base URL).")
        base = cfg.generators.get(name, GeneratorConfig(name))
        try:
            cfg.generators[name] = dataclasses.replace(base, **spec)
        except TypeError as exc:
            raise ConfigError(f"Bad generator {name!r}: {exc}") from None


def load_config(overrides: dict[str, Any] | None = None,
                env: dict[str, str] | None = None) -> Config:
    """Build the configuration from defaults, ``dise.toml``, the environment and overrides."""
    env = os.environ if env is None else env
    cfg = Config()
    if env.get("DISE_HOME"):
        cfg.home = Path(env["DISE_HOME"]).expanduser()
    toml_path = cfg.home / "dise.toml"
    if toml_path.is_file():
        try:
            _merge_section(cfg, tomllib.loads(toml_path.read_text()), "")
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path} is not valid TOML ({exc}); fix or remove it.") from None
        except ConfigError as exc:
            raise ConfigError(f"{toml_path}: {exc}") from None
    if env.get("DISE_MODELS_DIR"):
        cfg.models_dir = Path(env["DISE_MODELS_DIR"]).expanduser()
    if env.get("DISE_BACKEND"):
        cfg.backend = env["DISE_BACKEND"]  # type: ignore[assignment]
    if env.get("OLLAMA_HOST"):
        host = env["OLLAMA_HOST"]
        cfg.ollama.host = host if "://" in host else f"http://{host}"
    if env.get("DISE_GENERATOR"):
        cfg.pipeline.default_generator = env["DISE_GENERATOR"]
    if env.get("DISE_STORE_URL"):
        cfg.store.url = env["DISE_STORE_URL"]
    if overrides:
        _merge_section(cfg, copy.deepcopy(overrides), "")
    cfg.pipeline.best_of_k_when = str(cfg.pipeline.best_of_k_when).strip().lower()
    try:
        _validate(cfg)
    except ConfigError as exc:
        if not toml_path.is_file():
            raise
        raise ConfigError(f"{exc} (settings read from {toml_path}, the DISE_* environment "
                          "and the command line)") from None
    return cfg


def _validate(cfg: Config) -> None:
    """``ConfigError`` for settings that parse but cannot work together."""
    if cfg.backend == "openai":
        raise ConfigError('backend = "openai" is set per generator, with the model the server '
                          'serves: [generators.NAME] backend = "openai", base_url = '
                          '"http://HOST:PORT/v1", model = "MODEL".')
    if cfg.backend not in GLOBAL_BACKENDS:
        raise ConfigError(f"backend must be auto, ollama or llamacpp, not {cfg.backend!r}.")
    if cfg.store.url and not cfg.store.url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"[store] url must start with postgresql:// (or be empty for the "
                          f"local store), not {cfg.store.url.split('://')[0]!r}.")
    if cfg.pipeline.best_of_k < 0:
        raise ConfigError(f"[pipeline] best_of_k must be 0 (no extra samples) or more, not "
                          f"{cfg.pipeline.best_of_k}.")
    if cfg.pipeline.best_of_k_when not in ("learned", "always", "never"):
        raise ConfigError("[pipeline] best_of_k_when must be learned, always or never, not "
                          f"{cfg.pipeline.best_of_k_when!r}.")
    for gen in cfg.generators.values():
        check_generator(gen, cfg)
    cfg.generator()  # validates default_generator


def check_generator(gen: GeneratorConfig, cfg: Config) -> None:
    """Raise ``ConfigError`` for a generator that cannot work as written (unknown backend,
    an OpenAI-compatible one without a server address)."""
    if gen.backend not in GENERATOR_BACKENDS:
        raise ConfigError(f"Generator {gen.name!r}: backend must be one of "
                          f"{', '.join(GENERATOR_BACKENDS)}, not {gen.backend!r}.")
    if gen.backend == "openai" and not (gen.base_url or cfg.openai.base_url):
        raise ConfigError(f'Generator {gen.name!r} has backend = "openai" but no server: set '
                          f'base_url = "http://HOST:PORT/v1" on it or in [openai].')
