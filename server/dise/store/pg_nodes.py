"""The PostgreSQL store's nodes: versions with lineage, node records, names -> ids, where each
node's code lives in the editor's files, and the change log of versions added and removed."""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from dise.store.common import stamp
from dise.store.node_ids import NodeNotFoundError, pick_node, slugify
from dise.store.pg_core import PgCore
from dise.types import Artifact


class PgNodes(PgCore):
    """Nodes and their versions, their places in files, and ``changes_since`` for the
    incremental FAISS index (``dise.store.follow``)."""

    # -- nodes and versions -------------------------------------------------------------
    def allocate_node_id(self, base: str) -> str:
        """A fresh node id from a function name (``f``, then ``f_2``, ...), reserved at once:
        servers sharing the store never get the same one."""
        slug = slugify(base)
        pattern = slug.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "\\_%"

        def run(cur: Any) -> str:
            cur.execute("SELECT node_id FROM dise_nodes WHERE node_id = %s OR node_id LIKE %s",
                        (slug, pattern))
            taken = {r[0] for r in cur.fetchall()}
            n = 1
            while True:
                node_id = slug if n == 1 else f"{slug}_{n}"
                n += 1
                if node_id in taken:
                    continue
                now = time.time()
                rec = {"node_id": node_id, "function_name": base, "task_type": "",
                       "latest_version": 0, "fitness": None, "created": now, "updated": now,
                       "usage": 0, "uri": None, "content_hash": None}
                cur.execute("INSERT INTO dise_nodes (node_id, doc) VALUES (%s, %s) "
                            "ON CONFLICT DO NOTHING RETURNING 1", (node_id, self._json(rec)))
                if cur.fetchone():
                    return node_id
                taken.add(node_id)

        return self._do(run)

    def next_version(self, node_id: str) -> int:
        rows = self._query("SELECT coalesce(max(version), 0) FROM dise_artifacts "
                           "WHERE node_id = %s", (node_id,))
        return rows[0][0] + 1

    def save(self, artifact: Artifact) -> Artifact:
        """Store a new version and update its node record; ValueError if it exists. The
        artifact's ``extra`` gets ``made_by`` (user@host) and ``dise_version`` if unset."""
        stamp(artifact.extra)
        doc = artifact.to_dict()

        def run(cur: Any) -> None:
            cur.execute("INSERT INTO dise_artifacts (artifact_id, node_id, version, doc, "
                        "made_by, dise_version, stored) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING RETURNING 1",
                        (artifact.artifact_id, artifact.node_id, artifact.version,
                         self._json(doc), artifact.extra.get("made_by"),
                         artifact.extra.get("dise_version"), time.time()))
            if cur.fetchone() is None:
                cur.execute("SELECT max(version) FROM dise_artifacts WHERE node_id = %s",
                            (artifact.node_id,))
                top = cur.fetchone()[0] or artifact.version
                raise ValueError(f"{artifact.artifact_id} is already stored and versions are "
                                 f"never edited: save it as version {top + 1} instead.")
            now = time.time()

            def update(rec: dict[str, Any] | None) -> dict[str, Any]:
                rec = rec or {"node_id": artifact.node_id, "latest_version": 0,
                              "created": now, "usage": 0, "uri": None, "content_hash": None}
                if artifact.version >= rec.get("latest_version", 0):
                    rec.update(latest_version=artifact.version, fitness=artifact.fitness_score,
                               function_name=artifact.function_name,
                               task_type=artifact.task_type)
                rec["updated"] = now
                return rec

            self._modify(cur, "dise_nodes", artifact.node_id, update)
            self._log_changes(cur, [(artifact.artifact_id, artifact.node_id, "add")])

        self._do(run)
        return artifact

    def record_use(self, node_id: str) -> int:
        """Count one more use of a function (hover, reuse); returns the new count."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            if rec is None:
                raise self._not_found(node_id)
            rec["usage"] = rec.get("usage", 0) + 1
            return rec

        return self._do(lambda cur: self._modify(cur, "dise_nodes", node_id, update))["usage"]

    def _artifacts(self, where: str, params: tuple) -> list[Artifact]:
        rows = self._query(f"SELECT doc FROM dise_artifacts WHERE {where} ORDER BY version",
                           params)
        return [Artifact.from_dict(r[0]) for r in rows]

    def get(self, artifact_id: str) -> Artifact | None:
        found = self._artifacts("artifact_id = %s", (artifact_id,))
        return found[0] if found else None

    def latest(self, node_id: str) -> Artifact | None:
        rows = self._query("SELECT doc FROM dise_artifacts WHERE node_id = %s "
                           "ORDER BY version DESC LIMIT 1", (node_id,))
        return Artifact.from_dict(rows[0][0]) if rows else None

    def versions(self, node_id: str) -> list[Artifact]:
        """Every version of a node, oldest first."""
        return self._artifacts("node_id = %s", (node_id,))

    def nodes(self) -> list[dict[str, Any]]:
        """Records of functions with at least one version, newest first."""
        rows = self._query("SELECT n.doc FROM dise_nodes n WHERE EXISTS (SELECT 1 FROM "
                           "dise_artifacts a WHERE a.node_id = n.node_id)")
        return sorted((r[0] for r in rows), key=lambda r: (r.get("created", 0.0), r["node_id"]),
                      reverse=True)

    def node(self, node_id: str) -> dict[str, Any] | None:
        """One node record (a copy), or None."""
        return self._doc("dise_nodes", node_id)

    def _ids_with_versions(self, ascii_prefix: str | None = None) -> list[str]:
        if ascii_prefix:
            like = ascii_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self._query("SELECT DISTINCT node_id FROM dise_artifacts "
                               "WHERE lower(node_id) LIKE %s", (like + "%",))
        else:
            rows = self._query("SELECT DISTINCT node_id FROM dise_artifacts")
        return [r[0] for r in rows]

    def find_by_prefix(self, text: str) -> list[str]:
        """Node ids starting with ``text`` (case-insensitive), sorted: for completion."""
        prefix = unicodedata.normalize("NFKC", text.strip()).casefold()
        ids = self._ids_with_versions(prefix if prefix.isascii() else None)
        return sorted((n for n in ids if n.casefold().startswith(prefix)),
                      key=lambda n: (n.casefold(), n))

    def resolve(self, text: str, purpose: str = "") -> str:
        """The node id that ``text`` names; the rules of ``Store.resolve``."""
        text = text.strip()
        name = unicodedata.normalize("NFKC", text)
        rows = self._query(
            "SELECT n.node_id, n.doc->>'function_name' FROM dise_nodes n WHERE "
            "n.doc->>'function_name' IN (%s, %s) AND EXISTS (SELECT 1 FROM dise_artifacts a "
            "WHERE a.node_id = n.node_id)", (text, name))
        named = sorted(n for n, fn in rows if unicodedata.normalize("NFKC", fn or "") == name)
        found = pick_node(text, named, set(self._ids_with_versions()))
        if found is not None:
            return found
        raise self._not_found(text, purpose)

    def count(self) -> int:
        """Number of stored artifacts (versions, all nodes together)."""
        return self._query("SELECT count(*) FROM dise_artifacts")[0][0]

    def delete_node(self, node_id: str) -> bool:
        """Remove a node with its versions, queue entry, lease and frozen tests."""
        def run(cur: Any) -> bool:
            cur.execute("DELETE FROM dise_artifacts WHERE node_id = %s RETURNING artifact_id",
                        (node_id,))
            gone = [r[0] for r in cur.fetchall()]
            known = bool(gone)
            for table, col, counts in (("dise_nodes", "node_id", True),
                                       ("dise_tests", "node_id", True),
                                       ("dise_queue", "node_id", True),
                                       ("dise_optimizer", "key", False),
                                       ("dise_leases", "node_id", False)):
                cur.execute(f"DELETE FROM {table} WHERE {col} = %s", (node_id,))
                known = known or (counts and cur.rowcount > 0)
            self._log_changes(cur, [(aid, node_id, "del") for aid in gone])
            return known

        return self._do(run)

    # -- node <-> file mapping ------------------------------------------------------------------
    def set_location(self, node_id: str, uri: str, content_hash: str,
                     version: int | None = None, qualname: str | None = None) -> None:
        """Remember where a node's code lives; see ``Store.set_location``."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            if rec is None:
                raise self._not_found(node_id)
            rec.update(uri=uri, content_hash=content_hash, located=time.time())
            if version is not None:
                rec["placed_version"] = version
            if qualname is not None:
                rec["qualname"] = qualname
            return rec

        self._do(lambda cur: self._modify(cur, "dise_nodes", node_id, update))

    def dismiss_version(self, node_id: str, version: int) -> None:
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            if rec is None:
                raise self._not_found(node_id)
            rec["dismissed_version"] = max(int(rec.get("dismissed_version") or 0), version)
            return rec

        self._do(lambda cur: self._modify(cur, "dise_nodes", node_id, update))

    def location(self, node_id: str) -> dict[str, str] | None:
        rec = self._doc("dise_nodes", node_id)
        if rec is None or not rec.get("uri"):
            return None
        return {"uri": rec["uri"], "content_hash": rec.get("content_hash") or ""}

    def nodes_for_uri(self, uri: str) -> list[dict[str, Any]]:
        return [r[0] for r in self._query("SELECT doc FROM dise_nodes WHERE doc->>'uri' = %s "
                                          "ORDER BY node_id", (uri,))]

    def node_by_hash(self, content_hash: str) -> str | None:
        """The node whose code has this hash (the latest placed, if several)."""
        rows = self._query("SELECT node_id FROM dise_nodes WHERE doc->>'content_hash' = %s "
                           "ORDER BY (doc->>'located')::float8 DESC NULLS LAST LIMIT 1",
                           (content_hash,))
        return rows[0][0] if rows else None

    #: ``changes_since``/``change_head`` list every version added or removed (follow.py).
    change_log = True

    def change_head(self) -> int:
        """The latest change's cursor (0: none yet)."""
        return int(self._query("SELECT coalesce(max(seq), 0) FROM dise_changes")[0][0])

    # -- change cursor (incremental index) ------------------------------------------------------
    def changes_since(self, cursor: int) -> tuple[int, list[tuple[str, str, str]]]:
        """``(new cursor, [(op, artifact_id, node_id), ...])`` of versions added (``"add"``)
        or removed (``"del"``) after ``cursor`` (0: from the start), oldest first."""
        rows = self._query("SELECT seq, op, artifact_id, node_id FROM dise_changes "
                           "WHERE seq > %s ORDER BY seq", (cursor,))
        return (rows[-1][0] if rows else cursor), [(op, a, n) for _, op, a, n in rows]

    # -- helpers ----------------------------------------------------------------------------------
    def _not_found(self, node_id: str, purpose: str = "") -> NodeNotFoundError:
        close = self.find_by_prefix(node_id[:3])[:3]
        hint = f" Did you mean: {', '.join(close)}?" if close else \
            " Run `dise list` to see stored functions."
        return NodeNotFoundError(f"No stored function {node_id!r}{purpose}.{hint}")
