"""The root ``Config`` object (every section, the home folder and the derived paths) and
``ConfigError``, the error a user must fix in their configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from dise.config.backends import (
    Backend,
    GeneratorConfig,
    LlamaCppConfig,
    OllamaConfig,
    OpenAIConfig,
    default_generators,
)
from dise.config.sections import (
    HardwareConfig,
    OptimizeConfig,
    PipelineConfig,
    RetrievalConfig,
    SandboxConfig,
    ScoringConfig,
    StoreConfig,
)


@dataclass
class Config:
    home: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir("dise")))
    models_dir: Path | None = None
    backend: Backend = "auto"
    generators: dict[str, GeneratorConfig] = field(default_factory=default_generators)
    ollama: OllamaConfig = field(default_factory=OllamaConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    llamacpp: LlamaCppConfig = field(default_factory=LlamaCppConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else self.home / "models"

    @property
    def store_path(self) -> Path:
        """The TinyDB file; with a shared ``[store] url``, a local name for that store (the
        FAISS index kept in step with it lives beside it, one per url)."""
        if self.store.url:
            digest = hashlib.sha1(self.store.url.encode("utf-8")).hexdigest()[:10]
            return self.home / f"shared-{digest}.json"
        return self.home / "store.json"

    def generator(self, name: str | None = None) -> GeneratorConfig:
        """The named generator (default generator if None); KeyError lists the known names."""
        name = name or self.pipeline.default_generator
        try:
            return self.generators[name]
        except KeyError:
            known = ", ".join(sorted(self.generators))
            raise ConfigError(f"Unknown generator {name!r}; known generators: {known}.") from None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["home"] = str(self.home)
        data["models_dir"] = str(self.models_path)
        return data


class ConfigError(ValueError):
    """A configuration value a user must fix; the message says which and how."""
