"""Persistent artifacts: versions with lineage, frozen tests, the optimisation queue and the
best-generator registry, in one crash-safe TinyDB file (see ``storage`` and ``artifacts``),
or in PostgreSQL shared by a team (``postgres``); ``open_store`` picks by configuration."""

from __future__ import annotations

from typing import Any

from dise.store.artifacts import Store
from dise.store.common import PRIORITIES
from dise.store.node_ids import NodeNotFoundError, slugify
from dise.store.storage import AtomicJSONStorage, StoreCorruptError, StoreIOError

__all__ = ["AtomicJSONStorage", "NodeNotFoundError", "PRIORITIES", "Store",
           "StoreCorruptError", "StoreIOError", "open_store", "slugify"]


def open_store(cfg: Any) -> Any:
    """The store ``cfg`` names: ``PgStore`` when ``cfg.store.url`` is set, else the TinyDB
    ``Store`` at ``cfg.store_path``. Raises ``PgStoreError`` if PostgreSQL is unreachable."""
    url = getattr(getattr(cfg, "store", None), "url", "")
    if url:
        from dise.store.postgres import PgStore

        return PgStore(url, cfg.store_path)
    return Store(cfg.store_path)
