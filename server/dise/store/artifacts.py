"""The artifact store on one TinyDB file: versions with lineage, nodes, frozen tests, the
optimisation queue, the best-generator registry and the node <-> file mapping the language
server needs.

``Store`` is put together from one part per group of tables, each in its own module:

* ``tinydb_core``: the file, its tables, the in-memory indexes and the read/change scopes;
* ``tinydb_nodes``: versions, node records, name resolution and file locations;
* ``tinydb_records``: frozen tests, the registry, optimiser state and bulk copy;
* ``tinydb_queue``: the optimisation queue and leases.

``dise.store.postgres.PgStore`` has the same interface and the same parts on PostgreSQL.
"""

from __future__ import annotations

from dise.store.tinydb_nodes import StoreNodes
from dise.store.tinydb_queue import StoreQueue
from dise.store.tinydb_records import StoreRecords


class Store(StoreNodes, StoreRecords, StoreQueue):
    """Versioned artifacts and everything keyed by node, in one TinyDB file.

    ``path``: the store file (created with its folder when missing); thread-safe and shared
    safely with other processes (see ``dise.store.storage``).
    """
