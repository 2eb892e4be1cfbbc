"""The PostgreSQL store's per-key records: frozen tests, the best-generator registry, Phase 2's
optimiser state, and the bulk copy of every table (``dise store migrate``)."""

from __future__ import annotations

import copy
import time
from typing import Any

from dise.store.common import PRIORITIES, PRIORITY_RANK, add_registry_trial, add_registry_win
from dise.store.pg_core import KEY_COLUMNS, PgCore
from dise.types import TestCase


class PgRecords(PgCore):
    """Frozen tests, registry and optimiser records, and ``export_tables``/``import_tables``."""

    # -- frozen tests -----------------------------------------------------------------------
    def freeze_tests(self, node_id: str, tests: list[TestCase],
                     witnesses: list[str] | None = None) -> bool:
        """Freeze the tests that judge every candidate of a node; only the first call wins."""
        doc = {"node_id": node_id, "tests": [t.to_dict() for t in tests],
               "witnesses": list(witnesses or []), "frozen": time.time()}

        def run(cur: Any) -> bool:
            cur.execute("INSERT INTO dise_tests (node_id, doc) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING RETURNING 1", (node_id, self._json(doc)))
            return cur.fetchone() is not None

        return self._do(run)

    def frozen_tests(self, node_id: str) -> list[TestCase] | None:
        doc = self._doc("dise_tests", node_id)
        return None if doc is None else [TestCase.from_dict(t) for t in doc["tests"]]

    def test_witnesses(self, node_id: str) -> list[str]:
        """Ids of the candidates that already voted on the node's model tests."""
        doc = self._doc("dise_tests", node_id)
        return [] if doc is None else list(doc.get("witnesses") or [])

    def update_test_credibility(self, node_id: str, tests: list[TestCase],
                                witness: str) -> bool:
        """Store new credibility and votes after ``witness`` voted; see ``Store``."""
        done: list[bool] = []

        def update(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            witnesses, frozen = list(doc.get("witnesses") or []), doc["tests"]
            if witness in witnesses or len(frozen) != len(tests) or any(
                    f["code"] != t.code or f["kind"] != t.kind for f, t in zip(frozen, tests)):
                return None
            for old, new in zip(frozen, tests):
                old.update(credibility=new.credibility, agree=new.agree, disagree=new.disagree)
            done.append(True)
            return {**doc, "tests": frozen, "witnesses": witnesses + [witness]}

        self._do(lambda cur: self._modify(cur, "dise_tests", node_id, update))
        return bool(done)

    # -- bulk copy (``dise store migrate``) ------------------------------------------------
    TABLES: tuple[str, ...] = ("artifacts", "nodes", "tests", "queue", "registry", "optimizer")

    def export_tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every table, as the TinyDB store holds them (leases excluded)."""
        order = {"artifacts": " ORDER BY node_id, version", "queue": " ORDER BY seq"}
        return {name: [r[0] for r in self._query(f"SELECT doc FROM dise_{name}"
                                                 f"{order.get(name, '')}")]
                for name in self.TABLES}

    def import_tables(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        """Add ``export_tables()`` output to this store in one transaction."""
        def run(cur: Any) -> None:
            arts = tables.get("artifacts", [])
            cur.executemany(
                "INSERT INTO dise_artifacts (artifact_id, node_id, version, doc, made_by, "
                "dise_version, stored) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(d.get("artifact_id") or f"{d['node_id']}_v{d['version']}", d["node_id"],
                  d["version"], self._json(d), (d.get("extra") or {}).get("made_by"),
                  (d.get("extra") or {}).get("dise_version"), d.get("timestamp") or time.time())
                 for d in arts])
            for name in ("nodes", "tests", "registry", "optimizer"):
                table = f"dise_{name}"
                key = KEY_COLUMNS[table]
                cur.executemany(f"INSERT INTO {table} ({key}, doc) VALUES (%s, %s)",
                                [(d[key], self._json(d)) for d in tables.get(name, [])])
            cur.executemany("INSERT INTO dise_queue (node_id, rank, enqueued, doc) "
                            "VALUES (%s, %s, %s, %s)",
                            [(d["node_id"], PRIORITY_RANK.get(d.get("priority"), len(PRIORITIES)),
                              d.get("enqueued", 0.0), self._json(d))
                             for d in tables.get("queue", [])])
            self._log_changes(cur, [(d.get("artifact_id") or f"{d['node_id']}_v{d['version']}",
                                     d["node_id"], "add") for d in arts])

        self._do(run)

    # -- best-generator registry --------------------------------------------------------------
    def best_generator(self, task_type: str) -> dict[str, Any] | None:
        return self._doc("dise_registry", task_type)

    def set_best_generator(self, task_type: str, generator: str, fitness: float,
                           **details: Any) -> None:
        """Record the winner for a task type; the tally of wins is kept."""
        rec = {"task_type": task_type, "generator": generator, "fitness": float(fitness),
               "temperature": details.pop("temperature", None),
               "approach": details.pop("approach", None), **details, "updated": time.time()}

        def update(old: dict[str, Any] | None) -> dict[str, Any]:
            return {**rec, "wins": old.get("wins", {}), "trials": old.get("trials", {})} \
                if old is not None else rec

        self._do(lambda cur: self._modify(cur, "dise_registry", task_type, update))

    def record_registry_win(self, task_type: str, setup: str, node_id: str) -> int:
        """Count a win of ``setup`` on ``node_id``; returns the distinct functions won on."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            return add_registry_win(rec, task_type, setup, node_id)[0]

        rec = self._do(lambda cur: self._modify(cur, "dise_registry", task_type, update))
        return len(rec["wins"][setup])

    def record_registry_trial(self, task_type: str, setup: str, node_id: str, result: str,
                              reason: str = "") -> None:
        """Count one Phase 2 attempt of ``setup`` (see ``Store.record_registry_trial``)."""
        def update(rec: dict[str, Any] | None) -> dict[str, Any]:
            return add_registry_trial(rec, task_type, setup, node_id, result, reason)

        self._do(lambda cur: self._modify(cur, "dise_registry", task_type, update))

    def registry_records(self) -> list[dict[str, Any]]:
        """Every task type's registry record."""
        return [r[0] for r in self._query("SELECT doc FROM dise_registry ORDER BY task_type")]

    # -- optimiser state ------------------------------------------------------------------------
    def optimizer_state(self, key: str) -> dict[str, Any] | None:
        return self._doc("dise_optimizer", key)

    def set_optimizer_state(self, key: str, state: dict[str, Any]) -> None:
        rec = {**copy.deepcopy(state), "key": key, "saved": time.time()}
        self._do(lambda cur: self._modify(cur, "dise_optimizer", key, lambda _old: rec))

    def optimizer_states(self) -> list[dict[str, Any]]:
        return [r[0] for r in self._query("SELECT doc FROM dise_optimizer ORDER BY key")]

    def clear_optimizer_state(self, key: str) -> bool:
        def run(cur: Any) -> bool:
            cur.execute("DELETE FROM dise_optimizer WHERE key = %s", (key,))
            return cur.rowcount > 0

        return self._do(run)
