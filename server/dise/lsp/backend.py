"""The store and the engine as futures, built off the event loop by an injected factory.

The store opens in the io thread (hover needs it first, and it is quick); the engine, whose
import pulls in the model runtimes, is built in a generation thread. Neither blocks the event
loop, and a failure is told to the user once and retried on next use. With ``storeScope:
"workspace"`` in a multi-root workspace each other folder's store gets its own pair, started on
first use.

``EngineFactory``: ``(Config, Store) -> engine``; ``default_engine_factory`` builds
``dise.engine.core.Engine``. Tests pass a double's factory to ``create_server``.
"""

from __future__ import annotations

import concurrent.futures
import importlib
from pathlib import Path
from typing import Any, Callable

from dise.config import Config
from dise.errors import DiseError
from dise.lsp.workers import Workers

#: Builds the engine over an opened store (in a generation thread).
EngineFactory = Callable[[Config, Any], Any]


def default_engine_factory(cfg: Config, store: Any) -> Any:
    """The real pipeline (``dise.engine.core.Engine``); an import failure becomes a
    ``DiseError`` saying how to repair the install."""
    try:
        from dise.engine.core import Engine
    except ImportError as exc:
        raise DiseError(f"The DiSE engine (dise.engine.core) could not be loaded: {exc}; "
                        "reinstall dise (pip install -e .) and restart the editor.") from exc
    return Engine(cfg, store)


def result_or_none(future: concurrent.futures.Future | None) -> Any | None:
    """The future's result when it finished well, else None (never waits)."""
    if future is None or not future.done() or future.cancelled() or future.exception():
        return None
    return future.result()


def exception_or_none(future: concurrent.futures.Future | None) -> BaseException | None:
    if future is None or not future.done() or future.cancelled():
        return None
    return future.exception()


def _failed(future: concurrent.futures.Future | None) -> bool:
    return future is None or (future.done() and (future.cancelled()
                                                 or future.exception() is not None))


def open_store(cfg: Config, previous: Any | None) -> Any:
    """The store ``cfg`` names (``dise.store.open_store``: a file, or PostgreSQL with
    ``[store] url``); the previous one when it is the same."""
    if previous is not None and Path(previous.path) == Path(cfg.store_path):
        return previous
    from dise.store import open_store as open_configured

    return open_configured(cfg)


class Backend:
    """Store and engine futures. ``on_failure(exc)`` and ``on_engine(engine)`` are called in
    a worker thread: once per failed start, and once per new main engine."""

    def __init__(self, workers: Workers, engine_factory: EngineFactory,
                 on_failure: Callable[[BaseException], None],
                 on_engine: Callable[[Any], None]) -> None:
        self.workers, self.engine_factory = workers, engine_factory
        self.on_failure, self.on_engine = on_failure, on_engine
        self.store_future: concurrent.futures.Future | None = None
        self.engine_future: concurrent.futures.Future | None = None
        #: Store path -> (store, engine) futures of other folders' stores (multi-root).
        self.folders: dict[Path, tuple[concurrent.futures.Future,
                                       concurrent.futures.Future]] = {}

    def _create_engine(self, cfg: Config, store_future: concurrent.futures.Future) -> Any:
        importlib.import_module("dise.engine.stubs")  # warm for the parse thread
        return self.engine_factory(cfg, store_future.result())

    def start(self, cfg: Config) -> None:
        """(Re)start the main pair for ``cfg``; other folders' stores reopen on use."""
        self.folders.clear()
        previous = result_or_none(self.store_future)
        self.store_future = self.workers.io.submit(open_store, cfg, previous)
        self.engine_future = self.workers.generation().submit(self._create_engine, cfg,
                                                              self.store_future)
        self.store_future.add_done_callback(self._report_failure)
        self.engine_future.add_done_callback(self._report_failure)
        self.engine_future.add_done_callback(self._engine_ready)

    def failed(self) -> bool:
        """Not started, or the store or the engine failed (the next use starts again)."""
        return _failed(self.store_future) or _failed(self.engine_future)

    def folder(self, cfg: Config) -> tuple[concurrent.futures.Future, concurrent.futures.Future]:
        """Store and engine futures of another folder's store, started on first use."""
        key = Path(cfg.store_path)
        futures = self.folders.get(key)
        if futures is None or any(_failed(f) for f in futures):
            store_future = self.workers.io.submit(open_store, cfg, None)
            engine_future = self.workers.generation().submit(self._create_engine, cfg,
                                                             store_future)
            store_future.add_done_callback(self._report_failure)
            futures = self.folders[key] = (store_future, engine_future)
        return futures

    def other_engines(self) -> list[Any]:
        """Other folders' engines that are ready now."""
        return [e for e in (result_or_none(f[1]) for f in list(self.folders.values()))
                if e is not None]

    def _engine_ready(self, future: concurrent.futures.Future) -> None:
        engine = result_or_none(future)
        if engine is not None and future is self.engine_future:
            self.on_engine(engine)

    def _report_failure(self, future: concurrent.futures.Future) -> None:
        if future.cancelled() or future.exception() is None:
            return
        exc = future.exception()
        if exc is exception_or_none(self.store_future) and future is not self.store_future:
            return  # the engine failed because the store did: already told
        self.on_failure(exc)
