"""The store file's JSON, encoded incrementally: a write at 10,000 artifacts re-encodes only
the documents that changed and re-joins only the tables they live in.

``AtomicJSONStorage`` keeps one ``EncodedTable`` per table and marks the documents that
changed (``changed``); ``encode_tables`` brings them up to date and joins the file's bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: The store's data: table name -> document id (a string) -> document.
Data = dict[str, dict[str, Any]]


def dumps(value: Any) -> str:
    """Compact JSON: whitespace would cost megabytes at 10,000 artifacts."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fragment(doc_id: str, doc: Any) -> bytes:
    """One document as it appears in its table's JSON: ``"<id>":<doc>``."""
    return f"{dumps(str(doc_id))}:{dumps(doc)}".encode("utf-8")


@dataclass
class EncodedTable:
    """The JSON of one table: per document, and joined (``None`` until needed again)."""

    docs: dict[str, Any]
    fragments: dict[str, bytes]
    changed: set[str] = field(default_factory=set)
    body: bytes | None = None

    @classmethod
    def of(cls, docs: dict[str, Any]) -> "EncodedTable":
        return cls(docs, {key: fragment(key, doc) for key, doc in docs.items()})

    def catch_up(self) -> None:
        for key in self.changed:
            doc = self.docs.get(key)
            if doc is None:
                self.fragments.pop(key, None)
            else:
                self.fragments[key] = fragment(key, doc)
        self.changed.clear()


def encode_tables(cache: dict[str, EncodedTable], data: Data) -> list[bytes]:
    """The file's bytes, one piece per table, re-encoding only what changed since
    ``cache`` (table name -> its JSON, updated in place) last saw ``data``."""
    for name in [n for n in cache if n not in data]:
        del cache[name]
    pieces = [b"{"]
    for i, (name, docs) in enumerate(data.items()):
        encoded = cache.get(name)
        if encoded is not None and encoded.docs is docs:
            encoded.catch_up()
        if encoded is None or encoded.docs is not docs \
                or len(encoded.fragments) != len(docs):  # changed behind our back
            encoded = cache[name] = EncodedTable.of(docs)
        if encoded.body is None:
            encoded.body = b",".join(encoded.fragments.values())
        pieces += [f'{"," if i else ""}{dumps(name)}:{{'.encode("utf-8"), encoded.body, b"}"]
    pieces.append(b"}")
    return pieces
