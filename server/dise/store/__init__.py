"""Persistent artifacts: versions with lineage, frozen tests, the optimisation queue and the
best-generator registry, in one crash-safe TinyDB file (see ``storage`` and ``artifacts``)."""

from dise.store.artifacts import PRIORITIES, NodeNotFoundError, Store, slugify
from dise.store.storage import AtomicJSONStorage, StoreCorruptError, StoreIOError

__all__ = ["AtomicJSONStorage", "NodeNotFoundError", "PRIORITIES", "Store",
           "StoreCorruptError", "StoreIOError", "slugify"]
