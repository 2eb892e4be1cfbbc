"""Better versions in the editor: the diagnostic on a function the optimiser improved (and the
"your tests fail" warning), and ``dise.dismissOptimized``; the quick fixes and Accept are
``dise.lsp.features.accept``.

The lenses come from ``dise.lsp.offers`` (the lenses feature); hover adds ``hover_section``.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types as lsp

from dise.errors import DiseError
from dise.lsp.feature import Feature
from dise.lsp.features.known import KnownFunctions
from dise.lsp.features.optimizer import Optimizer
from dise.lsp.index import Known, known_from_store
from dise.lsp.offers import better_version, diagnostics_for
from dise.lsp.protocol import COMMAND_DISMISS, object_argument, version_argument
from dise.lsp.render import hover_section

#: Times a diagnostics refresh computes again when the document changed meanwhile.
REFRESH_ATTEMPTS = 3


class BetterVersion(Feature):
    """Diagnostics per open document (published only when they change) and the commands."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._published: dict[str, list] = {}     # uri -> diagnostics last sent
        self._refreshing: set[str] = set()
        ctx.events.on("indexed", self.refresh)
        ctx.events.on("improved", self.node_changed)

    @property
    def known(self) -> KnownFunctions:
        found = self.ctx.get_feature(KnownFunctions)
        assert found is not None, "BetterVersion needs the KnownFunctions feature"
        return found

    def commands(self) -> dict[str, Any]:
        return {COMMAND_DISMISS: self.cmd_dismiss}

    # -- diagnostics ----------------------------------------------------------------------
    def did_change(self, uri: str) -> None:
        """After an edit: refresh the diagnostics of a file that shows some (coalesced)."""
        if not self._published.get(uri) or uri in self._refreshing:
            return
        self._refreshing.add(uri)
        task = self.ctx.run_task(self.refresh(uri))
        task.add_done_callback(lambda _t: self._refreshing.discard(uri))

    def did_close(self, uri: str) -> None:
        self._published.pop(uri, None)

    async def refresh(self, uri: str | None) -> None:
        """Publish the diagnostics of an open document (only when they change).

        They are published with the version of the text they were computed from; when the
        document changed meanwhile they are computed again (edits during a refresh are
        coalesced into it), up to ``REFRESH_ATTEMPTS`` times, and never sent for a later
        version than they describe.
        """
        if uri is None:
            return
        for _ in range(REFRESH_ATTEMPTS):
            snap = self.ctx.snapshot(uri)
            if snap is None:
                return
            entries = self.known.index.entries(uri)
            known = list(entries.by_node.values()) if entries else []
            diagnostics = await self.ctx.in_parse(diagnostics_for, snap.source, known) \
                if known else []
            now = self.ctx.snapshot(uri)
            if now is None:
                return
            if now.version == snap.version:
                break
        if not diagnostics and not self._published.get(uri):
            return
        self._published[uri] = diagnostics
        self.ctx.publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics, version=snap.version))

    async def node_changed(self, node_id: str) -> None:
        """A node got a version (or was accepted or dismissed): refresh where it is shown."""
        store = await self.ctx.store()
        known = await self.ctx.in_io(known_from_store, store, node_id)
        if known is None:
            return
        self.known.index.update_node(known)
        uris = self.known.uris_with(node_id)
        for uri in uris:
            await self.refresh(uri)
        if uris:
            self.ctx.refresh_code_lenses()

    # -- hover and status -----------------------------------------------------------------
    def hover_section(self, known: Known) -> str:
        optimizer = self.ctx.get_feature(Optimizer)
        return hover_section(known, better_version(known),
                             optimizer.unavailable() if optimizer is not None else (),
                             optimizer.failed_setups() if optimizer is not None else None)

    def status_extra(self, node_id: str) -> dict[str, Any]:
        """``dise.status`` fields: the version in the editor and what is offered."""
        known = self.known.known_for(node_id)
        if known is None:
            return {}
        extra: dict[str, Any] = {"latestVersion": known.artifact.version,
                                 "dismissedVersion": known.dismissed or None}
        if known.current is not None:
            extra.update(current=known.current.version, currentVersion=known.current.version,
                         currentFitness=known.current.fitness_score)
        better = better_version(known)
        extra["betterVersion"] = better.version if better else None
        return extra

    # -- commands -------------------------------------------------------------------------
    async def cmd_dismiss(self, *args: Any) -> dict[str, Any]:
        params = object_argument(COMMAND_DISMISS, args, "nodeId", "version")
        node_id, version = str(params["nodeId"]), version_argument(COMMAND_DISMISS, params)
        store = await self.ctx.store()
        try:
            await self.ctx.in_io(store.dismiss_version, node_id, version)
        except DiseError as exc:
            return self.ctx.refuse(str(exc), kind=lsp.MessageType.Error)
        await self.node_changed(node_id)
        return {"dismissed": True, "nodeId": node_id, "version": version}
