"""A request that names its function keeps that name and signature (issue 12 §7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.fake_ollama import FakeOllama
from support.scripted_backend import ScriptedBackend

from dise.config import load_config
from dise.engine import sentinel
from dise.engine.core import Engine
from dise.engine.request_spec import spec_for
from dise.engine.request_names import apply_signature, named_function, spec_from_text
from dise.engine.types import Request

SERVER = str(Path(__file__).resolve().parents[1] / "server")
ISSUE = ("Write a function is_valid_email(s: str) -> bool that says whether s is a valid email "
         "address")
EMAIL_ANSWER = ("```python\nimport re\n\ndef is_valid_email(email: str) -> bool:\n"
                "    pattern = r\"[^@\\s]+@[^@\\s]+\\.[a-z]{2,}\"\n"
                "    return re.fullmatch(pattern, email) is not None\n```")


def test_issue_example_spec():
    spec = spec_for(Request(text=ISSUE), sentinel.classify(ISSUE).function_name_hint)
    assert spec.name == "is_valid_email"
    assert spec.signature == "def is_valid_email(s: str) -> bool:"
    assert spec.params == [("s", "str")] and spec.returns == "bool"
    assert sentinel.function_name_hint(ISSUE) == "is_valid_email"


def test_issue_example_through_the_cli_and_the_ollama_client(tmp_path):
    with FakeOllama({}, scripted={"qwen2.5-coder:0.5b": [EMAIL_ANSWER]}) as server:
        env = {**os.environ, "DISE_HOME": str(tmp_path), "PYTHONPATH": SERVER,
               "OLLAMA_HOST": server.host}
        proc = subprocess.run([sys.executable, "-m", "dise.cli", "--backend", "ollama",
                               "generate", ISSUE, "--json"],
                              capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    artifact = json.loads(proc.stdout)
    assert artifact["function_name"] == "is_valid_email"
    assert artifact["node_id"] == "is_valid_email"
    assert "def is_valid_email(s: str) -> bool:" in artifact["code"]
    assert "re.fullmatch" in artifact["code"] and "(email)" not in artifact["code"]
    assert not any("renamed" in tool for tool in artifact["tool_usage"])


@pytest.mark.parametrize("text, name, signature", [
    ("Write a function called clamp that limits x to the range lo..hi", "clamp", ""),
    ("Write a function named 'to_snake' that converts CamelCase", "to_snake", ""),
    ("Make a helper, name it `slug`, that makes URL slugs", "slug", ""),
    ("Implement `minSubArraySum(nums)` returning the minimum subarray sum", "minSubArraySum",
     "def minSubArraySum(nums):"),
    ("Write a function `größe` that multiplies breite and höhe", "größe", ""),
    ("def merge_sorted(a: list[int], b: list[int]) -> list[int]: merge two sorted lists",
     "merge_sorted", "def merge_sorted(a: list[int], b: list[int]) -> list[int]:"),
    ("write fib(n) returning the nth fibonacci number", "fib", "def fib(n):"),
    ("Write a function first_even(xs: list[int]) -> int | None. It finds the first even.",
     "first_even", "def first_even(xs: list[int]) -> int | None:"),
    ("Write async def fetch_all(urls) that downloads them", "fetch_all", ""),
    ("count vowels, e.g. count_vowels('hello') == 2", "count_vowels", ""),
    ("Write a function reverse_words that reverses the words of a sentence", "reverse_words",
     ""),
])
def test_names_and_signatures_in_free_text_win(text, name, signature):
    spec = spec_for(Request(text=text), sentinel.classify(text).function_name_hint)
    assert spec.name == name
    assert sentinel.function_name_hint(text) == name
    if signature:
        assert spec.signature == signature


@pytest.mark.parametrize("text", [
    "Write a function to reverse a string",
    "Check whether a string is a palindrome",
    "Write a function that takes a string `s` and reverses it",
    "Write a function that returns max(a, b) of two numbers",
    "Write a function that computes f(x) for all x in a list",
    "A function called with two numbers that adds them",
])
def test_the_convention_applies_when_nothing_is_named(text):
    assert named_function(text) is None
    assert spec_for(Request(text=text), "conventional").name == "conventional"


def test_no_mbpp_request_is_mistaken_for_a_name():
    data = Path(__file__).parent / "data" / "sentinel_mbpp.jsonl"
    prompts = [json.loads(line)["prompt"] for line in data.read_text().splitlines() if line]
    assert len(prompts) >= 80
    assert [p for p in prompts if named_function(p)] == []
    # the one that states its parameters gets them, under the conventional name
    stated = {p: spec_from_text(p, "hint") for p in prompts if spec_from_text(p, "hint")}
    assert [s.signature for s in stated.values()] == ["def hint(base, power):"]


@pytest.mark.parametrize("text, signature", [
    ("Write a function with parameters nums and k that returns the largest sum of k "
     "consecutive numbers; return type int", "def conventional(nums, k) -> int:"),
    ("Write a function taking arguments `a`, `b` and `c`, returning `float`",
     "def conventional(a, b, c) -> float:"),
    ("Write a function called clamp with parameters x, lo and hi", "def clamp(x, lo, hi):"),
    ("Write a function that takes base and power as arguments", "def conventional(base, power):"),
    ("Write a function with parameters (s: str, n: int) -> str that repeats s",
     "def conventional(s: str, n: int) -> str:"),
])
def test_stated_parameter_names_and_return_type_are_kept(text, signature):
    assert spec_for(Request(text=text), "conventional").signature == signature


def test_stated_parameters_follow_the_name_the_asserts_call():
    spec = spec_for(Request(text="with parameters nums and k", asserts=["assert best([1], 1)"]),
                    "conventional")
    assert spec.signature == "def best(nums, k):"


def test_asserts_name_the_function_and_the_text_can_add_its_signature():
    text = "Write is_even(n: int) -> bool"
    spec = spec_for(Request(text=text, asserts=["assert is_even(2)"]), "")
    assert spec.signature == "def is_even(n: int) -> bool:"
    spec = spec_for(Request(text=text, asserts=["assert even(2)"]), "")
    assert spec.name == "even" and not spec.signature


def test_the_requested_signature_is_kept_over_the_models():
    spec = named_function(ISSUE)
    code = apply_signature("def is_valid_email(email, strict=True):\n    return '@' in email\n",
                           spec)
    assert code == "def is_valid_email(s: str) -> bool:\n    return '@' in s\n"


def test_engine_stores_the_requested_name_when_the_model_picks_another(monkeypatch):
    backend = ScriptedBackend(
        "```python\ndef check_email(address):\n    return '@' in address\n```")
    engine = Engine(load_config(), backend_factory=lambda gen, cfg: backend)
    artifact = engine.generate(Request(text=ISSUE))
    assert artifact.function_name == "is_valid_email" and artifact.node_id == "is_valid_email"
    assert "def is_valid_email(s: str) -> bool:" in artifact.code
    prompt = backend.calls[0][-1]["content"]
    assert "def is_valid_email(s: str) -> bool:" in prompt
