"""Sentinel: a model-free first look at a request (intent, task type, a function name).

It runs on every request before anything slow, so it is plain keyword/regex scoring
(well under a millisecond per request) and never raises on odd input.

Intent
    ``batch`` only when the request asks for it in words ("batch", "thorough", "robust",
    "production quality", "optimal", "best possible", "take your time", "comprehensive",
    "well tested", ...). Everything else, short requests and "quickly/just/simple/now/asap"
    included, is ``interactive``: someone in an editor is waiting for the answer, so the
    cheap path is the right default and batch work must be opted into.

Task types (what a developer would call the job)
    validation  a yes/no judgement about an input: validate, check/verify/test whether,
                "is valid", "is X or not", regex "matches a string that ...".
    parsing     text in, structure out: parse, tokenize, decode, extract values from text,
                convert a string to a list/dict/number/date, CSV/JSON/URL/log lines.
    math        numbers are the subject: primes, divisors, digits, sums and products of
                numbers, factorial, gcd, sequences (fibonacci, catalan, nth ...), bits,
                geometry (area, volume, radius ...), statistics.
    string      characters, words and sentences: reverse, replace, case, whitespace,
                vowels, palindromes, substrings, counting characters.
    collection  lists, tuples, dicts, sets, arrays, matrices: sort, filter, merge,
                flatten, group, pick elements, reshape data.
    io          files, paths, directories, reading/writing, CSV/JSON files, network,
                environment variables, stdin/stdout.
    other       none of the above has any evidence (e.g. a request in another language).

Scoring: the lead verb of the request (after "write a function to ...") is weighed heavily
(check/validate → validation, parse/tokenize → parsing, read/write a file → io); nouns add
evidence for their type, and the container named as the input ("in the given string",
"of a list") gets a bonus. Ties break in ``TIE_ORDER``.

The rule tables live in ``sentinel.rules`` and the name hint in ``sentinel.names``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dise.engine.sentinel.names import function_name_hint
from dise.engine.sentinel.rules import (
    BATCH_RE,
    COMPILED_RULES,
    CONTAINER,
    CONTAINER_TYPE,
    CONTAINER_WEIGHT,
    INTERACTIVE_RE,
    LEAD_RULES,
    NOISE,
    OBJECT,
    OBJECT_TYPE,
    OBJECT_WEIGHT,
    lead_of,
    normalise,
)
from dise.engine.types import TASK_TYPES

__all__ = ["Classification", "classify", "classify_intent", "classify_task_type",
           "function_name_hint", "score_task_types"]

#: When scores tie, the earlier type wins: the more specific jobs first.
TIE_ORDER: tuple[str, ...] = ("validation", "parsing", "io", "math", "string", "collection",
                              "other")
#: Below this much evidence the type is ``other``.
MIN_EVIDENCE = 1.0
#: Only the start of a very long request is read: the ask comes first and regexes stay fast.
MAX_ANALYSED_CHARS = 2000


@dataclass
class Classification:
    """What the sentinel read from a request (see the module docstring)."""

    intent: str
    task_type: str
    #: Share of the evidence held by the winning type (0..1); 0 for ``other``.
    confidence: float
    function_name_hint: str
    #: Per-type evidence, for logs and tuning.
    scores: dict[str, float]


def classify_intent(text: str) -> str:
    """``batch`` only when the request asks for thoroughness in words; else ``interactive``."""
    norm = normalise(text)
    batch = sum(bool(p.search(norm)) for p in BATCH_RE)
    quick = sum(bool(p.search(norm)) for p in INTERACTIVE_RE)
    return "batch" if batch > quick else "interactive"


def score_task_types(text: str) -> dict[str, float]:
    """Evidence per task type for ``text`` (all types present, zeros included)."""
    norm = normalise(text)
    lead = lead_of(norm)
    body = NOISE.sub(" ", lead)
    scores = dict.fromkeys(TASK_TYPES, 0.0)
    for task_type, pattern, weight in LEAD_RULES:
        if pattern.search(lead):
            scores[task_type] += weight
            break
    for task_type, pattern, weight in COMPILED_RULES:
        hits = len(pattern.findall(body))
        if hits:
            # Repeated words add a little, not linearly: one clear noun beats chatter.
            scores[task_type] += weight * (1.0 + 0.25 * (hits - 1))
    first = OBJECT.search(body)
    if first:
        scores[OBJECT_TYPE[first.group(1)]] += OBJECT_WEIGHT
    for match in CONTAINER.finditer(body):
        scores[CONTAINER_TYPE[match.group(1)]] += CONTAINER_WEIGHT
    return scores


def classify_task_type(text: str) -> tuple[str, float, dict[str, float]]:
    """(task type, confidence 0..1, per-type scores); ``other`` with 0 below ``MIN_EVIDENCE``."""
    scores = score_task_types(text)
    ranked = sorted((t for t in TASK_TYPES if t != "other"),
                    key=lambda t: (-scores[t], TIE_ORDER.index(t)))
    best = ranked[0]
    total = sum(scores.values())
    if scores[best] < MIN_EVIDENCE or total <= 0:
        return "other", 0.0, scores
    return best, round(scores[best] / total, 3), scores


def classify(text: str) -> Classification:
    """Intent, task type, confidence and a function name for a request; never raises."""
    text = (text or "")[:MAX_ANALYSED_CHARS]
    task_type, confidence, scores = classify_task_type(text)
    return Classification(intent=classify_intent(text), task_type=task_type,
                          confidence=confidence, function_name_hint=function_name_hint(text),
                          scores=scores)
