"""The embedded backend: llama.cpp (llama-cpp-python) running a GGUF file in this process.

One ``Llama`` per model file is loaded lazily on first use and shared by the whole process
(the language server, the optimiser thread and tests all reuse it). A llama.cpp context is
not thread-safe, so each loaded model has its own lock: concurrent requests for the same
model queue and run one after another (a queued request can still be cancelled while it
waits). Different models run in parallel.

Before a catalogue model is loaded its file is verified (size every time, sha256 once; see
``dise.llm.catalog.verify``). A file llama.cpp cannot load is reported as damaged, never as
a crash.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dise.config import Config, LlamaCppConfig
from dise.errors import Cancelled
from dise.llm import catalog
from dise.llm.base import BackendError, Messages, ModelCorrupt, TextFn, one_line
from dise.types import CancelToken

#: How often a request waiting for a busy model looks at its cancel token.
_QUEUE_POLL_S = 0.05


@dataclass
class _LoadedModel:
    llama: Any
    #: Held for the whole of one generation: llama.cpp contexts are not thread-safe.
    lock: threading.Lock = field(default_factory=threading.Lock)


_registry_lock = threading.Lock()
_loaded: dict[Path, _LoadedModel] = {}
#: One lock per path so loading a big model does not hold up users of another one.
_loading: dict[Path, threading.Lock] = {}


def _import_llama() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise BackendError(f"llama-cpp-python is not importable ({one_line(exc)}): run "
                           f"`pip install llama-cpp-python==0.3.36`, or use Ollama") from None
    return Llama


def _key(path: Path) -> Path:
    return Path(path).resolve()


def _load(path: Path, name: str, entry: catalog.CatalogEntry | None,
          settings: LlamaCppConfig) -> _LoadedModel:
    """The shared model for ``path``, verifying and loading it on first use."""
    key = _key(path)
    with _registry_lock:
        if key in _loaded:
            return _loaded[key]
        path_lock = _loading.setdefault(key, threading.Lock())
    with path_lock:
        with _registry_lock:
            if key in _loaded:
                return _loaded[key]
        if entry is not None:
            catalog.verify(key, entry)
        Llama = _import_llama()
        threads = settings.n_threads or os.cpu_count() or 1
        try:
            llama = Llama(model_path=str(key), n_ctx=settings.n_ctx, n_threads=threads,
                          n_threads_batch=threads, n_gpu_layers=settings.n_gpu_layers,
                          verbose=False)
        except ValueError as exc:
            fix = None if entry else "replace it with a valid GGUF file, or pick a catalogue model"
            raise ModelCorrupt(name, key, f"llama.cpp could not load it: {exc}", fix) from None
        except Exception as exc:  # llama.cpp surfaces allocation failures etc. as anything
            raise BackendError(f"llama.cpp failed to start {name} ({one_line(exc)}): check "
                               f"free memory, or pick a smaller model") from None
        loaded = _LoadedModel(llama)
        with _registry_lock:
            _loaded[key] = loaded
        return loaded


def loaded_models() -> list[Path]:
    """Paths of the models currently held in memory."""
    with _registry_lock:
        return list(_loaded)


def unload(path: Path | None = None) -> None:
    """Free one loaded model (waiting for its running generation), or all of them."""
    with _registry_lock:
        keys = list(_loaded) if path is None else [_key(path)]
        victims = [_loaded.pop(k) for k in keys if k in _loaded]
    for model in victims:
        with model.lock:
            close = getattr(model.llama, "close", None)
            if close is not None:
                close()


def reset_prompt_caches() -> int:
    """Forget the evaluated prompt of every loaded model (waiting for a running generation),
    so the next request evaluates its whole prompt: llama.cpp otherwise reuses the longest
    prefix it shares with the previous one. For benchmarks that compare arms from the same
    cache state. Returns how many models were reset."""
    with _registry_lock:
        models = list(_loaded.values())
    for model in models:
        with model.lock:
            model.llama.reset()
    return len(models)


@atexit.register
def _close_at_exit() -> None:
    """Free models before interpreter teardown, when llama-cpp-python's own ``__del__``
    would fail noisily; a model still busy in a daemon thread is left alone."""
    with _registry_lock:
        models = list(_loaded.values())
        _loaded.clear()
    for model in models:
        if model.lock.acquire(blocking=False):
            try:
                close = getattr(model.llama, "close", None)
                if close is not None:
                    close()
            finally:
                model.lock.release()


def _acquire(lock: threading.Lock, cancel: CancelToken | None) -> None:
    """Wait for the model to be free; a cancelled request stops waiting."""
    if cancel is None:
        lock.acquire()
        return
    while not lock.acquire(timeout=_QUEUE_POLL_S):
        cancel.raise_if_cancelled()


class LlamaCppBackend:
    """Generate with a GGUF model through llama.cpp in this process."""

    name = "llamacpp"

    def __init__(self, model: str, cfg: Config) -> None:
        self.model = model
        #: Raises ``ModelNotInstalled`` now, so a missing model is reported before any work.
        self.path = catalog.model_path(model, cfg)
        self.entry = catalog.entry_for(model)
        label = self.entry.name if self.entry else self.path.name
        self.model_label = f"{label} (llama.cpp)"
        self._settings = cfg.llamacpp

    def __repr__(self) -> str:
        return f"LlamaCppBackend({self.model!r})"

    def load(self) -> None:
        """Load (and verify) the model now instead of on the first request."""
        _load(self.path, self.model, self.entry, self._settings)

    def generate(self, messages: Messages, *, temperature: float, max_tokens: int,
                 seed: int = 0, stop: list[str] | None = None,
                 cancel: CancelToken | None = None, on_text: TextFn | None = None) -> str:
        if cancel is not None:
            cancel.raise_if_cancelled()
        model = _load(self.path, self.model, self.entry, self._settings)
        _acquire(model.lock, cancel)
        try:
            return self._stream(model.llama, messages, temperature=temperature,
                                max_tokens=max_tokens, seed=seed, stop=stop, cancel=cancel,
                                on_text=on_text)
        finally:
            model.lock.release()

    def _stream(self, llama: Any, messages: Messages, *, temperature: float, max_tokens: int,
                seed: int, stop: list[str] | None, cancel: CancelToken | None,
                on_text: TextFn | None) -> str:
        pieces: list[str] = []
        try:  # formats the prompt with the GGUF's chat template; tokens come lazily
            stream = llama.create_chat_completion(
                messages=messages, stream=True, temperature=temperature,
                max_tokens=max_tokens, seed=seed, stop=list(stop or []))
        except Exception as exc:
            raise self._failed(exc) from None
        try:
            while True:
                try:
                    chunk = next(stream)
                except StopIteration:
                    break
                except Exception as exc:  # ValueError/RuntimeError from llama-cpp-python
                    raise self._failed(exc) from None
                if cancel is not None and cancel.cancelled:
                    raise Cancelled()
                text = chunk["choices"][0]["delta"].get("content") or ""
                if text:
                    pieces.append(text)
                    if on_text is not None:
                        on_text(text)
        finally:
            stream.close()
        return "".join(pieces)

    def _failed(self, exc: Exception) -> BackendError:
        if "context window" in str(exc):
            return BackendError(f"The request is too long for {self.model} "
                                f"(n_ctx={self._settings.n_ctx}): shorten it or raise "
                                f"llamacpp.n_ctx")
        return BackendError(f"llama.cpp failed while generating ({one_line(exc)}): try again, "
                            f"or report it with the request")
