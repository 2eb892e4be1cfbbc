"""TinyDB tables that change one document in O(1), over ``AtomicJSONStorage``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tinydb import TinyDB
from tinydb.table import Document, Table

from dise.store.storage import AtomicJSONStorage
from dise.store.storage_json import Data


class FastTable(Table):
    """A TinyDB table whose insert/replace/remove by id cost O(1), not O(table size).

    TinyDB's own updates copy the whole table twice per call (a minute for 10,000 inserts).
    These write into the storage's live dict and ``touch`` the documents they change, so
    the storage re-encodes only those. Any other update goes through ``_update_table``,
    which makes the storage ``forget`` the table's cached JSON.
    """

    _id_generation = -1
    _cache_generation = -1

    def _live(self) -> tuple[Data, dict[str, Any]]:
        tables = self._storage.read()
        return tables, tables.setdefault(self.name, {})

    def _touch(self, doc_id: Any) -> None:
        touch = getattr(self._storage, "touch", None)
        if touch is not None:
            touch(self.name, str(doc_id))

    def _read_table(self) -> dict[str, Mapping]:
        table = super()._read_table()
        gen = getattr(self._storage, "generation", 0)
        if gen != self._cache_generation:  # reloaded from disk: cached searches are stale
            self._query_cache.clear()
            self._cache_generation = gen
        return table

    def _get_next_id(self) -> int:
        raw = self._read_table()
        gen = getattr(self._storage, "generation", 0)
        if self._next_id is None or self._id_generation != gen:
            self._next_id = max(map(int, raw), default=0) + 1
            self._id_generation = gen
        doc_id = self._next_id
        self._next_id = doc_id + 1
        return doc_id

    def insert(self, document: Mapping) -> int:
        if not isinstance(document, Mapping):
            raise ValueError("Document is not a Mapping")
        tables, raw = self._live()
        if isinstance(document, Document):
            doc_id = document.doc_id
            self._next_id = None
        else:
            doc_id = self._get_next_id()
        if str(doc_id) in raw:
            raise ValueError(f"Document with ID {doc_id} already exists")
        raw[str(doc_id)] = dict(document)
        self._touch(doc_id)
        self._storage.write(tables)
        self.clear_cache()
        return doc_id

    def replace(self, doc_id: int, document: Mapping) -> None:
        """Swap one document for a new one (KeyError if there is none with this id)."""
        tables, raw = self._live()
        if str(doc_id) not in raw:
            raise KeyError(doc_id)
        raw[str(doc_id)] = dict(document)
        self._touch(doc_id)
        self._storage.write(tables)
        self.clear_cache()

    def remove(self, cond: Callable | None = None, doc_ids: Any = None) -> list[int]:
        if doc_ids is None:
            return super().remove(cond=cond)
        tables, raw = self._live()
        removed = [doc_id for doc_id in doc_ids if raw.pop(str(doc_id), None) is not None]
        for doc_id in removed:
            self._touch(doc_id)
        if removed:
            self._storage.write(tables)
            self.clear_cache()
        return removed

    def _update_table(self, updater: Callable[[dict[int, Mapping]], None]) -> None:
        forget = getattr(self._storage, "forget", None)
        if forget is not None:
            forget(self.name)
        super()._update_table(updater)


class StoreDB(TinyDB):
    """TinyDB over ``AtomicJSONStorage`` with ``FastTable`` tables."""

    table_class = FastTable
    default_storage_class = AtomicJSONStorage
