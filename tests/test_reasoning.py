"""Reasoning models: code is never taken from the model's thinking (issue 12 §2).

Engine tests go through the real ``ollama`` client to a stand-in Ollama server that serves
scripted answers (``FakeOllama(scripted=...)``), the way Ollama streams a reasoning model's
answer; the engine, sandbox and store are real.
"""

from __future__ import annotations

import pytest
from support.fake_ollama import FakeOllama

from dise.config import load_config
from dise.engine.extract import extract_asserts, extract_code, strip_reasoning
from dise.engine.core import Engine
from dise.engine.pipeline import GenerationFailed
from dise.engine.types import Request
from dise.llm.ollama_backend import OllamaBackend

TAG = "qwen2.5-coder:0.5b"   # the default generator's Ollama model

DRAFT = "def fact(n):\n    return n * fact(n - 1)\n"                 # recurses forever
RIGHT = "def fact(n):\n    return 1 if n <= 1 else n * fact(n - 1)\n"
ASSERTS = ["assert fact(0) == 1", "assert fact(1) == 1", "assert fact(3) == 6",
           "assert fact(5) == 120", "assert fact(6) == 720"]
ISSUE_ANSWER = (f"<think>\nA first draft:\n```python\n{DRAFT}```\nHmm, that draft is wrong: it "
                f"has no base case and recurses forever.\n</think>\n\nHere is the function:\n"
                f"```python\n{RIGHT}```\n")


def defs_in(code: str) -> str:
    return code.strip()


# --- extraction ---------------------------------------------------------------------------

def test_issue_example_takes_the_answer_not_the_draft():
    result = extract_code(ISSUE_ANSWER, "fact")
    assert defs_in(result.code) == RIGHT.strip()
    assert "ignored the model's reasoning" in result.notes


@pytest.mark.parametrize("tag", ["think", "thinking", "reasoning", "THINK", "reflection"])
def test_every_reasoning_tag_is_skipped(tag):
    text = f"<{tag}>\n```python\n{DRAFT}```\n</{tag}>\n```python\n{RIGHT}```"
    assert defs_in(extract_code(text, "fact").code) == RIGHT.strip()


@pytest.mark.parametrize("opening, closing", [
    ("<|begin_of_thought|>", "<|end_of_thought|>"), ("◁think▷", "◁/think▷"),
    ("[THINK]", "[/THINK]")])
def test_other_models_reasoning_markers(opening, closing):
    text = f"{opening}\n```python\n{DRAFT}```\n{closing}\n```python\n{RIGHT}```"
    assert defs_in(extract_code(text, "fact").code) == RIGHT.strip()


def test_unterminated_reasoning_has_no_answer():
    text = f"<think>\nLet me write it:\n```python\n{RIGHT}```\nand check the edge cases"
    result = extract_code(text, "fact")
    assert result.code == ""
    assert "no answer after the reasoning" in result.notes


def test_a_lone_closing_tag_ends_the_reasoning():
    """Chat templates that open ``<think>`` in the prompt: the answer starts after ``</think>``."""
    text = f"Drafting:\n```python\n{DRAFT}```\nwrong.\n</think>\n```python\n{RIGHT}```"
    assert defs_in(extract_code(text, "fact").code) == RIGHT.strip()


def test_reasoning_in_prose_the_last_complete_block_is_the_answer():
    text = (f"Try this:\n```python\n{DRAFT}```\nWait, that never stops. Corrected:\n"
            f"```python\n{RIGHT}```\nThis handles n <= 1.")
    assert defs_in(extract_code(text, "fact").code) == RIGHT.strip()


def test_a_cut_off_last_block_does_not_beat_a_complete_one():
    text = f"```python\n{RIGHT}```\nAnother way:\n```python\ndef fact(n):\n    if n"
    assert defs_in(extract_code(text, "fact").code) == RIGHT.strip()


def test_a_tag_inside_code_is_not_reasoning():
    code = 'def strip_think(s):\n    return s.replace("<think>", "")\n'
    assert strip_reasoning(f"```python\n{code}```") == (f"```python\n{code}```", [])


def test_asserts_written_while_thinking_are_not_tests():
    text = ("<think>\nassert fact(3) == 5\n</think>\n```python\nassert fact(3) == 6\n```")
    assert extract_asserts(text, "fact") == ["assert fact(3) == 6"]


# --- through the Ollama client and the engine ---------------------------------------------

def engine_for(server: FakeOllama) -> Engine:
    cfg = load_config({"backend": "ollama"})
    cfg.ollama.host = server.host
    return Engine(cfg)


def test_issue_example_end_to_end_passes_all_tests():
    with FakeOllama({}, scripted={TAG: [ISSUE_ANSWER]}) as server:
        artifact = engine_for(server).generate(
            Request(text="compute the factorial of n", asserts=ASSERTS))
    assert artifact.tests_passed == artifact.tests_total and artifact.tests_passed >= 5
    assert "1 if n <= 1" in artifact.code


def test_ollama_thinking_field_is_never_the_answer():
    """Newer Ollama sends a thinking model's reasoning in ``message.thinking``."""
    answer = {"thinking": f"Draft:\n```python\n{DRAFT}```\nNo, that is wrong.",
              "content": f"```python\n{RIGHT}```"}
    with FakeOllama({}, scripted={TAG: [answer]}) as server:
        cfg = load_config({"backend": "ollama"})
        cfg.ollama.host = server.host
        seen: list[str] = []
        text = OllamaBackend(TAG, cfg).generate([{"role": "user", "content": "fact"}],
                                                temperature=0, max_tokens=64,
                                                on_text=seen.append)
        assert text == answer["content"] and "".join(seen) == answer["content"]
        artifact = engine_for(server).generate(
            Request(text="compute the factorial of n", asserts=ASSERTS))
    assert artifact.tests_passed == artifact.tests_total and "1 if n <= 1" in artifact.code


def test_thinking_without_an_answer_is_a_clear_error():
    answer = {"thinking": f"```python\n{RIGHT}```", "content": ""}
    with FakeOllama({}, scripted={TAG: [answer]}) as server, \
            pytest.raises(GenerationFailed, match="no usable Python code"):
        engine_for(server).generate(Request(text="compute the factorial of n", asserts=ASSERTS))


def test_unterminated_think_is_a_clear_error_not_the_draft():
    text = f"<think>\n```python\n{RIGHT}```\nnow let me double-check"
    with FakeOllama({}, scripted={TAG: [text]}) as server, \
            pytest.raises(GenerationFailed, match="reasoning only"):
        engine_for(server).generate(Request(text="compute the factorial of n", asserts=ASSERTS))
