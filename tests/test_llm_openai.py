"""The OpenAI-compatible backend's failures, keys and reporting, with no model: a closed
port (server down) and a stand-in server (tests/support/standin_openai.py) that fails on demand.
The real server path is tests/test_openai_engine.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import keyring
import keyring.backend
import pytest

from dise.config import Config, ConfigError, GeneratorConfig, load_config
from dise.errors import Cancelled
from dise.llm import select
from dise.llm.base import (BackendError, GenerationTimeout, ServerAuthFailed,
                           ServerModelMissing, ServerUnavailable)
from dise.llm.openai_backend import KEYRING_SERVICE, OpenAIBackend, display_url
from dise.optimize.pool import generator_pool
from dise.types import CancelToken
from support.standin_openai import StandInOpenAI

ASK = [{"role": "user", "content": "Write a function."}]


def remote(cfg: Config, base_url: str, model: str = "stand-in",
           name: str = "remote") -> GeneratorConfig:
    gen = GeneratorConfig(name, backend="openai", base_url=base_url, model=model)
    cfg.generators[name] = gen
    return gen


def backend_for(base_url: str, model: str = "stand-in", cfg: Config | None = None):
    cfg = cfg or Config()
    return OpenAIBackend(remote(cfg, base_url, model), cfg)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-memory OS keyring for tests (the real one may be absent or hold real keys)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


# -- a server that is down -----------------------------------------------------------
def test_server_down_is_one_line_saying_how_to_start_it(closed_ollama_host):
    url = f"{closed_ollama_host}/v1"
    with pytest.raises(ServerUnavailable) as err:
        backend_for(url).generate(ASK, temperature=0.0, max_tokens=8)
    message = str(err.value)
    assert message.startswith(f"The OpenAI-compatible server at {url} is not answering")
    assert "llama_cpp.server" in message and "base_url" in message and "\n" not in message


def test_resolve_reports_a_down_server_and_phase2_lists_it_unavailable(closed_ollama_host):
    cfg = Config()
    gen = remote(cfg, f"{closed_ollama_host}/v1")
    with pytest.raises(ServerUnavailable):
        select.resolve_backend(gen, cfg)
    cfg.optimize.experiment_generators = ["remote"]
    usable, missing = generator_pool(cfg)
    assert usable == []
    assert missing == [{"generator": "remote", "reason": str(ServerUnavailable(
        f"{closed_ollama_host}/v1")), "how": ""}]


def test_server_backed_generators_are_eligible_whatever_the_memory(closed_ollama_host):
    cfg = Config()
    remote(cfg, f"{closed_ollama_host}/v1")
    assert select.effective_backend(cfg.generators["remote"], cfg) == "openai"
    assert "remote" in select.eligible_generators(cfg)


# -- keys ------------------------------------------------------------------------------
def test_401_without_a_key_says_where_keys_are_read_and_never_prints_one():
    with StandInOpenAI(api_key="right-key") as server:
        backend = backend_for(server.base_url)
        with pytest.raises(ServerAuthFailed) as err:
            backend.check()
        message = str(err.value)
        assert "status 401" in message and "none found in $DISE_OPENAI_API_KEY" in message
        assert f"keyring set dise-openai {server.base_url}" in message
        with pytest.raises(ServerAuthFailed):
            backend.generate(ASK, temperature=0.0, max_tokens=8)
        assert "right-key" not in message


def test_a_refused_key_is_named_by_its_source_not_its_value(monkeypatch):
    monkeypatch.setenv("TEAM_MODELS_KEY", "wrong-key-123")
    with StandInOpenAI(api_key="right-key") as server:
        cfg = Config()
        gen = remote(cfg, server.base_url)
        gen.api_key_env = "TEAM_MODELS_KEY"
        with pytest.raises(ServerAuthFailed) as err:
            OpenAIBackend(gen, cfg).generate(ASK, temperature=0.0, max_tokens=8)
    assert "key from $TEAM_MODELS_KEY" in str(err.value)
    assert "export TEAM_MODELS_KEY=KEY" in str(err.value)
    assert "wrong-key-123" not in str(err.value)


def test_the_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("DISE_OPENAI_API_KEY", "right-key")
    with StandInOpenAI(api_key="right-key", answer="def f():\n    return 1\n") as server:
        backend = backend_for(server.base_url)
        backend.check()
        assert backend.generate(ASK, temperature=0.0, max_tokens=8) == \
            "def f():\n    return 1\n"
        assert server.requests[-1][2]["authorization"] == "Bearer right-key"
        assert "right-key" not in repr(backend) and "right-key" not in backend.model_label


def test_the_key_comes_from_the_keyring_under_the_documented_service(memory_keyring):
    with StandInOpenAI(api_key="ring-key") as server:
        memory_keyring.set_password(KEYRING_SERVICE, server.base_url, "ring-key")
        backend = backend_for(server.base_url + "/")  # a trailing slash: the same entry
        backend.check()
        assert backend.generate(ASK, temperature=0.0, max_tokens=8).startswith("def f")


def test_no_key_anywhere_sends_a_placeholder_that_keyless_servers_ignore(memory_keyring):
    with StandInOpenAI() as server:
        backend_for(server.base_url).generate(ASK, temperature=0.0, max_tokens=8)
        assert server.requests[-1][2]["authorization"] == "Bearer no-key"


def test_a_key_in_the_configuration_is_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dise.toml").write_text('[generators.remote]\nbackend = "openai"\n'
                                    'base_url = "http://h:1/v1"\napi_key = "sk-secret"\n')
    monkeypatch.setenv("DISE_HOME", str(home))
    with pytest.raises(ConfigError) as err:
        load_config()
    assert "api_key_env" in str(err.value) and "sk-secret" not in str(err.value)


def test_credentials_in_the_url_stay_out_of_labels_and_messages():
    assert display_url("http://user:pw@models.lan:8000/v1/") == "http://models.lan:8000/v1"
    backend = backend_for("http://user:pw@127.0.0.1:9/v1")
    assert "pw" not in backend.model_label and "pw" not in repr(backend)


# -- wrong model, garbage, drops, timeouts, reasoning ------------------------------------
def test_a_model_the_server_does_not_list_is_reported_with_what_it_serves():
    with StandInOpenAI(models=("qwen-coder", "llama-3")) as server:
        with pytest.raises(ServerModelMissing) as err:
            backend_for(server.base_url, model="qwen2.5-coder-0.5b").check()
    assert str(err.value) == (
        f"The server at {server.base_url} does not serve the model 'qwen2.5-coder-0.5b' (it "
        f"serves: llama-3, qwen-coder): set the generator's model to one it serves, or load "
        f"'qwen2.5-coder-0.5b' there")


def test_a_404_for_the_model_while_generating_is_model_missing():
    with StandInOpenAI(mode="missing") as server:
        with pytest.raises(ServerModelMissing, match="does not serve the model 'stand-in'"):
            backend_for(server.base_url).generate(ASK, temperature=0.0, max_tokens=8)


def test_a_page_that_is_not_an_openai_answer_is_called_garbage():
    with StandInOpenAI(mode="garbage") as server:
        with pytest.raises(BackendError) as err:
            backend_for(server.base_url).generate(ASK, temperature=0.0, max_tokens=8)
    message = str(err.value)
    assert "is not an OpenAI chat completion" in message and "text/html" in message
    assert "ending in /v1" in message and "\n" not in message


def test_a_stream_cut_before_its_finish_is_a_clear_error():
    with StandInOpenAI(mode="drop", answer="def f():\n    return 42\n") as server:
        streamed: list[str] = []
        with pytest.raises(ServerUnavailable, match="stopped mid-answer"):
            backend_for(server.base_url).generate(ASK, temperature=0.0, max_tokens=8,
                                                  on_text=streamed.append)
    assert streamed == ["def f", "():\n "]


def test_a_slow_server_times_out_naming_the_setting():
    with StandInOpenAI(mode="slow", delay_s=3.0) as server:
        cfg = Config()
        cfg.openai.request_timeout_s = 0.3
        with pytest.raises(GenerationTimeout, match="raise openai.request_timeout_s"):
            backend_for(server.base_url, cfg=cfg).generate(ASK, temperature=0.0, max_tokens=8)


def test_cancel_stops_a_request_the_server_has_not_answered_yet():
    with StandInOpenAI(mode="slow", delay_s=3.0) as server:
        token = CancelToken()
        threading.Timer(0.2, token.cancel).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            backend_for(server.base_url).generate(ASK, temperature=0.0, max_tokens=8,
                                                  cancel=token)
        assert time.monotonic() - started < 2.5  # returned before the server answered


def test_reasoning_sent_beside_the_answer_is_not_the_answer():
    answer = "def add(a, b):\n    return a + b\n"
    with StandInOpenAI(answer=answer, reasoning="Draft: def add(a, b): return a - b") as server:
        streamed: list[str] = []
        text = backend_for(server.base_url).generate(ASK, temperature=0.0, max_tokens=64,
                                                     seed=3, on_text=streamed.append)
    assert text == answer and "".join(streamed) == answer
    body = server.requests[-1][3]
    assert body["stream"] is True and body["model"] == "stand-in"
    assert body["max_tokens"] == 64 and body["seed"] == 3 and body["temperature"] == 0.0


# -- configuration and reporting -------------------------------------------------------
def test_openai_is_chosen_per_generator_and_needs_a_server(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DISE_HOME", str(home))
    monkeypatch.setenv("DISE_BACKEND", "openai")
    with pytest.raises(ConfigError, match=r"set per generator"):
        load_config()
    monkeypatch.delenv("DISE_BACKEND")
    (home / "dise.toml").write_text('[generators.remote]\nbackend = "openai"\n'
                                    'model = "qwen-coder"\n')
    with pytest.raises(ConfigError, match=r"no server: set base_url"):
        load_config()
    (home / "dise.toml").write_text('[openai]\nbase_url = "http://models.lan:8000/v1"\n'
                                    '[generators.remote]\nbackend = "openai"\n'
                                    'model = "qwen-coder"\napi_key_env = "TEAM_KEY"\n')
    cfg = load_config()
    backend = OpenAIBackend(cfg.generators["remote"], cfg)
    assert backend.url == "http://models.lan:8000/v1" and backend.env_var == "TEAM_KEY"


def test_doctor_and_models_report_each_served_generator(tmp_path, closed_ollama_host):
    home = tmp_path / "home"
    home.mkdir()
    with StandInOpenAI(models=("qwen-coder",)) as server:
        (home / "dise.toml").write_text(
            f'[generators.good]\nbackend = "openai"\nbase_url = "{server.base_url}"\n'
            f'model = "qwen-coder"\n[generators.typo]\nbackend = "openai"\n'
            f'base_url = "{server.base_url}"\nmodel = "qwen-codr"\n'
            f'[generators.down]\nbackend = "openai"\nbase_url = "{closed_ollama_host}/v1"\n'
            f'model = "x"\n')
        env = dict(os.environ, DISE_HOME=str(home), COLUMNS="250")
        run = [sys.executable, "-c", "import sys; from dise.cli import main; "
               "raise SystemExit(main(sys.argv[1:]))"]
        doctor = subprocess.run(run + ["doctor"], env=env, capture_output=True, text=True,
                                timeout=120)
        models = subprocess.run(run + ["models"], env=env, capture_output=True, text=True,
                                timeout=120)
    line = next(li for li in doctor.stdout.splitlines() if "openai" in li.split("]")[1][:12])
    assert line.startswith("[warn]")  # the default generator is not among them
    assert "typo: The server at" in line and "'qwen-codr'" in line
    assert "down: The OpenAI-compatible server at" in line and "good" not in line
    assert models.returncode == 0, models.stderr
    rows = {li.split("│")[1].strip(): li for li in models.stdout.splitlines()
            if li.count("│") >= 4 and li.split("│")[1].strip() in ("good", "typo", "down")}
    assert "yes" in rows["good"] and "no: " in rows["typo"] and "no: " in rows["down"]
