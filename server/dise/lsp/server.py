"""``dise serve``: the language server, a thin face over ``dise.engine.pipeline.Engine``.

Handlers parse params, read in-memory caches and build lsprotocol types; nothing on the event
loop waits on a model, a test run or the store. Slow work runs in three executors:

- ``generation`` (``LspSettings.generation_workers`` threads): ``Engine.generate``;
- ``io`` (one thread): opening the store, reading what it knows about a document, writing
  where a generated function went;
- ``parse`` (one thread): scanning a document version for stubs and splicing results;
- ``retrieval`` (one thread): the embedding model's loading and searches (``dise.findSimilar``),
  which repair the vector index first when the store changed: seconds that hover, status and
  document reads (``io``) never wait behind. The model is warmed up (``Memory.warm_up``) once
  the engine exists, off the event loop.

Messages to the client are only ever sent from the event loop: worker threads hop onto it
with ``loop.call_soon_threadsafe`` (the stdout writer has no lock).

Commands (``workspace/executeCommand``), each taking one JSON object argument:

``dise.generate`` ``{"uri", "line", "version"?, "name"?}``
    Generate the function for the stub whose ``def`` is on ``line`` (0-based) or the
    ``# dise:`` comment on ``line``; ``version`` is the document version the action was
    listed for and ``name`` the stub's name (both let the server find the stub again if the
    document changed). Reports ``$/progress`` (cancellable), inserts the function with
    ``workspace/applyEdit`` and returns ``{"applied", "nodeId", "artifactId", "fitness",
    "reason"?}`` once done.
``dise.status`` ``{"nodeId"}`` or ``{"uri", "line"}`` or nothing
    The node's latest metrics, versions and queue position; without an argument, the
    server's running generations and store location.
``dise.showArtifact`` ``{"nodeId", "version"?}`` or ``{"uri", "line"}``
    One stored version: code, tests, metrics and the hover Markdown.
``dise.findSimilar`` ``{"uri", "line", "k"?}`` or ``{"query", "k"?}``
    Stored functions similar to the function under the cursor (its docstring, else its
    source) or to ``query``: ``[{"nodeId", "artifactId", "score", "fitness", "prompt"}]``.

Test-only: ``DISE_TEST_ENGINE=module:Class`` replaces the engine with a double (see
``tests/lsp_double.py``); never set it outside the test suite.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import logging
import os
import sys
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, TypeVar
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import ServerTextPosition, TextDocument

from dise.config import Config, ConfigError
from dise.engine.types import Artifact, CancelToken, Cancelled, DiseError, Request
from dise.lsp.channel import ClientChannel
from dise.lsp.folders import root_for
from dise.lsp.documents import (
    enclosing_regions,
    file_name,
    line_after_edits,
    lsp_lines,
    qualified_name,
    region_by_name,
    region_hash,
    split_lines,
)
from dise.lsp.hover import artifact_summary, hover_markdown
from dise.lsp.index import FunctionIndex, Known, known_from_store, load_document, locate
from dise.lsp.phase2 import (
    COMMAND_ACCEPT,
    COMMAND_DISMISS,
    COMMAND_OPTIMIZE,
    Phase2,
    better_lenses,
    better_version,
    hover_section,
)
from dise.lsp.settings import (
    LspSettings,
    ServerSettings,
    build_settings,
    config_for_root,
    unwrap,
)
from dise.lsp.targets import PreparedEdit, Target, prepare_edit, targets_near

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVER_NAME = "dise"
COMMAND_GENERATE = "dise.generate"
COMMAND_STATUS = "dise.status"
COMMAND_SHOW = "dise.showArtifact"
COMMAND_SIMILAR = "dise.findSimilar"
COMMANDS = (COMMAND_GENERATE, COMMAND_STATUS, COMMAND_SHOW, COMMAND_SIMILAR)
ACTION_KIND = lsp.CodeActionKind.RefactorRewrite
#: Test-only: ``module:Class`` of an engine double (tests/lsp_double.py).
TEST_ENGINE_ENV = "DISE_TEST_ENGINE"
#: Longest comment text shown in an action title before it is shortened.
TITLE_TEXT_CHARS = 60


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dise")
    except Exception:  # not installed: running from the source tree
        return "0.1.0"


def engine_class() -> type:
    """The engine to serve: the real pipeline, or a test double named by ``DISE_TEST_ENGINE``."""
    spec = os.environ.get(TEST_ENGINE_ENV, "").strip()
    try:
        if spec:
            module, _, attr = spec.partition(":")
            return getattr(importlib.import_module(module), attr or "Engine")
        from dise.engine.pipeline import Engine

        return Engine
    except (ImportError, AttributeError) as exc:
        what = spec or "dise.engine.pipeline"
        raise DiseError(f"The DiSE engine ({what}) could not be loaded: {exc}; reinstall dise "
                        "(pip install -e .) and restart the editor.") from exc


@dataclass
class Job:
    """One running generation, addressable by its progress token for cancellation."""

    token: str
    uri: str
    target: Target
    cancel: CancelToken = field(default_factory=CancelToken)


class ProgressReporter:
    """``$/progress`` for one job; every method runs on the event loop."""

    def __init__(self, server: "DiseServer", token: str, enabled: bool) -> None:
        self.server, self.token, self.enabled = server, token, enabled

    async def begin(self, title: str, message: str) -> None:
        if not self.enabled:
            return
        try:
            await self.server.work_done_progress.create_async(self.token)
        except Exception as exc:   # a client may refuse; generation goes on without a bar
            log.info("progress refused by the client: %s", exc)
            self.enabled = False
            return
        self.server.work_done_progress.begin(self.token, lsp.WorkDoneProgressBegin(
            title=title, message=message, cancellable=True))

    def report(self, message: str) -> None:
        if self.enabled:
            self.server.work_done_progress.report(self.token,
                                                  lsp.WorkDoneProgressReport(message=message))

    def end(self, message: str) -> None:
        if self.enabled:
            self.server.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(message=message))
            self.server.work_done_progress.tokens.pop(self.token, None)
            self.enabled = False


class DiseServer(LanguageServer):
    """The DiSE language server. Handlers are bound methods registered in ``_register``."""

    def __init__(self, cfg_overrides: dict[str, Any] | None = None) -> None:
        super().__init__(SERVER_NAME, _version(),
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.cfg_overrides = dict(cfg_overrides or {})
        self.settings: ServerSettings | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.index = FunctionIndex()
        self.jobs: dict[str, Job] = {}
        self._store_future: concurrent.futures.Future | None = None
        #: Store path -> (store, engine) futures of other folders' stores (multi-root).
        self._folder_backends: dict[Path, tuple[concurrent.futures.Future,
                                                concurrent.futures.Future]] = {}
        #: (file path, workspace folders) -> the workspace root of that file (``root_for``).
        self._roots: dict[tuple[str, tuple[str, ...]], str] = {}
        self._engine_future: concurrent.futures.Future | None = None
        self._index_tasks: dict[str, asyncio.Future] = {}
        self._scans: dict[str, tuple[int | None, asyncio.Future]] = {}
        self._lenses: dict[str, tuple[tuple, list[lsp.CodeLens]]] = {}
        self._line_cache: dict[str, tuple[int | None, str, tuple[str, ...]]] = {}
        self._running: set[concurrent.futures.Future] = set()
        self._generation_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._io_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dise-io")
        self._parse_pool = concurrent.futures.ThreadPoolExecutor(1,
                                                                 thread_name_prefix="dise-parse")
        self._retrieval_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="dise-retrieval")
        self._startup_error: str | None = None
        #: The stdio channel (``serve``); tells when and why the editor went away.
        self.channel: ClientChannel | None = None
        #: ``shutdown`` was received: ``exit`` then leaves with 0, otherwise 1 (LSP spec).
        self.shutdown_received = False
        self.phase2 = Phase2(self)
        self._register()

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def lsp_settings(self) -> LspSettings:
        return self.settings.lsp if self.settings else LspSettings()

    def _register(self) -> None:
        features: list[tuple[str, Callable, Any]] = [
            (lsp.INITIALIZE, self.on_initialize, None),
            (lsp.INITIALIZED, self.on_initialized, None),
            (lsp.SHUTDOWN, self.on_shutdown, None),
            (lsp.TEXT_DOCUMENT_DID_OPEN, self.on_did_open, None),
            (lsp.TEXT_DOCUMENT_DID_CHANGE, self.on_did_change, None),
            (lsp.TEXT_DOCUMENT_DID_SAVE, self.on_did_save, None),
            (lsp.TEXT_DOCUMENT_DID_CLOSE, self.on_did_close, None),
            (lsp.TEXT_DOCUMENT_CODE_ACTION, self.on_code_action,
             lsp.CodeActionOptions(code_action_kinds=[ACTION_KIND, lsp.CodeActionKind.QuickFix],
                                   resolve_provider=False)),
            (lsp.TEXT_DOCUMENT_HOVER, self.on_hover, None),
            (lsp.TEXT_DOCUMENT_CODE_LENS, self.on_code_lens,
             lsp.CodeLensOptions(resolve_provider=False)),
            (lsp.WORKSPACE_DID_CHANGE_CONFIGURATION, self.on_did_change_configuration, None),
            (lsp.WINDOW_WORK_DONE_PROGRESS_CANCEL, self.on_progress_cancel, None),
        ]
        for method, handler, options in features:
            self.feature(method, options)(_plain(handler))
        for name, method in ((COMMAND_GENERATE, self.cmd_generate),
                             (COMMAND_STATUS, self.cmd_status),
                             (COMMAND_SHOW, self.cmd_show_artifact),
                             (COMMAND_SIMILAR, self.cmd_find_similar),
                             (COMMAND_OPTIMIZE, self.phase2.cmd_optimize),
                             (COMMAND_ACCEPT, self.phase2.cmd_accept),
                             (COMMAND_DISMISS, self.phase2.cmd_dismiss)):
            self.command(name)(self._command_handler(name, method))

    def _command_handler(self, name: str, method: Callable) -> Callable:
        """A pygls command handler (first parameter ``ls``) running ``method`` cancellably."""
        async def handler(ls: Any, *args: Any) -> Any:
            return await self._run_command(name, method, args)

        handler.__name__ = handler.__qualname__ = method.__name__
        return handler

    async def _run_command(self, name: str, method: Callable, args: tuple) -> Any:
        """Run one ``workspace/executeCommand`` so that cancelling the request ends it.

        pygls runs a command as a task of its own inside its executeCommand handler: a
        ``$/cancelRequest`` cancels (and answers) that outer request but not the command's
        task, so a cancelled generation went on and inserted its function seconds later.
        Here the request's cancellation cancels the command's task. A command that ends
        cancelled returns instead of raising: pygls cannot take a cancelled command (it
        logged a ``CancelledError`` traceback); the client has its "cancelled" answer.
        """
        task = asyncio.current_task()
        request = _request_future(self.protocol)
        loop = asyncio.get_running_loop()
        if request is not None and task is not None:
            def on_request_done(future: Any) -> None:
                if future.cancelled() and not task.done():
                    with contextlib.suppress(RuntimeError):   # the loop already closed
                        loop.call_soon_threadsafe(task.cancel)

            request.add_done_callback(on_request_done)
        try:
            result = method(*args)
            return await result if asyncio.iscoroutine(result) else result
        except asyncio.CancelledError:
            log.info("%s ended: %s", name, self._why_cancelled())
            return {"applied": False, "cancelled": True, "reason": self._why_cancelled()}

    def _why_cancelled(self) -> str:
        """Why running work is being cancelled, in the words of one log line."""
        if self.channel is not None and self.channel.gone.is_set():
            return self.channel.why
        if self.shutdown_received:
            return "the editor asked the server to shut down"
        return "the editor cancelled the request"

    def _in_worker(self, pool: concurrent.futures.Executor, fn: Callable[..., T],
                   *args: Any) -> "asyncio.Future[T]":
        """Run ``fn`` in ``pool``; await the result on the loop."""
        future = pool.submit(fn, *args)
        return asyncio.wrap_future(future)

    def _from_thread(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn`` on the event loop from any thread (all sending happens there)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def tell(self, kind: lsp.MessageType, message: str, detail: str | None = None) -> None:
        """A one-line message for the user, and the detail in the log."""
        self.window_show_message(lsp.ShowMessageParams(type=kind, message=message))
        self.log(kind, detail or message)

    def log(self, kind: lsp.MessageType, message: str) -> None:
        self.window_log_message(lsp.LogMessageParams(type=kind, message=message))

    def _document(self, uri: Any) -> TextDocument | None:
        """An open document, or None: the server never reads unknown URIs from disk."""
        if not isinstance(uri, str) or self.protocol._workspace is None:
            return None
        docs = self.workspace.text_documents
        return docs.get(uri) or docs.get(unquote(uri))

    def _workspace_root(self) -> str:
        """The main folder: ``rootUri``, else the first workspace folder ("" for none)."""
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

    def _config_for(self, uri: str | None) -> Config | None:
        """The Config of the document's folder when the store is per folder, else None."""
        if uri is None or self.settings is None or \
                self.settings.raw.get("storeScope") != "workspace":
            return None
        cfg = config_for_root(self.settings, self.root_for(uri))
        return None if cfg.store_path == self.settings.config.store_path else cfg

    # -- store and engine -------------------------------------------------------------------
    # The store opens in the io thread (hover needs it first, and it is quick); the engine,
    # whose import pulls in the model runtimes, is built in a generation thread. Neither
    # blocks the event loop, and a failure is told to the user once and retried on next use.
    @staticmethod
    def _open_store(cfg: Config, previous: Any | None) -> Any:
        if previous is not None and Path(previous.path) == Path(cfg.store_path):
            return previous
        from dise.store import open_store

        return open_store(cfg)

    @staticmethod
    def _create_engine(cfg: Config, store_future: concurrent.futures.Future) -> Any:
        importlib.import_module("dise.engine.stubs")  # warm for the parse thread
        cls = engine_class()
        return cls(cfg, store_future.result())

    def _start_backend(self) -> None:
        assert self.settings is not None
        self._folder_backends.clear()      # settings changed: folders' stores reopen on use
        cfg = self.settings.config
        previous = _result_or_none(self._store_future)
        self._store_future = self._io_pool.submit(self._open_store, cfg, previous)
        self._engine_future = self._generation_executor().submit(self._create_engine, cfg,
                                                                 self._store_future)
        self._store_future.add_done_callback(self._report_backend_failure)
        self._engine_future.add_done_callback(self._report_backend_failure)
        self._engine_future.add_done_callback(self._attach_optimizer)
        self._engine_future.add_done_callback(self._warm_up_memory)

    def _warm_up_memory(self, future: concurrent.futures.Future) -> None:
        """In a worker thread: start loading the embedding model and index (their own
        thread), so the first search or generation does not pay for it."""
        engine = _result_or_none(future)
        if engine is None or future is not self._engine_future:
            return
        retrieval = getattr(getattr(engine, "cfg", None), "retrieval", None)
        if retrieval is not None and not retrieval.enabled:
            return
        try:
            memory = getattr(engine, "memory", None)
            if memory is not None:
                memory.warm_up()
        except Exception as exc:
            self._from_thread(self.log, lsp.MessageType.Warning,
                              f"DiSE could not warm up its retrieval memory: {_detail(exc)}")

    def _attach_optimizer(self, future: concurrent.futures.Future) -> None:
        """In a worker thread: the optimiser runs over the newest engine (Phase 2)."""
        engine = _result_or_none(future)
        if engine is None or future is not self._engine_future:
            return
        try:
            self.phase2.attach(engine)
        except Exception as exc:
            self._from_thread(self.log, lsp.MessageType.Error,
                              f"DiSE could not start its optimiser: {_detail(exc)}")

    def _report_backend_failure(self, future: concurrent.futures.Future) -> None:
        """In a worker thread: tell the user once why DiSE cannot work."""
        if future.cancelled() or future.exception() is None:
            return
        exc = future.exception()
        if exc is _exception_or_none(self._store_future) and future is not self._store_future:
            return  # the engine failed because the store did: already told
        self._from_thread(self.tell, lsp.MessageType.Error, _user_message(exc), _detail(exc))

    def _backend_failed(self) -> bool:
        return any(f is None or (f.done() and (f.cancelled() or f.exception() is not None))
                   for f in (self._store_future, self._engine_future))

    async def store(self, uri: str | None = None) -> Any:
        """The store; for a document (``uri``), the one of its folder (``storeScope``)."""
        cfg = self._config_for(uri)
        if cfg is not None:
            return await asyncio.wrap_future(self._folder_backend(cfg)[0])
        if self._backend_failed():
            self._start_backend()
        assert self._store_future is not None
        return await asyncio.wrap_future(self._store_future)

    async def engine(self, uri: str | None = None) -> Any:
        """The engine; for a document (``uri``), the one over its folder's store."""
        cfg = self._config_for(uri)
        if cfg is not None:
            return await asyncio.wrap_future(self._folder_backend(cfg)[1])
        if self._backend_failed():
            self._start_backend()
        assert self._engine_future is not None
        return await asyncio.wrap_future(self._engine_future)

    def _folder_backend(self, cfg: Config) -> tuple[concurrent.futures.Future,
                                                    concurrent.futures.Future]:
        """Store and engine futures of another folder's store (``storeScope: "workspace"``
        in a multi-root workspace), started on first use like the main ones."""
        key = Path(cfg.store_path)
        futures = self._folder_backends.get(key)
        if futures is None or any(f.done() and (f.cancelled() or f.exception() is not None)
                                  for f in futures):
            store_future = self._io_pool.submit(self._open_store, cfg, None)
            engine_future = self._generation_executor().submit(self._create_engine, cfg,
                                                               store_future)
            store_future.add_done_callback(self._report_backend_failure)
            futures = self._folder_backends[key] = (store_future, engine_future)
        return futures

    def _generation_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._generation_pool is None:
            self._generation_pool = concurrent.futures.ThreadPoolExecutor(
                self.lsp_settings.generation_workers, thread_name_prefix="dise-generate")
        return self._generation_pool

    # -- lifecycle --------------------------------------------------------------------------
    def on_initialize(self, params: lsp.InitializeParams) -> None:
        self.loop = asyncio.get_running_loop()
        options = {**self.cfg_overrides, **unwrap(params.initialization_options)}
        root = self._workspace_root()
        try:
            self.settings = build_settings(options, root)
        except ConfigError as exc:
            self._startup_error = f"DiSE settings: {exc}"
            self.settings = _fallback_settings(self.cfg_overrides, root)

    def on_initialized(self, params: lsp.InitializedParams) -> None:
        if self._startup_error:
            self.tell(lsp.MessageType.Error, self._startup_error)
        self._start_backend()
        for uri in list(self.workspace.text_documents):
            self._schedule_index(uri)

    def on_shutdown(self, params: Any = None) -> None:
        """Cancel generations and answer the requests still waiting on them.

        pygls then cancels pending requests itself while iterating over them; a cancelled
        ``workspace/executeCommand`` future removes itself from that dict at once, which
        breaks its loop ("dictionary changed size"). Cancelling them here, over a copy,
        leaves nothing pending for it.
        """
        self.shutdown_received = True
        for job in list(self.jobs.values()):
            job.cancel.cancel()
        self.phase2.shutdown()
        current = self.protocol.msg_id
        for msg_id, future in list(self.protocol._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()

    def close(self) -> None:
        """After the connection ends: cancel generations, give them a grace period, leave.

        Pool threads are joined at interpreter exit, so a model call that ignores its cancel
        token would keep the process alive; past the grace period we exit regardless.
        """
        for job in list(self.jobs.values()):
            job.cancel.cancel()
        self.phase2.close()
        pools = [p for p in (self._generation_pool, self._io_pool, self._parse_pool,
                             self._retrieval_pool) if p]
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        running = [f for f in self._running if not f.done()]
        if running:
            _, pending = concurrent.futures.wait(running, timeout=self.lsp_settings.shutdown_grace_s)
            if pending:
                log.warning("generation did not stop within %.1f s; exiting anyway",
                            self.lsp_settings.shutdown_grace_s)
                logging.shutdown()
                os._exit(self.exit_code())

    def exit_code(self) -> int:
        """The process's exit status: 0 after ``shutdown``, 1 without (LSP ``exit``)."""
        return 0 if self.shutdown_received else 1

    # -- documents --------------------------------------------------------------------------
    def on_did_open(self, params: lsp.DidOpenTextDocumentParams) -> None:
        self.phase2.note_activity()
        self._schedule_index(params.text_document.uri)

    def on_did_change(self, params: lsp.DidChangeTextDocumentParams) -> None:
        """Caches are keyed by document version and pygls holds the text; only a file that
        shows better-version diagnostics has them moved along."""
        self.phase2.note_activity()
        self.phase2.schedule_refresh(params.text_document.uri)

    def on_did_save(self, params: lsp.DidSaveTextDocumentParams) -> None:
        self._schedule_index(params.text_document.uri)

    def on_did_close(self, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        self.index.forget(uri)
        self.phase2.forget(uri)
        self._lenses.pop(uri, None)
        self._line_cache.pop(uri, None)
        scan_entry = self._scans.pop(uri, None)
        if scan_entry:
            scan_entry[1].cancel()

    def _schedule_index(self, uri: str) -> None:
        """Read, in the io thread, what the store knows about the functions in ``uri``."""
        doc = self._document(uri)
        if doc is None or self.loop is None:
            return
        source = doc.source

        async def load() -> None:
            store = await self.store(uri)
            entries = await self._in_worker(self._io_pool, load_document, store, uri, source)
            self.index.replace(uri, entries)
            self._lenses.pop(uri, None)
            await self.phase2.refresh(uri)

        task = asyncio.ensure_future(load())
        task.add_done_callback(functools.partial(self._index_done, uri))
        self._index_tasks[uri] = task

    def _index_done(self, uri: str, task: asyncio.Future) -> None:
        if self._index_tasks.get(uri) is task:
            self._index_tasks.pop(uri, None)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log(lsp.MessageType.Warning,
                     f"DiSE could not read stored functions for {uri}: {_detail(exc)}")

    async def _wait_for_index(self, uri: str) -> None:
        task = self._index_tasks.get(uri)
        if task is None or self.index.loaded(uri):
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self.lsp_settings.first_index_wait_s)
        except (asyncio.TimeoutError, Exception):  # reported by _index_done
            pass

    async def _targets(self, doc: TextDocument) -> list[Target]:
        """Stubs and ``# dise:`` comments of this document version, found once, off the loop.

        Function by function (``targets_near`` over the whole text), like code actions: after
        an edit only the changed functions are parsed again, not the whole file.
        """
        cached = self._scans.get(doc.uri)
        if cached and cached[0] == doc.version and not cached[1].cancelled():
            future = cached[1]
        else:
            if cached:
                cached[1].cancel()   # an older version nobody needs any more
            lines = self._lines(doc)
            future = self._in_worker(self._parse_pool, targets_near, lines, 0, len(lines) - 1,
                                     len(lines))
            self._scans[doc.uri] = (doc.version, future)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                return []
            raise
        except Exception as exc:
            self.log(lsp.MessageType.Warning, f"DiSE could not scan {doc.uri}: {_detail(exc)}")
            return []

    # -- code actions, hover, code lens -----------------------------------------------------
    def on_code_action(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        """Instant: parses only the functions around the range (see ``targets_near``)."""
        doc = self._document(params.text_document.uri)
        if doc is None:
            return []
        self.phase2.note_activity()
        actions: list[lsp.CodeAction] = []
        if _kind_wanted(params.context.only, lsp.CodeActionKind.QuickFix):
            try:
                actions += self.phase2.code_actions(doc, params.range.start.line,
                                                    params.context)
            except Exception as exc:
                self.log(lsp.MessageType.Warning,
                         f"DiSE could not list its quick fixes: {_detail(exc)}")
        if not _kind_wanted(params.context.only):
            return actions
        lines = self._lines(doc)
        try:
            targets = targets_near(lines, params.range.start.line, params.range.end.line,
                                   self.lsp_settings.action_range_lines)
        except Exception as exc:   # a parser failure must not cost the user the server
            self.log(lsp.MessageType.Warning, f"DiSE could not read {doc.uri}: {_detail(exc)}")
            return actions
        for target in targets:
            title = target.title(TITLE_TEXT_CHARS)
            actions.append(lsp.CodeAction(
                title=title, kind=ACTION_KIND,
                command=lsp.Command(title=title, command=COMMAND_GENERATE,
                                    arguments=[_generate_arguments(doc, target)])))
        return actions

    def _lines(self, doc: TextDocument) -> tuple[str, ...]:
        """``doc.lines`` for this version, split once (pygls splits on every access)."""
        cached = self._line_cache.get(doc.uri)
        if cached and cached[0] == doc.version and cached[1] is doc.source:
            return cached[2]
        lines = tuple(lsp_lines(doc.source))
        self._line_cache[doc.uri] = (doc.version, doc.source, lines)
        return lines

    async def on_hover(self, params: lsp.HoverParams) -> lsp.Hover | None:
        uri = params.text_document.uri
        doc = self._document(uri)
        if doc is None:
            return None
        if not self.index.loaded(uri):
            await self._wait_for_index(uri)
        match = self._known_at(doc, params.position.line)
        if match is None:
            return None
        known, edited, region, lines = match
        shown = known.current if better_version(known) else known.artifact
        value = hover_markdown(shown or known.artifact, queue_position=known.queue_position,
                               optimise_below=self._optimise_below(), edited=edited,
                               versions=known.versions) \
            + hover_section(known, self.phase2.unavailable(), self.phase2.failed_setups())
        end_char = len(lines[region.end].rstrip("\r\n"))
        hover_range = doc.position_codec.range_to_client_units(
            lines, _server_range(region.start, 0, region.end, end_char))
        return lsp.Hover(contents=lsp.MarkupContent(kind=self._markup_kind(), value=value),
                         range=hover_range)

    def _known_at(self, doc: TextDocument, line: int):
        lines = self._lines(doc)
        for region in enclosing_regions(lines, line):
            found = self.index.match(doc.uri, lines, region)
            if found:
                return found[0], found[1], region, lines
        return None

    async def on_code_lens(self, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        doc = self._document(params.text_document.uri)
        if doc is None or len(doc.source) > self.lsp_settings.max_scan_chars:
            return []
        entries = self.index.entries(doc.uri)
        known = sorted(entries.by_node.values(),
                       key=lambda k: (k.name, k.node_id)) if entries else []
        key = (doc.version, tuple((k.node_id, k.artifact.version, k.queue_position,
                                   k.current.version if k.current else None, k.dismissed)
                                  for k in known))
        cached = self._lenses.get(doc.uri)
        if cached and cached[0] == key:
            return cached[1]
        lenses = [self._generate_lens(doc, target) for target in await self._targets(doc)]
        if known:
            lenses += await self._in_worker(self._parse_pool, self._function_lenses, doc.source,
                                            known, doc.uri)
        self._lenses[doc.uri] = (key, lenses)
        return lenses

    def _generate_lens(self, doc: TextDocument, target: Target) -> lsp.CodeLens:
        return lsp.CodeLens(
            range=lsp.Range(start=lsp.Position(line=target.line, character=0),
                            end=lsp.Position(line=target.line, character=0)),
            command=lsp.Command(title=target.title(TITLE_TEXT_CHARS), command=COMMAND_GENERATE,
                                arguments=[_generate_arguments(doc, target)]))

    @staticmethod
    def _function_lenses(source: str, known: list[Known], uri: str = "") -> list[lsp.CodeLens]:
        """In the parse thread: one lens above each generated function still in the file."""
        lines = split_lines(source)
        where = locate(lines, known)     # one pass; each node's own def, never a namesake
        lenses = []
        for item in known:
            region = where.get(item.node_id)
            if region is None:
                continue
            edited = region_hash(lines, region) != item.content_hash
            better = better_version(item)
            a = item.current if better is not None and item.current else item.artifact
            title = f"DiSE: fitness {a.fitness_score:.2f} · v{a.version}" + (
                " · edited" if edited else "")
            lenses.append(lsp.CodeLens(
                range=lsp.Range(start=lsp.Position(line=region.start, character=0),
                                end=lsp.Position(line=region.start, character=0)),
                command=lsp.Command(title=title, command=COMMAND_SHOW,
                                    arguments=[{"nodeId": item.node_id}])))
            if better is not None:
                lenses += better_lenses(uri, region, item, better)
        return lenses

    def _markup_kind(self) -> lsp.MarkupKind:
        caps = self.client_capabilities.text_document
        formats = caps.hover.content_format if caps and caps.hover else None
        if formats and lsp.MarkupKind.Markdown not in formats:
            return lsp.MarkupKind.PlainText
        return lsp.MarkupKind.Markdown

    def _optimise_below(self) -> float:
        return self.settings.config.pipeline.optimise_below if self.settings else 0.8

    # -- settings ---------------------------------------------------------------------------
    async def on_did_change_configuration(self, params: lsp.DidChangeConfigurationParams) -> None:
        options = params.settings
        if not options and _supports(self.client_capabilities, "workspace", "configuration"):
            try:
                answer = await self.workspace_configuration_async(lsp.ConfigurationParams(
                    items=[lsp.ConfigurationItem(section=SERVER_NAME)]))
                options = answer[0] if answer else None
            except Exception as exc:
                self.log(lsp.MessageType.Warning, f"workspace/configuration failed: {exc}")
                return
        if not isinstance(options, dict):
            return
        merged = {**self.cfg_overrides, **unwrap(options)}
        try:
            settings = await self._in_worker(self._io_pool, build_settings, merged,
                                             self._workspace_root())
        except ConfigError as exc:
            self.tell(lsp.MessageType.Error, f"DiSE settings: {exc}")
            return
        old = self.settings
        self.settings = settings
        if old is None or old.lsp.generation_workers != settings.lsp.generation_workers:
            if self._generation_pool is not None:
                self._generation_pool.shutdown(wait=False)
                self._generation_pool = None
        self._start_backend()
        if old is None or old.config.store_path != settings.config.store_path:
            for uri in list(self.workspace.text_documents):
                self.index.forget(uri)
                self._schedule_index(uri)
        self.log(lsp.MessageType.Info, "DiSE settings updated.")

    # -- generation -------------------------------------------------------------------------
    def on_progress_cancel(self, params: lsp.WorkDoneProgressCancelParams) -> None:
        job = self.jobs.get(str(params.token))
        if job is not None:
            job.cancel.cancel()

    async def cmd_generate(self, *args: Any) -> dict[str, Any]:
        params = _object_argument(COMMAND_GENERATE, args, ("uri", "line"))
        uri, line = params["uri"], _int_argument(COMMAND_GENERATE, params, "line")
        doc = self._document(uri)
        if doc is None:
            return self._refuse(f"DiSE cannot generate in {uri}: the file is not open in the "
                                "editor; open it and run the action again.")
        target = self._target_for(doc, line, params.get("name"),
                                  same_version=params.get("version") in (None, doc.version))
        if target is None:
            return self._refuse(f"There is no stub or `# dise:` comment on line {line + 1} of "
                                f"{file_name(uri)} any more; list the code actions again.")
        busy = [j for j in self.jobs.values() if j.uri == doc.uri and j.target.line == target.line
                and j.target.kind == target.kind]
        if busy:
            return self._refuse(f"DiSE is already generating {target.label}; wait for it or "
                                "cancel it.", kind=lsp.MessageType.Info)
        return await self._generate(doc, target)

    def _target_for(self, doc: TextDocument, line: int, name: Any,
                    same_version: bool) -> Target | None:
        """The target an action was listed for; by name when the document moved on.

        Parses only the function at hand, so the job (and its progress) starts at once; the
        whole file is parsed when the result is spliced in.
        """
        lines = self._lines(doc)
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

    def _refuse(self, message: str, kind: lsp.MessageType = lsp.MessageType.Warning,
                **extra: Any) -> dict[str, Any]:
        self.tell(kind, message)
        return {"applied": False, "reason": message, **extra}

    def _request_for(self, doc: TextDocument, target: Target) -> Request:
        path = to_fs_path(doc.uri) or ""
        root = self.root_for(doc.uri)       # the document's folder, not the first one
        if target.kind == "stub":
            spec = target.found.spec
            return Request(text=spec.docstring or spec.name, spec=spec, file_source=doc.source,
                           file_path=path, workspace=root)
        return Request(text=target.text, file_source=doc.source, file_path=path,
                       workspace=root)

    async def _generate(self, doc: TextDocument, target: Target) -> dict[str, Any]:
        job = Job(token=f"dise/generate/{uuid.uuid4().hex}", uri=doc.uri, target=target)
        request = self._request_for(doc, target)
        progress = ProgressReporter(self, job.token,
                                    _supports(self.client_capabilities, "window",
                                              "work_done_progress"))
        self.jobs[job.token] = job
        outcome = "failed"
        try:
            await progress.begin(f"DiSE: generating {target.label}", "starting…")
            engine = await self.engine(doc.uri)
            artifact = await self._run_generation(engine, request, job, progress)
            if job.cancel.cancelled:
                outcome = "cancelled"
                return self._refuse(f"Generation of {target.label} was cancelled; the stored "
                                    f"result {artifact.artifact_id} was not inserted.",
                                    kind=lsp.MessageType.Info, cancelled=True,
                                    nodeId=artifact.node_id)
            progress.report("inserting…")
            result = await self._insert(doc.uri, target, artifact)
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
            return self._refuse(f"Generation of {target.label} was cancelled.",
                                kind=lsp.MessageType.Info, cancelled=True)
        except DiseError as exc:
            self.tell(lsp.MessageType.Error, str(exc), _detail(exc))
            return {"applied": False, "reason": str(exc)}
        except Exception as exc:
            message = (f"DiSE failed while generating {target.label}: {type(exc).__name__}: "
                       f"{_first_line(exc)}. The DiSE log has the details.")
            self.tell(lsp.MessageType.Error, message, _detail(exc))
            return {"applied": False, "reason": message}
        finally:
            self.jobs.pop(job.token, None)
            progress.end(outcome)

    def _say_cancelled(self, what: str) -> None:
        """One line about work that a cancel ended: to the user, or to the log when the
        editor is gone (nothing can reach it any more)."""
        why = self._why_cancelled()
        if self.channel is not None and self.channel.gone.is_set():
            log.warning("%s stopped: %s; nothing was inserted.", what, why)
        else:
            self.tell(lsp.MessageType.Info, f"{what} was cancelled ({why}); nothing was "
                      "inserted.")

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
            return False, f"the editor answered with an error: {_first_line(exc)}"
        if answer is None or not answer.applied:
            reason = getattr(answer, "failure_reason", None)
            return False, reason or "the editor refused the edit"
        return True, ""

    async def _run_generation(self, engine: Any, request: Request, job: Job,
                              progress: ProgressReporter) -> Artifact:
        def on_progress(stage: str, message: str) -> None:   # called in the worker thread
            self._from_thread(progress.report, message)

        future = self._generation_executor().submit(self.phase2.run_interactive,
                                                    engine.generate, request,
                                                    progress=on_progress, cancel=job.cancel)
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            job.cancel.cancel()
            raise

    async def _insert(self, uri: str, target: Target, artifact: Artifact) -> dict[str, Any]:
        """Apply the function where the target is now; refuse if the target itself changed."""
        done = {"nodeId": artifact.node_id, "artifactId": artifact.artifact_id,
                "fitness": artifact.fitness_score}
        for _ in range(self.lsp_settings.reanchor_attempts):
            doc = self._document(uri)
            if doc is None:
                return self._refuse(
                    f"{file_name(uri)} was closed while DiSE generated {target.label}; it is "
                    f"stored as {artifact.artifact_id} (dise.showArtifact shows it).", **done)
            source, version = doc.source, doc.version
            try:
                prepared = await self._in_worker(self._parse_pool, prepare_edit, source,
                                                 target, artifact.code, artifact.function_name)
            except DiseError as exc:
                return self._refuse(f"{exc} The result is stored as {artifact.artifact_id}.",
                                    **done)
            if prepared is None:
                return self._refuse(
                    f"{target.label} changed while DiSE was generating it, so nothing was "
                    f"written; the result is stored as {artifact.artifact_id}. Run the action "
                    "again to regenerate.", **done)
            doc = self._document(uri)
            if doc is None or doc.version != version:
                continue  # the text moved on while the edit was prepared: look again
            # Once the edit is sent, its answer and the bookkeeping finish even if the
            # request is cancelled meanwhile: what the editor applied is what is recorded.
            applied, reason = await asyncio.shield(self._apply_and_remember(
                uri, doc, prepared, artifact))
            if not applied:
                return self._refuse(f"The editor did not apply {artifact.function_name} "
                                    f"({reason}); it is stored as {artifact.artifact_id} "
                                    "and nothing was recorded as inserted.", **done)
            return {"applied": True, **done}
        return self._refuse(f"{file_name(uri)} kept changing while DiSE inserted "
                            f"{artifact.function_name}; nothing was written. It is stored as "
                            f"{artifact.artifact_id}.", **done)

    async def _apply_and_remember(self, uri: str, doc: TextDocument, prepared: PreparedEdit,
                                  artifact: Artifact) -> tuple[bool, str]:
        applied, reason = await self.apply_edit(self._workspace_edit(doc, prepared),
                                                f"DiSE: generate {artifact.function_name}")
        if applied:
            await self._remember(uri, prepared, artifact)
        return applied, reason

    def _workspace_edit(self, doc: TextDocument, prepared: PreparedEdit) -> lsp.WorkspaceEdit:
        lines = lsp_lines(prepared.source)
        edits = [lsp.TextEdit(range=doc.position_codec.range_to_client_units(
            lines, _server_range(sl, sc, el, ec)), new_text=text)
            for sl, sc, el, ec, text in prepared.edits]
        if _supports(self.client_capabilities, "workspace", "workspace_edit", "document_changes"):
            return lsp.WorkspaceEdit(document_changes=[lsp.TextDocumentEdit(
                text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=doc.uri,
                                                                          version=doc.version),
                edits=edits)])
        return lsp.WorkspaceEdit(changes={doc.uri: edits})

    async def _remember(self, uri: str, prepared: PreparedEdit, artifact: Artifact) -> None:
        """Record where the function went so hover knows it after edits, reopen and restart."""
        lines = split_lines(prepared.new_source)
        region = region_by_name(lines, artifact.function_name,
                                near=line_after_edits(prepared.edits, prepared.target.line))
        digest = region_hash(lines, region) if region else ""
        qualname = qualified_name(lines, region) if region else ""
        self.index.add(uri, Known(node_id=artifact.node_id, name=artifact.function_name,
                                  content_hash=digest, artifact=artifact,
                                  versions=artifact.version, qualname=qualname))
        self._lenses.pop(uri, None)
        try:
            store = await self.store(uri)
            known = await self._in_worker(self._io_pool, _record_location, store,
                                          artifact.node_id, uri, digest, artifact.version,
                                          qualname)
        except Exception as exc:
            self.log(lsp.MessageType.Warning,
                     f"DiSE could not record where {artifact.function_name} went: {_detail(exc)}")
            return
        if known is not None:
            self.index.add(uri, known)
        await self.phase2.refresh(uri)  # the "your tests fail" warning follows the new version

    # -- status commands --------------------------------------------------------------------
    def _node_argument(self, command: str, args: tuple) -> str | None:
        if not args:
            return None
        params = _object_argument(command, args, ())
        if params.get("nodeId"):
            return str(params["nodeId"])
        if "uri" in params and "line" in params:
            doc = self._document(params["uri"])
            line = _int_argument(command, params, "line")
            match = self._known_at(doc, line) if doc is not None else None
            if match is None:
                raise DiseError(f"No DiSE-generated function at line {line + 1} of "
                                f"{file_name(str(params['uri']))}.")
            return match[0].node_id
        raise JsonRpcInvalidParams.of(ValueError(
            f'{command} takes {{"nodeId": ...}} or {{"uri": ..., "line": ...}}'))

    async def _node_status(self, node_id: str, args: tuple) -> dict[str, Any]:
        """``engine.status`` from the store holding the node: the document's folder's when
        the arguments name a ``uri``, else the main store, then other folders' stores."""
        uri = args[0].get("uri") if args and isinstance(args[0], dict) else None
        if isinstance(uri, str):
            engine = await self.engine(uri)
            return await self._in_worker(self._io_pool, engine.status, node_id)
        engine = await self.engine()
        try:
            return await self._in_worker(self._io_pool, engine.status, node_id)
        except DiseError:
            for _, engine_future in list(self._folder_backends.values()):
                other = _result_or_none(engine_future)
                if other is None:
                    continue
                with contextlib.suppress(DiseError):
                    return await self._in_worker(self._io_pool, other.status, node_id)
            raise

    async def cmd_status(self, *args: Any) -> dict[str, Any]:
        try:
            node_id = self._node_argument(COMMAND_STATUS, args)
            await self.engine()
            if node_id is None:
                return {"jobs": [{"token": j.token, "uri": j.uri, "target": j.target.label}
                                 for j in self.jobs.values()],
                        "store": str(self.settings.config.store_path) if self.settings else "",
                        "knownFunctions": self.index.nodes()}
            status = await self._node_status(node_id, args)
        except DiseError as exc:
            return self._refuse(str(exc), kind=lsp.MessageType.Error)
        latest = status["latest"]
        known = Known(node_id, latest.function_name, "", latest, status.get("queue_position"),
                      len(status["versions"]))
        self.index.update_node(known)
        self._lenses.clear()
        summary = artifact_summary(latest, status.get("queue_position"))
        summary["versions"] = [{"version": v.version, "fitness": v.fitness_score,
                                "parent": v.parent, "phase": v.phase}
                               for v in status["versions"]]
        summary.update(self.phase2.status_extra(node_id))
        return summary

    async def cmd_show_artifact(self, *args: Any) -> dict[str, Any]:
        try:
            node_id = self._node_argument(COMMAND_SHOW, args)
            if node_id is None:
                raise JsonRpcInvalidParams.of(ValueError(
                    f'{COMMAND_SHOW} takes {{"nodeId": ..., "version"?: ...}}'))
            wanted = _object_argument(COMMAND_SHOW, args, ()).get("version")
            status = await self._node_status(node_id, args)
        except DiseError as exc:
            return self._refuse(str(exc), kind=lsp.MessageType.Error)
        versions = status["versions"]
        chosen = next((v for v in versions if v.version == wanted), None) if wanted else None
        artifact = chosen or status["latest"]
        queue = status.get("queue_position")
        data = artifact_summary(artifact, queue)
        data.update(code=artifact.code, tests=artifact.tests, prompt=artifact.prompt,
                    lint=artifact.lint, toolUsage=artifact.tool_usage,
                    markdown=hover_markdown(artifact, queue_position=queue,
                                            optimise_below=self._optimise_below(), edited=False,
                                            versions=len(versions)))
        return data

    async def cmd_find_similar(self, *args: Any) -> list[dict[str, Any]] | dict[str, Any]:
        params = _object_argument(COMMAND_SIMILAR, args, ())
        query = params.get("query")
        if not query and "uri" in params:
            doc = self._document(params["uri"])
            line = _int_argument(COMMAND_SIMILAR, params, "line")
            # Parsing a large file takes seconds: off the event loop, like everything slow.
            query = (await self._in_worker(self._parse_pool, _function_text_at, doc.source,
                                           line)
                     if doc is not None else None)
        if not isinstance(query, str) or not query.strip():
            return self._refuse(f'{COMMAND_SIMILAR} takes {{"uri", "line"}} on a function, '
                                'or {"query"}.')
        k = params.get("k") if isinstance(params.get("k"), int) else None
        try:
            engine = await self.engine()
            # The embedding model loads and the index is repaired on first use (seconds): in
            # the retrieval thread, so hover and status (io) never wait behind a search.
            hits = await self._in_worker(self._retrieval_pool, engine.memory.search, query, k)
        except DiseError as exc:
            return self._refuse(str(exc), kind=lsp.MessageType.Error)
        if engine.memory.reason:
            return self._refuse(engine.memory.reason)
        return [{"nodeId": a.node_id, "artifactId": a.artifact_id, "score": round(score, 3),
                 "fitness": a.fitness_score, "prompt": a.prompt, "functionName": a.function_name}
                for a, score in hits]


def _request_future(protocol: Any) -> concurrent.futures.Future | None:
    """The future pygls keeps for the request being handled now (None outside one)."""
    futures = getattr(protocol, "_request_futures", None)
    msg_id = getattr(protocol, "msg_id", None)
    if msg_id is None or not isinstance(futures, dict):
        return None
    return futures.get(msg_id)


def _function_text_at(source: str, line: int) -> str | None:
    """Docstring (else source) of the innermost function around 0-based ``line``."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    best = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.lineno - 1 <= line <= (node.end_lineno or node.lineno) - 1:
            if best is None or node.lineno > best.lineno:
                best = node
    if best is None:
        return None
    return ast.get_docstring(best) or ast.get_source_segment(source, best)


# -- helpers ------------------------------------------------------------------------------------
def _plain(method: Callable) -> Callable:
    """A plain function for pygls (it sets attributes on handlers; bound methods refuse).

    Its first parameter is named ``ls`` so pygls passes the server, which it ignores; the
    rest (params, or a command's raw arguments) go to ``method`` unchanged.
    """
    if asyncio.iscoroutinefunction(method):
        async def handler(ls: Any, *args: Any) -> Any:
            return await method(*args)
    else:
        def handler(ls: Any, *args: Any) -> Any:
            return method(*args)
    handler.__name__ = handler.__qualname__ = method.__name__
    return handler


def _record_location(store: Any, node_id: str, uri: str, digest: str,
                     version: int | None = None, qualname: str | None = None) -> Known | None:
    """In the io thread: persist the mapping (and which version went in), then read back the
    node as the index holds it."""
    store.set_location(node_id, uri, digest, version=version, qualname=qualname)
    return known_from_store(store, node_id, digest)


def _result_or_none(future: concurrent.futures.Future | None) -> Any | None:
    if future is None or not future.done() or future.cancelled() or future.exception():
        return None
    return future.result()


def _exception_or_none(future: concurrent.futures.Future | None) -> BaseException | None:
    if future is None or not future.done() or future.cancelled():
        return None
    return future.exception()


def _fallback_settings(overrides: dict[str, Any], root: str) -> ServerSettings:
    try:
        return build_settings(overrides, root)
    except ConfigError:
        return ServerSettings(config=Config(), lsp=LspSettings(), raw={})


def _server_range(sl: int, sc: int, el: int, ec: int):
    from pygls.workspace import ServerTextRange

    return ServerTextRange(start=ServerTextPosition(sl, sc), end=ServerTextPosition(el, ec))


def _generate_arguments(doc: TextDocument, target: Target) -> dict[str, Any]:
    args: dict[str, Any] = {"uri": doc.uri, "line": target.line, "version": doc.version}
    if target.name:
        args["name"] = target.name
    return args


def _kind_wanted(only: list[str] | None, action_kind: str = ACTION_KIND) -> bool:
    if not only:
        return True
    return any(action_kind == kind or action_kind.startswith(f"{kind}.") for kind in only)


def _supports(caps: Any, *path: str) -> bool:
    for name in path:
        caps = getattr(caps, name, None)
        if caps is None:
            return False
    return bool(caps)


def _object_argument(command: str, args: tuple, required: tuple[str, ...]) -> dict[str, Any]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams.of(ValueError(
            f"{command} takes one object argument with {', '.join(required) or 'its fields'}"))
    missing = [key for key in required if key not in args[0]]
    if missing:
        raise JsonRpcInvalidParams.of(ValueError(f"{command} is missing {', '.join(missing)}"))
    return args[0]


def _int_argument(command: str, params: dict[str, Any], key: str) -> int:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise JsonRpcInvalidParams.of(ValueError(
            f"{command}: {key} must be a line number (0 or more), not {value!r}"))
    return value



def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, DiseError):
        return str(exc)
    return (f"DiSE could not start its engine: {type(exc).__name__}: {_first_line(exc)}. "
            "The DiSE log has the details.")


def _detail(exc: BaseException) -> str:
    """The log's version of an error: the traceback, and what the model said if kept."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    raw = getattr(exc, "raw", "")
    return f"{text}\nmodel output:\n{raw}" if raw else text


def private_stdio() -> tuple[BinaryIO, BinaryIO]:
    """The LSP channel on private copies of fds 0 and 1; fd 0 becomes /dev/null, fd 1 stderr.

    Why: native code shares fds 0 and 1 with us. llama.cpp points fds 1 and 2 at /dev/null
    while it loads a model (``verbose=False``), so a response written meanwhile vanished and
    the editor waited for it forever; a library printing to stdout would corrupt the stream,
    and a child process inheriting fd 0 could read the editor's messages. Now fds 0 and 1 are
    harmless, and stray output lands in the log (stderr).
    """
    channel_in = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    channel_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, sys.stdin.fileno())
    os.close(devnull)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel_in, channel_out


def serve(cfg_overrides: dict[str, Any] | None = None) -> int:
    """Speak LSP over stdin/stdout until the client says ``exit`` or goes away.

    Returns the exit status: 0 when the client sent ``shutdown`` first, else 1 (the LSP
    specification's ``exit``; also when the client just went away).
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="dise-lsp %(levelname)s %(name)s: %(message)s")
    channel_in, channel_out = private_stdio()
    server = DiseServer(cfg_overrides)
    server.channel = ClientChannel(channel_in, channel_out)
    try:
        server.start_io(server.channel.reader, server.channel.writer)
    finally:
        server.close()
    return server.exit_code()
