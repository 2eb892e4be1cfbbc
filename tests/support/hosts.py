"""Network addresses for tests: ``CLOSED_HOST``, where nothing listens (computed once)."""

from __future__ import annotations

import socket


def _closed_port_host() -> str:
    """A local address nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


#: The suite's Ollama address (conftest sets OLLAMA_HOST to it): connections are refused.
CLOSED_HOST = _closed_port_host()
