"""A scripted Ollama for the end-to-end tests: Ollama's HTTP API answering with fixed text.

``ScriptedOllama`` is ``FakeOllama`` (tests/support/fake_ollama.py: ``/api/version``, ``/api/tags``,
``/api/chat``, ``/api/generate``, streamed NDJSON) with a fixed answer per tag instead of a
llama.cpp model. DiSE reaches it the way it reaches any Ollama: a generator with
``backend = "ollama"`` and the server's address as ``ollama.host``, through the official
``ollama`` client. So the first version of a function is the same on every CPU, while the
rest of the path (prompt, HTTP stream, extraction, sandbox, scoring, store, editor) is real.

Run as a script (``python tests/support/scripted_ollama.py``) it serves ``weak_setup.WEAK_ANSWER``
under ``weak_setup.WEAK_TAG``, prints one JSON line ``{"host": ...}`` and stops when its
standard input closes (the VS Code end-to-end driver starts it this way).

A test fixture, not product code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: tests/ goes on the path for ``support``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.fake_ollama import FakeOllama  # noqa: E402

from dise.engine.types import CancelToken  # noqa: E402


class ScriptedAnswer:
    """A backend that streams one fixed text line by line, whatever it is asked."""

    def __init__(self, text: str) -> None:
        self.text = text
        #: The messages of every request, for tests that check what was sent.
        self.calls: list[list[dict]] = []

    def generate(self, messages, *, temperature: float, max_tokens: int, seed: int = 0,
                 stop: list[str] | None = None, cancel: CancelToken | None = None,
                 on_text=None) -> str:
        """The fixed text; ``on_text`` gets it in lines, as a streaming model sends it."""
        self.calls.append(messages)
        if on_text is not None:
            for line in self.text.splitlines(keepends=True):
                on_text(line)
        return self.text


class ScriptedOllama(FakeOllama):
    """``with ScriptedOllama({"tag:latest": "answer"}) as server: cfg.ollama.host = server.host``.

    Tags are served exactly as given (use a full ``name:tag``); any other tag gets Ollama's 404.
    """

    version = "0.6.3-scripted"

    def __init__(self, answers: dict[str, str], **faults: Any) -> None:
        super().__init__({tag: Path(tag) for tag in answers}, **faults)
        self.answers = dict(answers)
        self._backends = {tag: ScriptedAnswer(text) for tag, text in answers.items()}

    def backend(self, tag: str) -> ScriptedAnswer:  # type: ignore[override]
        return self._backends[tag]

    def tags_payload(self) -> dict[str, Any]:
        return {"models": [
            {"name": tag, "model": tag, "modified_at": "2026-01-01T00:00:00Z",
             "size": len(text.encode()), "digest": f"scripted-{abs(hash(tag)):x}",
             "details": {"format": "scripted", "family": "scripted", "parameter_size": "",
                         "quantization_level": ""}}
            for tag, text in self.answers.items()
        ]}


def main() -> int:
    """Serve the weak first version until stdin closes; the address goes to stdout."""
    from support.weak_setup import WEAK_ANSWER, WEAK_TAG

    with ScriptedOllama({WEAK_TAG: WEAK_ANSWER}) as server:
        print(json.dumps({"host": server.host, "tag": WEAK_TAG}), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
