"""Better versions in the editor: the diagnostic on a function the optimiser improved (and the
"your tests fail" warning), the Accept/Dismiss quick fixes, and their commands.

``dise.acceptOptimized`` ``{"uri", "nodeId", "version"}``
    Replace the function with that version (the user's signature, decorators and docstring
    stay; imports it needs are added). Asks first when the function was edited.
``dise.dismissOptimized`` ``{"nodeId", "version"}``
    Keep the current version and stop offering that one (and older ones).

The lenses come from ``dise.lsp.offers`` (the lenses feature); hover adds ``hover_section``.
"""

from __future__ import annotations

from typing import Any, Sequence

from lsprotocol import types as lsp

from dise.engine.types import Artifact, DiseError
from dise.lsp.documents import (
    Region,
    all_regions,
    file_name,
    line_after_edits,
    qualified_name,
    region_hash,
    split_lines,
)
from dise.lsp.feature import Feature
from dise.lsp.features.known import KnownFunctions
from dise.lsp.features.optimizer import Optimizer
from dise.lsp.index import Known, known_from_store
from dise.lsp.offers import (
    DIAGNOSTIC_CODE,
    better_version,
    diagnostics_for,
    function_diff,
    make_diagnostic,
    placed,
    prepare_replacement,
)
from dise.lsp.protocol import (
    COMMAND_ACCEPT,
    COMMAND_DISMISS,
    kind_wanted,
    object_argument,
    supports,
    version_argument,
    workspace_edit,
)
from dise.lsp.render import accept_title, hover_section

#: Times a diagnostics refresh computes again when the document changed meanwhile.
REFRESH_ATTEMPTS = 3
#: Answers of the question asked before replacing a function the user edited.
REPLACE, SHOW_DIFF, KEEP = "Replace my edits", "Show diff", "Keep mine"


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
        return {COMMAND_ACCEPT: self.cmd_accept, COMMAND_DISMISS: self.cmd_dismiss}

    def _note_activity(self) -> None:
        optimizer = self.ctx.get_feature(Optimizer)
        if optimizer is not None:
            optimizer.note_activity()

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
                             optimizer.unavailable() if optimizer is not None else ())

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

    # -- quick fixes ----------------------------------------------------------------------
    def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        """Accept and Dismiss for the function at the range's start when a better version
        exists."""
        snap = self.ctx.snapshot(params.text_document.uri)
        if snap is None or not kind_wanted(params.context.only, lsp.CodeActionKind.QuickFix):
            return []
        match = self.known.known_at(snap, params.range.start.line)
        if match is None:
            return []
        known, edited, region = match
        better = better_version(known)
        if better is None:
            return []
        ours = [d for d in params.context.diagnostics or [] if d.code == DIAGNOSTIC_CODE]
        diagnostics = ours or [make_diagnostic(snap.lines, region, known, better)]
        args = {"uri": snap.uri, "nodeId": known.node_id, "version": better.version}
        accept: lsp.CodeAction | None = lsp.CodeAction(
            title=accept_title(better), kind=lsp.CodeActionKind.QuickFix,
            diagnostics=diagnostics, is_preferred=not edited,
            command=lsp.Command(title=accept_title(better), command=COMMAND_ACCEPT,
                                arguments=[args]))
        if edited and not self._can_ask():
            if not supports(self.ctx.client_capabilities, "text_document", "code_action",
                            "disabled_support"):
                accept = None
            else:
                accept.disabled = lsp.CodeActionDisabled(reason=(
                    f"You edited {known.name} since DiSE wrote it; compare with "
                    "“Show diff” and merge by hand."))
        dismiss = lsp.CodeAction(
            title="DiSE: Dismiss optimized version", kind=lsp.CodeActionKind.QuickFix,
            diagnostics=diagnostics,
            command=lsp.Command(title="DiSE: Dismiss optimized version",
                                command=COMMAND_DISMISS, arguments=[args]))
        return [a for a in (accept, dismiss) if a is not None]

    def _can_ask(self) -> bool:
        window = getattr(self.ctx.client_capabilities, "window", None)
        return getattr(window, "show_message", None) is not None

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

    async def cmd_accept(self, *args: Any) -> dict[str, Any]:
        self._note_activity()
        params = object_argument(COMMAND_ACCEPT, args, "uri", "nodeId", "version")
        uri, node_id = params["uri"], str(params["nodeId"])
        version = version_argument(COMMAND_ACCEPT, params)
        try:
            return await self._accept(uri, node_id, version)
        except DiseError as exc:
            return self.ctx.refuse(str(exc), kind=lsp.MessageType.Error)

    async def _accept(self, uri: str, node_id: str, version: int) -> dict[str, Any]:
        ctx = self.ctx
        snap = ctx.snapshot(uri)
        if snap is None:
            raise DiseError(f"{file_name(uri)} is not open in the editor; open it and accept "
                            "again.")
        store = await ctx.store(uri)      # the document's folder's store (usage counts)
        versions = await ctx.in_io(store.versions, node_id)
        chosen = next((v for v in versions if v.version == version), None)
        if chosen is None:
            raise DiseError(f"{node_id} has no version {version}; run `dise status "
                            f"{node_id}` to see its versions.")
        known = self.known.index.known_in(uri, node_id)
        region = self._region(uri, snap.lines, node_id, chosen.function_name)
        edited = known is None or region_hash(snap.lines, region) != known.content_hash
        if edited:
            answer = await self._ask_replace(chosen)
            if answer != REPLACE:
                if answer == SHOW_DIFF:
                    diff = function_diff(snap.lines, region, chosen.code, chosen.function_name)
                    ctx.log(lsp.MessageType.Info, diff)
                    return ctx.refuse(
                        f"Kept your {chosen.function_name}; the difference to v{version} is in "
                        "the DiSE log (“Show diff” in the lens opens it side by side).",
                        kind=lsp.MessageType.Info, diff=diff)
                return ctx.refuse(f"Kept your edited {chosen.function_name}; v{version} "
                                  "was not applied.", kind=lsp.MessageType.Info)
            snap = ctx.snapshot(uri)
            if snap is None:
                raise DiseError(f"{file_name(uri)} was closed; nothing was replaced.")
            region = self._region(uri, snap.lines, node_id, chosen.function_name)
        prepared = await ctx.in_parse(prepare_replacement, snap.source, chosen.function_name,
                                      region.start, chosen.code)
        now = ctx.snapshot(uri)
        if now is None or now.version != snap.version:
            raise DiseError(f"{file_name(uri)} changed while DiSE prepared v{version}; run the "
                            "quick fix again.")
        edit = workspace_edit(uri, now.version, now.codec, now.lines, prepared.edits,
                              supports(ctx.client_capabilities, "workspace", "workspace_edit",
                                       "document_changes"))
        applied, reason = await ctx.apply_edit(
            edit, f"DiSE: accept {chosen.function_name} v{version}")
        if not applied:
            raise DiseError(f"The editor did not apply v{version} of {chosen.function_name} "
                            f"({reason}); nothing was recorded as accepted. Run the quick "
                            "fix again.")
        new_lines = split_lines(prepared.new_source)
        qualname = qualified_name(snap.lines, region)
        where = placed(new_lines, chosen.function_name, qualname,
                       line_after_edits(prepared.edits, region.start))
        digest = region_hash(new_lines, where) if where else ""
        await self.known.record(uri, Known(node_id=node_id, name=chosen.function_name,
                                           content_hash=digest, artifact=chosen,
                                           qualname=qualname), store, used=True)
        ctx.refresh_code_lenses()
        return {"applied": True, "nodeId": node_id, "version": version,
                "fitness": chosen.fitness_score}

    def _region(self, uri: str, lines: Sequence[str], node_id: str, name: str) -> Region:
        """The function node ``node_id`` is in ``lines``, never a namesake's: found by the
        index (text, then qualified name); a node the index does not know is accepted only
        when the file has exactly one ``def`` of that name."""
        index = self.known.index
        if index.known_in(uri, node_id) is not None:
            region = index.region_of(uri, lines, node_id)
        else:
            regions = list(all_regions(lines, {name}))
            if len(regions) > 1:
                raise DiseError(f"{file_name(uri)} has {len(regions)} functions named {name} "
                                f"and DiSE cannot tell which one is {node_id}; nothing was "
                                "replaced.")
            region = regions[0] if regions else None
        if region is None:
            raise DiseError(f"{name} is not in {file_name(uri)} any more; nothing was "
                            "replaced.")
        return region

    async def _ask_replace(self, chosen: Artifact) -> str | None:
        """Ask before replacing a function the user edited; refuses when the client cannot."""
        if not self._can_ask():
            raise DiseError(f"You edited {chosen.function_name} since DiSE wrote it, so v"
                            f"{chosen.version} was not applied; compare them with “Show diff” "
                            "and merge by hand.")
        answer = await self.ctx.ask(lsp.ShowMessageRequestParams(
            type=lsp.MessageType.Warning,
            message=(f"You edited {chosen.function_name} since DiSE wrote it. Replace it "
                     f"with v{chosen.version} (fitness {chosen.fitness_score:.2f}) and lose "
                     "your edits?"),
            actions=[lsp.MessageActionItem(title=t) for t in (REPLACE, SHOW_DIFF, KEEP)]))
        return answer.title if answer is not None else None

