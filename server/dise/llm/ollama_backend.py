"""Ollama through the official ``ollama`` client: whatever models the user has pulled.

The answer is ``message.content`` only: the reasoning that newer Ollama versions return
separately for thinking models (``message.thinking``) is logged at debug level and never
handed to the engine, so no code is ever taken from it.

Every failure becomes one of the one-line errors in ``dise.llm.base``: not running →
``OllamaUnavailable``, unknown tag → ``OllamaModelMissing``, too slow → ``GenerationTimeout``,
a connection that breaks mid-answer → ``OllamaUnavailable`` saying it stopped mid-answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from typing import Any

import httpx
import ollama

from dise.config import Config, OllamaConfig
from dise.llm.base import (BackendError, GenerationTimeout, Messages, OllamaModelMissing,
                           OllamaUnavailable, TextFn, one_line)
from dise.llm.streaming import collect_stream, log_reasoning
from dise.types import CancelToken

log = logging.getLogger(__name__)

#: How long a probe or tag listing is trusted. Short, so starting or stopping Ollama is
#: noticed within seconds, yet ``auto`` does not add a round trip to every request.
PROBE_CACHE_S = 10.0

_cache_lock = threading.Lock()
_probe_cache: dict[str, tuple[float, bool]] = {}
_tags_cache: dict[str, tuple[float, frozenset[str]]] = {}


def _fresh(stamp: float, ttl: float) -> bool:
    return time.monotonic() - stamp < ttl


def forget(host: str | None = None) -> None:
    """Drop what we remember about ``host`` (all hosts if None): after it failed us, in tests."""
    with _cache_lock:
        if host is None:
            _probe_cache.clear()
            _tags_cache.clear()
        else:
            _probe_cache.pop(host, None)
            _tags_cache.pop(host, None)


def probe(host: str, timeout: float, *, ttl: float = PROBE_CACHE_S) -> bool:
    """True if an Ollama server answers ``GET /api/version`` at ``host`` within ``timeout``."""
    with _cache_lock:
        hit = _probe_cache.get(host)
        if hit and _fresh(hit[0], ttl):
            return hit[1]
    try:
        response = httpx.get(f"{host.rstrip('/')}/api/version", timeout=timeout)
        ok = response.status_code == 200 and "version" in response.json()
    except (httpx.HTTPError, ValueError, OSError):
        ok = False
    with _cache_lock:
        _probe_cache[host] = (time.monotonic(), ok)
    return ok


def _normal_tag(tag: str) -> str:
    """Ollama treats ``name`` as ``name:latest``."""
    return tag if ":" in tag else f"{tag}:latest"


def list_models(host: str, timeout: float, *, ttl: float = PROBE_CACHE_S) -> frozenset[str]:
    """Tags the server at ``host`` has pulled (empty when it does not answer)."""
    with _cache_lock:
        hit = _tags_cache.get(host)
        if hit and _fresh(hit[0], ttl):
            return hit[1]
    try:
        listing = ollama.Client(host=host, timeout=timeout).list()
        tags = frozenset(_normal_tag(m.model) for m in listing.models if m.model)
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError, OSError):
        tags = frozenset()
    with _cache_lock:
        _tags_cache[host] = (time.monotonic(), tags)
    return tags


def has_model(host: str, tag: str, timeout: float = OllamaConfig.probe_timeout_s) -> bool:
    """True if Ollama at ``host`` has ``tag`` pulled (``/api/tags``)."""
    return _normal_tag(tag) in list_models(host, timeout)


class OllamaBackend:
    """Chat with one Ollama model over HTTP, streaming so cancel and timeouts are prompt."""

    name = "ollama"
    #: The server answers several requests at once, so Phase 1 may write tests while it
    #: generates (llama.cpp in-process holds one lock per model: it has no such flag).
    concurrent = True

    def __init__(self, tag: str, cfg: Config) -> None:
        self.tag = tag
        self.host = cfg.ollama.host
        self.model_label = f"{tag} (Ollama)"
        self._settings = cfg.ollama
        self._client = ollama.Client(host=self.host, timeout=cfg.ollama.request_timeout_s)

    def __repr__(self) -> str:
        return f"OllamaBackend({self.tag!r}, host={self.host!r})"

    def generate(self, messages: Messages, *, temperature: float, max_tokens: int,
                 seed: int = 0, stop: list[str] | None = None,
                 cancel: CancelToken | None = None, on_text: TextFn | None = None) -> str:
        """Stream one answer. The HTTP stream is read on a helper thread so that cancel and
        the whole-request timeout take effect at once, even while Ollama is still loading
        the model or reading the prompt and has sent nothing yet."""
        if cancel is not None:
            cancel.raise_if_cancelled()
        options: dict[str, Any] = {"temperature": temperature,
                                   "num_ctx": self._settings.num_ctx, "seed": seed,
                                   "num_predict": max_tokens}
        if stop:
            options["stop"] = list(stop)
        return collect_stream(
            lambda events, abandon: self._read(messages, options, events, abandon),
            thread_name=f"ollama-{self.tag}", timeout_s=self._settings.request_timeout_s,
            cancel=cancel, on_text=on_text, timeout_error=self._timeout,
            dropped_error=self._dropped, cut_short="the stream ended without its final message")

    def _read(self, messages: Messages, options: dict[str, Any],
              events: "queue.Queue[tuple[str, Any]]", abandon: threading.Event) -> None:
        """Helper thread: turn the HTTP stream into ("text"|"end"|"error", value) events."""
        got_text = False
        stream = None
        reasoning: list[str] = []
        try:
            stream = self._client.chat(model=self.tag, messages=messages, stream=True,
                                       options=options)
            for part in stream:
                if abandon.is_set():
                    return
                text = part.message.content if part.message else ""
                thinking = getattr(part.message, "thinking", None) if part.message else None
                if thinking:  # newer Ollama: the reasoning of a thinking model, never code
                    reasoning.append(thinking)
                if text:
                    got_text = True
                    events.put(("text", text))
                if part.done:
                    log_reasoning(log, self.tag, reasoning)
                    events.put(("end", True))
                    return
            events.put(("end", False))
        except BaseException as exc:  # every failure is handed to the caller's thread
            events.put(("error", self._translate(exc, got_text)))
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    def _translate(self, exc: BaseException, got_text: bool) -> BaseException:
        """Map client/transport failures onto our one-line errors."""
        if isinstance(exc, ollama.ResponseError):
            return self._response_error(exc)
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
            forget(self.host)
            return OllamaUnavailable(self.host)
        if isinstance(exc, httpx.TimeoutException):
            return self._timeout()
        if isinstance(exc, (httpx.TransportError, json.JSONDecodeError)):
            forget(self.host)
            return self._dropped(exc if got_text else f"{exc}, before any text")
        if isinstance(exc, Exception):
            return BackendError(f"Ollama request failed ({type(exc).__name__}: "
                                f"{one_line(exc)}): check the server log (`ollama serve`)")
        return exc

    def _timeout(self) -> GenerationTimeout:
        return GenerationTimeout(f"Ollama answering with {self.tag}",
                                 self._settings.request_timeout_s)

    def _dropped(self, why: object) -> OllamaUnavailable:
        return OllamaUnavailable(
            self.host, f"Ollama at {self.host} stopped mid-answer ({one_line(why)}): check "
                       f"that `ollama serve` is still running, then try again")

    def _response_error(self, exc: ollama.ResponseError) -> BackendError:
        message = str(exc.error)
        if exc.status_code == 404 or "not found" in message.lower():
            forget(self.host)
            return OllamaModelMissing(self.tag, self.host)
        return BackendError(f"Ollama refused the request for {self.tag} ({one_line(message)}, "
                            f"status {exc.status_code}): check the server log (`ollama serve`)")
