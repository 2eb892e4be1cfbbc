"""Task type by the nearest labelled prototypes, in the retrieval memory's embedding space.

``SEED_PROTOTYPES`` are hand-written requests per task type; ``load_prototypes`` adds labelled
ones from a JSON-lines file (``retrieval.prototypes_file``); ``PrototypeClassifier`` votes with
the ``k`` nearest, weighted by similarity. ``dise.engine.retrieval.Memory.classify_by_prototypes``
serves it; the keyword sentinel stays the default (``bench/retrieval.py`` compares them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dise.engine.types import TASK_TYPES
from dise.store.embedder import request_key


#: Hand-written requests per task type, as developers type them; the prototype classifier's
#: base (MBPP-style prompts have no io requests and few parsing ones).
SEED_PROTOTYPES: tuple[tuple[str, str], ...] = (
    ("validate an email address", "validation"),
    ("check whether a string is a valid IPv4 address", "validation"),
    ("return True if the password is strong enough", "validation"),
    ("verify that a credit card number passes the Luhn check", "validation"),
    ("check if a year is a leap year", "validation"),
    ("parse a query string into a dict", "parsing"),
    ("parse an ISO 8601 date string into a datetime", "parsing"),
    ("tokenize an arithmetic expression into numbers and operators", "parsing"),
    ("extract all key=value pairs from a log line", "parsing"),
    ("convert a CSV line with quoted fields into a list of values", "parsing"),
    ("compute the greatest common divisor of two integers", "math"),
    ("return the nth fibonacci number", "math"),
    ("calculate the area of a circle from its radius", "math"),
    ("sum the digits of a number", "math"),
    ("compute the standard deviation of a list of numbers", "math"),
    ("reverse the words in a sentence", "string"),
    ("count the vowels in a string", "string"),
    ("convert camelCase to snake_case", "string"),
    ("remove all whitespace from a string", "string"),
    ("capitalize the first letter of every word", "string"),
    ("flatten a nested list", "collection"),
    ("sort a list of dicts by a key", "collection"),
    ("group items of a list by a key function", "collection"),
    ("merge two dictionaries summing values of common keys", "collection"),
    ("remove duplicates from a list keeping the order", "collection"),
    ("read a JSON file and return its contents", "io"),
    ("write a list of rows to a CSV file", "io"),
    ("list all files with a given extension in a directory", "io"),
    ("count the lines in a text file", "io"),
    ("read an environment variable with a default value", "io"),
)


def load_prototypes(path: str | Path) -> list[tuple[str, str]]:
    """(prompt, task_type) pairs from a JSON-lines file such as tests/data/sentinel_mbpp.jsonl."""
    rows = []
    for line in Path(path).read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("task_type") in TASK_TYPES:
                rows.append((row["prompt"], row["task_type"]))
    return rows


class PrototypeClassifier:
    """Task type by a similarity-weighted vote of the ``k`` nearest labelled prototypes."""

    def __init__(self, embedder: Any, labelled: Sequence[tuple[str, str]], k: int) -> None:
        self.embedder, self.k = embedder, k
        self.labels = [label for _, label in labelled]
        self.vectors = embedder.embed([request_key(text) for text, _ in labelled])

    def classify(self, text: str) -> tuple[str, float]:
        """(task type, share of the neighbours' similarity that voted for it)."""
        return self.classify_vector(self.embedder.embed([request_key(text)])[0])

    def classify_vector(self, vector: np.ndarray) -> tuple[str, float]:
        if not self.labels:
            return "other", 0.0
        sims = self.vectors @ vector
        top = np.argsort(-sims)[: self.k]
        votes: dict[str, float] = {}
        for i in top:
            votes[self.labels[i]] = votes.get(self.labels[i], 0.0) + max(float(sims[i]), 0.0)
        total = sum(votes.values())
        if total <= 0:
            return "other", 0.0
        best = max(votes, key=lambda t: (votes[t], -TASK_TYPES.index(t)))
        return best, round(votes[best] / total, 3)
