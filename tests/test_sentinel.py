"""Sentinel: intent, task type and name hint from a request, without a model."""

import json
from collections import Counter
from pathlib import Path

import pytest

from dise.engine.sentinel import classify
from dise.engine.types import TASK_TYPES

DATA = Path(__file__).parent / "data" / "sentinel_mbpp.jsonl"

SEEDS = [
    ("Quickly write a function to validate email addresses", "interactive", "validation"),
    ("Parse a CSV line into fields", None, "parsing"),
    ("Compute the factorial of n", None, "math"),
    ("Reverse the words in a sentence", None, "string"),
    ("Merge two sorted lists", None, "collection"),
    ("Read a JSON config file and return a dict", None, "io"),
    ("Write a thorough, production-quality function that checks whether a URL is valid",
     "batch", "validation"),
]


@pytest.mark.parametrize("text,intent,task_type", SEEDS)
def test_seed_examples(text, intent, task_type):
    result = classify(text)
    assert result.task_type == task_type, result.scores
    if intent:
        assert result.intent == intent


def test_labelled_mbpp_sample_accuracy():
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    assert len(rows) == 80
    confusion: Counter[tuple[str, str]] = Counter()
    wrong = []
    for row in rows:
        got = classify(row["prompt"]).task_type
        confusion[(row["task_type"], got)] += 1
        if got != row["task_type"]:
            wrong.append(f"{row['task_id']}: {row['task_type']} -> {got}: {row['prompt']}")
    accuracy = sum(n for (want, got), n in confusion.items() if want == got) / len(rows)
    table = "\n".join(f"  {want:>10} -> {got:<10} {n}" for (want, got), n in
                      sorted(confusion.items()))
    assert accuracy >= 0.9, f"accuracy {accuracy:.2%}\n{table}\nwrong:\n" + "\n".join(wrong)


def test_labels_use_the_taxonomy():
    for line in DATA.read_text().splitlines():
        assert json.loads(line)["task_type"] in TASK_TYPES


@pytest.mark.parametrize("text", [
    "Escribe una función que valide direcciones de correo",
    "",
    "   ",
    "!!!???",
    "日本語のテキストを解析する関数",
    "x" * 5000,
])
def test_odd_input_does_not_crash(text):
    result = classify(text)
    assert result.task_type in TASK_TYPES
    assert result.intent in ("interactive", "batch")
    assert result.function_name_hint.isidentifier()
    assert 0.0 <= result.confidence <= 1.0


def test_spanish_request_is_other_or_validation():
    assert classify("Escribe una función que valide direcciones de correo").task_type in (
        "other", "validation")


@pytest.mark.parametrize("text", [
    "Write a function to sort a list",
    "Just reverse a string",
    "Count vowels in a word, quickly",
])
def test_default_intent_is_interactive(text):
    assert classify(text).intent == "interactive"


@pytest.mark.parametrize("text", [
    "Batch job: compute primes below n",
    "Take your time and write the best possible prime sieve",
    "A robust parser for ISO dates",
    "Write an optimal function to find the longest palindromic substring",
])
def test_batch_intent_needs_words_for_it(text):
    assert classify(text).intent == "batch"


@pytest.mark.parametrize("text,name", [
    ("Quickly write a function to validate email addresses", "is_valid_email"),
    ("Validate phone numbers", "is_valid_phone"),
    ("Write a thorough, production-quality function that checks whether a URL is valid",
     "is_valid_url"),
    ("Parse a CSV line into fields", "parse_csv_line"),
    ("Compute the factorial of n", "factorial"),
    ("Reverse the words in a sentence", "reverse_words"),
    ("Merge two sorted lists", "merge_sorted_lists"),
    ("Write a function to check whether the given number is a perfect square or not.",
     "is_perfect_square"),
    ("Write a function to find the sum of all divisors of a number.", "sum_divisors"),
])
def test_function_name_hint(text, name):
    assert classify(text).function_name_hint == name


def test_name_hint_is_deterministic_identifier():
    text = "Write a python function to count the number of positive numbers in a list."
    names = {classify(text).function_name_hint for _ in range(3)}
    assert len(names) == 1
    (name,) = names
    assert name.isidentifier() and name == name.lower()


def test_keyword_names_are_avoided():
    assert classify("import").function_name_hint.isidentifier()
    assert classify("import").function_name_hint != "import"
