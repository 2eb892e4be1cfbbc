"""Known functions: what the store knows about the functions of each open document.

On open and save the io thread reads the store's records for the document (``load_document``);
hover, lenses, status and the better-version surfaces then answer from the in-memory
``FunctionIndex``. ``record`` remembers where a generated or accepted version went, so hover
knows it after edits, reopen and restart. Emits ``indexed(uri)`` whenever a document's entries
are read or recorded (``ctx.events``).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from lsprotocol import types as lsp

from dise.lsp.context import Snapshot
from dise.lsp.documents import Region, enclosing_regions
from dise.lsp.feature import Feature
from dise.lsp.index import FunctionIndex, Known, load_document, record_location
from dise.lsp.protocol import detail


class KnownFunctions(Feature):
    """Owns the ``FunctionIndex`` (mutated only on the event loop)."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.index = FunctionIndex()
        self._tasks: dict[str, asyncio.Future] = {}
        ctx.events.on("settings", self._settings_changed)

    # -- hooks ----------------------------------------------------------------------------
    def initialized(self) -> None:
        for uri in self.ctx.open_documents():
            self.schedule(uri)

    def did_open(self, uri: str) -> None:
        self.schedule(uri)

    def did_save(self, uri: str) -> None:
        self.schedule(uri)

    def did_close(self, uri: str) -> None:
        self.index.forget(uri)
        task = self._tasks.pop(uri, None)
        if task is not None:
            task.cancel()

    def _settings_changed(self, old: Any, new: Any) -> None:
        if old is None or old.config.store_path != new.config.store_path:
            for uri in self.ctx.open_documents():
                self.index.forget(uri)
                self.schedule(uri)

    # -- loading --------------------------------------------------------------------------
    def schedule(self, uri: str) -> None:
        """Read, in the io thread, what the store knows about the functions in ``uri``."""
        snap = self.ctx.snapshot(uri)
        if snap is None:
            return

        async def load() -> None:
            store = await self.ctx.store(uri)
            entries = await self.ctx.in_io(load_document, store, uri, snap.source)
            self.index.replace(uri, entries)
            await self.ctx.events.publish("indexed", uri)

        task = self.ctx.run_task(load())
        task.add_done_callback(functools.partial(self._loaded, uri))
        self._tasks[uri] = task

    def _loaded(self, uri: str, task: asyncio.Future) -> None:
        if self._tasks.get(uri) is task:
            self._tasks.pop(uri, None)
        if not task.cancelled() and task.exception() is not None:
            self.ctx.log(lsp.MessageType.Warning, f"DiSE could not read stored functions for "
                         f"{uri}: {detail(task.exception())}")

    async def wait_loaded(self, uri: str) -> None:
        """Right after opening: wait (``first_index_wait_s`` at most) for the first read."""
        task = self._tasks.get(uri)
        if task is None or self.index.loaded(uri):
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self.ctx.lsp_settings.first_index_wait_s)
        except (asyncio.TimeoutError, Exception):  # reported by _loaded
            pass

    # -- queries --------------------------------------------------------------------------
    def known_at(self, snap: Snapshot, line: int) -> tuple[Known, bool, Region] | None:
        """The generated function around ``line`` (innermost first): (known, edited, region)."""
        for region in enclosing_regions(snap.lines, line):
            found = self.index.match(snap.uri, snap.lines, region)
            if found:
                return found[0], found[1], region
        return None

    def known_for(self, node_id: str) -> Known | None:
        """The node as some open document holds it."""
        for uri in self.ctx.open_documents():
            known = self.index.known_in(uri, node_id)
            if known is not None:
                return known
        return None

    def uris_with(self, node_id: str) -> list[str]:
        """Open documents holding ``node_id``."""
        uris = []
        for uri in self.ctx.open_documents():
            entries = self.index.entries(uri)
            if entries and any(k.node_id == node_id for k in entries.all()):
                uris.append(uri)
        return uris

    async def record(self, uri: str, known: Known, store: Any, used: bool = False) -> None:
        """Remember that ``known`` (its version, hash, qualified name) is now in ``uri``:
        in the index at once, in the store (io thread), then as the store reads it back.
        A store failure is logged; the index keeps what it knows. Returns once the other
        features caught up (``indexed``)."""
        if not used:
            self.index.add(uri, known)
        try:
            fresh = await self.ctx.in_io(record_location, store, known.node_id, uri,
                                         known.content_hash, known.artifact.version,
                                         known.qualname, used)
        except Exception as exc:
            self.ctx.log(lsp.MessageType.Warning,
                         f"DiSE could not record where {known.name} went: {detail(exc)}")
            return
        if fresh is not None:
            self.index.add(uri, fresh)
            if used:
                self.index.update_node(fresh)
        await self.ctx.events.publish("indexed", uri)

