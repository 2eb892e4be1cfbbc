"""Backend resolution (auto → Ollama or llama.cpp) and which generators fit this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from dise.config import Config, GeneratorConfig
from dise.llm import select
from dise.llm.base import Backend, ModelNotInstalled
from dise.llm.llamacpp import LlamaCppBackend
from dise.llm.ollama_backend import OllamaBackend

GIB = 1024 ** 3


@pytest.fixture
def cfg(models_dir: Path, closed_ollama_host: str) -> Config:
    cfg = Config(models_dir=models_dir)
    cfg.ollama.host = closed_ollama_host
    return cfg


def test_auto_picks_ollama_when_it_answers_and_has_the_model(cfg, fake_ollama):
    cfg.ollama.host = fake_ollama.host
    cfg.ollama.probe_timeout_s = 2.0  # a loaded CI box must not make this test flaky
    backend = select.resolve_backend(cfg.generator("qwen-0.5b"), cfg)
    assert isinstance(backend, OllamaBackend) and isinstance(backend, Backend)
    assert backend.model_label == "qwen2.5-coder:0.5b (Ollama)"
    assert select.resolve_backend(cfg.generator("qwen-0.5b"), cfg) is backend


def test_auto_falls_back_to_llamacpp_when_ollama_lacks_the_model(cfg, fake_ollama):
    cfg.ollama.host = fake_ollama.host
    cfg.ollama.probe_timeout_s = 2.0
    gen = GeneratorConfig("other", model="smollm2-135m", ollama_model="llama3:70b")
    backend = select.resolve_backend(gen, cfg)
    assert isinstance(backend, LlamaCppBackend)
    assert backend.model_label == "smollm2-135m (llama.cpp)"


def test_auto_uses_llamacpp_when_ollama_is_down(cfg):
    backend = select.resolve_backend(cfg.generator("qwen-0.5b"), cfg)
    assert isinstance(backend, LlamaCppBackend) and isinstance(backend, Backend)
    assert select.resolve_backend(cfg.generator("qwen-0.5b"), cfg) is backend


def test_explicit_choices_win_over_auto(cfg, fake_ollama):
    cfg.ollama.host = fake_ollama.host
    cfg.ollama.probe_timeout_s = 2.0
    # The smollm2-135m generator is pinned to llamacpp although the fake serves smollm2:135m.
    assert isinstance(select.resolve_backend(cfg.generator("smollm2-135m"), cfg),
                      LlamaCppBackend)
    cfg.backend = "llamacpp"
    assert isinstance(select.resolve_backend(cfg.generator("qwen-0.5b"), cfg), LlamaCppBackend)
    gen = GeneratorConfig("pinned", backend="ollama", ollama_model="anything:1b")
    assert isinstance(select.resolve_backend(gen, cfg), OllamaBackend)


def test_missing_embedded_model_is_reported_when_resolving(tmp_path, closed_ollama_host):
    cfg = Config(models_dir=tmp_path)
    cfg.ollama.host = closed_ollama_host
    with pytest.raises(ModelNotInstalled, match="dise models pull qwen2.5-coder-1.5b"):
        select.resolve_backend(cfg.generator("qwen-1.5b"), cfg)


def test_available_memory_is_known_on_linux():
    free = select.available_memory_bytes()
    assert free is not None and free > 0


@pytest.fixture
def nothing_loaded(monkeypatch):
    monkeypatch.setattr(select.llamacpp, "loaded_models", lambda: [])


def test_eligible_generators_follow_available_memory(cfg, monkeypatch, nothing_loaded):
    ram = {name: select.model_ram_bytes(gen, cfg) for name, gen in cfg.generators.items()}
    assert ram["smollm2-135m"] < ram["qwen-0.5b"] < ram["qwen-1.5b"]
    monkeypatch.setattr(select, "available_memory_bytes", lambda: ram["qwen-0.5b"])
    assert select.eligible_generators(cfg) == ["qwen-0.5b", "smollm2-135m"]
    monkeypatch.setattr(select, "available_memory_bytes", lambda: 64 * GIB)
    assert select.eligible_generators(cfg) == list(cfg.generators)


def test_ollama_backed_generators_are_always_eligible(cfg, monkeypatch, nothing_loaded):
    monkeypatch.setattr(select, "available_memory_bytes", lambda: 0)
    cfg.backend = "ollama"
    eligible = select.eligible_generators(cfg)
    assert "qwen-0.5b" in eligible and "qwen-1.5b" in eligible
    assert "smollm2-135m" not in eligible  # pinned to llamacpp, and nothing fits in 0 bytes


def test_a_model_already_in_memory_stays_eligible(cfg, models_dir, monkeypatch):
    smol = next(models_dir.glob("SmolLM2*.gguf")).resolve()
    monkeypatch.setattr(select, "available_memory_bytes", lambda: 0)
    monkeypatch.setattr(select.llamacpp, "loaded_models", lambda: [smol])
    assert select.eligible_generators(cfg) == ["smollm2-135m"]


def test_ram_estimate_for_a_users_own_gguf(cfg, models_dir):
    path = next(models_dir.glob("SmolLM2*.gguf"))
    gen = GeneratorConfig("mine", backend="llamacpp", model=str(path))
    assert select.model_ram_bytes(gen, cfg) > path.stat().st_size
