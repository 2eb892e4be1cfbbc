"""The server's memory of the functions it generated, so hover answers without the store.

The store keeps, per node, the document URI and the content hash of the function as it was
inserted, and its qualified name (``Validator.validate``). When a document opens (or is
saved) a worker reads those records once and also looks up, by content hash, any function that
was moved or pasted from elsewhere; hover then compares the function's current hash with the
recorded one to say "edited since generated".

Entries are keyed by node, never by function name: a file may hold several functions of one
name (a ``validate`` in each of two classes). A ``def`` is matched to a node by its content hash
first, then by its qualified name; a def that matches neither is not DiSE's.
Mutated only on the event loop; ``load_document`` runs in a worker and returns plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from dise.engine.types import Artifact
from dise.lsp.documents import Region, all_regions, qualified_name, region_hash, split_lines


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
    #: Where it was inserted, e.g. ``Validator.validate`` ("" when stored before this was
    #: recorded): tells apart functions of the same name after the user edits one.
    qualname: str = ""


@dataclass
class DocumentEntries:
    """What one document holds: node id → Known, and functions recognised by hash."""

    by_node: dict[str, Known] = field(default_factory=dict)
    #: Functions recognised by their text only (moved or pasted from another file).
    by_hash: dict[str, Known] = field(default_factory=dict)

    def all(self) -> list[Known]:
        """Every recognised function (placed here, then recognised by hash)."""
        return list(self.by_node.values()) + list(self.by_hash.values())


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
                 dismissed=int(record.get("dismissed_version") or 0),
                 qualname=str(record.get("qualname") or ""))


def record_location(store: Any, node_id: str, uri: str, digest: str, version: int | None = None,
                    qualname: str | None = None, used: bool = False) -> Known | None:
    """In the io thread: persist where a version of ``node_id`` went in ``uri`` (its content
    hash, version and qualified name; ``used``: count an accepted version as a use), then read
    the node back as the index holds it."""
    store.set_location(node_id, uri, digest, version=version, qualname=qualname)
    if used:
        store.record_use(node_id)
    return known_from_store(store, node_id, digest)


def load_document(store: Any, uri: str, source: str) -> DocumentEntries:
    """Read what the store knows about ``uri`` and recognise moved functions by hash.

    Runs in a worker: it touches the store and scans the whole document. Only ``def``s
    named like a stored function are hashed, so a big file costs one pass of a regex.
    """
    entries = DocumentEntries()
    for item in store.nodes_for_uri(uri):
        known = known_from_store(store, _node_id(item))
        if known is not None:
            entries.by_node[known.node_id] = known
    stored_names = {rec.get("function_name") for rec in store.nodes()}
    placed = {k.content_hash: k for k in entries.by_node.values()}
    lines = split_lines(source)
    for region in all_regions(lines, stored_names):
        digest = region_hash(lines, region)
        mine = placed.get(digest)
        if mine is not None:
            if not mine.qualname:      # recorded before qualified names were: learn it
                mine.qualname = qualified_name(lines, region)
            continue
        found = store.node_by_hash(digest)
        if found is None or _node_id(found) in entries.by_node:
            continue
        known = known_from_store(store, _node_id(found), digest)
        if known is not None and known.name == region.name:
            entries.by_hash[digest] = known
    return entries


def _pick(candidates: Sequence[Known], qualname: str) -> Known | None:
    """The candidate recorded at ``qualname`` (the newest if several), else None."""
    same = [k for k in candidates if k.qualname and k.qualname == qualname]
    return max(same, key=lambda k: k.artifact.timestamp) if same else None


def match_region(known: Iterable[Known], lines: Sequence[str],
                 region: Region) -> tuple[Known, bool] | None:
    """The node whose function is at ``region`` and whether its text changed since DiSE
    wrote it; None when the def is not one of DiSE's.

    Unchanged text (the recorded hash) wins, preferring the node recorded at this qualified
    name when two nodes have the same text; an edited function is recognised only by its
    qualified name (or, for a record without one, when it is the only node of that name).
    """
    candidates = [k for k in known if k.name == region.name]
    if not candidates:
        return None
    digest = region_hash(lines, region)
    qualname = qualified_name(lines, region)
    same_text = [k for k in candidates if k.content_hash == digest]
    if same_text:
        return _pick(same_text, qualname) or same_text[0], False
    owner = _pick(candidates, qualname)
    if owner is None and len(candidates) == 1 and not candidates[0].qualname:
        owner = candidates[0]
    return (owner, True) if owner is not None else None


def locate(lines: Sequence[str], known: Sequence[Known]) -> dict[str, Region]:
    """node id → its function's region in ``lines``, for every node found (one pass).

    The same rules as ``match_region``, and a region belongs to one node at most: unchanged
    text first, then qualified names, then a lone legacy record of a name.
    """
    regions = list(all_regions(lines, {k.name for k in known}))
    digests = [region_hash(lines, r) for r in regions]
    qualnames = [qualified_name(lines, r) for r in regions]
    found: dict[str, Region] = {}
    taken: set[int] = set()

    def claim(test) -> None:
        for item in known:
            if item.node_id in found:
                continue
            for i, region in enumerate(regions):
                if i not in taken and region.name == item.name and test(item, i):
                    found[item.node_id] = region
                    taken.add(i)
                    break

    claim(lambda k, i: digests[i] == k.content_hash and qualnames[i] == k.qualname)
    claim(lambda k, i: digests[i] == k.content_hash)
    claim(lambda k, i: bool(k.qualname) and qualnames[i] == k.qualname)
    for item in known:
        same_name = [i for i, r in enumerate(regions) if r.name == item.name]
        if item.node_id not in found and not item.qualname and len(same_name) == 1 \
                and same_name[0] not in taken \
                and sum(k.name == item.name for k in known) == 1:
            found[item.node_id] = regions[same_name[0]]
            taken.add(same_name[0])
    return found


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
            for node_id, known in current.by_node.items():
                entries.by_node.setdefault(node_id, known)
        self._docs[uri] = entries

    def forget(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def add(self, uri: str, known: Known) -> None:
        """A function placed in ``uri`` (replaces what was known about that node there)."""
        entries = self._docs.setdefault(uri, DocumentEntries())
        entries.by_node[known.node_id] = known
        for digest, other in list(entries.by_hash.items()):
            if other.node_id == known.node_id:
                del entries.by_hash[digest]

    def update_node(self, known: Known) -> None:
        """Refresh a node's artifact wherever it is shown (after a status read)."""
        for entries in self._docs.values():
            for table in (entries.by_node, entries.by_hash):
                for key, value in list(table.items()):
                    if value.node_id == known.node_id:
                        table[key] = Known(known.node_id, value.name, value.content_hash,
                                           known.artifact, known.queue_position,
                                           known.versions, known.current or value.current,
                                           max(known.dismissed, value.dismissed),
                                           value.qualname)

    def entries(self, uri: str) -> DocumentEntries | None:
        return self._docs.get(uri)

    def known_in(self, uri: str, node_id: str) -> Known | None:
        """The node as recognised in ``uri``, or None."""
        entries = self._docs.get(uri)
        if entries is None:
            return None
        return next((k for k in entries.all() if k.node_id == node_id), None)

    def match(self, uri: str, lines: Sequence[str], region: Region) -> tuple[Known, bool] | None:
        """The known function at ``region`` and whether its text changed since generated."""
        entries = self._docs.get(uri)
        if entries is None:
            return None
        found = match_region(entries.by_node.values(), lines, region)
        if found is not None and not found[1]:
            return found
        known = entries.by_hash.get(region_hash(lines, region))
        if known is not None and known.name == region.name:
            return known, False
        return found

    def region_of(self, uri: str, lines: Sequence[str], node_id: str) -> Region | None:
        """Where node ``node_id``'s function is in ``lines`` (None: not recognisable)."""
        entries = self._docs.get(uri)
        if entries is None:
            return None
        known = entries.all()
        if not any(k.node_id == node_id for k in known):
            return None
        return locate(lines, known).get(node_id)

    def nodes(self) -> int:
        return sum(len(e.by_node) + len(e.by_hash) for e in self._docs.values())
