"""Phase 1 in the editor: "generate" code actions and ``dise.generate``.

``dise.generate`` ``{"uri", "line", "version"?, "name"?}``
    Generate the function for the stub whose ``def`` is on ``line`` (0-based) or the
    ``# dise:`` comment on ``line``; ``version`` is the document version the action was
    listed for and ``name`` the stub's name (both let the server find the stub again if the
    document changed). Reports ``$/progress`` (cancellable), inserts the function with
    ``workspace/applyEdit`` and returns ``{"applied", "nodeId", "artifactId", "fitness",
    "reason"?}`` once done.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from dise.errors import Cancelled, DiseError
from dise.types import Artifact, CancelToken, Request
from dise.lsp.context import Snapshot
from dise.lsp.documents import (
    file_name,
    line_after_edits,
    lsp_lines,
    qualified_name,
    region_by_name,
    region_hash,
    split_lines,
)
from dise.lsp.feature import Feature
from dise.lsp.features.known import KnownFunctions
from dise.lsp.features.optimizer import Optimizer
from dise.lsp.index import Known
from dise.lsp.offers import generate_arguments
from dise.lsp.progress import Progress
from dise.lsp.protocol import (
    ACTION_KIND,
    COMMAND_GENERATE,
    TITLE_TEXT_CHARS,
    detail,
    first_line,
    kind_wanted,
    line_argument,
    object_argument,
    supports,
    workspace_edit,
)
from dise.lsp.targets import PreparedEdit, Target, prepare_edit, targets_near

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One running generation, addressable by its progress token for cancellation."""

    token: str
    uri: str
    target: Target
    cancel: CancelToken = field(default_factory=CancelToken)


class Generate(Feature):
    """The actions, the command, and the running jobs."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.jobs: dict[str, Job] = {}

    def methods(self) -> dict[str, tuple[Any, Any]]:
        return {lsp.WINDOW_WORK_DONE_PROGRESS_CANCEL: (self.on_progress_cancel, None)}

    def commands(self) -> dict[str, Any]:
        return {COMMAND_GENERATE: self.cmd_generate}

    def shutdown(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel.cancel()

    close = shutdown

    def on_progress_cancel(self, params: lsp.WorkDoneProgressCancelParams) -> None:
        job = self.jobs.get(str(params.token))
        if job is not None:
            job.cancel.cancel()

    # -- actions --------------------------------------------------------------------------
    def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        """Instant: parses only the functions around the range (see ``targets_near``)."""
        snap = self.ctx.snapshot(params.text_document.uri)
        if snap is None or not kind_wanted(params.context.only):
            return []
        try:
            targets = targets_near(snap.lines, params.range.start.line, params.range.end.line,
                                   self.ctx.lsp_settings.action_range_lines)
        except Exception as exc:   # a parser failure must not cost the user the server
            self.ctx.log(lsp.MessageType.Warning, f"DiSE could not read {snap.uri}: "
                         f"{detail(exc)}")
            return []
        actions = []
        for target in targets:
            title = target.title(TITLE_TEXT_CHARS)
            actions.append(lsp.CodeAction(
                title=title, kind=ACTION_KIND,
                command=lsp.Command(title=title, command=COMMAND_GENERATE, arguments=[
                    generate_arguments(snap.uri, snap.version, target)])))
        return actions

    # -- the command ----------------------------------------------------------------------
    async def cmd_generate(self, *args: Any) -> dict[str, Any]:
        params = object_argument(COMMAND_GENERATE, args, "uri", "line")
        uri, line = params["uri"], line_argument(COMMAND_GENERATE, params)
        snap = self.ctx.snapshot(uri)
        if snap is None:
            return self.ctx.refuse(f"DiSE cannot generate in {uri}: the file is not open in "
                                   "the editor; open it and run the action again.")
        target = target_for(snap, line, params.get("name"),
                            same_version=params.get("version") in (None, snap.version))
        if target is None:
            return self.ctx.refuse(f"There is no stub or `# dise:` comment on line {line + 1} "
                                   f"of {file_name(uri)} any more; list the code actions again.")
        busy = [j for j in self.jobs.values() if j.uri == snap.uri
                and j.target.line == target.line and j.target.kind == target.kind]
        if busy:
            return self.ctx.refuse(f"DiSE is already generating {target.label}; wait for it "
                                   "or cancel it.", kind=lsp.MessageType.Info)
        return await self._generate(snap, target)

    def _request_for(self, snap: Snapshot, target: Target) -> Request:
        path = to_fs_path(snap.uri) or ""
        root = self.ctx.root_for(snap.uri)       # the document's folder, not the first one
        if target.kind == "stub":
            spec = target.found.spec
            return Request(text=spec.docstring or spec.name, spec=spec,
                           file_source=snap.source, file_path=path, workspace=root)
        return Request(text=target.text, file_source=snap.source, file_path=path,
                       workspace=root)

    async def _generate(self, snap: Snapshot, target: Target) -> dict[str, Any]:
        ctx = self.ctx
        job = Job(token=f"dise/generate/{uuid.uuid4().hex}", uri=snap.uri, target=target)
        request = self._request_for(snap, target)
        progress = ctx.progress(job.token)
        self.jobs[job.token] = job
        outcome = "failed"
        try:
            await progress.begin(f"DiSE: generating {target.label}", "starting…")
            engine = await ctx.engine(snap.uri)
            artifact = await self._run(engine, request, job, progress)
            if job.cancel.cancelled:
                outcome = "cancelled"
                return ctx.refuse(f"Generation of {target.label} was cancelled; the stored "
                                  f"result {artifact.artifact_id} was not inserted.",
                                  kind=lsp.MessageType.Info, cancelled=True,
                                  nodeId=artifact.node_id)
            progress.report("inserting…")
            result = await self._insert(snap.uri, target, artifact)
            outcome = (f"inserted {artifact.function_name} (fitness "
                       f"{artifact.fitness_score:.2f})" if result["applied"] else "not inserted")
            return result
        except asyncio.CancelledError:
            # The client cancelled the request, shut the server down or went away: the
            # engine stops (its cancel token) and nothing is inserted afterwards.
            job.cancel.cancel()
            outcome = "cancelled"
            self._say_cancelled(f"Generation of {target.label}")
            raise
        except Cancelled:
            outcome = "cancelled"
            return ctx.refuse(f"Generation of {target.label} was cancelled.",
                              kind=lsp.MessageType.Info, cancelled=True)
        except DiseError as exc:
            ctx.tell(lsp.MessageType.Error, str(exc), detail(exc))
            return {"applied": False, "reason": str(exc)}
        except Exception as exc:
            message = (f"DiSE failed while generating {target.label}: {type(exc).__name__}: "
                       f"{first_line(exc)}. The DiSE log has the details.")
            ctx.tell(lsp.MessageType.Error, message, detail(exc))
            return {"applied": False, "reason": message}
        finally:
            self.jobs.pop(job.token, None)
            progress.end(outcome)

    def _say_cancelled(self, what: str) -> None:
        """One line about work that a cancel ended: to the user, or to the log when the
        editor is gone (nothing can reach it any more)."""
        why = self.ctx.why_cancelled()
        if self.ctx.client_gone():
            log.warning("%s stopped: %s; nothing was inserted.", what, why)
        else:
            self.ctx.tell(lsp.MessageType.Info, f"{what} was cancelled ({why}); nothing was "
                          "inserted.")

    async def _run(self, engine: Any, request: Request, job: Job,
                   progress: Progress) -> Artifact:
        def on_progress(stage: str, message: str) -> None:   # called in the worker thread
            self.ctx.call_soon(progress.report, message)

        optimizer = self.ctx.get_feature(Optimizer)
        run = optimizer.run_interactive if optimizer is not None else _call
        future = self.ctx.submit_generation(run, engine.generate, request,
                                            progress=on_progress, cancel=job.cancel)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            job.cancel.cancel()
            raise

    # -- insertion ------------------------------------------------------------------------
    async def _insert(self, uri: str, target: Target, artifact: Artifact) -> dict[str, Any]:
        """Apply the function where the target is now; refuse if the target itself changed."""
        ctx = self.ctx
        done = {"nodeId": artifact.node_id, "artifactId": artifact.artifact_id,
                "fitness": artifact.fitness_score}
        for _ in range(ctx.lsp_settings.reanchor_attempts):
            snap = ctx.snapshot(uri)
            if snap is None:
                return ctx.refuse(
                    f"{file_name(uri)} was closed while DiSE generated {target.label}; it is "
                    f"stored as {artifact.artifact_id} (dise.showArtifact shows it).", **done)
            try:
                prepared = await ctx.in_parse(prepare_edit, snap.source, target, artifact.code,
                                              artifact.function_name)
            except DiseError as exc:
                return ctx.refuse(f"{exc} The result is stored as {artifact.artifact_id}.",
                                  **done)
            if prepared is None:
                return ctx.refuse(
                    f"{target.label} changed while DiSE was generating it, so nothing was "
                    f"written; the result is stored as {artifact.artifact_id}. Run the action "
                    "again to regenerate.", **done)
            now = ctx.snapshot(uri)
            if now is None or now.version != snap.version:
                continue  # the text moved on while the edit was prepared: look again
            # Once the edit is sent, its answer and the bookkeeping finish even if the
            # request is cancelled meanwhile: what the editor applied is what is recorded.
            applied, reason = await asyncio.shield(self._apply_and_remember(
                now, prepared, artifact))
            if not applied:
                return ctx.refuse(f"The editor did not apply {artifact.function_name} "
                                  f"({reason}); it is stored as {artifact.artifact_id} "
                                  "and nothing was recorded as inserted.", **done)
            return {"applied": True, **done}
        return ctx.refuse(f"{file_name(uri)} kept changing while DiSE inserted "
                          f"{artifact.function_name}; nothing was written. It is stored as "
                          f"{artifact.artifact_id}.", **done)

    async def _apply_and_remember(self, snap: Snapshot, prepared: PreparedEdit,
                                  artifact: Artifact) -> tuple[bool, str]:
        edit = workspace_edit(snap.uri, snap.version, snap.codec, lsp_lines(prepared.source),
                              prepared.edits, supports(self.ctx.client_capabilities, "workspace",
                                                       "workspace_edit", "document_changes"))
        applied, reason = await self.ctx.apply_edit(edit,
                                                    f"DiSE: generate {artifact.function_name}")
        if applied:
            await self._remember(snap.uri, prepared, artifact)
        return applied, reason

    async def _remember(self, uri: str, prepared: PreparedEdit, artifact: Artifact) -> None:
        """Record where the function went so hover knows it after edits, reopen and restart."""
        known_feature = self.ctx.get_feature(KnownFunctions)
        if known_feature is None:
            return
        lines = split_lines(prepared.new_source)
        region = region_by_name(lines, artifact.function_name,
                                near=line_after_edits(prepared.edits, prepared.target.line))
        digest = region_hash(lines, region) if region else ""
        qualname = qualified_name(lines, region) if region else ""
        known = Known(node_id=artifact.node_id, name=artifact.function_name,
                      content_hash=digest, artifact=artifact, versions=artifact.version,
                      qualname=qualname)
        try:
            store = await self.ctx.store(uri)
        except Exception as exc:
            known_feature.index.add(uri, known)
            self.ctx.log(lsp.MessageType.Warning,
                         f"DiSE could not record where {artifact.function_name} went: "
                         f"{detail(exc)}")
            return
        await known_feature.record(uri, known, store)


def target_for(snap: Snapshot, line: int, name: Any, same_version: bool) -> Target | None:
    """The target an action was listed for; by name when the document moved on.

    Parses only the function at hand, so the job (and its progress) starts at once; the
    whole file is parsed when the result is spliced in.
    """
    lines = snap.lines
    if same_version or not isinstance(name, str) or not name:
        found = [t for t in targets_near(lines, line, line, 0) if t.line == line]
        if found or not isinstance(name, str) or not name:
            return found[0] if found else None
    region = region_by_name(lines, name, near=line)
    if region is None:
        return None
    found = [t for t in targets_near(lines, region.start, region.start, 0)
             if t.kind == "stub" and t.name == name]
    return found[0] if found else None


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)

