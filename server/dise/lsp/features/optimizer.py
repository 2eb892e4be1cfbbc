"""Phase 2 inside ``dise serve``: the background optimiser, its ``$/progress`` and state
notification, and ``dise.optimize``.

``dise.optimize`` ``{"uri", "line"}`` | ``{"uri"}`` | ``{"nodeId"}`` | ``{"all": true}``
    Queue the function there, every DiSE function of the file, one node, or all, as a manual
    request (runs now, not when idle); returns ``{"queued", "message", "state"}`` at once.

The optimiser calls back from its own thread; every callback hops onto the event loop, where
one task handles the events in order (progress needs ``window/workDoneProgress/create``
answered before ``begin``). A better version it finds is published as the event
``improved(node_id)`` (``BetterVersion`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from typing import Any, Iterator

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from dise.errors import DiseError
from dise.lsp.documents import file_name
from dise.lsp.feature import Feature
from dise.lsp.features.known import KnownFunctions
from dise.lsp.progress import Progress
from dise.lsp.protocol import (
    COMMAND_OPTIMIZE,
    STATE_NOTIFICATION,
    detail,
    line_argument,
    object_argument,
)

MANUAL_REASON = "manual: editor"
STATE_KEYS = ("state", "node", "done", "total", "best", "queue", "message", "unavailable",
              "error")


class Optimizer(Feature):
    """Owns the server's optimiser (``dise.optimize.Optimizer``) over the newest engine."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.optimizer: Any = None
        self._engine: Any = None
        self._unsubscribe: Any = None
        self._lock = threading.Lock()
        self._events: asyncio.Queue | None = None
        self._pump: asyncio.Future | None = None
        self._progress: dict[str, Progress] = {}       # node -> its progress bar
        ctx.events.on("engine", self._engine_ready)

    def commands(self) -> dict[str, Any]:
        return {COMMAND_OPTIMIZE: self.cmd_optimize}

    # -- lifecycle (attach and stop run in worker threads) --------------------------------
    def _engine_ready(self, engine: Any) -> None:
        try:
            self.attach(engine)
        except Exception as exc:
            self.ctx.call_soon(self.ctx.log, lsp.MessageType.Error,
                               f"DiSE could not start its optimiser: {detail(exc)}")

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
            old.stop(self.ctx.lsp_settings.shutdown_grace_s)
        cfg = getattr(engine, "cfg", None)
        if cfg is None or not cfg.optimize.enabled:
            return
        from dise.optimize import Optimizer as Phase2Optimizer

        optimizer = Phase2Optimizer(engine)
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
        return optimizer.failed_setups() if optimizer is not None else {}

    def shutdown(self) -> None:
        """Ask the optimiser to stop without waiting (its state stays in the store)."""
        optimizer = self.optimizer
        if optimizer is not None:
            threading.Thread(target=optimizer.stop, args=(self.ctx.lsp_settings.shutdown_grace_s,),
                             name="dise-optimizer-stop", daemon=True).start()

    def close(self) -> None:
        optimizer = self.optimizer
        if optimizer is not None:
            optimizer.stop(self.ctx.lsp_settings.shutdown_grace_s)

    @contextlib.contextmanager
    def interactive(self) -> Iterator[None]:
        """Hold the optimiser's experiments while a Phase 1 request runs."""
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

    # The user is active: the optimiser's idle trigger waits.
    def did_open(self, uri: str) -> None:
        self.note_activity()

    def did_change(self, uri: str) -> None:
        self.note_activity()

    def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        if self.ctx.snapshot(params.text_document.uri) is not None:
            self.note_activity()
        return []

    # -- events ---------------------------------------------------------------------------
    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        """In the optimiser thread: hand the event to the loop."""
        self.ctx.call_soon(self._enqueue, event, dict(data))

    def _enqueue(self, event: str, data: dict[str, Any]) -> None:
        if self._events is None:
            self._events = asyncio.Queue()
        if self._pump is None or self._pump.done():
            self._pump = self.ctx.run_task(self._drain())
        self._events.put_nowait((event, data))

    async def _drain(self) -> None:
        assert self._events is not None
        while True:
            event, data = await self._events.get()
            try:
                await self._handle(event, data)
            except Exception as exc:
                self.ctx.log(lsp.MessageType.Warning,
                             f"DiSE could not show the optimiser's {event}: {exc!r}")

    async def _handle(self, event: str, data: dict[str, Any]) -> None:
        if event == "progress":
            await self._report_progress(data)
        elif event == "improved":
            await self.ctx.events.publish("improved", str(data.get("node_id")))
        elif event == "idle":
            for node in list(self._progress):
                self._end_progress(node, "done")
        elif event == "error":
            for node in list(self._progress):
                self._end_progress(node, "failed")
            self.ctx.log(lsp.MessageType.Error,
                         f"DiSE's optimiser failed and will retry: {data.get('message')} "
                         "(the server's stderr log has the traceback)")
        await self.send_state()

    async def send_state(self) -> dict[str, Any]:
        """Notify ``dise/optimizerState``; the state ({} without an optimiser)."""
        optimizer = self.optimizer
        if optimizer is None:
            return {}
        state = await self.ctx.in_io(optimizer.state)
        self.ctx.notify(STATE_NOTIFICATION, {**{key: state.get(key) for key in STATE_KEYS},
                                             "failedSetups": state.get("failed_setups") or {}})
        return state

    async def _report_progress(self, data: dict[str, Any]) -> None:
        node = str(data.get("node") or "")
        if not node:
            return
        message = str(data.get("message") or f"Optimising {node}")
        done, total = data.get("done") or 0, data.get("total") or 0
        percentage = int(100 * done / total) if total else None
        progress = self._progress.get(node)
        if progress is None:
            progress = self.ctx.progress(f"dise/optimize/{uuid.uuid4().hex}")
            if not progress.enabled:
                return
            self._progress[node] = progress
            if not await progress.begin(f"DiSE: optimising {node}", message,
                                        cancellable=False, percentage=percentage):
                self._progress.pop(node, None)
                return
        else:
            progress.report(message, percentage)
        if data.get("finished"):
            self._end_progress(node, message)

    def _end_progress(self, node: str, message: str) -> None:
        progress = self._progress.pop(node, None)
        if progress is not None:
            progress.end(message)

    # -- dise.optimize --------------------------------------------------------------------
    async def cmd_optimize(self, *args: Any) -> dict[str, Any]:
        ctx = self.ctx
        self.note_activity()
        params = object_argument(COMMAND_OPTIMIZE, args)
        optimizer = self.optimizer
        if optimizer is None:
            if ctx.settings and not ctx.settings.config.optimize.enabled:
                return ctx.refuse(
                    "DiSE's optimiser is off (optimize.enabled = false); turn it on in the "
                    "DiSE settings to optimise functions.", queued=[])
            await ctx.engine()
            optimizer = self.optimizer
            if optimizer is None:
                return ctx.refuse("DiSE's optimiser is not running; restart the DiSE server.",
                                  queued=[])
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
                queued += await ctx.in_io(lambda t=target: optimizer.request(
                    t, priority="high", reason=MANUAL_REASON))
        except DiseError as exc:
            return ctx.refuse(str(exc), kind=lsp.MessageType.Error, queued=[])
        names = ", ".join(queued[:3]) + ("…" if len(queued) > 3 else "")
        message = (f"DiSE queued {names} for optimisation; progress shows while it runs."
                   if queued else "DiSE has no stored functions to optimise.")
        state = await ctx.in_io(optimizer.state)
        if queued and state.get("state") in ("error", "stopped"):
            message = (f"DiSE queued {names}, but its optimiser is {state['state']}: "
                       f"{state.get('message')}. The DiSE log has the details.")
            ctx.tell(lsp.MessageType.Warning, message)
        await self.send_state()
        return {"queued": queued, "message": message, "state": state.get("state")}

    def _nodes_in(self, params: dict[str, Any]) -> list[str]:
        uri = params["uri"]
        snap = self.ctx.snapshot(uri)
        known = self.ctx.get_feature(KnownFunctions)
        if snap is None or known is None:
            raise DiseError(f"{file_name(str(uri))} is not open in the editor; open it and try "
                            "again.")
        if "line" in params:
            line = line_argument(COMMAND_OPTIMIZE, params)
            match = known.known_at(snap, line)
            if match is None:
                raise DiseError(f"No DiSE-generated function at line {line + 1} of "
                                f"{file_name(str(uri))}; put the cursor in one.")
            return [match[0].node_id]
        entries = known.index.entries(snap.uri)
        nodes = sorted({k.node_id for k in entries.all()}) if entries else []
        if not nodes:
            raise DiseError(f"{file_name(str(uri))} has no DiSE-generated functions to optimise.")
        return nodes
