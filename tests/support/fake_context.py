"""TEST-ONLY ``FakeContext``: a small, deterministic ``ServerContext`` for unit tests of the
language server's features (tests/lsp/). Never used outside tests.

What is real: the features under test, the pure pieces they call, the ``Store`` (TinyDB, in the
test's own ``DISE_HOME``), the settings (``build_settings``), pygls's ``TextDocument`` (the
same incremental edits and UTF-16 codec as the server) and pytest-lsp's client capabilities
of a real editor profile. What is not: no process, no JSON-RPC, no threads.

- Documents: ``open``/``change``/``close`` in memory; ``snapshot`` gives versioned snapshots
  like ``DiseServer.snapshot``.
- Workers (``in_io``, ``in_parse``, ``in_retrieval``, ``submit_generation``) run the work
  inline, or, with ``hold = True``, wait in ``pending`` until the test calls ``release()``.
  ``meanwhile`` (callables) run one per worker call after the work: "the user typed while
  the worker ran".
- The client: ``told``/``logged`` (kind, message), ``refused`` reasons, ``diagnostics``
  published, ``notified``, ``edits`` sent with ``apply_edit`` (applied to the documents the
  way an editor does, unless ``refuse_edits``), ``asked`` questions answered from
  ``answers``, ``lens_refreshes``, ``progress_events`` per token.
- The backend: ``store()`` is one real ``Store``; ``engine()`` is what the test passed (e.g.
  ``support.lsp_double.DoubleEngine`` over that store).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from lsprotocol import types as lsp
from pygls.workspace import TextDocument
from pytest_lsp import client_capabilities

from dise.lsp.context import Events, Snapshot
from dise.lsp.documents import lsp_lines
from dise.lsp.progress import Progress
from dise.lsp.settings import LspSettings, ServerSettings, build_settings
from dise.store import Store


class RecordedProgress:
    """pygls's ``work_done_progress`` surface, recording what would be sent per token."""

    def __init__(self, refuse: bool = False) -> None:
        self.events: dict[str, list[Any]] = {}
        self.tokens: dict[str, Any] = {}
        self.refuse = refuse

    async def create_async(self, token: str) -> None:
        if self.refuse:
            raise RuntimeError("the client refused the progress token")
        self.tokens[token] = True
        self.events[token] = []

    def begin(self, token: str, value: lsp.WorkDoneProgressBegin) -> None:
        self.events[token].append(value)

    def report(self, token: str, value: lsp.WorkDoneProgressReport) -> None:
        self.events[token].append(value)

    def end(self, token: str, value: lsp.WorkDoneProgressEnd) -> None:
        self.events[token].append(value)


class FakeContext:
    """TEST-ONLY ``ServerContext`` (see the module docstring).

    ``root``: the workspace folder (a tmp dir); ``options``: the client's settings as
    ``initializationOptions`` would carry them; ``engine``: a callable ``(cfg, store)`` that
    builds the engine on first use; ``profile``: a pytest-lsp client profile, or
    ``capabilities`` given directly; ``features``: feature classes, instantiated in order.
    """

    def __init__(self, root: Path, *, options: dict[str, Any] | None = None,
                 engine: Callable[[Any, Store], Any] | None = None,
                 features: Iterable[type] = (),
                 profile: str = "visual-studio-code",
                 capabilities: lsp.ClientCapabilities | None = None) -> None:
        self.root = Path(root)
        self.settings: ServerSettings | None = build_settings(options or {}, str(self.root))
        self.cfg_overrides: dict[str, Any] = {}
        self.events = Events()
        self.shutdown_received = False
        self.capabilities = capabilities or client_capabilities(profile)
        self.docs: dict[str, TextDocument] = {}
        # workers
        self.hold = False
        self.pending: list[tuple[Callable[..., Any], tuple, dict, Any]] = []
        self.meanwhile: list[Callable[[], Any]] = []
        # the client
        self.told: list[tuple[lsp.MessageType, str]] = []
        self.logged: list[tuple[lsp.MessageType, str]] = []
        self.refused: list[str] = []
        self.diagnostics: list[lsp.PublishDiagnosticsParams] = []
        self.notified: list[tuple[str, Any]] = []
        self.edits: list[tuple[lsp.WorkspaceEdit, str]] = []
        self.refuse_edits = False
        self.asked: list[str] = []
        self.answers: list[str] = []
        self.lens_refreshes = 0
        self.work_done = RecordedProgress()
        # backend
        self._store: Store | None = None
        self._engine: Any = None
        self._engine_factory = engine
        self._features = [cls(self) for cls in features]

    # -- features -------------------------------------------------------------------------
    def get_feature(self, cls: type) -> Any:
        return next((f for f in self._features if isinstance(f, cls)), None)

    def features(self) -> Iterator[Any]:
        return iter(list(self._features))

    def feature(self, cls: type) -> Any:
        """Like ``get_feature``, but the test fails when the feature is missing."""
        found = self.get_feature(cls)
        assert found is not None, f"{cls.__name__} is not among the fake's features"
        return found

    @property
    def lsp_settings(self) -> LspSettings:
        return self.settings.lsp if self.settings else LspSettings()

    @property
    def client_capabilities(self) -> lsp.ClientCapabilities:
        return self.capabilities

    # -- documents ------------------------------------------------------------------------
    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def open(self, name: str, text: str, version: int = 1) -> str:
        """Open a document (no feature hook runs; call ``did_open`` for that)."""
        uri = self.uri(name)
        self.docs[uri] = TextDocument(uri, text, version)
        return uri

    def change(self, uri: str, text: str) -> None:
        """The user replaced the whole text: the next version."""
        doc = self.docs[uri]
        doc.apply_change(lsp.TextDocumentContentChangeWholeDocument(text=text))
        doc.version = (doc.version or 0) + 1

    def close(self, uri: str) -> None:
        self.docs.pop(uri, None)

    def text(self, uri: str) -> str:
        return self.docs[uri].source

    def did_open(self, uri: str) -> None:
        for feature in self.features():
            feature.did_open(uri)

    def snapshot(self, uri: Any) -> Snapshot | None:
        doc = self.docs.get(uri) if isinstance(uri, str) else None
        if doc is None:
            return None
        return Snapshot(doc.uri, doc.version, doc.source, tuple(lsp_lines(doc.source)),
                        doc.position_codec)

    def open_documents(self) -> list[str]:
        return list(self.docs)

    def root_for(self, uri: str) -> str:
        return str(self.root)

    def workspace_root(self) -> str:
        return str(self.root)

    # -- workers --------------------------------------------------------------------------
    async def _work(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.hold:
            waiter = asyncio.get_running_loop().create_future()
            self.pending.append((fn, args, kwargs, waiter))
            return await waiter
        result = fn(*args, **kwargs)
        self._meanwhile()
        await asyncio.sleep(0)
        return result

    def _meanwhile(self) -> None:
        if self.meanwhile:
            self.meanwhile.pop(0)()

    async def release(self) -> None:
        """Run the held work, in order (and what it queues meanwhile), then let it finish."""
        while self.pending:
            fn, args, kwargs, waiter = self.pending.pop(0)
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                waiter.set_exception(exc)
            else:
                self._meanwhile()
                waiter.set_result(result)
            for _ in range(5):
                await asyncio.sleep(0)

    def in_io(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._work(fn, *args)

    def in_parse(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._work(fn, *args)

    def in_retrieval(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._work(fn, *args)

    def submit_generation(self, fn: Callable[..., Any], *args: Any,
                          **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:   # the feature sees what the worker raised
            future.set_exception(exc)
        self._meanwhile()
        return future

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        fn(*args)

    def run_task(self, coro: Any) -> asyncio.Future:
        return asyncio.ensure_future(coro)

    # -- backend --------------------------------------------------------------------------
    async def store(self, uri: str | None = None) -> Store:
        if self._store is None:
            assert self.settings is not None
            self._store = Store(self.settings.config.store_path)
        return self._store

    async def engine(self, uri: str | None = None) -> Any:
        if self._engine is None:
            assert self._engine_factory is not None, "this FakeContext has no engine"
            assert self.settings is not None
            self._engine = self._engine_factory(self.settings.config, await self.store())
            self.events.emit("engine", self._engine)
        return self._engine

    def other_engines(self) -> list[Any]:
        return []

    def start_backend(self) -> None:
        pass

    def use_settings(self, settings: ServerSettings) -> None:
        old, self.settings = self.settings, settings
        self.events.emit("settings", old, settings)

    def close_backend(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- the client -----------------------------------------------------------------------
    def tell(self, kind: lsp.MessageType, message: str, detail: str | None = None) -> None:
        self.told.append((kind, message))
        self.log(kind, detail or message)

    def log(self, kind: lsp.MessageType, message: str) -> None:
        self.logged.append((kind, message))

    def refuse(self, message: str, kind: lsp.MessageType = lsp.MessageType.Warning,
               **extra: Any) -> dict[str, Any]:
        self.refused.append(message)
        self.tell(kind, message)
        return {"applied": False, "reason": message, **extra}

    def why_cancelled(self) -> str:
        return "the editor cancelled the request"

    def client_gone(self) -> bool:
        return False

    async def apply_edit(self, edit: lsp.WorkspaceEdit, label: str) -> tuple[bool, str]:
        """What an editor does with ``workspace/applyEdit``: refuses an edit for another
        version of the document, else applies it to its text (the next version)."""
        self.edits.append((edit, label))
        if self.refuse_edits:
            return False, "user declined"
        per_doc = [(c.text_document.uri, c.text_document.version, list(c.edits))
                   for c in edit.document_changes or []]
        per_doc += [(uri, None, list(edits)) for uri, edits in (edit.changes or {}).items()]
        for uri, version, _ in per_doc:
            doc = self.docs.get(uri)
            if doc is None:
                return False, "not open"
            if version is not None and version != doc.version:
                return False, "document version changed"
        for uri, _, edits in per_doc:
            doc = self.docs[uri]
            for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                            reverse=True):
                doc.apply_change(lsp.TextDocumentContentChangePartial(range=e.range,
                                                                      text=e.new_text))
            doc.version = (doc.version or 0) + 1
        return True, ""

    async def ask(self, params: lsp.ShowMessageRequestParams) -> lsp.MessageActionItem | None:
        self.asked.append(params.message)
        return lsp.MessageActionItem(title=self.answers.pop(0)) if self.answers else None

    async def configuration(self, params: lsp.ConfigurationParams) -> list[Any]:
        return []

    def notify(self, method: str, params: Any) -> None:
        self.notified.append((method, params))

    def publish_diagnostics(self, params: lsp.PublishDiagnosticsParams) -> None:
        self.diagnostics.append(params)

    def refresh_code_lenses(self) -> None:
        self.lens_refreshes += 1

    def progress(self, token: str) -> Progress:
        return Progress(self.work_done, token, True)

    def cancel_pending_requests(self) -> None:
        pass

    # -- reading what happened ------------------------------------------------------------
    def messages(self, kind: lsp.MessageType | None = None) -> list[str]:
        """The one-line messages shown to the user (of one kind)."""
        return [m for k, m in self.told if kind is None or k == kind]

    def last_diagnostics(self, uri: str) -> list[lsp.Diagnostic]:
        """The diagnostics the editor shows for ``uri`` now (the last ones published)."""
        sent = [p for p in self.diagnostics if p.uri == uri]
        return list(sent[-1].diagnostics) if sent else []
