"""Configuration of the model backends: named generators (``[generators.NAME]``) and the
``[ollama]``, ``[openai]`` and ``[llamacpp]`` sections, with the backend names each allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Backend = Literal["auto", "ollama", "llamacpp", "openai"]
#: What ``backend`` may say globally; "openai" is chosen per generator (it needs a model name).
GLOBAL_BACKENDS = ("auto", "ollama", "llamacpp")
GENERATOR_BACKENDS = ("auto", "ollama", "llamacpp", "openai")


@dataclass
class GeneratorConfig:
    """A named way to produce code: which backend, which model, how hot."""

    name: str
    backend: Backend = "auto"
    #: Catalogue name (``qwen2.5-coder-0.5b``) or a path to any GGUF file, for llama.cpp;
    #: with ``backend = "openai"``, the model name the server lists at ``GET /v1/models``.
    model: str = "qwen2.5-coder-0.5b"
    #: Model tag used when the backend resolves to Ollama.
    ollama_model: str = "qwen2.5-coder:0.5b"
    #: ``backend = "openai"`` only: the server's API root (``http://host:8000/v1``); ""
    #: means ``[openai] base_url``.
    base_url: str = ""
    #: ``backend = "openai"`` only: the environment variable holding the API key; "" means
    #: ``[openai] api_key_env``.
    api_key_env: str = ""
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


def default_generators() -> dict[str, GeneratorConfig]:
    return {
        g.name: g
        for g in (
            GeneratorConfig("qwen-0.5b", model="qwen2.5-coder-0.5b",
                            ollama_model="qwen2.5-coder:0.5b"),
            GeneratorConfig("qwen-1.5b", model="qwen2.5-coder-1.5b",
                            ollama_model="qwen2.5-coder:1.5b"),
            GeneratorConfig("smollm2-135m", backend="llamacpp", model="smollm2-135m",
                            ollama_model="smollm2:135m"),
        )
    }


@dataclass
class OllamaConfig:
    host: str = "http://127.0.0.1:11434"
    #: How long ``auto`` waits for Ollama to answer before using the embedded model.
    probe_timeout_s: float = 0.3
    #: Whole-request timeout for one generation.
    request_timeout_s: float = 120.0
    num_ctx: int = 4096


@dataclass
class OpenAIConfig:
    """Defaults for generators with ``backend = "openai"``: any OpenAI-compatible server
    (vLLM, llama.cpp's server, LM Studio, LocalAI) through the official ``openai`` client.

    The API key is read from the environment variable named by ``api_key_env``, else from
    the OS keyring (service ``dise-openai``, user = the base URL), else none is sent. It is
    never stored: not here, not in the artifact store, not in logs.
    """

    #: API root for generators that set none, e.g. "http://127.0.0.1:8000/v1".
    base_url: str = ""
    #: A DiSE-specific default, so a general OPENAI_API_KEY is not sent to another server
    #: unless a generator names it.
    api_key_env: str = "DISE_OPENAI_API_KEY"
    #: How long listing the server's models (availability, ``dise doctor``) may take.
    probe_timeout_s: float = 3.0
    #: Whole-request timeout for one generation.
    request_timeout_s: float = 120.0


@dataclass
class LlamaCppConfig:
    n_ctx: int = 4096
    #: 0 means one thread per core.
    n_threads: int = 0
    n_gpu_layers: int = 0
