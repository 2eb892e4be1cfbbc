"""The TinyDB store's nodes: versions with lineage, node records, names -> ids, and where each
node's code lives in the editor's files (the language server's node <-> file mapping)."""

from __future__ import annotations

import bisect
import time
import unicodedata
from typing import Any

from dise.store.common import stamp
from dise.store.node_ids import NodeNotFoundError, pick_node, slugify
from dise.store.tinydb_core import Indexes, StoreCore
from dise.types import Artifact


class StoreNodes(StoreCore):
    """Nodes and their versions (``allocate_node_id``, ``save``, ``resolve``, ...) and their
    places in files (``set_location``, ``nodes_for_uri``, ``node_by_hash``)."""

    # -- nodes and versions -------------------------------------------------------------
    def allocate_node_id(self, base: str) -> str:
        """A fresh node id from a function name (``is_valid_email``, then ``_2``, ...).

        The id is reserved at once (an empty node record), so concurrent callers never
        get the same one.
        """
        slug = slugify(base)
        with self._change() as ix:
            node_id, n = slug, 1
            while node_id in ix.nodes:
                n += 1
                node_id = f"{slug}_{n}"
            now = time.time()
            self._put_node(ix, {"node_id": node_id, "function_name": base, "task_type": "",
                                "latest_version": 0, "fitness": None, "created": now,
                                "updated": now, "usage": 0, "uri": None,
                                "content_hash": None})
        return node_id

    def next_version(self, node_id: str) -> int:
        with self._view() as ix:
            return max(ix.versions.get(node_id, {0: 0})) + 1

    def save(self, artifact: Artifact) -> Artifact:
        """Store a new version and update its node record; ValueError if it exists. The
        artifact's ``extra`` gets ``made_by`` (user@host) and ``dise_version`` if unset."""
        stamp(artifact.extra)
        doc = artifact.to_dict()
        with self._change() as ix:
            if artifact.artifact_id in ix.artifacts:
                raise ValueError(f"{artifact.artifact_id} is already stored and versions are "
                                 "never edited: save it as version "
                                 f"{max(ix.versions[artifact.node_id]) + 1} instead.")
            doc_id = self._artifacts.insert(doc)
            ix.artifacts[artifact.artifact_id] = doc_id
            ix.versions.setdefault(artifact.node_id, {})[artifact.version] = doc_id
            now = time.time()
            rec = dict(self._node(ix, artifact.node_id) or {
                "node_id": artifact.node_id, "latest_version": 0, "created": now, "usage": 0,
                "uri": None, "content_hash": None})
            if artifact.version >= rec.get("latest_version", 0):
                rec.update(latest_version=artifact.version, fitness=artifact.fitness_score,
                           function_name=artifact.function_name, task_type=artifact.task_type)
            rec["updated"] = now
            self._put_node(ix, rec)
            ix.sorted_ids = None
        return artifact

    def record_use(self, node_id: str) -> int:
        """Count one more use of a function (hover, reuse); returns the new count."""
        with self._change() as ix:
            rec = self._node(ix, node_id)
            if rec is None:
                raise self._not_found(ix, node_id)
            rec = {**rec, "usage": rec.get("usage", 0) + 1}
            self._put_node(ix, rec)
            return rec["usage"]

    def get(self, artifact_id: str) -> Artifact | None:
        with self._view() as ix:
            doc_id = ix.artifacts.get(artifact_id)
            return None if doc_id is None else self._artifact(doc_id)

    def latest(self, node_id: str) -> Artifact | None:
        with self._view() as ix:
            versions = ix.versions.get(node_id)
            return self._artifact(versions[max(versions)]) if versions else None

    def versions(self, node_id: str) -> list[Artifact]:
        """Every version of a node, oldest first."""
        with self._view() as ix:
            versions = ix.versions.get(node_id, {})
            return [self._artifact(versions[v]) for v in sorted(versions)]

    def nodes(self) -> list[dict[str, Any]]:
        """Records of functions with at least one version, newest first."""
        with self._view() as ix:
            recs = [dict(self._raw(self._nodes, d)) for n, d in ix.nodes.items()
                    if n in ix.versions]
        return sorted(recs, key=lambda r: (r.get("created", 0.0), r["node_id"]), reverse=True)

    def node(self, node_id: str) -> dict[str, Any] | None:
        """One node record (a copy), or None."""
        with self._view() as ix:
            rec = self._node(ix, node_id)
            return None if rec is None else dict(rec)

    def find_by_prefix(self, text: str) -> list[str]:
        """Node ids starting with ``text`` (case-insensitive), sorted: for completion."""
        prefix = unicodedata.normalize("NFKC", text.strip()).casefold()
        with self._view() as ix:
            ids = self._sorted_ids(ix)
            start = bisect.bisect_left(ids, prefix, key=str.casefold)
            end = start
            while end < len(ids) and ids[end].casefold().startswith(prefix):
                end += 1
            return ids[start:end]

    def resolve(self, text: str, purpose: str = "") -> str:
        """The node id that ``text`` names: a node id, or a function's name.

        Why: users type what they wrote (``dise status minSubArraySum``) and stores made
        before ids kept a name's case and letters hold ``minsubarraysum``. Tried in order:
        a function of that name (the node whose id is the name, else its only node), the
        id itself, the id an older DiSE gave that name, then an id equal ignoring case.
        A name wins over an id: ``f_2`` is the function named ``f_2``, not the second
        ``f``. Raises ``NodeNotFoundError`` with suggestions (``purpose``, e.g. " to
        optimise", follows the name in its message).
        """
        text = text.strip()
        name = unicodedata.normalize("NFKC", text)
        with self._view() as ix:
            named = sorted(n for n, doc in ix.nodes.items() if n in ix.versions and
                           unicodedata.normalize("NFKC", self._raw(self._nodes, doc).get(
                               "function_name") or "") == name)
            found = pick_node(text, named, ix.versions)
            if found is not None:
                return found
            raise self._not_found(ix, text, purpose)

    def count(self) -> int:
        """Number of stored artifacts (versions, all nodes together)."""
        with self._view() as ix:
            return len(ix.artifacts)

    def delete_node(self, node_id: str) -> bool:
        """Remove a node with its versions, queue entry and frozen tests; False if unknown."""
        with self._change() as ix:
            known = node_id in ix.nodes or node_id in ix.versions or node_id in ix.tests \
                or node_id in ix.queue
            versions = ix.versions.pop(node_id, {})
            if versions:
                self._artifacts.remove(doc_ids=list(versions.values()))
                for version in versions:
                    ix.artifacts.pop(f"{node_id}_v{version}", None)
            rec = self._node(ix, node_id)
            if rec is not None:
                ix.drop_location(node_id, rec)
                self._nodes.remove(doc_ids=[ix.nodes.pop(node_id)])
            for table, index in ((self._tests, ix.tests), (self._queue, ix.queue),
                                 (self._optimizer, ix.optimizer), (self._leases, ix.leases)):
                if node_id in index:
                    table.remove(doc_ids=[index.pop(node_id)])
            ix.sorted_ids = ix.queue_order = None
        return known

    def changes_since(self, cursor: int) -> None:
        """No change log here (one local file): callers compare with the store instead."""
        return None

    # -- node <-> file mapping (language server) ------------------------------------------
    def set_location(self, node_id: str, uri: str, content_hash: str,
                     version: int | None = None, qualname: str | None = None) -> None:
        """Remember where a node's code lives, the hash of that code and (when given) which
        version it is, kept as ``placed_version`` on the node record, and its qualified name
        in the file (``Validator.validate``), kept as ``qualname``."""
        with self._change() as ix:
            rec = self._node(ix, node_id)
            if rec is None:
                raise self._not_found(ix, node_id)
            ix.drop_location(node_id, rec)
            rec = {**rec, "uri": uri, "content_hash": content_hash, "located": time.time()}
            if version is not None:
                rec["placed_version"] = version
            if qualname is not None:
                rec["qualname"] = qualname
            self._put_node(ix, rec)
            ix.add_location(node_id, rec)

    def dismiss_version(self, node_id: str, version: int) -> None:
        """Stop offering versions up to ``version`` of a node in the editor (the user kept
        theirs); kept as ``dismissed_version`` on the node record."""
        with self._change() as ix:
            rec = self._node(ix, node_id)
            if rec is None:
                raise self._not_found(ix, node_id)
            dismissed = max(int(rec.get("dismissed_version") or 0), version)
            self._put_node(ix, {**rec, "dismissed_version": dismissed})

    def location(self, node_id: str) -> dict[str, str] | None:
        """``{"uri", "content_hash"}`` of a node, or None when unknown or never placed."""
        with self._view() as ix:
            rec = self._node(ix, node_id)
            if rec is None or not rec.get("uri"):
                return None
            return {"uri": rec["uri"], "content_hash": rec.get("content_hash") or ""}

    def nodes_for_uri(self, uri: str) -> list[dict[str, Any]]:
        """Node records placed in the file ``uri``, by node id."""
        with self._view() as ix:
            return [dict(self._raw(self._nodes, ix.nodes[n]))
                    for n in sorted(ix.by_uri.get(uri, ()))]

    def node_by_hash(self, content_hash: str) -> str | None:
        """The node whose code has this hash (the latest placed, if several)."""
        with self._view() as ix:
            hit = ix.by_hash.get(content_hash)
            return None if hit is None else hit[0]

    # -- helpers --------------------------------------------------------------------------
    def _sorted_ids(self, ix: Indexes) -> list[str]:
        """Ids with versions, sorted ignoring case (for prefix search)."""
        if ix.sorted_ids is None:
            ix.sorted_ids = sorted(ix.versions, key=lambda n: (n.casefold(), n))
        return ix.sorted_ids

    def _not_found(self, ix: Indexes, node_id: str, purpose: str = "") -> NodeNotFoundError:
        head = node_id[:3].casefold()
        close = [n for n in self._sorted_ids(ix) if n.casefold().startswith(head)][:3]
        hint = f" Did you mean: {', '.join(close)}?" if close else \
            " Run `dise list` to see stored functions."
        return NodeNotFoundError(f"No stored function {node_id!r}{purpose}.{hint}")
