"""``ServerContext``: everything a feature may use of the server, and nothing else.

Features (``dise.lsp.features``) import this module, the pure pieces and lsprotocol; never
``dise.lsp.server``. ``DiseServer`` implements the protocol; a unit test passes a small fake.
The shape follows esbonio's ``LanguageFeature``/server split (``get_feature``, ``run_task``,
events) and python-lsp-server's plugins (a feature receives state, it does not reach for it).

Threads: every method runs on the event loop unless it says otherwise; ``call_soon`` is the one
way back onto it from a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Iterator,
    Protocol,
    TypeVar,
)

from lsprotocol import types as lsp

if TYPE_CHECKING:
    from dise.lsp.progress import Progress
    from dise.lsp.settings import LspSettings, ServerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F")


@dataclass(frozen=True)
class Snapshot:
    """One version of an open document, taken together: what a worker computes from and what
    a result is published under (never the text of one version with the number of another).

    ``lines`` are split the way LSP counts lines (``dise.lsp.documents.lsp_lines``); ``codec``
    converts code points to the client's units (``protocol.client_range``).
    """

    uri: str
    version: int | None
    source: str
    lines: tuple[str, ...]
    codec: Any = None


class Events:
    """Named events between features, on the loop.

    ``emit`` calls every handler in order and runs what a handler returns to await as a
    task; ``publish`` (async) awaits those in order, so the publisher continues once every
    feature caught up. Events in use: ``indexed(uri)`` the index read or recorded functions of
    a document; ``improved(node_id)`` the optimiser stored a better version of a node;
    ``engine(engine)`` a new engine is ready (emitted in a worker thread: handlers
    must be thread-safe); ``settings(old, new)`` the settings changed. A handler that raises
    is logged and does not stop the others.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[..., Any]]] = {}

    def on(self, name: str, handler: Callable[..., Any]) -> None:
        self._handlers.setdefault(name, []).append(handler)

    def _call(self, name: str, args: tuple) -> list[Awaitable[Any]]:
        pending = []
        for handler in list(self._handlers.get(name, ())):
            try:
                result = handler(*args)
            except Exception:
                log.exception("a handler of %s failed", name)
                continue
            if inspect.isawaitable(result):
                pending.append(result)
        return pending

    def emit(self, name: str, *args: Any) -> None:
        for awaitable in self._call(name, args):
            asyncio.ensure_future(awaitable)

    async def publish(self, name: str, *args: Any) -> None:
        for awaitable in self._call(name, args):
            try:
                await awaitable
            except Exception:
                log.exception("a handler of %s failed", name)


class ServerContext(Protocol):
    """The server as features see it."""

    #: Settings from ``initialize`` and ``didChangeConfiguration`` (None before initialize).
    settings: ServerSettings | None
    #: Settings given on the command line (``dise serve --set``): under the client's.
    cfg_overrides: dict[str, Any]
    events: Events
    #: ``shutdown`` was received.
    shutdown_received: bool

    @property
    def lsp_settings(self) -> LspSettings: ...

    @property
    def client_capabilities(self) -> lsp.ClientCapabilities: ...

    # -- documents ------------------------------------------------------------------------
    def snapshot(self, uri: Any) -> Snapshot | None:
        """The open document's current version; None for a URI the editor has not opened
        (the server never reads unknown URIs from disk)."""

    def open_documents(self) -> list[str]:
        """URIs of the open documents."""

    def root_for(self, uri: str) -> str:
        """The folder that is "the workspace" for the document ``uri``."""

    def workspace_root(self) -> str:
        """The main folder: ``rootUri``, else the first workspace folder ("" for none)."""

    # -- workers --------------------------------------------------------------------------
    def in_io(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        """Run ``fn`` in the io thread (the store); await the result on the loop."""

    def in_parse(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        """Run ``fn`` in the parse thread (whole-file scans and splices)."""

    def in_retrieval(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        """Run ``fn`` in the retrieval thread (embedding model, vector index)."""

    def submit_generation(self, fn: Callable[..., T], *args: Any,
                          **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run ``fn`` in a generation thread; the process waits for it (a grace period)
        before it exits."""

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """From any thread: call ``fn`` on the event loop (all sending happens there)."""

    def run_task(self, coro: Awaitable[T]) -> asyncio.Future[T]:
        """Run a coroutine as a task on the loop."""

    # -- backend --------------------------------------------------------------------------
    async def store(self, uri: str | None = None) -> Any:
        """The store; for a document, the one of its folder (``storeScope``)."""

    async def engine(self, uri: str | None = None) -> Any:
        """The engine; for a document, the one over its folder's store."""

    def other_engines(self) -> list[Any]:
        """Engines over other folders' stores that are ready now (multi-root)."""

    def start_backend(self) -> None:
        """(Re)open the store and build the engine for the current settings, off the loop."""

    def use_settings(self, settings: ServerSettings) -> None:
        """Adopt new settings: resize the generation pool if needed, restart the backend,
        emit ``settings(old, new)``."""

    # -- the client -----------------------------------------------------------------------
    def tell(self, kind: lsp.MessageType, message: str, detail: str | None = None) -> None:
        """A one-line message for the user, and the detail in the log."""

    def log(self, kind: lsp.MessageType, message: str) -> None:
        """A line in the client's DiSE log."""

    def refuse(self, message: str, kind: lsp.MessageType = lsp.MessageType.Warning,
               **extra: Any) -> dict[str, Any]:
        """Tell the user and return a command's "not done" answer
        ``{"applied": False, "reason": message, **extra}``."""

    def why_cancelled(self) -> str:
        """Why running work is being cancelled, in the words of one log line."""

    def client_gone(self) -> bool:
        """The editor went away (nothing can reach it any more)."""

    async def apply_edit(self, edit: lsp.WorkspaceEdit, label: str) -> tuple[bool, str]:
        """Send ``workspace/applyEdit``; ``(applied, why not)``."""

    async def ask(self, params: lsp.ShowMessageRequestParams) -> lsp.MessageActionItem | None:
        """``window/showMessageRequest``: the user's answer, or None."""

    async def configuration(self, params: lsp.ConfigurationParams) -> list[Any]:
        """``workspace/configuration``."""

    def notify(self, method: str, params: Any) -> None:
        """Send a notification (e.g. ``dise/optimizerState``)."""

    def publish_diagnostics(self, params: lsp.PublishDiagnosticsParams) -> None: ...

    def refresh_code_lenses(self) -> None:
        """``workspace/codeLens/refresh`` when the client supports it."""

    def progress(self, token: str) -> Progress:
        """A ``$/progress`` reporter for ``token`` (disabled when the client has no
        work-done progress)."""

    def cancel_pending_requests(self) -> None:
        """Cancel the requests still waiting (``shutdown``)."""

    # -- features -------------------------------------------------------------------------
    def get_feature(self, cls: type[F]) -> F | None:
        """The running feature of that class, or None when the server was built without it."""

    def features(self) -> Iterator[Any]:
        """Every running feature, in registration order."""

