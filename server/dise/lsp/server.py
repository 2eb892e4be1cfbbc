"""``DiseServer``: the pygls server that implements ``ServerContext`` for the features.

It holds the shared services (settings, documents as snapshots, workers, backend, messages,
events, the features) and no handlers: ``dise.lsp.setup.create_server`` registers each LSP
method once and fans out to the features under ``dise.lsp.features``. Nothing on the event
loop waits on a model, a test run or the store (``dise.lsp.workers``).

The commands and what they take are documented with their features: ``generate``
(``dise.generate``), ``status`` (``dise.status``, ``dise.showArtifact``, ``dise.findSimilar``),
``optimizer`` (``dise.optimize``), ``better_version`` (``dise.acceptOptimized``,
``dise.dismissOptimized``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Awaitable, Callable, Iterator, TypeVar
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from dise.config import Config
from dise.errors import DiseError
from dise.lsp.backend import Backend, EngineFactory, default_engine_factory
from dise.lsp.channel import ClientChannel
from dise.lsp.context import Events, Snapshot
from dise.lsp.documents import lsp_lines
from dise.lsp.folders import root_for
from dise.lsp.progress import Progress
from dise.lsp.protocol import SERVER_NAME, detail, first_line, supports
from dise.lsp.settings import LspSettings, ServerSettings, config_for_root
from dise.lsp.workers import Workers

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dise")
    except Exception:  # not installed: running from the source tree
        return "0.1.0"


class DiseServer(LanguageServer):
    """The DiSE language server (``ServerContext``); see ``dise.lsp.setup``."""

    def __init__(self, cfg_overrides: dict[str, Any] | None = None,
                 engine_factory: EngineFactory = default_engine_factory) -> None:
        super().__init__(SERVER_NAME, _version(),
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.cfg_overrides = dict(cfg_overrides or {})
        self.settings: ServerSettings | None = None
        self.events = Events()
        self.workers = Workers()
        self.backend = Backend(self.workers, engine_factory, self._backend_failed,
                               lambda engine: self.events.emit("engine", engine))
        self._features: list[Any] = []
        #: (file path, workspace folders) -> the workspace root of that file (``root_for``).
        self._roots: dict[tuple[str, tuple[str, ...]], str] = {}
        self._line_cache: dict[str, tuple[int | None, str, tuple[str, ...]]] = {}
        #: The stdio channel (``serve``); tells when and why the editor went away.
        self.channel: ClientChannel | None = None
        #: ``shutdown`` was received: ``exit`` then leaves with 0, otherwise 1 (LSP spec).
        self.shutdown_received = False

    # -- features -------------------------------------------------------------------------
    def add_feature(self, feature: Any) -> None:
        self._features.append(feature)

    def features(self) -> Iterator[Any]:
        return iter(list(self._features))

    def get_feature(self, cls: type[F]) -> F | None:
        return next((f for f in self._features if isinstance(f, cls)), None)

    @property
    def lsp_settings(self) -> LspSettings:
        return self.settings.lsp if self.settings else LspSettings()

    # -- documents ------------------------------------------------------------------------
    def snapshot(self, uri: Any) -> Snapshot | None:
        """An open document's current version (its lines split once per version); None for a
        URI the editor has not opened: the server never reads unknown URIs from disk."""
        if not isinstance(uri, str) or self.protocol._workspace is None:
            return None
        docs = self.workspace.text_documents
        doc = docs.get(uri) or docs.get(unquote(uri))
        if doc is None:
            return None
        source, version = doc.source, doc.version
        cached = self._line_cache.get(doc.uri)
        if cached and cached[0] == version and cached[1] is source:
            lines = cached[2]
        else:
            lines = tuple(lsp_lines(source))
            self._line_cache[doc.uri] = (version, source, lines)
        return Snapshot(doc.uri, version, source, lines, doc.position_codec)

    def forget_document(self, uri: str) -> None:
        self._line_cache.pop(uri, None)

    def open_documents(self) -> list[str]:
        try:
            return list(self.workspace.text_documents)
        except RuntimeError:
            return []

    def workspace_root(self) -> str:
        try:
            root = self.workspace.root_path
        except RuntimeError:
            return ""
        return root or next(iter(self._folder_paths()), "")

    def _folder_paths(self) -> list[str]:
        """The workspace folders, as pygls keeps them (``didChangeWorkspaceFolders``)."""
        try:
            workspace = self.workspace
        except RuntimeError:
            return []
        paths = [to_fs_path(folder.uri) for folder in workspace.folders.values()]
        paths = [p for p in paths if p]
        return paths or ([workspace.root_path] if workspace.root_path else [])

    def root_for(self, uri: str) -> str:
        """The folder that is "the workspace" for the document ``uri`` (lsp/folders.py).

        Remembered per (file, folders): a file outside every folder costs a walk up the disk
        for its project root, which must not run again on every hover and status request."""
        key = (to_fs_path(uri) or "", tuple(self._folder_paths()))
        root = self._roots.get(key)
        if root is None:
            if len(self._roots) >= 1024:
                self._roots.clear()
            root = self._roots[key] = root_for(*key)
        return root

    # -- workers --------------------------------------------------------------------------
    def bind_loop(self) -> None:
        """Called on the loop (``initialize``): worker threads hop back onto it."""
        self.workers.loop = asyncio.get_running_loop()

    def in_io(self, fn: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
        return self.workers.on_loop(self.workers.io, fn, *args)

    def in_parse(self, fn: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
        return self.workers.on_loop(self.workers.parse, fn, *args)

    def in_retrieval(self, fn: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
        return self.workers.on_loop(self.workers.retrieval, fn, *args)

    def submit_generation(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
        return self.workers.submit_generation(fn, *args, **kwargs)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.workers.call_soon(fn, *args)

    def run_task(self, coro: Awaitable[T]) -> "asyncio.Future[T]":
        return asyncio.ensure_future(coro)

    # -- backend --------------------------------------------------------------------------
    def _config_for(self, uri: str | None) -> Config | None:
        """The Config of the document's folder when the store is per folder, else None."""
        if uri is None or self.settings is None or \
                self.settings.raw.get("storeScope") != "workspace":
            return None
        cfg = config_for_root(self.settings, self.root_for(uri))
        return None if cfg.store_path == self.settings.config.store_path else cfg

    def start_backend(self) -> None:
        assert self.settings is not None
        self.backend.start(self.settings.config)

    def use_settings(self, settings: ServerSettings) -> None:
        old, self.settings = self.settings, settings
        self.workers.resize_generation(settings.lsp.generation_workers)
        self.start_backend()
        self.events.emit("settings", old, settings)

    def _backend_failed(self, exc: BaseException) -> None:
        """In a worker thread: tell the user once why DiSE cannot work."""
        message = str(exc) if isinstance(exc, DiseError) else (
            f"DiSE could not start its engine: {type(exc).__name__}: {first_line(exc)}. "
            "The DiSE log has the details.")
        self.call_soon(self.tell, lsp.MessageType.Error, message, detail(exc))

    async def _backend(self, uri: str | None, which: int) -> Any:
        cfg = self._config_for(uri)
        if cfg is not None:
            return await asyncio.wrap_future(self.backend.folder(cfg)[which])
        if self.backend.failed():
            self.start_backend()
        future = (self.backend.store_future, self.backend.engine_future)[which]
        assert future is not None
        return await asyncio.wrap_future(future)

    async def store(self, uri: str | None = None) -> Any:
        return await self._backend(uri, 0)

    async def engine(self, uri: str | None = None) -> Any:
        return await self._backend(uri, 1)

    def other_engines(self) -> list[Any]:
        return self.backend.other_engines()

    # -- the client -----------------------------------------------------------------------
    def tell(self, kind: lsp.MessageType, message: str, detail: str | None = None) -> None:
        self.window_show_message(lsp.ShowMessageParams(type=kind, message=message))
        self.log(kind, detail or message)

    def log(self, kind: lsp.MessageType, message: str) -> None:
        self.window_log_message(lsp.LogMessageParams(type=kind, message=message))

    def refuse(self, message: str, kind: lsp.MessageType = lsp.MessageType.Warning,
               **extra: Any) -> dict[str, Any]:
        self.tell(kind, message)
        return {"applied": False, "reason": message, **extra}

    def why_cancelled(self) -> str:
        if self.client_gone():
            return self.channel.why
        if self.shutdown_received:
            return "the editor asked the server to shut down"
        return "the editor cancelled the request"

    def client_gone(self) -> bool:
        return self.channel is not None and self.channel.gone.is_set()

    async def apply_edit(self, edit: lsp.WorkspaceEdit, label: str) -> tuple[bool, str]:
        """Send ``workspace/applyEdit``; ``(applied, why not)``.

        A refusal (``applied: false``) and an error answer are the same to the caller: the
        edit is not in the file, so nothing may be recorded as inserted.
        """
        try:
            answer = await self.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=edit, label=label))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("workspace/applyEdit failed: %s", exc)
            return False, f"the editor answered with an error: {first_line(exc)}"
        if answer is None or not answer.applied:
            reason = getattr(answer, "failure_reason", None)
            return False, reason or "the editor refused the edit"
        return True, ""

    async def ask(self, params: lsp.ShowMessageRequestParams) -> lsp.MessageActionItem | None:
        return await self.window_show_message_request_async(params)

    async def configuration(self, params: lsp.ConfigurationParams) -> list[Any]:
        return await self.workspace_configuration_async(params)

    def notify(self, method: str, params: Any) -> None:
        self.protocol.notify(method, params)

    def publish_diagnostics(self, params: lsp.PublishDiagnosticsParams) -> None:
        self.text_document_publish_diagnostics(params)

    def refresh_code_lenses(self) -> None:
        if supports(self.client_capabilities, "workspace", "code_lens", "refresh_support"):
            self.workspace_code_lens_refresh(None)

    def progress(self, token: str) -> Progress:
        return Progress(self.work_done_progress, token,
                        supports(self.client_capabilities, "window", "work_done_progress"))

    def cancel_pending_requests(self) -> None:
        """Cancel the requests still waiting (``shutdown``).

        pygls then cancels pending requests itself while iterating over them; a cancelled
        ``workspace/executeCommand`` future removes itself from that dict at once, which
        breaks its loop ("dictionary changed size"). Cancelling them here, over a copy,
        leaves nothing pending for it.
        """
        current = self.protocol.msg_id
        for msg_id, future in list(self.protocol._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()

    def request_future(self) -> Any | None:
        """The future pygls keeps for the request being handled now (None outside one)."""
        futures = getattr(self.protocol, "_request_futures", None)
        msg_id = getattr(self.protocol, "msg_id", None)
        if msg_id is None or not isinstance(futures, dict):
            return None
        return futures.get(msg_id)

    # -- the end --------------------------------------------------------------------------
    def close(self) -> None:
        """After the connection ends: stop the features' work, give generations a grace
        period, leave.

        Pool threads are joined at interpreter exit, so a model call that ignores its cancel
        token would keep the process alive; past the grace period we exit regardless.
        """
        for feature in self.features():
            try:
                feature.close()
            except Exception:
                log.exception("closing %s failed", type(feature).__name__)
        grace = self.lsp_settings.shutdown_grace_s
        if not self.workers.shutdown(grace):
            log.warning("generation did not stop within %.1f s; exiting anyway", grace)
            logging.shutdown()
            os._exit(self.exit_code())

    def exit_code(self) -> int:
        """The process's exit status: 0 after ``shutdown``, 1 without (LSP ``exit``)."""
        return 0 if self.shutdown_received else 1
