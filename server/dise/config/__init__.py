"""One typed configuration for every face of DiSE (CLI, language server, benchmarks).

Precedence, lowest first: the defaults (the dataclasses in ``backends`` and ``sections``),
``$DISE_HOME/dise.toml``, environment variables (``DISE_HOME``, ``DISE_MODELS_DIR``,
``DISE_BACKEND``, ``OLLAMA_HOST``, ``DISE_GENERATOR``, ``DISE_STORE_URL``), then explicit
overrides (CLI flags, LSP initializationOptions); ``loading`` merges and checks them.
API keys are never configuration: ``api_key_env`` names the variable that holds one.
Every number that tunes behaviour lives here, so modules hold no magic constants.

Everything ``dise.config`` named when it was one module is importable from here, as before:
``from dise.config import Config, load_config, ConfigError`` is the public API.
"""

from dise.config.backends import (
    GENERATOR_BACKENDS,
    GLOBAL_BACKENDS,
    Backend,
    GeneratorConfig,
    LlamaCppConfig,
    OllamaConfig,
    OpenAIConfig,
)
from dise.config.loading import check_generator, load_config
from dise.config.root import Config, ConfigError
from dise.config.sections import (
    HardwareConfig,
    OptimizeConfig,
    PipelineConfig,
    RetrievalConfig,
    SandboxConfig,
    ScoringConfig,
    StoreConfig,
)

__all__ = ["GENERATOR_BACKENDS", "GLOBAL_BACKENDS", "Backend", "Config", "ConfigError",
           "GeneratorConfig", "HardwareConfig", "LlamaCppConfig", "OllamaConfig",
           "OpenAIConfig", "OptimizeConfig", "PipelineConfig", "RetrievalConfig",
           "SandboxConfig", "ScoringConfig", "StoreConfig", "check_generator", "load_config"]
