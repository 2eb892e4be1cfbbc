"""Which backend serves a generator, and which generators this machine can run.

A generator with ``backend = "openai"`` always runs on its OpenAI-compatible server; ``auto``
prefers Ollama when it answers quickly and already has the model (it is usually
faster and may use a GPU), and otherwise runs the embedded llama.cpp model, so DiSE works
with no server at all. The probe is cached for a few seconds (``ollama_backend.probe``), so
starting or stopping Ollama is picked up without a restart.
"""

from __future__ import annotations

import os
import threading

from dise.config import Config, GeneratorConfig
from dise.llm import catalog, llamacpp, ollama_backend
from dise.llm.base import Backend, ModelNotInstalled
from dise.llm.llamacpp import LlamaCppBackend
from dise.llm.ollama_backend import OllamaBackend

#: Backends whose server manages its own memory: always eligible, whatever this machine has.
SERVED = ("ollama", "openai")

_cache_lock = threading.Lock()
_backends: dict[tuple, Backend] = {}


def effective_backend(gen: GeneratorConfig, cfg: Config) -> str:
    """``ollama``, ``llamacpp`` or ``openai``: the generator's choice, else the global one,
    ``auto`` probed (``openai`` is only ever a generator's own choice)."""
    choice = gen.backend if gen.backend != "auto" else cfg.backend
    if choice != "auto":
        return choice
    host = cfg.ollama.host
    timeout = cfg.ollama.probe_timeout_s
    if ollama_backend.probe(host, timeout) and \
            ollama_backend.has_model(host, gen.ollama_model, timeout):
        return "ollama"
    return "llamacpp"


def resolve_backend(gen: GeneratorConfig, cfg: Config) -> Backend:
    """The backend instance for ``gen`` (cached; models load lazily on first generate).

    Raises ``ModelNotInstalled`` at once when it falls to llama.cpp and the file is missing,
    and for an OpenAI-compatible server what a request would meet (``ServerUnavailable``,
    ``ServerAuthFailed``, ``ServerModelMissing``; its model listing is cached for seconds).
    """
    kind = effective_backend(gen, cfg)
    if kind == "openai":
        key: tuple = ("openai", gen.base_url or cfg.openai.base_url, gen.model,
                      gen.api_key_env or cfg.openai.api_key_env, cfg.openai.request_timeout_s,
                      cfg.openai.probe_timeout_s)
    elif kind == "ollama":
        key = ("ollama", cfg.ollama.host, gen.ollama_model, cfg.ollama.request_timeout_s,
                      cfg.ollama.num_ctx)
    else:
        path = catalog.model_path(gen.model, cfg)
        key = ("llamacpp", str(path.resolve()), gen.model, cfg.llamacpp.n_ctx,
               cfg.llamacpp.n_threads, cfg.llamacpp.n_gpu_layers)
    with _cache_lock:
        backend = _backends.get(key)
        if backend is None:
            if kind == "openai":  # the openai client costs ~1.5 s to import: only when used
                from dise.llm.openai_backend import OpenAIBackend
            backend = OpenAIBackend(gen, cfg) if kind == "openai" else \
                OllamaBackend(gen.ollama_model, cfg) if kind == "ollama" \
                else LlamaCppBackend(gen.model, cfg)
            _backends[key] = backend
    if kind == "openai":
        backend.check()  # type: ignore[attr-defined]
    return backend


def clear_cache() -> None:
    """Forget backend instances (loaded llama.cpp models stay shared in ``dise.llm.llamacpp``)."""
    with _cache_lock:
        _backends.clear()


def available_memory_bytes() -> int | None:
    """Memory the system can give a new model without swapping; None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def model_ram_bytes(gen: GeneratorConfig, cfg: Config) -> int:
    """Estimated resident memory to run ``gen``'s llama.cpp model (0 if the file is unknown)."""
    entry = catalog.entry_for(gen.model)
    if entry is not None:
        return entry.ram_bytes
    try:
        size = catalog.model_path(gen.model, cfg).stat().st_size
    except (OSError, ModelNotInstalled):
        return 0
    return size + catalog.UNKNOWN_MODEL_OVERHEAD_BYTES


def eligible_generators(cfg: Config) -> list[str]:
    """Generators this machine can run now: server-backed ones always (Ollama and
    OpenAI-compatible servers manage their own memory), embedded ones when their model fits
    in available memory.

    Being eligible says nothing about being installed; ``resolve_backend`` reports that.
    Models already loaded in this process count as fitting.
    """
    free = available_memory_bytes()
    names = []
    for name, gen in cfg.generators.items():
        if effective_backend(gen, cfg) in SERVED or free is None \
                or _already_loaded(gen, cfg) or model_ram_bytes(gen, cfg) <= free:
            names.append(name)
    return names


def _already_loaded(gen: GeneratorConfig, cfg: Config) -> bool:
    try:
        path = catalog.model_path(gen.model, cfg).resolve()
    except ModelNotInstalled:
        return False
    return path in llamacpp.loaded_models()
