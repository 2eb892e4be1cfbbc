"""The server's memory of the functions it generated, so hover answers without the store.

The store keeps, per node, the document URI and the content hash of the function as it was
inserted. When a document opens (or is saved) a worker reads those records once and also
looks up, by content hash, any function that was moved or pasted from elsewhere; hover then
compares the function's current hash with the recorded one to say "edited since generated".
Mutated only on the event loop; ``load_document`` runs in a worker and returns plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from dise.engine.types import Artifact
from dise.lsp.documents import Region, all_regions, region_hash, split_lines


@dataclass
class Known:
    """A generated function the server recognises."""

    node_id: str
    name: str
    #: Hash of the function's text when DiSE inserted it.
    content_hash: str
    artifact: Artifact
    queue_position: int | None = None
    versions: int = 1
    #: The version that is in the file (None: unknown, e.g. stored before versions were
    #: recorded with the location), and the newest version the user dismissed.
    current: Artifact | None = None
    dismissed: int = 0


@dataclass
class DocumentEntries:
    by_name: dict[str, Known] = field(default_factory=dict)
    #: Functions recognised by their text only (moved or pasted from another file).
    by_hash: dict[str, Known] = field(default_factory=dict)


def _location_hash(location: Any) -> str:
    """The content hash from whatever shape ``Store.location`` returns."""
    if location is None:
        return ""
    if isinstance(location, dict):
        return str(location.get("content_hash") or location.get("hash") or "")
    if isinstance(location, (tuple, list)) and len(location) >= 2:
        return str(location[1])
    return str(getattr(location, "content_hash", ""))


def _node_id(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return str(item.get("node_id"))
    return str(getattr(item, "node_id", item))


def known_from_store(store: Any, node_id: str, content_hash: str | None = None) -> Known | None:
    """One node as the index holds it; None when the store has no version of it."""
    versions = store.versions(node_id)
    if not versions:
        return None
    latest = versions[-1]
    if content_hash is None:
        content_hash = _location_hash(store.location(node_id))
    record = store.node(node_id) or {}
    placed = record.get("placed_version")
    current = next((v for v in versions if v.version == placed), None)
    return Known(node_id=node_id, name=latest.function_name, content_hash=content_hash,
                 artifact=latest, queue_position=store.queue_position(node_id),
                 versions=len(versions), current=current,
                 dismissed=int(record.get("dismissed_version") or 0))


def load_document(store: Any, uri: str, source: str) -> DocumentEntries:
    """Read what the store knows about ``uri`` and recognise moved functions by hash.

    Runs in a worker: it touches the store and scans the whole document. Only ``def``s
    named like a stored function are hashed, so a big file costs one pass of a regex.
    """
    entries = DocumentEntries()
    for item in store.nodes_for_uri(uri):
        known = known_from_store(store, _node_id(item))
        if known is None:
            continue
        current = entries.by_name.get(known.name)
        if current is None or known.artifact.timestamp >= current.artifact.timestamp:
            entries.by_name[known.name] = known
    stored_names = {rec.get("function_name") for rec in store.nodes()}
    lines = split_lines(source)
    for region in all_regions(lines, stored_names - set(entries.by_name)):
        digest = region_hash(lines, region)
        found = store.node_by_hash(digest)
        if found is None:
            continue
        known = known_from_store(store, _node_id(found), digest)
        if known is not None and known.name == region.name:
            entries.by_hash[digest] = known
    return entries


class FunctionIndex:
    """uri → recognised functions; read by hover and code lens on the event loop."""

    def __init__(self) -> None:
        self._docs: dict[str, DocumentEntries] = {}

    def loaded(self, uri: str) -> bool:
        return uri in self._docs

    def replace(self, uri: str, entries: DocumentEntries) -> None:
        """Install a fresh read of the store, keeping functions inserted since it started."""
        current = self._docs.get(uri)
        if current is not None:
            for name, known in current.by_name.items():
                entries.by_name.setdefault(name, known)
        self._docs[uri] = entries

    def forget(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def add(self, uri: str, known: Known) -> None:
        self._docs.setdefault(uri, DocumentEntries()).by_name[known.name] = known

    def update_node(self, known: Known) -> None:
        """Refresh a node's artifact wherever it is shown (after a status read)."""
        for entries in self._docs.values():
            for table in (entries.by_name, entries.by_hash):
                for key, value in list(table.items()):
                    if value.node_id == known.node_id:
                        known_copy = Known(known.node_id, value.name, value.content_hash,
                                           known.artifact, known.queue_position, known.versions,
                                           known.current or value.current,
                                           max(known.dismissed, value.dismissed))
                        table[key] = known_copy

    def entries(self, uri: str) -> DocumentEntries | None:
        return self._docs.get(uri)

    def match(self, uri: str, lines: Sequence[str], region: Region) -> tuple[Known, bool] | None:
        """The known function at ``region`` and whether its text changed since generated."""
        entries = self._docs.get(uri)
        if entries is None:
            return None
        known = entries.by_name.get(region.name)
        digest = region_hash(lines, region)
        if known is not None:
            return known, digest != known.content_hash
        known = entries.by_hash.get(digest)
        if known is not None:
            return known, False
        return None

    def nodes(self) -> int:
        return sum(len(e.by_name) + len(e.by_hash) for e in self._docs.values())
