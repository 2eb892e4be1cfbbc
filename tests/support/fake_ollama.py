"""A stand-in Ollama server for tests: Ollama's HTTP API in front of the real embedded model.

It speaks enough of the API for ``ollama.Client`` and DiSE (``GET /api/version``,
``GET /api/tags``, ``POST /api/chat`` and ``POST /api/generate``, streaming NDJSON or a single
JSON answer) and answers with real llama.cpp generations, so backend and engine tests see
real text through a real HTTP stack. Faults can be switched on per test:

- a tag it does not serve → 404 ``{"error": "model 'x' not found"}``, as Ollama does;
- ``drop_after_chunks = N`` → the connection is cut after N streamed chunks;
- ``delay_s`` → every request waits that long before answering (slow server / timeouts).

``scripted={"tag": [answer, ...]}`` serves tags without a model: each chat request gets the
next answer (the last repeats), streamed in small chunks. An answer is a string (the
message content) or ``{"thinking": ..., "content": ...}``, which is sent the way newer
Ollama versions send a thinking model's answer: the reasoning in ``message.thinking``
chunks first, then the content.

A test fixture, not product code.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dise.config import Config
from dise.engine.types import DiseError
from dise.llm.llamacpp import LlamaCppBackend

#: Ollama's own defaults when a request leaves them out (num_predict is capped for tests).
DEFAULT_TEMPERATURE = 0.8
DEFAULT_NUM_PREDICT = 128
#: How often the serving loop checks for shutdown (keeps fixture teardown quick).
_POLL_S = 0.05


class _Dropped(Exception):
    """Raised inside generation to stop it once the connection has been cut on purpose."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class FakeOllama:
    """``with FakeOllama({"tag": gguf_path}) as server: cfg.ollama.host = server.host``."""

    version = "0.6.3-fake"

    def __init__(self, models: dict[str, Path | str], *, drop_after_chunks: int | None = None,
                 delay_s: float = 0.0, cfg: Config | None = None,
                 scripted: dict[str, list[str | dict[str, str]]] | None = None) -> None:
        self.models = {tag: Path(path) for tag, path in models.items()}
        self.scripted = {tag: list(answers) for tag, answers in (scripted or {}).items()}
        self.drop_after_chunks = drop_after_chunks
        self.delay_s = delay_s
        #: ``(method, path, body)`` of every request, for tests that check what was sent.
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._cfg = cfg or Config()
        self._backends: dict[str, LlamaCppBackend] = {}
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------
    @property
    def host(self) -> str:
        assert self._server is not None, "FakeOllama is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeOllama":
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(_POLL_S,),
                                        name="fake-ollama", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "FakeOllama":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- behaviour ------------------------------------------------------------------
    def backend(self, tag: str) -> LlamaCppBackend:
        if tag not in self._backends:
            self._backends[tag] = LlamaCppBackend(str(self.models[tag]), self._cfg)
        return self._backends[tag]

    def wait_delay(self) -> bool:
        """Sleep ``delay_s``; False when the server is stopping and should not answer."""
        if self.delay_s:
            self._stopping.wait(self.delay_s)
        return not self._stopping.is_set()

    def tags_payload(self) -> dict[str, Any]:
        return {"models": [
            {"name": tag, "model": tag, "modified_at": _now(), "size": path.stat().st_size,
             "digest": f"fake-{abs(hash(tag)):x}",
             "details": {"format": "gguf", "family": "fake", "parameter_size": "",
                         "quantization_level": ""}}
            for tag, path in self.models.items()
        ] + [
            {"name": tag, "model": tag, "modified_at": _now(), "size": 0,
             "digest": f"scripted-{abs(hash(tag)):x}",
             "details": {"format": "gguf", "family": "scripted", "parameter_size": "",
                         "quantization_level": ""}}
            for tag in self.scripted
        ]}

    def next_scripted(self, tag: str) -> dict[str, str]:
        """The next scripted answer for ``tag`` as {"thinking", "content"}; the last repeats."""
        answers = self.scripted[tag]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, str):
            return {"thinking": "", "content": answer}
        return {"thinking": answer.get("thinking", ""), "content": answer.get("content", "")}


def _make_handler(fake: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        # --- plumbing -------------------------------------------------------------
        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw or b"{}")

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _chunk(self, payload: dict[str, Any]) -> None:
            line = json.dumps(payload).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        def _end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _cut(self) -> None:
            """Drop the connection mid-body, as a crashing server would."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        # --- routes ---------------------------------------------------------------
        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path, {}))
            if not fake.wait_delay():
                self.close_connection = True
                return
            if self.path == "/api/version":
                self._json(200, {"version": fake.version})
            elif self.path == "/api/tags":
                self._json(200, fake.tags_payload())
            else:
                self._json(404, {"error": f"unknown path {self.path}"})

        def do_HEAD(self) -> None:  # Ollama answers "HEAD /" with 200
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self._body()
            fake.requests.append(("POST", self.path, body))
            if not fake.wait_delay():
                self.close_connection = True
                return
            if self.path not in ("/api/chat", "/api/generate"):
                self._json(404, {"error": f"unknown path {self.path}"})
                return
            tag = body.get("model", "")
            if tag in fake.scripted and self.path == "/api/chat":
                self._scripted(tag, body)
                return
            if tag not in fake.models:
                self._json(404, {"error": f"model '{tag}' not found"})
                return
            chat = self.path == "/api/chat"
            messages = body.get("messages") if chat else _prompt_messages(body)
            self._answer(tag, messages or [], body, chat)

        def _scripted(self, tag: str, body: dict[str, Any]) -> None:
            answer = fake.next_scripted(tag)
            pieces = [("thinking", answer["thinking"][i:i + 40])
                      for i in range(0, len(answer["thinking"]), 40)]
            pieces += [("content", answer["content"][i:i + 40])
                       for i in range(0, len(answer["content"]), 40)]

            def message(field: str, text: str) -> dict[str, Any]:
                msg = {"role": "assistant", "content": ""}
                msg[field] = text
                return {"model": tag, "created_at": _now(), "message": msg, "done": False}

            if not body.get("stream", True):
                final = {"model": tag, "created_at": _now(), "done": True,
                         "done_reason": "stop", "message": {"role": "assistant", **answer}}
                self._json(200, final)
                return
            self._start_stream()
            for field, text in pieces:
                self._chunk(message(field, text))
            self._chunk({"model": tag, "created_at": _now(), "done": True, "done_reason": "stop",
                         "message": {"role": "assistant", "content": ""}})
            self._end_stream()

        def _answer(self, tag: str, messages: list[dict[str, str]], body: dict[str, Any],
                    chat: bool) -> None:
            options = body.get("options") or {}
            streaming = body.get("stream", True)
            started = time.perf_counter()
            sent = 0

            def piece(text: str, done: bool) -> dict[str, Any]:
                payload: dict[str, Any] = {"model": tag, "created_at": _now(), "done": done}
                if chat:
                    payload["message"] = {"role": "assistant", "content": text}
                else:
                    payload["response"] = text
                return payload

            def on_text(text: str) -> None:
                nonlocal sent
                if fake.drop_after_chunks is not None and sent >= fake.drop_after_chunks:
                    self._cut()
                    raise _Dropped()
                self._chunk(piece(text, False))
                sent += 1

            if streaming:
                self._start_stream()
            try:
                text = fake.backend(tag).generate(
                    [{"role": m.get("role", "user"), "content": m.get("content", "")}
                     for m in messages],
                    temperature=float(options.get("temperature", DEFAULT_TEMPERATURE)),
                    max_tokens=int(options.get("num_predict", DEFAULT_NUM_PREDICT)),
                    seed=int(options.get("seed", 0)), stop=options.get("stop"),
                    on_text=on_text if streaming else None)
            except (_Dropped, BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
            except DiseError as exc:  # Ollama reports failures as an "error" field
                if streaming:
                    self._chunk({"error": str(exc)})
                    self._end_stream()
                else:
                    self._json(500, {"error": str(exc)})
                return
            final = piece("" if streaming else text, True)
            final.update(done_reason="stop", total_duration=int(
                (time.perf_counter() - started) * 1e9), eval_count=sent)
            if streaming:
                self._chunk(final)
                self._end_stream()
            else:
                self._json(200, final)

    return Handler


def _prompt_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = []
    if body.get("system"):
        messages.append({"role": "system", "content": body["system"]})
    messages.append({"role": "user", "content": body.get("prompt", "")})
    return messages
