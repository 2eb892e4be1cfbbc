"""Model backends behind one small protocol: Ollama (official client), any OpenAI-compatible
server (official ``openai`` client) and embedded llama.cpp.

Most callers need only ``resolve_backend(cfg.generator(name), cfg).generate(...)``; the
catalogue (``dise.llm.catalog``) installs and verifies the embedded models.
"""

from dise.llm.base import (Backend, BackendError, GenerationTimeout, ModelCorrupt,
                           ModelDownloadFailed, ModelNotInstalled, OllamaModelMissing,
                           OllamaUnavailable, ServerAuthFailed, ServerModelMissing,
                           ServerUnavailable)
from dise.llm.select import (available_memory_bytes, effective_backend, eligible_generators,
                             model_ram_bytes, resolve_backend)

__all__ = [
    "Backend", "BackendError", "GenerationTimeout", "ModelCorrupt", "ModelDownloadFailed",
    "ModelNotInstalled", "OllamaModelMissing", "OllamaUnavailable", "ServerAuthFailed", "ServerModelMissing",
    "ServerUnavailable", "available_memory_bytes",
    "effective_backend", "eligible_generators", "model_ram_bytes", "resolve_backend",
]
