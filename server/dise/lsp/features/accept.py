"""Accept a better version: the quick fixes on a function with a better version (Accept,
Dismiss), ``codeAction/resolve`` and ``dise.acceptOptimized``.

``dise.acceptOptimized`` ``{"uri", "nodeId", "version", "applied"?}``
    Replace the function with that version (the user's signature, decorators and docstring
    stay; imports it needs are added). Asks first when the function was edited. With
    ``applied`` (``{"digest", "qualname"}``, set by ``codeAction/resolve``) the editor already
    applied the edit: the server checks the file holds that text and records the acceptance.

A resolved Accept is also recorded by the document change that brings its text, in case the
editor lost its command (``lsp.pending_accepts``); a later command records nothing twice.

A client whose ``codeAction.resolveSupport`` lists ``edit`` gets Accept on an unedited function
as a ``codeAction/resolve`` edit (after ruff-lsp's ``resolve_code_action``): the editor applies
it itself, as one undo step and against the document version it was computed for, then runs
the command with ``applied``. Edited functions (the user is asked first) and other clients use
the command, which sends ``workspace/applyEdit``; so does every client when the server runs
with ``DISE_CODE_ACTION_RESOLVE=0``.
"""

from __future__ import annotations

from typing import Any, Sequence

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from dise.errors import DiseError
from dise.types import Artifact
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
from dise.lsp.index import Known
from dise.lsp.offers import (
    DIAGNOSTIC_CODE,
    better_version,
    function_diff,
    make_diagnostic,
    placed,
    prepare_replacement,
)
from dise.lsp.pending_accepts import PendingAccepts, holds
from dise.lsp.protocol import (
    COMMAND_ACCEPT,
    COMMAND_DISMISS,
    kind_wanted,
    object_argument,
    resolve_enabled,
    supports,
    version_argument,
    workspace_edit,
)
from dise.lsp.render import accept_title

#: Answers of the question asked before replacing a function the user edited.
REPLACE, SHOW_DIFF, KEEP = "Replace my edits", "Show diff", "Keep mine"


class Accept(Feature):
    """The quick fixes and the Accept command (Dismiss is ``BetterVersion``'s)."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.pending = PendingAccepts()

    @property
    def known(self) -> KnownFunctions:
        found = self.ctx.get_feature(KnownFunctions)
        assert found is not None, "Accept needs the KnownFunctions feature"
        return found

    def commands(self) -> dict[str, Any]:
        return {COMMAND_ACCEPT: self.cmd_accept}

    def methods(self) -> dict[str, tuple[Any, Any]]:
        return {lsp.CODE_ACTION_RESOLVE: (self.on_resolve, None)}

    def _note_activity(self) -> None:
        optimizer = self.ctx.get_feature(Optimizer)
        if optimizer is not None:
            optimizer.note_activity()

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
        if not edited and self._resolves_edits():
            accept.data = {"dise": "accept", **args}     # codeAction/resolve adds the edit
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

    def _resolves_edits(self) -> bool:
        if not resolve_enabled():
            return False
        caps = self.ctx.client_capabilities
        support = getattr(getattr(getattr(caps, "text_document", None), "code_action", None),
                          "resolve_support", None)
        return "edit" in (getattr(support, "properties", None) or [])

    def _can_ask(self) -> bool:
        window = getattr(self.ctx.client_capabilities, "window", None)
        return getattr(window, "show_message", None) is not None

    # -- codeAction/resolve ---------------------------------------------------------------
    async def on_resolve(self, action: lsp.CodeAction) -> lsp.CodeAction:
        """Accept as an edit plus its recording command; any other action, or an Accept that
        cannot be resolved now (the function was edited, the document moved on), comes back
        unchanged and its command does the work."""
        data = action.data if isinstance(action.data, dict) else {}
        if data.get("dise") != "accept":
            return action
        try:
            resolved = await self._resolve_accept(str(data["uri"]), str(data["nodeId"]),
                                                  int(data["version"]))
        except (DiseError, KeyError, TypeError, ValueError) as exc:
            self.ctx.log(lsp.MessageType.Info, f"DiSE leaves Accept to its command: {exc}")
            return action
        if resolved is not None:
            action.edit, args, name = resolved
            action.command = lsp.Command(title=action.title, command=COMMAND_ACCEPT,
                                         arguments=[args])
            self.pending.add(args["uri"], name, args)
        return action

    # -- a resolved Accept confirmed by the document change that applies it -------------
    def did_change(self, uri: str) -> None:
        if self.pending.any_in(uri):
            self.ctx.run_task(self._confirm_pending(uri))

    def did_close(self, uri: str) -> None:
        self.pending.close(uri)

    async def _confirm_pending(self, uri: str) -> None:
        """Record each resolved Accept whose text the document now holds; drop expired ones.
        The file is scanned in the parse thread; the store is read only for a match."""
        waiting = self.pending.waiting(uri)
        snap = self.ctx.snapshot(uri)
        if not waiting or snap is None:
            return
        for name, args in waiting:
            try:
                if not await self.ctx.in_parse(holds, snap.lines, name,
                                               args["applied"]["digest"]):
                    continue
                store = await self.ctx.store(uri)
                chosen = await self._chosen(store, str(args["nodeId"]), int(args["version"]))
                await self._record(uri, args, chosen, store)
            except (DiseError, KeyError, TypeError, ValueError) as exc:
                self.pending.forget(uri, args)
                self.ctx.log(lsp.MessageType.Info,
                             f"DiSE could not confirm an accepted version: {exc}")

    async def _record(self, uri: str, args: dict[str, Any], chosen: Artifact,
                      store: Any) -> None:
        """Record a resolved Accept once (the change or the command, whichever comes first)."""
        if self.pending.recorded(uri, args):
            return
        self.pending.mark_recorded(uri, args)
        applied = args["applied"]
        await self.known.record(uri, Known(node_id=str(args["nodeId"]),
                                           name=chosen.function_name,
                                           content_hash=applied["digest"], artifact=chosen,
                                           qualname=str(applied.get("qualname") or "")),
                                store, used=True)
        self.ctx.refresh_code_lenses()

    async def _resolve_accept(self, uri: str, node_id: str,
                              version: int
                              ) -> tuple[lsp.WorkspaceEdit, dict[str, Any], str] | None:
        """The versioned edit, the recording command's arguments and the function's name;
        None when the command must do it (edited function, document moved on)."""
        snap = self.ctx.snapshot(uri)
        if snap is None:
            return None
        chosen = await self._chosen(await self.ctx.store(uri), node_id, version)
        known = self.known.index.known_in(uri, node_id)
        region = self._region(uri, snap.lines, node_id, chosen.function_name)
        if known is None or region_hash(snap.lines, region) != known.content_hash:
            return None                   # edited: the command asks the user first
        prepared = await self.ctx.in_parse(prepare_replacement, snap.source,
                                           chosen.function_name, region.start, chosen.code)
        now = self.ctx.snapshot(uri)
        if now is None or now.version != snap.version:
            return None
        new_lines = split_lines(prepared.new_source)
        qualname = qualified_name(snap.lines, region)
        where = placed(new_lines, chosen.function_name, qualname,
                       line_after_edits(prepared.edits, region.start))
        if where is None:
            return None
        edit = workspace_edit(uri, snap.version, snap.codec, snap.lines, prepared.edits,
                              supports(self.ctx.client_capabilities, "workspace",
                                       "workspace_edit", "document_changes"))
        applied = {"digest": region_hash(new_lines, where), "qualname": qualname}
        return edit, {"uri": uri, "nodeId": node_id, "version": version,
                      "applied": applied}, chosen.function_name

    async def _record_applied(self, uri: str, node_id: str, version: int,
                              applied: Any) -> dict[str, Any]:
        """After the editor applied a resolved Accept: record it, when the file holds that
        version's text (the editor may have refused the edit, or the user changed it since)."""
        if not isinstance(applied, dict) or not isinstance(applied.get("digest"), str):
            raise JsonRpcInvalidParams.of(ValueError(
                f'{COMMAND_ACCEPT}: applied must be {{"digest", "qualname"}}'))
        snap = self.ctx.snapshot(uri)
        if snap is None:
            raise DiseError(f"{file_name(uri)} is not open in the editor; nothing was recorded "
                            "as accepted.")
        store = await self.ctx.store(uri)
        chosen = await self._chosen(store, node_id, version)
        args = {"uri": uri, "nodeId": node_id, "version": version, "applied": applied}
        done = {"applied": True, "nodeId": node_id, "version": version,
                "fitness": chosen.fitness_score}
        if self.pending.recorded(uri, args):     # the document change recorded it first
            return done
        if not await self.ctx.in_parse(holds, snap.lines, chosen.function_name,
                                       applied["digest"]):
            raise DiseError(f"v{version} of {chosen.function_name} is not in {file_name(uri)} "
                            "(the editor did not apply it, or it changed since); nothing was "
                            "recorded as accepted. Run the quick fix again.")
        await self._record(uri, args, chosen, store)
        return done

    async def _chosen(self, store: Any, node_id: str, version: int) -> Artifact:
        versions = await self.ctx.in_io(store.versions, node_id)
        chosen = next((v for v in versions if v.version == version), None)
        if chosen is None:
            raise DiseError(f"{node_id} has no version {version}; run `dise status "
                            f"{node_id}` to see its versions.")
        return chosen

    # -- the command ----------------------------------------------------------------------
    async def cmd_accept(self, *args: Any) -> dict[str, Any]:
        self._note_activity()
        params = object_argument(COMMAND_ACCEPT, args, "uri", "nodeId", "version")
        uri, node_id = params["uri"], str(params["nodeId"])
        version = version_argument(COMMAND_ACCEPT, params)
        try:
            if "applied" in params:
                return await self._record_applied(uri, node_id, version, params["applied"])
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
        chosen = await self._chosen(store, node_id, version)
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
