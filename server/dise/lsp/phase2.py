"""Phase 2 in the editor: the background optimiser inside ``dise serve`` and the better-version
surfaces it feeds (diagnostic, code lenses, hover, quick fixes, ``$/progress``).

The optimiser calls back from its own thread; every callback hops onto the event loop, where
one task handles the events in order (progress needs ``window/workDoneProgress/create``
answered before ``begin``). The pure pieces (what counts as a better version, the texts, the
splice) are module functions so they run in worker threads and are tested alone.

Commands (``workspace/executeCommand``), each taking one JSON object argument:

``dise.optimize`` ``{"uri", "line"}`` | ``{"uri"}`` | ``{"nodeId"}`` | ``{"all": true}``
    Queue the function there, every DiSE function of the file, one node, or all, as a manual
    request (runs now, not when idle); returns ``{"queued", "message"}`` at once.
``dise.acceptOptimized`` ``{"uri", "nodeId", "version"}``
    Replace the function with that version (the user's signature, decorators and docstring
    stay; imports it needs are added). Asks first when the function was edited.
``dise.dismissOptimized`` ``{"nodeId", "version"}``
    Keep the current version and stop offering that one (and older ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from dise.engine.types import Artifact, DiseError
from dise.lsp.documents import (
    Region,
    all_regions,
    edits_in_code_points,
    enclosing_regions,
    file_name,
    line_after_edits,
    qualified_name,
    region_hash,
    split_lines,
)
from dise.lsp.hover import format_latency, percent, tests_line
from dise.lsp.index import Known, known_from_store, locate
from dise.lsp.verdicts import failing_tests_diagnostics

if TYPE_CHECKING:
    from dise.lsp.server import DiseServer

log = logging.getLogger(__name__)

COMMAND_OPTIMIZE = "dise.optimize"
COMMAND_ACCEPT = "dise.acceptOptimized"
COMMAND_DISMISS = "dise.dismissOptimized"
COMMANDS = (COMMAND_OPTIMIZE, COMMAND_ACCEPT, COMMAND_DISMISS)
#: Client-side command (the VS Code extension registers it) the "Show diff" lens runs.
CLIENT_SHOW_DIFF = "dise.showOptimizedDiff"
#: Server command the first lens runs (shows the better version).
COMMAND_SHOW = "dise.showArtifact"
STATE_NOTIFICATION = "dise/optimizerState"
DIAGNOSTIC_SOURCE = "dise"
DIAGNOSTIC_CODE = "better-version"
MANUAL_REASON = "manual: editor"
#: Times a diagnostics refresh computes again when the document changed meanwhile.
REFRESH_ATTEMPTS = 3
#: Answers of the question asked before replacing a function the user edited.
REPLACE, SHOW_DIFF, KEEP = "Replace my edits", "Show diff", "Keep mine"


# -- what is better, and how it is said -----------------------------------------------------
def better_version(known: Known) -> Artifact | None:
    """The newer version to offer for a function in a file, or None.

    Offered when the store knows which version is in the file, a newer one scores higher, and
    the user did not dismiss it.
    """
    current, latest = known.current, known.artifact
    if current is None or latest.version <= current.version or latest.version <= known.dismissed:
        return None
    if latest.fitness_score <= current.fitness_score:
        return None
    return latest


def diagnostic_message(current: Artifact, better: Artifact) -> str:
    return (f"Better version available: fitness {current.fitness_score:.2f} → "
            f"{better.fitness_score:.2f} (v{better.version}, {better.generator_used} @ "
            f"{better.temperature:g})")


def lens_title(current: Artifact, better: Artifact) -> str:
    return f"⚡ Better version available {current.fitness_score:.2f} → {better.fitness_score:.2f}"


def accept_title(better: Artifact) -> str:
    return f"DiSE: Accept optimized version (v{better.version})"


def _zero_range(line: int) -> lsp.Range:
    return lsp.Range(start=lsp.Position(line=line, character=0),
                     end=lsp.Position(line=line, character=0))


def def_line_range(lines: Sequence[str], region: Region) -> lsp.Range:
    """The ``def`` line without its ending (code points; ASCII in practice for a def)."""
    text = lines[region.start].rstrip("\r\n")
    start = len(text) - len(text.lstrip())
    return lsp.Range(start=lsp.Position(line=region.start, character=start),
                     end=lsp.Position(line=region.start, character=len(text)))


def make_diagnostic(lines: Sequence[str], region: Region, known: Known,
                    better: Artifact) -> lsp.Diagnostic:
    assert known.current is not None
    return lsp.Diagnostic(
        range=def_line_range(lines, region), severity=lsp.DiagnosticSeverity.Information,
        source=DIAGNOSTIC_SOURCE, code=DIAGNOSTIC_CODE,
        message=diagnostic_message(known.current, better),
        data={"nodeId": known.node_id, "version": better.version,
              "from": known.current.version})


def better_lenses(uri: str, region: Region, known: Known, better: Artifact) -> list[lsp.CodeLens]:
    """Three lenses above the function: what is better, Accept, Show diff."""
    assert known.current is not None
    where = _zero_range(region.start)
    return [
        lsp.CodeLens(range=where, command=lsp.Command(
            title=lens_title(known.current, better), command=COMMAND_SHOW,
            arguments=[{"nodeId": known.node_id, "version": better.version}])),
        lsp.CodeLens(range=where, command=lsp.Command(
            title="Accept", command=COMMAND_ACCEPT,
            arguments=[{"uri": uri, "nodeId": known.node_id, "version": better.version}])),
        lsp.CodeLens(range=where, command=lsp.Command(
            title="Show diff", command=CLIENT_SHOW_DIFF,
            arguments=[{"nodeId": known.node_id, "from": known.current.version,
                        "to": better.version}])),
    ]


def offers(source: str, known: Sequence[Known]) -> list[tuple[Region, Known, Artifact]]:
    """Functions of ``source`` with a better version: one pass over the file (a worker)."""
    if not any(better_version(k) is not None for k in known):
        return []
    lines = split_lines(source)
    where = locate(lines, known)      # each node's own def, never a namesake's
    found = []
    for item in known:
        region = where.get(item.node_id)
        better = better_version(item)
        if region is not None and better is not None:
            found.append((region, item, better))
    return found


def diagnostics_for(source: str, known: Sequence[Known]) -> list[lsp.Diagnostic]:
    """Better-version offers and "your tests fail" warnings (``dise.lsp.verdicts``)."""
    lines = split_lines(source)
    return [make_diagnostic(lines, region, item, better)
            for region, item, better in offers(source, known)] + \
        failing_tests_diagnostics(source, known)


def unavailable_hover(unavailable: Sequence[dict[str, Any]]) -> str:
    """A hover line naming the generators Phase 2 cannot use and how to add them ("" when
    it can use every one)."""
    if not unavailable:
        return ""
    parts = []
    for u in unavailable:
        how = f" (`{u['how']}`)" if u.get("how") else ""
        why = "not installed" if "not installed" in str(u.get("reason")) else u.get("reason")
        parts.append(f"{u.get('generator')}: {why}{how}")
    return "\n\n- Phase 2 cannot use " + "; ".join(parts)


def hover_section(known: Known, unavailable: Sequence[dict[str, Any]] = (),
                  failed: dict[str, Any] | None = None) -> str:
    """Hover lines comparing the version in the file with the better one, the generators
    Phase 2 cannot use (``Optimizer.state()["unavailable"]``) and the setups that failed for
    the function's task type (``failed``: its ``failed_setups``); "" when there is none."""
    from dise.optimize import failures
    shown = known.current or known.artifact
    task_type = getattr(shown, "task_type", "") or ""
    line = failures.describe(task_type, (failed or {}).get(task_type) or [])
    unavailable_text = unavailable_hover(unavailable) + (f"\n\n- {line}" if line else "")
    better = better_version(known)
    if better is None or known.current is None:
        return unavailable_text
    rows = [("version in the file", known.current), ("better version", better)]
    lines = ["", "---", "", f"**{diagnostic_message(known.current, better)}**", "",
             "| | version | fitness | quality | latency | coverage | tests |",
             "|---|---|---|---|---|---|---|"]
    for label, a in rows:
        coverage = percent(a.coverage)
        lines.append(f"| {label} | v{a.version} | {a.fitness_score:.2f} | "
                     f"{a.quality_score:.2f} | {format_latency(a.latency)} | {coverage} | "
                     f"{tests_line(a)} |")
    lines += ["", f"- better version: {better.generator_used} · {better.model} · temperature "
              f"{better.temperature:g} · parent {better.parent or '–'}",
              "- quick fix: “" + accept_title(better) + "”"]
    return "\n".join(lines) + unavailable_text


@dataclass
class Replacement:
    """Edits (lines and code points of ``source``) that put a version into a function."""

    source: str
    new_source: str
    edits: list[tuple[int, int, int, int, str]]
    target: Any = None


def prepare_replacement(source: str, name: str, line: int, code: str) -> Replacement:
    """``dise.engine.stubs.replace_function`` as edits the server can send (a worker)."""
    from dise.engine import stubs

    result = stubs.replace_function(source, name, code, line=line)
    return Replacement(source=source, new_source=result.new_source,
                       edits=edits_in_code_points(source, result.edits))


def function_diff(lines: Sequence[str], region: Region, code: str, name: str) -> str:
    """A unified diff of the user's function against a stored version."""
    return "".join(difflib.unified_diff(
        split_lines(region.text(lines)), split_lines(code),
        fromfile=f"{name} (in the file)", tofile=f"{name} (optimised)"))


# -- the optimiser inside the server --------------------------------------------------------
class Phase2:
    """Owns the server's optimiser and its surfaces; handlers call in on the event loop."""

    def __init__(self, server: "DiseServer") -> None:
        self.server = server
        self.optimizer: Any = None
        self._engine: Any = None
        self._unsubscribe: Any = None
        self._lock = threading.Lock()
        self._events: asyncio.Queue | None = None
        self._pump: asyncio.Task | None = None
        self._progress: dict[str, str] = {}       # node -> progress token
        self._published: dict[str, list] = {}     # uri -> diagnostics last sent
        self._refreshing: set[str] = set()

    # -- lifecycle (attach and stop run in worker threads) --------------------------------
    def attach(self, engine: Any) -> None:
        """A new engine: stop the old optimiser and start one over it (when enabled)."""
        with self._lock:
            if engine is self._engine:
                return
            old, unsubscribe = self.optimizer, self._unsubscribe
            self._engine, self.optimizer, self._unsubscribe = engine, None, None
        if unsubscribe:
            unsubscribe()
        if old is not None:
            old.stop(self.server.lsp_settings.shutdown_grace_s)
        cfg = getattr(engine, "cfg", None)
        if cfg is None or not cfg.optimize.enabled:
            return
        from dise.optimize import Optimizer

        optimizer = Optimizer(engine)
        with self._lock:
            if self._engine is not engine:
                return
            self.optimizer = optimizer
            self._unsubscribe = optimizer.subscribe(self._on_event)
        optimizer.start()

    def unavailable(self) -> list[dict[str, Any]]:
        """Generators Phase 2 cannot use now (as the optimiser last checked; cheap)."""
        optimizer = self.optimizer
        return list(optimizer.triggers.unavailable) if optimizer is not None else []

    def failed_setups(self) -> dict[str, list[dict[str, Any]]]:
        """Setups that failed per task type (as the optimiser last read them; cheap)."""
        optimizer = self.optimizer
        return dict(optimizer._failed or {}) if optimizer is not None else {}

    def shutdown(self) -> None:
        """Ask the optimiser to stop without waiting (its state stays in the store)."""
        optimizer = self.optimizer
        if optimizer is not None:
            threading.Thread(target=optimizer.stop,
                             args=(self.server.lsp_settings.shutdown_grace_s,),
                             name="dise-optimizer-stop", daemon=True).start()

    def close(self) -> None:
        optimizer = self.optimizer
        if optimizer is not None:
            optimizer.stop(self.server.lsp_settings.shutdown_grace_s)

    @contextlib.contextmanager
    def interactive(self) -> Iterator[None]:
        optimizer = self.optimizer
        if optimizer is None:
            yield
            return
        with optimizer.interactive():
            yield

    def run_interactive(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` (a Phase 1 request, in a worker) with the experiments held."""
        with self.interactive():
            return fn(*args, **kwargs)

    def note_activity(self) -> None:
        optimizer = self.optimizer
        if optimizer is not None:
            optimizer.note_activity()

    # -- events ---------------------------------------------------------------------------
    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        """In the optimiser thread: hand the event to the loop."""
        self.server._from_thread(self._enqueue, event, dict(data))

    def _enqueue(self, event: str, data: dict[str, Any]) -> None:
        if self._events is None:
            self._events = asyncio.Queue()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._drain())
        self._events.put_nowait((event, data))

    async def _drain(self) -> None:
        assert self._events is not None
        while True:
            event, data = await self._events.get()
            try:
                await self._handle(event, data)
            except Exception as exc:
                self.server.log(lsp.MessageType.Warning,
                                f"DiSE could not show the optimiser's {event}: {exc!r}")

    async def _handle(self, event: str, data: dict[str, Any]) -> None:
        if event == "progress":
            await self._report_progress(data)
        elif event == "improved":
            await self.node_changed(str(data.get("node_id")))
        elif event == "idle":
            for node in list(self._progress):
                self._end_progress(node, "done")
        elif event == "error":
            for node in list(self._progress):
                self._end_progress(node, "failed")
            self.server.log(lsp.MessageType.Error,
                            f"DiSE's optimiser failed and will retry: {data.get('message')} "
                            "(the server's stderr log has the traceback)")
        await self._send_state()

    async def _send_state(self) -> None:
        optimizer = self.optimizer
        if optimizer is None:
            return
        state = await self.server._in_worker(self.server._io_pool, optimizer.state)
        self.server.protocol.notify(STATE_NOTIFICATION, {
            **{key: state.get(key) for key in ("state", "node", "done", "total", "best",
                                               "queue", "message", "unavailable", "error")},
            "failedSetups": state.get("failed_setups") or {}})

    # -- $/progress -----------------------------------------------------------------------
    def _progress_enabled(self) -> bool:
        caps = self.server.client_capabilities
        return bool(getattr(getattr(caps, "window", None), "work_done_progress", False))

    async def _report_progress(self, data: dict[str, Any]) -> None:
        node = str(data.get("node") or "")
        if not node or not self._progress_enabled():
            return
        message = str(data.get("message") or f"Optimising {node}")
        done, total = data.get("done") or 0, data.get("total") or 0
        percentage = int(100 * done / total) if total else None
        progress = self.server.work_done_progress
        token = self._progress.get(node)
        if token is None:
            token = f"dise/optimize/{uuid.uuid4().hex}"
            try:
                await progress.create_async(token)
            except Exception as exc:
                log.info("progress refused by the client: %s", exc)
                return
            self._progress[node] = token
            progress.begin(token, lsp.WorkDoneProgressBegin(
                title=f"DiSE: optimising {node}", message=message, percentage=percentage,
                cancellable=False))
        else:
            progress.report(token, lsp.WorkDoneProgressReport(message=message,
                                                              percentage=percentage))
        if data.get("finished"):
            self._end_progress(node, message)

    def _end_progress(self, node: str, message: str) -> None:
        token = self._progress.pop(node, None)
        if token is not None:
            self.server.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=message))
            self.server.work_done_progress.tokens.pop(token, None)

    # -- better-version surfaces ----------------------------------------------------------
    def _uris_with(self, node_id: str) -> list[str]:
        uris = []
        for uri in list(self.server.workspace.text_documents):
            entries = self.server.index.entries(uri)
            if entries and any(k.node_id == node_id for k in entries.all()):
                uris.append(uri)
        return uris

    async def node_changed(self, node_id: str) -> None:
        """A node got a version (or was accepted or dismissed): refresh where it is shown."""
        store = await self.server.store()
        known = await self.server._in_worker(self.server._io_pool, known_from_store, store,
                                             node_id)
        if known is None:
            return
        self.server.index.update_node(known)
        uris = self._uris_with(node_id)
        for uri in uris:
            self.server._lenses.pop(uri, None)
            await self.refresh(uri)
        if uris:
            self.refresh_lenses()

    def refresh_lenses(self) -> None:
        caps = self.server.client_capabilities
        workspace = getattr(caps, "workspace", None)
        if getattr(getattr(workspace, "code_lens", None), "refresh_support", False):
            self.server.workspace_code_lens_refresh(None)

    def schedule_refresh(self, uri: str) -> None:
        """After an edit: refresh the diagnostics of a file that shows some (coalesced)."""
        if not self._published.get(uri) or uri in self._refreshing:
            return
        self._refreshing.add(uri)
        task = asyncio.ensure_future(self.refresh(uri))
        task.add_done_callback(lambda _t: self._refreshing.discard(uri))

    async def refresh(self, uri: str) -> None:
        """Publish the better-version diagnostics of an open document (only when they change).

        They are published with the version of the text they were computed from; when the
        document changed meanwhile they are computed again (edits during a refresh are
        coalesced into it), up to ``REFRESH_ATTEMPTS`` times, and never sent for a later
        version than they describe.
        """
        for _ in range(REFRESH_ATTEMPTS):
            doc = self.server._document(uri)
            if doc is None:
                return
            source, version = doc.source, doc.version
            entries = self.server.index.entries(uri)
            known = list(entries.by_node.values()) if entries else []
            diagnostics = await self.server._in_worker(self.server._parse_pool, diagnostics_for,
                                                       source, known) if known else []
            doc = self.server._document(uri)
            if doc is None:
                return
            if doc.version == version:
                break
        if not diagnostics and not self._published.get(uri):
            return
        self._published[uri] = diagnostics
        self.server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics, version=version))

    def forget(self, uri: str) -> None:
        self._published.pop(uri, None)

    def known_for(self, node_id: str) -> Known | None:
        for uri in list(self.server.workspace.text_documents):
            known = self.server.index.known_in(uri, node_id)
            if known is not None:
                return known
        return None

    # -- code actions ---------------------------------------------------------------------
    def code_actions(self, doc: Any, line: int,
                     context: lsp.CodeActionContext) -> list[lsp.CodeAction]:
        """Accept and Dismiss for the function at ``line`` when a better version exists."""
        lines = self.server._lines(doc)
        for region in enclosing_regions(lines, line):
            found = self.server.index.match(doc.uri, lines, region)
            if not found:
                continue
            known, edited = found
            better = better_version(known)
            if better is None:
                return []
            ours = [d for d in context.diagnostics or [] if d.code == DIAGNOSTIC_CODE]
            diagnostics = ours or [make_diagnostic(lines, region, known, better)]
            args = {"uri": doc.uri, "nodeId": known.node_id, "version": better.version}
            accept = lsp.CodeAction(
                title=accept_title(better), kind=lsp.CodeActionKind.QuickFix,
                diagnostics=diagnostics, is_preferred=not edited,
                command=lsp.Command(title=accept_title(better), command=COMMAND_ACCEPT,
                                    arguments=[args]))
            if edited and not self._can_ask():
                if not self._supports_disabled():
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
        return []

    def _can_ask(self) -> bool:
        window = getattr(self.server.client_capabilities, "window", None)
        return getattr(window, "show_message", None) is not None

    def _supports_disabled(self) -> bool:
        text = getattr(self.server.client_capabilities, "text_document", None)
        return bool(getattr(getattr(text, "code_action", None), "disabled_support", False))

    # -- commands -------------------------------------------------------------------------
    async def cmd_optimize(self, *args: Any) -> dict[str, Any]:
        self.note_activity()
        params = _object(COMMAND_OPTIMIZE, args)
        optimizer = self.optimizer
        if optimizer is None:
            if self.server.settings and not self.server.settings.config.optimize.enabled:
                return self.server._refuse(
                    "DiSE's optimiser is off (optimize.enabled = false); turn it on in the "
                    "DiSE settings to optimise functions.", queued=[])
            await self.server.engine()
            optimizer = self.optimizer
            if optimizer is None:
                return self.server._refuse("DiSE's optimiser is not running; restart the "
                                           "DiSE server.", queued=[])
        if not (params.get("all") is True or params.get("nodeId") or "uri" in params):
            raise JsonRpcInvalidParams.of(ValueError(
                f'{COMMAND_OPTIMIZE} takes {{"uri", "line"?}}, {{"nodeId"}} or {{"all": true}}'))
        try:
            if params.get("all") is True:
                targets = ["all"]
            elif params.get("nodeId"):
                targets = [str(params["nodeId"])]
            else:
                targets = self._nodes_in(params)
            queued: list[str] = []
            for target in targets:
                queued += await self.server._in_worker(
                    self.server._io_pool, lambda t=target: optimizer.request(
                        t, priority="high", reason=MANUAL_REASON))
        except DiseError as exc:
            return self.server._refuse(str(exc), kind=lsp.MessageType.Error, queued=[])
        names = ", ".join(queued[:3]) + ("…" if len(queued) > 3 else "")
        message = (f"DiSE queued {names} for optimisation; progress shows while it runs."
                   if queued else "DiSE has no stored functions to optimise.")
        state = await self.server._in_worker(self.server._io_pool, optimizer.state)
        if queued and state.get("state") in ("error", "stopped"):
            message = (f"DiSE queued {names}, but its optimiser is {state['state']}: "
                       f"{state.get('message')}. The DiSE log has the details.")
            self.server.tell(lsp.MessageType.Warning, message)
        await self._send_state()
        return {"queued": queued, "message": message, "state": state.get("state")}

    def _nodes_in(self, params: dict[str, Any]) -> list[str]:
        uri = params["uri"]
        doc = self.server._document(uri)
        if doc is None:
            raise DiseError(f"{file_name(str(uri))} is not open in the editor; open it and try "
                            "again.")
        if "line" in params:
            line = params["line"]
            if isinstance(line, bool) or not isinstance(line, int) or line < 0:
                raise JsonRpcInvalidParams.of(ValueError(
                    f"{COMMAND_OPTIMIZE}: line must be a line number, not {line!r}"))
            match = self.server._known_at(doc, line)
            if match is None:
                raise DiseError(f"No DiSE-generated function at line {line + 1} of "
                                f"{file_name(str(uri))}; put the cursor in one.")
            return [match[0].node_id]
        entries = self.server.index.entries(doc.uri)
        nodes = sorted({k.node_id for k in entries.all()}) if entries else []
        if not nodes:
            raise DiseError(f"{file_name(str(uri))} has no DiSE-generated functions to optimise.")
        return nodes

    async def cmd_dismiss(self, *args: Any) -> dict[str, Any]:
        params = _object(COMMAND_DISMISS, args, "nodeId", "version")
        node_id, version = str(params["nodeId"]), _version(COMMAND_DISMISS, params)
        store = await self.server.store()
        try:
            await self.server._in_worker(self.server._io_pool, store.dismiss_version, node_id,
                                         version)
        except DiseError as exc:
            return self.server._refuse(str(exc), kind=lsp.MessageType.Error)
        await self.node_changed(node_id)
        return {"dismissed": True, "nodeId": node_id, "version": version}

    async def cmd_accept(self, *args: Any) -> dict[str, Any]:
        self.note_activity()
        params = _object(COMMAND_ACCEPT, args, "uri", "nodeId", "version")
        uri, node_id = params["uri"], str(params["nodeId"])
        version = _version(COMMAND_ACCEPT, params)
        try:
            return await self._accept(uri, node_id, version)
        except DiseError as exc:
            return self.server._refuse(str(exc), kind=lsp.MessageType.Error)

    async def _accept(self, uri: str, node_id: str, version: int) -> dict[str, Any]:
        server = self.server
        doc = server._document(uri)
        if doc is None:
            raise DiseError(f"{file_name(uri)} is not open in the editor; open it and accept "
                            "again.")
        store = await server.store(uri)      # the document's folder's store (usage counts)
        versions = await server._in_worker(server._io_pool, store.versions, node_id)
        chosen = next((v for v in versions if v.version == version), None)
        if chosen is None:
            raise DiseError(f"{node_id} has no version {version}; run `dise status "
                            f"{node_id}` to see its versions.")
        lines = server._lines(doc)
        known = server.index.known_in(uri, node_id)
        region = self._region(uri, lines, node_id, chosen.function_name)
        if region is None:
            raise DiseError(f"{chosen.function_name} is not in {file_name(uri)} any more; "
                            "nothing was replaced.")
        edited = known is None or region_hash(lines, region) != known.content_hash
        if edited:
            answer = await self._ask_replace(chosen, region, lines)
            if answer != REPLACE:
                if answer == SHOW_DIFF:
                    diff = function_diff(lines, region, chosen.code, chosen.function_name)
                    server.log(lsp.MessageType.Info, diff)
                    return server._refuse(
                        f"Kept your {chosen.function_name}; the difference to v{version} is in "
                        "the DiSE log (“Show diff” in the lens opens it side by side).",
                        kind=lsp.MessageType.Info, diff=diff)
                return server._refuse(f"Kept your edited {chosen.function_name}; v{version} "
                                      "was not applied.", kind=lsp.MessageType.Info)
            doc = server._document(uri)
            if doc is None:
                raise DiseError(f"{file_name(uri)} was closed; nothing was replaced.")
            lines = server._lines(doc)
            region = self._region(uri, lines, node_id, chosen.function_name)
            if region is None:
                raise DiseError(f"{chosen.function_name} is not in {file_name(uri)} any more; "
                                "nothing was replaced.")
        source, doc_version = doc.source, doc.version
        prepared = await server._in_worker(server._parse_pool, prepare_replacement, source,
                                           chosen.function_name, region.start, chosen.code)
        doc = server._document(uri)
        if doc is None or doc.version != doc_version:
            raise DiseError(f"{file_name(uri)} changed while DiSE prepared v{version}; run the "
                            "quick fix again.")
        applied, reason = await server.apply_edit(
            server._workspace_edit(doc, prepared),
            f"DiSE: accept {chosen.function_name} v{version}")
        if not applied:
            raise DiseError(f"The editor did not apply v{version} of {chosen.function_name} "
                            f"({reason}); nothing was recorded as accepted. Run the quick "
                            "fix again.")
        new_lines = split_lines(prepared.new_source)
        qualname = qualified_name(lines, region)
        placed = _placed(new_lines, chosen.function_name, qualname,
                         line_after_edits(prepared.edits, region.start))
        digest = region_hash(new_lines, placed) if placed else ""
        fresh = await server._in_worker(server._io_pool, _record_accept, store, node_id, uri,
                                        digest, version, qualname)
        if fresh is not None:
            server.index.add(uri, fresh)
            server.index.update_node(fresh)
        server._lenses.pop(uri, None)
        await self.refresh(uri)
        self.refresh_lenses()
        return {"applied": True, "nodeId": node_id, "version": version,
                "fitness": chosen.fitness_score}

    def _region(self, uri: str, lines: Sequence[str], node_id: str,
                name: str) -> Region | None:
        """The function node ``node_id`` is in ``lines``, never a namesake's: found by the
        index (text, then qualified name); a node the index does not know is accepted only
        when the file has exactly one ``def`` of that name."""
        if self.server.index.known_in(uri, node_id) is not None:
            return self.server.index.region_of(uri, lines, node_id)
        regions = list(all_regions(lines, {name}))
        if len(regions) > 1:
            raise DiseError(f"{file_name(uri)} has {len(regions)} functions named {name} and "
                            f"DiSE cannot tell which one is {node_id}; nothing was replaced.")
        return regions[0] if regions else None

    async def _ask_replace(self, chosen: Artifact, region: Region,
                           lines: Sequence[str]) -> str | None:
        """Ask before replacing a function the user edited; None when the client cannot ask."""
        if not self._can_ask():
            raise DiseError(f"You edited {chosen.function_name} since DiSE wrote it, so v"
                            f"{chosen.version} was not applied; compare them with “Show diff” "
                            "and merge by hand.")
        answer = await self.server.window_show_message_request_async(
            lsp.ShowMessageRequestParams(
                type=lsp.MessageType.Warning,
                message=(f"You edited {chosen.function_name} since DiSE wrote it. Replace it "
                         f"with v{chosen.version} (fitness {chosen.fitness_score:.2f}) and lose "
                         "your edits?"),
                actions=[lsp.MessageActionItem(title=t) for t in (REPLACE, SHOW_DIFF, KEEP)]))
        return answer.title if answer is not None else None

    # -- status ---------------------------------------------------------------------------
    def status_extra(self, node_id: str) -> dict[str, Any]:
        """``dise.status`` fields: the version in the editor and what is offered."""
        known = self.known_for(node_id)
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


def _record_accept(store: Any, node_id: str, uri: str, digest: str,
                   version: int, qualname: str | None = None) -> Known | None:
    """In the io thread: the accepted version is now the one in the file; count the use."""
    store.set_location(node_id, uri, digest, version=version, qualname=qualname)
    store.record_use(node_id)
    return known_from_store(store, node_id, digest)


def _placed(lines: Sequence[str], name: str, qualname: str, near: int) -> Region | None:
    """After a replacement: the def of ``name`` at ``qualname`` nearest to line ``near``
    (imports added above it move it down)."""
    regions = [r for r in all_regions(lines, {name}) if qualified_name(lines, r) == qualname]
    return min(regions, key=lambda r: abs(r.start - near)) if regions else None


def _object(command: str, args: tuple, *required: str) -> dict[str, Any]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams.of(ValueError(f"{command} takes one object argument"))
    missing = [key for key in required if key not in args[0]]
    if missing:
        raise JsonRpcInvalidParams.of(ValueError(f"{command} is missing {', '.join(missing)}"))
    return args[0]


def _version(command: str, params: dict[str, Any]) -> int:
    value = params.get("version")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JsonRpcInvalidParams.of(ValueError(
            f"{command}: version must be a version number (1 or more), not {value!r}"))
    return value

