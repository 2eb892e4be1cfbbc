"""Hover on a generated function: its fitness, tests, versions, "edited since generated", and
the better version when there is one (``BetterVersion.hover_section``)."""

from __future__ import annotations

from typing import Any

from lsprotocol import types as lsp

from dise.lsp.feature import Feature
from dise.lsp.features.better_version import BetterVersion
from dise.lsp.features.known import KnownFunctions
from dise.lsp.hover import hover_markdown
from dise.lsp.offers import better_version
from dise.lsp.protocol import client_range, markup_kind


class Hover(Feature):
    def methods(self) -> dict[str, tuple[Any, Any]]:
        return {lsp.TEXT_DOCUMENT_HOVER: (self.on_hover, None)}

    async def on_hover(self, params: lsp.HoverParams) -> lsp.Hover | None:
        uri = params.text_document.uri
        known_feature = self.ctx.get_feature(KnownFunctions)
        if known_feature is None or self.ctx.snapshot(uri) is None:
            return None
        if not known_feature.index.loaded(uri):
            await known_feature.wait_loaded(uri)
        snap = self.ctx.snapshot(uri)
        match = known_feature.known_at(snap, params.position.line) if snap else None
        if match is None:
            return None
        known, edited, region = match
        shown = known.current if better_version(known) else known.artifact
        value = hover_markdown(shown or known.artifact, queue_position=known.queue_position,
                               optimise_below=optimise_below(self.ctx), edited=edited,
                               versions=known.versions)
        better = self.ctx.get_feature(BetterVersion)
        if better is not None:
            value += better.hover_section(known)
        lines = snap.lines
        end_char = len(lines[region.end].rstrip("\r\n"))
        return lsp.Hover(contents=lsp.MarkupContent(kind=markup_kind(
            self.ctx.client_capabilities), value=value),
            range=client_range(snap.codec, lines, region.start, 0, region.end, end_char))


def optimise_below(ctx: Any) -> float:
    """The fitness under which a function is queued for Phase 2 (the hover says so)."""
    return ctx.settings.config.pipeline.optimise_below if ctx.settings else 0.8
