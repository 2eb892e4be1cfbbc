"""The OpenAI-compatible backend against a REAL server: llama-cpp-python's own
OpenAI-compatible server (its ``server`` extra) serving the embedded qwen2.5-coder-0.5b,
started for this module on a free loopback port with an API key.

Model output varies: the tests assert structure and test outcomes, never exact text.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dise.config import Config, GeneratorConfig
from dise.errors import Cancelled
from dise.llm import catalog
from dise.llm.base import ServerAuthFailed, ServerModelMissing
from dise.llm.openai_backend import OpenAIBackend
from dise.types import CancelToken

pytestmark = pytest.mark.model

ALIAS = "qwen-coder-0.5b"
#: What the server demands; must never show up in the store, the output or the logs.
API_KEY = "dise-test-key-7f3a9c"
STARTUP_S = 180.0
STUB = '''\
def add_numbers(a: int, b: int) -> int:
    """Return the sum of a and b.

    >>> add_numbers(2, 3)
    5
    >>> add_numbers(-1, 1)
    0
    """
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(models_dir: Path, tmp_path_factory):
    """``python -m llama_cpp.server`` on 127.0.0.1 serving qwen2.5-coder-0.5b as ``ALIAS``,
    requiring ``API_KEY``; yields its base URL (``http://127.0.0.1:PORT/v1``)."""
    model = models_dir / catalog.CATALOG["qwen2.5-coder-0.5b"].file_name
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
             "--api_key", API_KEY, "--n_ctx", "4096", "--n_threads", str(os.cpu_count() or 1),
             "--n_threads_batch", str(os.cpu_count() or 1)],
            stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}): "
                            f"{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1.0,
                             headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within {STARTUP_S:g} s")
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: Generous: the test machine may be shared and busy (no timing is asserted).
REQUEST_TIMEOUT_S = 600.0


def backend(base_url: str, model: str = ALIAS) -> OpenAIBackend:
    cfg = Config()
    cfg.openai.request_timeout_s = REQUEST_TIMEOUT_S
    return OpenAIBackend(GeneratorConfig("team", backend="openai", base_url=base_url,
                                         model=model), cfg)


def test_streams_from_the_real_server_and_cancels_mid_answer(llama_server, monkeypatch):
    monkeypatch.setenv("DISE_OPENAI_API_KEY", API_KEY)
    b = backend(llama_server)
    b.check()
    streamed: list[str] = []
    ask = [{"role": "user", "content": "Write a Python function that returns 1."}]
    text = b.generate(ask, temperature=0.0, max_tokens=24, on_text=streamed.append)
    assert text.strip() and "".join(streamed) == text and len(streamed) > 1
    token = CancelToken()
    seen: list[str] = []

    def cancel_after_two(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        b.generate(ask, temperature=0.0, max_tokens=200, cancel=token,
                   on_text=cancel_after_two)
    assert len(seen) == 2


def test_the_real_server_refuses_a_wrong_key_and_lists_its_model(llama_server, monkeypatch):
    monkeypatch.setenv("DISE_OPENAI_API_KEY", "not-the-key")
    with pytest.raises(ServerAuthFailed, match="status 401; key from \\$DISE_OPENAI_API_KEY"):
        backend(llama_server).check()
    monkeypatch.setenv("DISE_OPENAI_API_KEY", API_KEY)
    # llama.cpp's server would answer any model name with its own: the listing catches it
    with pytest.raises(ServerModelMissing, match=f"it serves: {ALIAS}"):
        backend(llama_server, model="qwen2.5-coder:7b").check()


def test_dise_generate_fills_a_stub_through_the_server_and_keeps_the_key_out(
        llama_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dise.toml").write_text(
        f'[pipeline]\ndefault_generator = "team"\n\n[openai]\nrequest_timeout_s = '
        f'{REQUEST_TIMEOUT_S}\n\n[generators.team]\nbackend = "openai"\n'
        f'base_url = "{llama_server}"\nmodel = "{ALIAS}"\n')
    stub = tmp_path / "mathy.py"
    stub.write_text(STUB)
    env = dict(os.environ, DISE_HOME=str(home), DISE_OPENAI_API_KEY=API_KEY, COLUMNS="200")
    # Every library's DEBUG log goes to stderr (openai, httpx, httpcore, dise).
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
            "from dise.cli import main; raise SystemExit(main(sys.argv[1:]))")
    done = subprocess.run(
        [sys.executable, "-c", code, "generate", "--file", str(stub), "--function",
         "add_numbers", "--json"],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    artifact = json.loads(done.stdout)
    assert artifact["backend"] == "openai" and artifact["generator_used"] == "team"
    assert artifact["model"] == f"{ALIAS} (OpenAI-compatible at {llama_server})"
    assert artifact["function_name"] == "add_numbers"
    assert artifact["tests_total"] >= 2 and artifact["test_passed"] is True
    filled = stub.read_text()
    assert "def add_numbers(a: int, b: int) -> int:" in filled and "return" in filled
    namespace: dict = {}
    exec(compile(filled, str(stub), "exec"), namespace)
    assert namespace["add_numbers"](20, 22) == 42
    assert "chat/completions" in done.stderr  # the debug log did record the request
    assert API_KEY not in done.stdout and API_KEY not in done.stderr
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "store.json" for p in stored)
    for path in stored:
        assert API_KEY.encode() not in path.read_bytes(), path
