"""The weak first version the real-model Phase 2 tests start from (tests/support/weak_setup.py).

No model is needed: the scripted generator answers through a scripted Ollama, and the
engine, sandbox and scoring are real. These checks hold the premise of the end-to-end tests
(the first version fails its tests and is queued for the optimiser) on every machine, and
show that each way of configuring it (overrides, ``dise.toml``, the script mode the VS Code
driver starts) reaches the scripted server through the official ``ollama`` client.
"""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import ollama
from support.weak_setup import (NAME, STUB, WEAK_ANSWER, WEAK_GENERATOR, WEAK_TAG, as_toml, fitnesses,
                        weak_then_quick)

from dise.config import load_config
from dise.engine.extract import extract_code
from dise.engine.core import Engine
from dise.engine.types import Request

TESTS = Path(__file__).resolve().parent
ASSERTS = ["assert sum_digit_squares(12) == 5", "assert sum_digit_squares(0) == 0",
           "assert sum_digit_squares(99) == 162"]


def test_the_official_client_gets_the_scripted_answer(weak_ollama):
    client = ollama.Client(host=weak_ollama.host)
    assert WEAK_TAG in [m.model for m in client.list().models]
    streamed = "".join(part.message.content for part in client.chat(
        model=WEAK_TAG, messages=[{"role": "user", "content": "anything"}], stream=True))
    assert streamed == WEAK_ANSWER
    assert client.generate(model=WEAK_TAG, prompt="anything").response == WEAK_ANSWER


def test_the_weak_first_version_fails_its_tests_and_is_queued(weak_ollama):
    engine = Engine(load_config(weak_then_quick(weak_ollama.host)))
    v1 = engine.generate(Request(text="Return the sum of the squares of the decimal digits "
                                      "of a non-negative integer n.", asserts=ASSERTS))
    assert (v1.generator_used, v1.backend) == (WEAK_GENERATOR, "ollama")
    assert not v1.test_passed
    assert v1.fitness_score < engine.cfg.pipeline.optimise_below
    assert engine.store.queue_position(v1.node_id) == 1
    assert any(path == "/api/chat" for _, path, _ in weak_ollama.requests)
    # Every doctest of the stub fails with the weak answer, so a better version has room to
    # win (the optimiser scores against the stub's doctests in the editor tests).
    namespace: dict = {}
    exec(extract_code(WEAK_ANSWER, NAME).code, namespace)
    examples = doctest.DocTestParser().get_doctest(STUB, namespace, NAME, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.REPORT_ONLY_FIRST_FAILURE)
    outcome = runner.run(examples, out=lambda _text: None)
    assert outcome.attempted == 3 and outcome.failed == 3, outcome


def test_a_dise_toml_configures_the_same_setup(weak_ollama, tmp_path):
    """What the Neovim test writes: the scripted generator and its host come from the file."""
    (tmp_path / "dise.toml").write_text(as_toml(weak_then_quick(weak_ollama.host)))
    cfg = load_config(env={"DISE_HOME": str(tmp_path)})
    assert cfg.ollama.host == weak_ollama.host
    assert cfg.pipeline.default_generator == WEAK_GENERATOR
    assert cfg.generator().backend == "ollama" and cfg.generator().ollama_model == WEAK_TAG
    assert cfg.generators["qwen-0.5b"].backend == "llamacpp"


def test_script_mode_prints_its_address_and_serves_until_stdin_closes():
    """What the VS Code end-to-end driver starts (vscode-extension/e2e/run.mjs)."""
    proc = subprocess.Popen([sys.executable, str(TESTS / "support" / "scripted_ollama.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["tag"] == WEAK_TAG
        answer = ollama.Client(host=first["host"]).chat(
            model=WEAK_TAG, messages=[{"role": "user", "content": NAME}])
        assert answer.message.content == WEAK_ANSWER
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


def test_fitnesses_reads_the_better_version_texts():
    assert fitnesses("Better version available: fitness 0.57 → 1.00 (v2, qwen-0.5b @ 0.0)") \
        == (0.57, 1.0)
    assert fitnesses("⚡ Better version available 0.42 → 0.90") == (0.42, 0.9)
