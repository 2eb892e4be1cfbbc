"""Node ids: how a function's name becomes its id, and which stored node a typed name means.

Shared by both stores (TinyDB ``Store`` and PostgreSQL ``PgStore``), so ``dise status größe``
finds the same node whichever one holds it.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Collection

from dise.errors import DiseError


class NodeNotFoundError(DiseError):
    """An operation named a function that is not in the store."""


def slugify(name: str) -> str:
    """The node id for a function name: the name itself, as Python reads it.

    A Python identifier keeps every character it may hold (PEP 3131: ``größe``,
    ``minSubArraySum``), normalised to NFKC as the interpreter does, so two different
    names never share an id and ``dise status größe`` finds ``größe``. Anything else (free
    text) becomes ``Is Valid-Email`` -> ``is_valid_email``: lowercase, runs of other
    characters turn into ``_``, and a leading digit gets ``f_``.
    """
    name = unicodedata.normalize("NFKC", name.strip())
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    slug = re.sub(r"_+", "_", re.sub(r"\W+", "_", name)).strip("_").lower()
    if not slug:
        return "function"
    return f"f_{slug}" if not slug.isidentifier() or keyword.iskeyword(slug) else slug


def legacy_slug(name: str) -> str:
    """The id stores written before Unicode ids gave a name (``größe`` -> ``gr_e``)."""
    slug = re.sub(r"[^0-9a-zA-Z_]+", "_", name.strip()).strip("_").lower()
    slug = re.sub(r"_+", "_", slug)
    if not slug:
        return "function"
    return f"f_{slug}" if slug[0].isdigit() else slug


def pick_node(text: str, named: list[str], ids: Collection[str]) -> str | None:
    """The node id ``text`` names, by the rules of ``Store.resolve``: ``named`` are the ids
    (sorted) of nodes with versions whose function name is ``text`` (NFKC), ``ids`` every
    node id with versions. None when nothing matches; ``NodeNotFoundError`` when the name
    is ambiguous."""
    name = unicodedata.normalize("NFKC", text)
    for candidate in (text, name):
        if candidate in named or (candidate in ids and not named):
            return candidate
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise NodeNotFoundError(
            f"{text!r} names {len(named)} stored functions: {', '.join(named[:8])}; "
            "give one of these node ids.")
    if legacy_slug(name) in ids:
        return legacy_slug(name)
    folded = [n for n in ids if n.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None
