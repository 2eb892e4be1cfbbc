"""A stand-in OpenAI-compatible server for the error paths: no model behind it.

Speaks just enough of the API for the official ``openai`` client: ``GET /v1/models`` and
streaming ``POST /v1/chat/completions`` (server-sent events), each chunk shaped like
vLLM's. The real path is tested against llama-cpp-python's own server
(tests/test_openai_engine.py); this double only makes failures happen on demand:

- ``api_key="K"`` → every request without ``Authorization: Bearer K`` gets 401;
- ``mode``: "ok" (stream ``answer``, after ``reasoning`` sent as ``reasoning_content``
  chunks), "garbage" (200 with an HTML page), "drop" (two chunks, then the connection
  closes without a finish reason), "slow" (waits ``delay_s`` before answering),
  "missing" (404 ``The model `X` does not exist.`` as vLLM answers);
- ``models``: the ids ``/v1/models`` lists.

A test fixture, not product code.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandInOpenAI:
    """``with StandInOpenAI(mode="garbage") as s: gen.base_url = s.base_url``."""

    def __init__(self, *, mode: str = "ok", api_key: str | None = None,
                 models: tuple[str, ...] = ("stand-in",), answer: str = "def f():\n    pass\n",
                 reasoning: str = "", delay_s: float = 0.0) -> None:
        self.mode = mode
        self.api_key = api_key
        self.models = models
        self.answer = answer
        self.reasoning = reasoning
        self.delay_s = delay_s
        #: ``(method, path, headers (lower-case names), body)`` of every request.
        self.requests: list[tuple[str, str, dict[str, str], dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "StandInOpenAI":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
            "model": "stand-in", "choices": [{"index": 0, "delta": delta,
                                              "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler(stub: StandInOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self, body: dict[str, Any]) -> bool:
            stub.requests.append((self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()}, body))
            if stub.api_key is None or \
                    self.headers.get("Authorization") == f"Bearer {stub.api_key}":
                return True
            self._json(401, {"error": {"message": "Invalid API key", "type": "auth",
                                       "code": 401}})
            return False

        def do_GET(self) -> None:  # noqa: N802
            if not self._authorised({}):
                return
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "owned_by": "me"} for m in stub.models]})
            else:
                self._json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self._authorised(body):
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"detail": "Not Found"})
                return
            if stub.mode == "slow":
                time.sleep(stub.delay_s)
            if stub.mode == "missing":
                self._json(404, {"object": "error", "type": "NotFoundError", "code": 404,
                                 "message": f"The model `{body.get('model')}` does not exist."})
                return
            if stub.mode == "garbage":
                page = b"<html><body>It works!</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(0, len(stub.reasoning), 8):
                self.wfile.write(_chunk({"reasoning_content": stub.reasoning[i:i + 8]}))
            pieces = [stub.answer[i:i + 5] for i in range(0, len(stub.answer), 5)]
            if stub.mode == "drop":
                for piece in pieces[:2]:
                    self.wfile.write(_chunk({"content": piece}))
                self.wfile.flush()
                self.close_connection = True
                return
            for piece in pieces:
                self.wfile.write(_chunk({"content": piece}))
            self.wfile.write(_chunk({}, finish="stop"))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler
