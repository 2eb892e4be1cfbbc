"""When a stored request may answer a new one: the offer (``ReuseMatch``) and what rules it out.

Sentence embeddings barely see word order or antonyms, so a near-identical score is not enough:
``contradiction`` catches swapped source/target ("camelCase to snake_case" vs the reverse) and
contrasting words ("first" vs "second"). ``dise.engine.retrieval.Memory.reuse_match`` offers a
match only when there is none; Phase 1 then re-tests it against the new request's own tests
(``dise.engine.recall``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dise.engine.types import Artifact
from dise.store.embedder import request_key


#: Words that flip a request's meaning while barely moving its embedding ("sort by the
#: first element" vs "by the second" scores 0.94): two requests naming different members of
#: one group are never the same request. Words are compared lowercased, plural "s" dropped.
CONTRAST_GROUPS: tuple[frozenset[str], ...] = tuple(frozenset(g.split()) for g in (
    "first second third last",
    "min max minimum maximum smallest largest biggest lowest highest shortest longest",
    "ascending descending increasing decreasing",
    "even odd",
    "upper lower uppercase lowercase",
    "left right",
    "prefix suffix",
    "start end beginning",
    "before after",
    "encode decode encrypt decrypt compress decompress serialize deserialize",
    "vowel consonant",
    "sum product",
    "union intersection",
    "add remove insert delete",
    "positive negative",
    "true false",
))
#: The word that splits a conversion into its source and target ("X to Y", "X into Y").
_DIRECTION = frozenset({"to", "into"})
_STOP = frozenset({"a", "an", "the", "of", "in", "on", "for", "and", "or", "with", "by", "from",
                   "is", "are", "be", "it", "its", "that", "this", "which", "given", "return",
                   "returns"})
_WORD = re.compile(r"[a-z0-9_]+")


def _words(text: str) -> list[str]:
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in _WORD.findall(request_key(text).lower())]


def _sides(words: list[str]) -> dict[str, str]:
    """Content word -> "source"/"target" around the first "to"/"into" (empty if none)."""
    cut = next((i for i, w in enumerate(words) if w in _DIRECTION), None)
    if cut is None:
        return {}
    before = {w for w in words[:cut] if w not in _STOP}
    after = {w for w in words[cut + 1:] if w not in _STOP}
    return {**{w: "source" for w in before - after}, **{w: "target" for w in after - before}}


def contradiction(a: str, b: str) -> str:
    """Why two similar-looking requests ask for different things ("" when none is seen).

    Sentence embeddings barely see word order or antonyms: "camelCase to snake_case" and
    "snake_case to camelCase" score 0.99. Reuse must not confuse them, so this checks the
    two things embeddings miss: swapped source/target and contrasting words.
    """
    wa, wb = _words(a), _words(b)
    sa, sb = _sides(wa), _sides(wb)
    for w in sa.keys() & sb.keys():
        if sa[w] != sb[w]:
            return f"{w!r} is the {sa[w]} in one request and the {sb[w]} in the other"
    set_a, set_b = set(wa), set(wb)
    for group in CONTRAST_GROUPS:
        in_a, in_b = set_a & group, set_b & group
        if in_a and in_b and in_a != in_b:
            return f"{'/'.join(sorted(in_a))} vs {'/'.join(sorted(in_b))}"
    return ""


@dataclass
class ReuseMatch:
    """A stored passing artifact offered for a new request, and why."""

    artifact: Artifact
    #: Cosine similarity of the new request with the matched stored request.
    score: float
    #: The version whose request matched (the offered artifact may be a later version).
    matched_id: str
