"""A function name for a request: the one it gives (``dise.engine.request_names``), else a
snake_case name from its lead verb and object ("check whether the number is a perfect
square" → ``is_perfect_square``, "validate email addresses" → ``is_valid_email``,
"parse a csv line" → ``parse_csv_line``).
"""

from __future__ import annotations

import keyword
import re

from dise.engine.request_names import named_function
from dise.engine.sentinel.rules import NOISE, lead_of, normalise

#: Words kept in a proposed function name.
NAME_MAX_WORDS = 3
#: Name proposed when the request gives nothing usable.
FALLBACK_NAME = "solution"

_NAME_STOP = {
    "a", "an", "the", "given", "specified", "all", "any", "each", "every", "some", "its",
    "their", "this", "that", "these", "those", "my", "your", "two", "three", "python",
    "function", "method", "please", "quickly", "quick", "just", "simple", "now", "asap",
    "thorough", "thoroughly", "robust", "production", "quality", "production-quality",
    "optimal", "fast", "efficient", "it", "them", "takes", "in", "can", "be", "been",
    "does", "do", "will", "should", "has", "have", "made",
    "escribe", "una", "funcion", "que", "de", "la", "el", "los", "las", "un", "y",
}
#: Words that end the object phrase a name is built from.
_NAME_BREAK = {
    "of", "into", "from", "to", "in", "with", "for", "by", "between", "and", "or", "on",
    "at", "as", "using", "without", "where", "when", "if", "whether", "then", "but", "so",
    "than", "return", "returns", "is", "are", "such", "that", "which", "who", "whose",
}
#: Nouns that read better with what follows "of" ("length of the longest word").
_NAME_OF_NOUNS = {"sum", "product", "length", "difference", "number", "count", "list",
                  "value", "values", "maximum", "minimum", "average", "area", "volume"}
#: Verbs too generic to lead a name ("find the sum" → ``sum``...).
_WEAK_VERBS = {"find", "compute", "calculate", "caluclate", "get", "return", "returns",
               "write", "create", "make", "implement", "determine", "give", "obtain",
               "produce", "generate", "takes", "take", "finds", "computes", "calculates",
               "gets", "creates", "makes", "generates", "produces"}


def _snake(words: list[str]) -> str:
    name = "_".join(w for w in (re.sub(r"[^a-z0-9]", "", w) for w in words) if w)
    name = re.sub(r"_+", "_", name).strip("_")
    if not name:
        return FALLBACK_NAME
    if name[0].isdigit():
        name = f"f_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_"
    return name


def _validation_name(lead: str) -> str | None:
    """``check whether X is (a) Y`` → ``is_Y`` (``is_valid_X`` when Y is "valid")."""
    m = re.search(r"\b(?:whether|if)\s+(?:(?:the|a|an|given|specified)\s+)*"
                  r"([a-z0-9_ ]+?)\s+(?:is|are)\s+(?:(?:a|an)\s+)?([a-z0-9_ -]+?)"
                  r"(?:\s+or not)?\s*(?:[.,;]|$)", lead)
    if m:
        subject = [w for w in m.group(1).split() if w not in _NAME_STOP][-2:]
        pred = [w for w in re.split(r"[\s-]+", m.group(2)) if w not in _NAME_STOP]
        if pred[:1] == ["valid"]:
            return _snake(["is", "valid", *subject])
        if pred and len(pred) <= NAME_MAX_WORDS:
            return _snake(["is", *pred])
    m = re.match(r"(?:check|checks|verify|verifies|test|tests|determine|determines|find|"
                 r"calculate)\s+(?:whether|if)\s+(.*)", lead)
    if m:
        words = [w for w in m.group(1).split() if w not in _NAME_STOP and w not in _NAME_BREAK
                 and re.search(r"[a-z]", w) and w != "."]
        if words:
            return _snake(["check", *words[:NAME_MAX_WORDS - 1]])
    m = re.match(r"(?:validate|validates|verify|verifies)\s+(.*)", lead)
    if m:
        words = []
        for w in m.group(1).split():
            if w in _NAME_BREAK:
                break
            if w not in _NAME_STOP:
                words.append(w)
        if words:  # a validator answers yes/no about one thing: is_valid_email_address
            words = words[:NAME_MAX_WORDS - 2]
            return _snake(["is", "valid", *words[:-1], _singular(words[-1])])
    return None


def _singular(word: str) -> str:
    """``addresses`` → ``address``, ``emails`` → ``email``; good enough for names."""
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def function_name_hint(text: str) -> str:
    """The name the request gives (``request_names``: "is_valid_email(s: str)", "called
    clamp", "`größe`"), else a snake_case name from its lead verb and object."""
    named = named_function(text)
    if named is not None:
        return named.name
    lead = NOISE.sub(" ", lead_of(normalise(text)))
    lead = re.sub(r"[.,;:!?]+(\s+|$)", " . ", lead)
    named = _validation_name(lead)
    if named:
        return named
    words = [w for w in re.split(r"\s+", lead) if w]
    picked: list[str] = []
    for word in words:
        if word == "." and picked:
            break
        if word in _NAME_BREAK and picked and (picked[-1] not in _WEAK_VERBS):
            if word == "of" and len(picked) == 1 and picked[0] in _NAME_OF_NOUNS:
                continue
            break
        if word in _NAME_STOP or word in _NAME_BREAK or word == "." or not re.search(r"[a-z]", word):
            continue
        if picked and picked[-1] in _WEAK_VERBS:
            picked.pop()
        picked.append(word)
        if len(picked) >= NAME_MAX_WORDS:
            break
    return _snake(picked)
