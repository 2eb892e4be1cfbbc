"""Any OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio, LocalAI) through the
official ``openai`` client.

Shaped like the Ollama backend: the answer streams on a helper thread so cancel and the
whole-request timeout act at once; reasoning that a server returns beside the answer
(``delta.reasoning_content`` / ``delta.reasoning`` from vLLM, LM Studio, llama.cpp's server)
is logged at debug level and never handed to the engine; ``<think>`` sections inside the
answer are left to ``dise.engine.reasoning`` as for every backend.

The API key comes from the environment variable named by ``api_key_env``, else the OS
keyring (service ``dise-openai``, user = the base URL), else none is sent (local servers
need none). It lives only in the client object: never in messages, ``repr``, logs or
artifacts (a server message that echoes it is redacted).

Every failure becomes one line from ``dise.llm.base``: not running → ``ServerUnavailable``,
unknown model → ``ServerModelMissing``, 401/403 → ``ServerAuthFailed``, too slow →
``GenerationTimeout``, a broken or non-OpenAI stream → ``BackendError`` saying so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import openai

from dise.config import Config, GeneratorConfig
from dise.llm.base import (BackendError, GenerationTimeout, Messages, ServerAuthFailed,
                           ServerModelMissing, ServerUnavailable, TextFn, one_line)
from dise.llm.streaming import collect_stream, log_reasoning
from dise.types import CancelToken

log = logging.getLogger(__name__)

#: The OS keyring service under which keys are looked up (user = the base URL).
KEYRING_SERVICE = "dise-openai"
#: Sent when no key is found: the client needs a string, and keyless servers ignore it.
NO_KEY = "no-key"
#: How long a model listing (or a failure to get one) is trusted.
PROBE_CACHE_S = 10.0

_cache_lock = threading.Lock()
#: display url → (stamp, served model ids or None when the server lists none, error or None)
_models_cache: dict[str, tuple[float, frozenset[str] | None, BackendError | None]] = {}


def display_url(base_url: str) -> str:
    """``base_url`` without credentials or a trailing slash: what messages and the keyring
    use (``http://u:p@h:8000/v1/`` → ``http://h:8000/v1``)."""
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), parts.query, ""))


def forget(url: str | None = None) -> None:
    """Drop the remembered model listing of ``url`` (all servers if None)."""
    with _cache_lock:
        if url is None:
            _models_cache.clear()
        else:
            _models_cache.pop(display_url(url), None)


@dataclass(frozen=True)
class ApiKey:
    """A key and where it came from; ``repr`` never shows the key."""

    value: str
    #: For messages: "from $VAR", "from the keyring", "none found in $VAR or the keyring".
    source: str

    def __repr__(self) -> str:
        return f"ApiKey(source={self.source!r})"


def find_api_key(env_var: str, url: str, env: dict[str, str] | None = None) -> ApiKey:
    """The key for the server at ``url``: ``$env_var``, else the keyring entry
    (``dise-openai``, ``display_url(url)``), else ``NO_KEY``. Keyring failures (no backend,
    locked) count as no entry."""
    env = os.environ if env is None else env
    if env_var and env.get(env_var):
        return ApiKey(env[env_var], f"from ${env_var}")
    try:
        import keyring

        stored = keyring.get_password(KEYRING_SERVICE, display_url(url))
    except Exception as exc:  # noqa: BLE001 - no keyring backend, locked, dbus missing…
        log.debug("keyring lookup for %s failed: %s", display_url(url), type(exc).__name__)
        stored = None
    if stored:
        return ApiKey(stored, "from the keyring")
    return ApiKey(NO_KEY, f"none found in ${env_var or '(no api_key_env)'} or the keyring")


class OpenAIBackend:
    """Chat with one model of an OpenAI-compatible server, streaming."""

    name = "openai"
    #: The server answers several requests at once (it may queue them).
    concurrent = True

    def __init__(self, gen: GeneratorConfig, cfg: Config) -> None:
        self.model = gen.model
        self.base_url = (gen.base_url or cfg.openai.base_url).strip()
        self.url = display_url(self.base_url)
        self.env_var = gen.api_key_env or cfg.openai.api_key_env
        self.model_label = f"{self.model} (OpenAI-compatible at {self.url})"
        self._settings = cfg.openai
        self._key_lock = threading.Lock()
        self._key: ApiKey | None = None

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model!r}, url={self.url!r})"

    # -- key and clients ----------------------------------------------------------------
    def _api_key(self) -> ApiKey:
        with self._key_lock:
            if self._key is None:
                self._key = find_api_key(self.env_var, self.url)
            return self._key

    def _client(self, timeout: float) -> openai.OpenAI:
        """A client for one call (cheap); no retries, so errors surface at once."""
        return openai.OpenAI(base_url=self.base_url, api_key=self._api_key().value,
                             timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                             max_retries=0)

    def _redact(self, text: object) -> str:
        key = self._key.value if self._key else None
        flat = one_line(text)
        return flat.replace(key, "***") if key and key != NO_KEY else flat

    # -- availability -------------------------------------------------------------------
    def served_models(self, *, ttl: float = PROBE_CACHE_S) -> frozenset[str] | None:
        """Model ids the server lists (``GET /models``), or None when it lists none or has
        no such endpoint. Raises ``ServerUnavailable``/``ServerAuthFailed``. Cached ``ttl`` s."""
        with _cache_lock:
            hit = _models_cache.get(self.url)
            if hit and time.monotonic() - hit[0] < ttl:
                if hit[2] is not None:
                    raise hit[2]
                return hit[1]
        served: frozenset[str] | None = None
        error: BackendError | None = None
        try:
            page = self._client(self._settings.probe_timeout_s).models.list()
            served = frozenset(m.id for m in page.data if getattr(m, "id", None)) or None
        except openai.NotFoundError:
            served = None  # no listing endpoint: the first request will tell
        except Exception as exc:  # noqa: BLE001 - translated below
            error = self._translate(exc, got_text=False, probing=True)
        if not isinstance(error, ServerAuthFailed):  # a key just set counts at once
            with _cache_lock:
                _models_cache[self.url] = (time.monotonic(), served, error)
        if error is not None:
            raise error
        return served

    def check(self) -> None:
        """Raise the error a request would meet now: server down, key refused, or the
        model not among those the server lists (llama.cpp's server would otherwise answer
        with its default model)."""
        served = self.served_models()
        if served is not None and self.model not in served:
            raise ServerModelMissing(self.model, self.url, sorted(served))

    # -- generation ---------------------------------------------------------------------
    def generate(self, messages: Messages, *, temperature: float, max_tokens: int,
                 seed: int = 0, stop: list[str] | None = None,
                 cancel: CancelToken | None = None, on_text: TextFn | None = None) -> str:
        """Stream one answer (the ``Backend`` protocol). The stream is read on a helper
        thread so cancel and ``openai.request_timeout_s`` take effect at once, even before
        the server has sent anything."""
        if cancel is not None:
            cancel.raise_if_cancelled()
        params: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True,
                                  "temperature": temperature, "max_tokens": max_tokens,
                                  "seed": seed}
        if stop:
            params["stop"] = list(stop)
        return collect_stream(
            lambda events, abandon: self._read(params, events, abandon),
            thread_name=f"openai-{self.model}", timeout_s=self._settings.request_timeout_s,
            cancel=cancel, on_text=on_text, timeout_error=self._timeout,
            dropped_error=self._dropped, cut_short="the stream ended without a finish reason")

    def _read(self, params: dict[str, Any], events: "queue.Queue[tuple[str, Any]]",
              abandon: threading.Event) -> None:
        """Helper thread: turn the SSE stream into ("text"|"end"|"error", value) events."""
        got_text = False
        finished = False
        stream = None
        reasoning: list[str] = []
        try:
            client = self._client(self._settings.request_timeout_s)
            stream = client.chat.completions.create(**params)
            kind = stream.response.headers.get("content-type", "")
            if "event-stream" not in kind:  # not a stream: a whole answer, or not OpenAI
                text = self._whole_answer(stream.response.read(), kind)
                if text:
                    events.put(("text", text))
                events.put(("end", True))
                return
            for chunk in stream:
                if abandon.is_set():
                    return
                for choice in getattr(chunk, "choices", None) or []:
                    delta = choice.delta
                    thought = (getattr(delta, "reasoning_content", None)
                               or getattr(delta, "reasoning", None)) if delta else None
                    if isinstance(thought, str) and thought:
                        reasoning.append(thought)  # the model's reasoning, never code
                    text = delta.content if delta is not None else None
                    if text:
                        got_text = True
                        events.put(("text", text))
                    if choice.finish_reason:
                        finished = True
            log_reasoning(log, self.model, reasoning)
            events.put(("end", finished))
        except BaseException as exc:  # every failure is handed to the caller's thread
            events.put(("error", self._translate(exc, got_text)))
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    # -- errors -------------------------------------------------------------------------
    def _translate(self, exc: BaseException, got_text: bool,
                   probing: bool = False) -> BaseException:
        """Map client/transport failures onto our one-line errors."""
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            forget(self.url)
            if probing:
                return ServerUnavailable(self.url, f"The OpenAI-compatible server at "
                                         f"{self.url} did not list its models within "
                                         f"{self._settings.probe_timeout_s:g} s: check that it "
                                         f"is running, or raise openai.probe_timeout_s")
            return self._timeout()
        if isinstance(exc, openai.APIConnectionError):
            forget(self.url)
            if got_text:
                return self._dropped(exc.__cause__ or exc)
            return ServerUnavailable(self.url)
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc)
        if isinstance(exc, (openai.APIResponseValidationError, ValueError, TypeError,
                            AttributeError, KeyError, httpx.DecodingError)):
            return self._garbage(exc)
        if isinstance(exc, httpx.TransportError):
            forget(self.url)
            return self._dropped(exc if got_text else f"{exc}, before any text")
        if isinstance(exc, Exception):
            return BackendError(f"The request to {self.url} failed ({type(exc).__name__}: "
                                f"{self._redact(exc)}): check the server's log")
        return exc

    def _status_error(self, exc: openai.APIStatusError) -> BackendError:
        status = exc.status_code
        if status in (401, 403):
            with self._key_lock:
                key, self._key = self._key, None  # read it again next time
            forget(self.url)
            return ServerAuthFailed(self.url, status, key.source if key else "unknown",
                                    self.env_var or "DISE_OPENAI_API_KEY")
        message = self._server_message(exc)
        if status == 404 and ("model" in message.lower() or "not exist" in message.lower()):
            forget(self.url)
            return ServerModelMissing(self.model, self.url)
        if status == 404:
            return BackendError(f"{self.url} has no chat completions endpoint (status 404): "
                                f"base_url must be the API root, usually ending in /v1")
        return BackendError(f"The server at {self.url} refused the request for {self.model} "
                            f"({message}, status {status}): check the server's log")

    def _server_message(self, exc: openai.APIStatusError) -> str:
        body = exc.body
        if isinstance(body, dict):
            inner = body.get("error", body)
            text = inner.get("message") if isinstance(inner, dict) else inner
            if text is None and isinstance(body.get("detail"), (str, list)):
                text = body["detail"]
            if text:
                return self._redact(text)
        return self._redact(exc.message)

    def _whole_answer(self, raw: bytes, kind: str) -> str:
        """The text of a non-streamed chat completion (a server that ignored
        ``stream``); anything else is garbage (an HTML page, a proxy's login form…)."""
        try:
            body = json.loads(raw)
            message = body["choices"][0]["message"]
            text = message.get("content") or ""
            if not isinstance(text, str):
                raise TypeError(f"content is {type(text).__name__}")
            return text
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            start = raw[:80].decode("utf-8", "replace")
            raise self._garbage(ValueError(f"{kind or 'no content type'}: {start!r}")) from None

    def _garbage(self, exc: BaseException) -> BackendError:
        return BackendError(f"The server at {self.url} answered with something that is not an "
                            f"OpenAI chat completion ({type(exc).__name__}: "
                            f"{self._redact(exc)}): check that base_url points at an "
                            f"OpenAI-compatible API root (usually ending in /v1)")

    def _timeout(self) -> GenerationTimeout:
        return GenerationTimeout(f"{self.url} answering with {self.model}",
                                 self._settings.request_timeout_s, "openai.request_timeout_s")

    def _dropped(self, why: object) -> ServerUnavailable:
        return ServerUnavailable(
            self.url, f"The server at {self.url} stopped mid-answer ({self._redact(why)}): "
                      f"check that it is still running, then try again")
