"""The Ollama backend against the fake Ollama server (real HTTP, real model behind it)."""

from __future__ import annotations

import pytest

from dise.config import Config
from dise.engine.types import Cancelled, CancelToken
from dise.llm import ollama_backend
from dise.llm.base import (BackendError, GenerationTimeout, OllamaModelMissing,
                           OllamaUnavailable)
from dise.llm.ollama_backend import OllamaBackend

TAG = "smollm2:135m"
REQUEST = [{"role": "system", "content": "You are a helpful assistant."},
           {"role": "user", "content": "Write a short poem about the sea."}]


def config_for(host: str) -> Config:
    cfg = Config()
    cfg.ollama.host = host
    return cfg


@pytest.mark.model
def test_answers_and_streams(fake_ollama):
    backend = OllamaBackend(TAG, config_for(fake_ollama.host))
    assert backend.name == "ollama" and backend.model_label == "smollm2:135m (Ollama)"
    streamed: list[str] = []
    text = backend.generate(REQUEST, temperature=0.0, max_tokens=24, seed=7, stop=["###"],
                            on_text=streamed.append)
    assert text.strip() and "".join(streamed) == text
    _method, path, body = fake_ollama.requests[-1]
    assert path == "/api/chat" and body["stream"] is True
    assert body["options"]["num_predict"] == 24 and body["options"]["seed"] == 7
    assert body["options"]["num_ctx"] == Config().ollama.num_ctx
    assert body["options"]["stop"] == ["###"]


def test_missing_model_says_ollama_pull(fake_ollama):
    backend = OllamaBackend("llama3:70b", config_for(fake_ollama.host))
    with pytest.raises(OllamaModelMissing) as err:
        backend.generate(REQUEST, temperature=0.0, max_tokens=8)
    assert "run `ollama pull llama3:70b`" in str(err.value)


def test_server_down_says_start_ollama(closed_ollama_host):
    backend = OllamaBackend(TAG, config_for(closed_ollama_host))
    with pytest.raises(OllamaUnavailable) as err:
        backend.generate(REQUEST, temperature=0.0, max_tokens=8)
    assert str(err.value) == (f"Ollama is not answering at {closed_ollama_host}: start it with "
                              f"`ollama serve`, or set backend = \"llamacpp\"")


@pytest.mark.model
@pytest.mark.parametrize("chunks", [0, 3])
def test_connection_dropped_mid_stream_is_a_clear_error(fake_ollama, chunks):
    fake_ollama.drop_after_chunks = chunks
    backend = OllamaBackend(TAG, config_for(fake_ollama.host))
    streamed: list[str] = []
    with pytest.raises(BackendError) as err:
        backend.generate(REQUEST, temperature=0.0, max_tokens=64, on_text=streamed.append)
    assert "stopped mid-answer" in str(err.value) and "\n" not in str(err.value)
    assert len(streamed) == chunks


def test_slow_server_times_out(fake_ollama):
    fake_ollama.delay_s = 5.0
    cfg = config_for(fake_ollama.host)
    cfg.ollama.request_timeout_s = 0.3
    with pytest.raises(GenerationTimeout, match="longer than 0.3 s"):
        OllamaBackend(TAG, cfg).generate(REQUEST, temperature=0.0, max_tokens=8)


@pytest.mark.model
def test_cancel_mid_stream(fake_ollama):
    backend = OllamaBackend(TAG, config_for(fake_ollama.host))
    token = CancelToken()
    chunks: list[str] = []

    def on_text(text: str) -> None:
        chunks.append(text)
        if len(chunks) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        backend.generate(REQUEST, temperature=0.0, max_tokens=200, cancel=token,
                         on_text=on_text)
    assert len(chunks) <= 3
    assert backend.generate(REQUEST, temperature=0.0, max_tokens=4), "still usable after"


@pytest.mark.model
def test_non_streaming_and_generate_endpoints_work_for_other_clients(fake_ollama):
    import ollama

    client = ollama.Client(host=fake_ollama.host)
    reply = client.chat(model=TAG, messages=REQUEST, options={"num_predict": 8})
    assert reply.message.content and reply.done
    parts = list(client.generate(model=TAG, prompt="Say hi.", stream=True,
                                 options={"num_predict": 8}))
    assert parts[-1].done and "".join(p.response for p in parts).strip()


def test_probe_and_has_model(fake_ollama, closed_ollama_host):
    assert ollama_backend.probe(fake_ollama.host, 2.0)
    assert ollama_backend.has_model(fake_ollama.host, TAG, 2.0)
    assert ollama_backend.has_model(fake_ollama.host, "qwen2.5-coder:0.5b", 2.0)
    assert not ollama_backend.has_model(fake_ollama.host, "llama3:70b", 2.0)
    assert not ollama_backend.probe(closed_ollama_host, 0.3)
    assert not ollama_backend.has_model(closed_ollama_host, TAG, 0.3)


def test_probe_gives_up_on_a_slow_server(fake_ollama):
    fake_ollama.delay_s = 3.0
    assert not ollama_backend.probe(fake_ollama.host, 0.2)
