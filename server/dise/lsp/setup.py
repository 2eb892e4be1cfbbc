"""``create_server``: the language server with its features, and ``serve`` (``dise serve``).

Each LSP method is registered once here. Shared ones fan out to every feature in order
(lifecycle, document notifications, code actions: a feature's failure is logged and costs the
user only that feature's answer); a method one feature answers alone (hover, code lens, ...)
comes from its ``Feature.methods()``; every command from ``Feature.commands()``, run so that
cancelling the request ends it. After esbonio's ``server/setup.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import Any, BinaryIO, Callable, Sequence

from lsprotocol import types as lsp

from dise.lsp.backend import EngineFactory, default_engine_factory
from dise.lsp.channel import ClientChannel
from dise.lsp.feature import Feature
from dise.lsp.features.accept import Accept
from dise.lsp.features.better_version import BetterVersion
from dise.lsp.features.generate import Generate
from dise.lsp.features.hover import Hover
from dise.lsp.features.known import KnownFunctions
from dise.lsp.features.lenses import Lenses
from dise.lsp.features.lifecycle import Lifecycle
from dise.lsp.features.optimizer import Optimizer
from dise.lsp.features.status import Status
from dise.lsp.protocol import ACTION_KIND, detail, resolve_enabled
from dise.lsp.server import DiseServer

log = logging.getLogger(__name__)

#: The features of ``dise serve``, in the order their shared hooks run (quick fixes are
#: listed before the "generate" actions).
DEFAULT_FEATURES: tuple[type[Feature], ...] = (
    Lifecycle, KnownFunctions, Optimizer, BetterVersion, Accept, Generate, Hover, Lenses, Status)


def create_server(cfg_overrides: dict[str, Any] | None = None, *,
                  engine_factory: EngineFactory | None = None,
                  features: Sequence[type[Feature]] = DEFAULT_FEATURES) -> DiseServer:
    """A ready ``DiseServer``: ``cfg_overrides`` (``dise serve --set``) under the client's
    settings, the engine built by ``engine_factory(cfg, store)`` (default: the real pipeline),
    and one instance of each feature class. Raises ``ValueError`` when two features claim
    one method or command."""
    server = DiseServer(cfg_overrides, engine_factory or default_engine_factory)
    for cls in features:
        server.add_feature(cls(server))
    _register(server)
    return server


def _register(server: DiseServer) -> None:
    owned: dict[str, tuple[Callable, Any]] = {}
    commands: dict[str, Callable] = {}
    for feature in server.features():
        for method, entry in feature.methods().items():
            if method in owned:
                raise ValueError(f"two features answer {method}")
            owned[method] = entry
        for name, fn in feature.commands().items():
            if name in commands:
                raise ValueError(f"two features run the command {name}")
            commands[name] = fn

    def each(hook: str, *args: Any) -> None:
        for feature in server.features():
            try:
                getattr(feature, hook)(*args)
            except Exception as exc:
                server.log(lsp.MessageType.Warning, f"DiSE {type(feature).__name__}.{hook} "
                           f"failed: {detail(exc)}")

    initialize = owned.pop(lsp.INITIALIZE, (None, None))[0]
    resolves = lsp.CODE_ACTION_RESOLVE in owned and resolve_enabled()

    def on_initialize(ls: Any, params: lsp.InitializeParams) -> None:
        server.bind_loop()
        if initialize is not None:
            initialize(params)

    def on_initialized(ls: Any, params: lsp.InitializedParams) -> None:
        each("initialized")

    def on_shutdown(ls: Any, params: Any = None) -> None:
        each("shutdown")
        server.cancel_pending_requests()

    def on_did_open(ls: Any, params: lsp.DidOpenTextDocumentParams) -> None:
        each("did_open", params.text_document.uri)

    def on_did_change(ls: Any, params: lsp.DidChangeTextDocumentParams) -> None:
        each("did_change", params.text_document.uri)

    def on_did_save(ls: Any, params: lsp.DidSaveTextDocumentParams) -> None:
        each("did_save", params.text_document.uri)

    def on_did_close(ls: Any, params: lsp.DidCloseTextDocumentParams) -> None:
        each("did_close", params.text_document.uri)
        server.forget_document(params.text_document.uri)

    def on_code_action(ls: Any, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        actions: list[lsp.CodeAction] = []
        for feature in server.features():
            try:
                actions += feature.code_actions(params)
            except Exception as exc:
                server.log(lsp.MessageType.Warning, f"DiSE could not list its "
                           f"{type(feature).__name__} actions: {detail(exc)}")
        return actions

    shared: list[tuple[str, Callable, Any]] = [
        (lsp.INITIALIZE, on_initialize, None),
        (lsp.INITIALIZED, on_initialized, None),
        (lsp.SHUTDOWN, on_shutdown, None),
        (lsp.TEXT_DOCUMENT_DID_OPEN, on_did_open, None),
        (lsp.TEXT_DOCUMENT_DID_CHANGE, on_did_change, None),
        (lsp.TEXT_DOCUMENT_DID_SAVE, on_did_save, None),
        (lsp.TEXT_DOCUMENT_DID_CLOSE, on_did_close, None),
        (lsp.TEXT_DOCUMENT_CODE_ACTION, on_code_action,
         lsp.CodeActionOptions(code_action_kinds=[ACTION_KIND, lsp.CodeActionKind.QuickFix],
                               resolve_provider=resolves)),
    ]
    for method, handler, options in shared:
        if method in owned:
            raise ValueError(f"{method} is registered by setup; a feature hooks into it")
        server.feature(method, options)(handler)
    for method, (fn, options) in owned.items():
        server.feature(method, options)(_plain(fn))
    for name, fn in commands.items():
        server.command(name)(_command_handler(server, name, fn))


def _plain(method: Callable) -> Callable:
    """A plain function for pygls (it sets attributes on handlers; bound methods refuse).

    Its first parameter is named ``ls`` so pygls passes the server, which it ignores.
    """
    if asyncio.iscoroutinefunction(method):
        async def handler(ls: Any, *args: Any) -> Any:
            return await method(*args)
    else:
        def handler(ls: Any, *args: Any) -> Any:
            return method(*args)
    handler.__name__ = handler.__qualname__ = method.__name__
    return handler


def _command_handler(server: DiseServer, name: str, method: Callable) -> Callable:
    """A pygls command handler running ``method`` so that cancelling the request ends it.

    pygls runs a command as a task of its own inside its executeCommand handler: a
    ``$/cancelRequest`` cancels (and answers) that outer request but not the command's
    task, so a cancelled generation went on and inserted its function seconds later.
    Here the request's cancellation cancels the command's task. A command that ends
    cancelled returns instead of raising: pygls cannot take a cancelled command (it
    logged a ``CancelledError`` traceback); the client has its "cancelled" answer.
    """
    async def handler(ls: Any, *args: Any) -> Any:
        task = asyncio.current_task()
        request = server.request_future()
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
            why = server.why_cancelled()
            log.info("%s ended: %s", name, why)
            return {"applied": False, "cancelled": True, "reason": why}

    handler.__name__ = handler.__qualname__ = getattr(method, "__name__", name)
    return handler


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


def serve(cfg_overrides: dict[str, Any] | None = None,
          engine_factory: EngineFactory | None = None) -> int:
    """Speak LSP over stdin/stdout until the client says ``exit`` or goes away.

    ``engine_factory``: ``(Config, Store) -> engine`` (default: the real pipeline; tests pass
    a double's, see tests/support/lsp_serve_double.py). Returns the exit status: 0 when the client
    sent ``shutdown`` first, else 1 (the LSP specification's ``exit``; also when the client
    just went away).
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="dise-lsp %(levelname)s %(name)s: %(message)s")
    channel_in, channel_out = private_stdio()
    server = create_server(cfg_overrides, engine_factory=engine_factory)
    server.channel = ClientChannel(channel_in, channel_out)
    try:
        server.start_io(server.channel.reader, server.channel.writer)
    finally:
        server.close()
    return server.exit_code()
