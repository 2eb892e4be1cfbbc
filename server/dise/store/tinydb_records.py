"""The TinyDB store's per-key records: frozen tests, the best-generator registry, Phase 2's
optimiser state, and the bulk copy of every table (``dise store migrate``)."""

from __future__ import annotations

import copy
import time
from typing import Any

from dise.store.common import add_registry_trial, add_registry_win
from dise.store.tinydb_core import StoreCore
from dise.types import TestCase


class StoreRecords(StoreCore):
    """Frozen tests, registry and optimiser records, and ``export_tables``/``import_tables``."""

    # -- frozen tests ---------------------------------------------------------------------
    def freeze_tests(self, node_id: str, tests: list[TestCase],
                     witnesses: list[str] | None = None) -> bool:
        """Freeze the tests that judge every candidate of a node; only the first call wins.

        ``witnesses`` are ids of the candidates whose verdicts already count in the model
        tests' credibility. Returns True when these tests were frozen, False when tests
        already were.
        """
        with self._change() as ix:
            if node_id in ix.tests:
                return False
            ix.tests[node_id] = self._tests.insert({
                "node_id": node_id, "tests": [t.to_dict() for t in tests],
                "witnesses": list(witnesses or []), "frozen": time.time()})
            return True

    def frozen_tests(self, node_id: str) -> list[TestCase] | None:
        with self._view() as ix:
            doc_id = ix.tests.get(node_id)
            if doc_id is None:
                return None
            return [TestCase.from_dict(copy.deepcopy(t))
                    for t in self._raw(self._tests, doc_id)["tests"]]

    def test_witnesses(self, node_id: str) -> list[str]:
        """Ids of the candidates that already voted on the node's model tests."""
        with self._view() as ix:
            doc_id = ix.tests.get(node_id)
            return [] if doc_id is None else list(
                self._raw(self._tests, doc_id).get("witnesses") or [])

    def update_test_credibility(self, node_id: str, tests: list[TestCase],
                                witness: str) -> bool:
        """Store new credibility and votes for a node's frozen tests after ``witness`` voted.

        The tests themselves stay frozen: ``tests`` must be the frozen ones (same code, same
        order); only ``credibility``/``agree``/``disagree`` change. Returns False (and
        changes nothing) when the witness already voted or the tests differ."""
        with self._change() as ix:
            doc_id = ix.tests.get(node_id)
            if doc_id is None:
                return False
            doc = self._raw(self._tests, doc_id)
            witnesses = list(doc.get("witnesses") or [])
            frozen = doc["tests"]
            if witness in witnesses or len(frozen) != len(tests) or any(
                    f["code"] != t.code or f["kind"] != t.kind for f, t in zip(frozen, tests)):
                return False
            updated = []
            for old, new in zip(frozen, tests):
                rec = copy.deepcopy(old)
                rec.update(credibility=new.credibility, agree=new.agree, disagree=new.disagree)
                updated.append(rec)
            self._tests.replace(doc_id, {**copy.deepcopy(doc), "tests": updated,
                                         "witnesses": witnesses + [witness]})
            return True

    # -- bulk copy (``dise store migrate``) ------------------------------------------------
    TABLES: tuple[str, ...] = ("artifacts", "nodes", "tests", "queue", "registry", "optimizer")

    def export_tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every table (copies; leases are not copied: they are per run)."""
        with self._view():
            data = self._storage.read()
            return {name: copy.deepcopy(list(data.get(name, {}).values()))
                    for name in self.TABLES}

    def import_tables(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        """Add ``export_tables()`` output to this store, all or nothing."""
        with self._change():
            for name in self.TABLES:
                table = self._db.table(name)
                for doc in tables.get(name, []):
                    table.insert(copy.deepcopy(doc))
            self._ix = self._build(self._storage.read())

    # -- best-generator registry ----------------------------------------------------------
    def best_generator(self, task_type: str) -> dict[str, Any] | None:
        """``{"generator", "temperature", "fitness", "approach", "updated", ...}`` or None."""
        with self._view() as ix:
            doc_id = ix.registry.get(task_type)
            return None if doc_id is None else copy.deepcopy(self._raw(self._registry, doc_id))

    def set_best_generator(self, task_type: str, generator: str, fitness: float,
                           **details: Any) -> None:
        """Record the winner for a task type (Phase 2 decides; this just stores it). The
        tally of wins (``record_registry_win``) is kept."""
        rec = {"task_type": task_type, "generator": generator, "fitness": float(fitness),
               "temperature": details.pop("temperature", None),
               "approach": details.pop("approach", None), **details, "updated": time.time()}
        with self._change() as ix:
            doc_id = ix.registry.get(task_type)
            if doc_id is None:
                ix.registry[task_type] = self._registry.insert(rec)
            else:
                old = self._raw(self._registry, doc_id)
                rec["wins"] = old.get("wins", {})
                rec["trials"] = old.get("trials", {})
                self._registry.replace(doc_id, rec)

    def record_registry_win(self, task_type: str, setup: str, node_id: str) -> int:
        """Count a win of ``setup`` (a key like ``qwen-0.5b@0.3/plain``) on ``node_id`` for
        ``task_type``; returns the distinct functions it has won on so far. The active
        choice (``best_generator``) is unchanged: Phase 2 decides when to promote."""
        with self._change() as ix:
            doc_id = ix.registry.get(task_type)
            old = None if doc_id is None else copy.deepcopy(self._raw(self._registry, doc_id))
            rec, won = add_registry_win(old, task_type, setup, node_id)
            if doc_id is None:
                ix.registry[task_type] = self._registry.insert(rec)
            else:
                self._registry.replace(doc_id, rec)
            return won

    def record_registry_trial(self, task_type: str, setup: str, node_id: str, result: str,
                              reason: str = "") -> None:
        """Count one Phase 2 attempt of ``setup`` on ``node_id`` for ``task_type``:
        ``result`` "gain" or "no_gain" (the functions are listed once each), or "error"
        (counted, with the last ``reason``). Kept beside the wins as ``trials``; see
        ``dise.optimize.failures``."""
        with self._change() as ix:
            doc_id = ix.registry.get(task_type)
            old = None if doc_id is None else copy.deepcopy(self._raw(self._registry, doc_id))
            rec = add_registry_trial(old, task_type, setup, node_id, result, reason)
            if doc_id is None:
                ix.registry[task_type] = self._registry.insert(rec)
            else:
                self._registry.replace(doc_id, rec)

    def registry_records(self) -> list[dict[str, Any]]:
        """Every task type's registry record (copies)."""
        with self._view() as ix:
            return [copy.deepcopy(self._raw(self._registry, d)) for d in ix.registry.values()]

    # -- optimiser state (Phase 2) ----------------------------------------------------------
    def optimizer_state(self, key: str) -> dict[str, Any] | None:
        """The persisted Phase 2 record under ``key`` (a node id, or a ``__name__`` global), a
        copy; None when there is none."""
        with self._view() as ix:
            doc_id = ix.optimizer.get(key)
            return None if doc_id is None else copy.deepcopy(self._raw(self._optimizer, doc_id))

    def set_optimizer_state(self, key: str, state: dict[str, Any]) -> None:
        """Replace the Phase 2 record under ``key`` (one atomic write, or part of a batch)."""
        rec = {**copy.deepcopy(state), "key": key, "saved": time.time()}
        with self._change() as ix:
            doc_id = ix.optimizer.get(key)
            if doc_id is None:
                ix.optimizer[key] = self._optimizer.insert(rec)
            else:
                self._optimizer.replace(doc_id, rec)

    def optimizer_states(self) -> list[dict[str, Any]]:
        """Every Phase 2 record (copies), by key."""
        with self._view() as ix:
            return [copy.deepcopy(self._raw(self._optimizer, ix.optimizer[k]))
                    for k in sorted(ix.optimizer)]

    def clear_optimizer_state(self, key: str) -> bool:
        with self._change() as ix:
            doc_id = ix.optimizer.pop(key, None)
            if doc_id is None:
                return False
            self._optimizer.remove(doc_ids=[doc_id])
            return True
