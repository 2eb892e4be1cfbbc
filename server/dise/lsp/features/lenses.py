"""Code lenses: "generate" above each stub and ``# dise:`` comment, and above each generated
function its fitness and version (plus Accept / Show diff when a better version exists).

The document's stubs are found once per version in the parse thread (``targets_near`` over
the whole text, function by function, so after an edit only changed functions are parsed
again); the lenses are kept per (version, index state) and computed again only when either
changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types as lsp

from dise.lsp.context import Snapshot
from dise.lsp.feature import Feature
from dise.lsp.features.known import KnownFunctions
from dise.lsp.offers import function_lenses, generate_lens
from dise.lsp.protocol import detail
from dise.lsp.targets import Target, targets_near


class Lenses(Feature):
    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._scans: dict[str, tuple[int | None, asyncio.Future]] = {}
        self._lenses: dict[str, tuple[tuple, list[lsp.CodeLens]]] = {}

    def methods(self) -> dict[str, tuple[Any, Any]]:
        return {lsp.TEXT_DOCUMENT_CODE_LENS: (self.on_code_lens,
                                              lsp.CodeLensOptions(resolve_provider=False))}

    def did_close(self, uri: str) -> None:
        self._lenses.pop(uri, None)
        scan = self._scans.pop(uri, None)
        if scan:
            scan[1].cancel()

    async def on_code_lens(self, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        snap = self.ctx.snapshot(params.text_document.uri)
        if snap is None or len(snap.source) > self.ctx.lsp_settings.max_scan_chars:
            return []
        known_feature = self.ctx.get_feature(KnownFunctions)
        entries = known_feature.index.entries(snap.uri) if known_feature else None
        known = sorted(entries.by_node.values(),
                       key=lambda k: (k.name, k.node_id)) if entries else []
        key = (snap.version, tuple((k.node_id, k.artifact.version, k.queue_position,
                                    k.current.version if k.current else None, k.dismissed,
                                    k.content_hash, k.qualname) for k in known))
        cached = self._lenses.get(snap.uri)
        if cached and cached[0] == key:
            return cached[1]
        lenses = [generate_lens(snap.uri, snap.version, target)
                  for target in await self._targets(snap)]
        if known:
            lenses += await self.ctx.in_parse(function_lenses, snap.source, known, snap.uri)
        self._lenses[snap.uri] = (key, lenses)
        return lenses

    async def _targets(self, snap: Snapshot) -> list[Target]:
        """Stubs and ``# dise:`` comments of this document version, found once, off the loop."""
        cached = self._scans.get(snap.uri)
        if cached and cached[0] == snap.version and not cached[1].cancelled():
            future = cached[1]
        else:
            if cached:
                cached[1].cancel()   # an older version nobody needs any more
            lines = snap.lines
            future = asyncio.ensure_future(self.ctx.in_parse(targets_near, lines, 0,
                                                             len(lines) - 1, len(lines)))
            self._scans[snap.uri] = (snap.version, future)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                return []
            raise
        except Exception as exc:
            self.ctx.log(lsp.MessageType.Warning, f"DiSE could not scan {snap.uri}: "
                         f"{detail(exc)}")
            return []
