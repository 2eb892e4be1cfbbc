"""The embedded llama.cpp backend with the real models."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from dise.config import Config
from dise.engine.types import Cancelled, CancelToken
from dise.llm import catalog, llamacpp
from dise.llm.base import ModelCorrupt, ModelNotInstalled
from dise.llm.llamacpp import LlamaCppBackend

pytestmark = pytest.mark.model

ADD_REQUEST = [
    {"role": "system", "content": "You are a Python coding assistant. Answer with code only."},
    {"role": "user", "content": "Write a Python function add(a, b) that returns a + b."},
]
STORY_REQUEST = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]


@pytest.fixture
def cfg(models_dir: Path) -> Config:
    return Config(models_dir=models_dir)


def test_qwen_writes_a_function_at_temperature_zero(cfg):
    backend = LlamaCppBackend("qwen2.5-coder-0.5b", cfg)
    assert backend.name == "llamacpp"
    assert backend.model_label == "qwen2.5-coder-0.5b (llama.cpp)"
    streamed: list[str] = []
    text = backend.generate(ADD_REQUEST, temperature=0.0, max_tokens=96,
                            on_text=streamed.append)
    assert "def " in text
    assert "".join(streamed) == text
    again = backend.generate(ADD_REQUEST, temperature=0.0, max_tokens=96)
    assert again == text, "temperature 0 with the same seed is repeatable"


def test_cancel_stops_generation_within_a_couple_of_chunks(cfg):
    backend = LlamaCppBackend("smollm2-135m", cfg)
    token = CancelToken()
    chunks: list[str] = []

    def on_text(text: str) -> None:
        chunks.append(text)
        if len(chunks) == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        backend.generate(STORY_REQUEST, temperature=0.0, max_tokens=400, cancel=token,
                         on_text=on_text)
    assert 3 <= len(chunks) <= 5
    # The shared model is still usable afterwards.
    assert backend.generate(STORY_REQUEST, temperature=0.0, max_tokens=8)


def test_already_cancelled_request_does_no_work(cfg):
    token = CancelToken()
    token.cancel()
    chunks: list[str] = []
    with pytest.raises(Cancelled):
        LlamaCppBackend("smollm2-135m", cfg).generate(
            STORY_REQUEST, temperature=0.0, max_tokens=50, cancel=token, on_text=chunks.append)
    assert chunks == []


def test_two_threads_share_one_model_and_both_get_answers(cfg):
    backends = [LlamaCppBackend("smollm2-135m", cfg) for _ in range(2)]
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            answers[i] = backends[i].generate(
                [{"role": "user", "content": f"Count from {i} to {i + 5}."}],
                temperature=0.0, max_tokens=24)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(answers[i].strip() for i in range(2))
    smol = (cfg.models_path / catalog.CATALOG["smollm2-135m"].file_name).resolve()
    assert llamacpp.loaded_models().count(smol) == 1


def test_queued_request_waits_for_the_busy_model_and_can_be_cancelled(cfg):
    backend = LlamaCppBackend("smollm2-135m", cfg)
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def busy() -> None:
        def on_text(_text: str) -> None:
            started.set()
            release.wait()
        outcome["first"] = backend.generate(STORY_REQUEST, temperature=0.0, max_tokens=4,
                                            on_text=on_text)

    def queued(token: CancelToken) -> None:
        try:
            outcome["second"] = backend.generate(STORY_REQUEST, temperature=0.0,
                                                 max_tokens=4, cancel=token)
        except Cancelled as exc:
            outcome["second"] = exc

    holder = threading.Thread(target=busy)
    holder.start()
    assert started.wait(timeout=120)
    token = CancelToken()
    waiter = threading.Thread(target=queued, args=(token,))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive(), "a second request waits while the model is busy"
    token.cancel()
    waiter.join()
    release.set()
    holder.join()
    assert isinstance(outcome["second"], Cancelled)
    assert outcome["first"]


def test_corrupt_catalogue_file_is_reported_not_crashed(tmp_path, models_dir):
    entry = catalog.CATALOG["smollm2-135m"]
    with open(models_dir / entry.file_name, "rb") as src:
        data = bytearray(src.read())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / entry.file_name).write_bytes(bytes(data))
    backend = LlamaCppBackend("smollm2-135m", Config(models_dir=tmp_path))
    with pytest.raises(ModelCorrupt, match="dise models pull smollm2-135m --force"):
        backend.generate(STORY_REQUEST, temperature=0.0, max_tokens=4)


@pytest.mark.parametrize("content", [b"not a gguf file at all" * 100, "truncated"])
def test_user_gguf_that_llama_cpp_cannot_load_is_reported(tmp_path, models_dir, content):
    bad = tmp_path / "mine.gguf"
    if content == "truncated":
        with open(models_dir / catalog.CATALOG["smollm2-135m"].file_name, "rb") as src:
            bad.write_bytes(src.read(4_000_000))
    else:
        bad.write_bytes(content)
    backend = LlamaCppBackend(str(bad), Config(models_dir=tmp_path))
    assert backend.model_label == "mine.gguf (llama.cpp)"
    with pytest.raises(ModelCorrupt) as err:
        backend.generate(STORY_REQUEST, temperature=0.0, max_tokens=4)
    message = str(err.value)
    assert "could not load" in message and "valid GGUF" in message and "\n" not in message
    assert bad.resolve() not in llamacpp.loaded_models()


def test_missing_model_is_reported_before_any_work(tmp_path):
    with pytest.raises(ModelNotInstalled, match="dise models pull qwen2.5-coder-0.5b"):
        LlamaCppBackend("qwen2.5-coder-0.5b", Config(models_dir=tmp_path))


def test_user_can_point_at_any_gguf(cfg, tmp_path):
    mine = tmp_path / "my-model.gguf"
    shutil.copyfile(cfg.models_path / catalog.CATALOG["smollm2-135m"].file_name, mine)
    backend = LlamaCppBackend(str(mine), cfg)
    assert backend.generate(STORY_REQUEST, temperature=0.0, max_tokens=6)
    llamacpp.unload(mine)
    assert mine.resolve() not in llamacpp.loaded_models()
