"""The server's threads and the hops between them and the event loop.

- ``io`` (one thread): opening the store, reading what it knows about a document, writing
  where a generated function went;
- ``parse`` (one thread): scanning a document version for stubs and splicing results;
- ``retrieval`` (one thread): the embedding model's loading and searches, which repair the
  vector index first when the store changed: seconds that hover, status and document reads
  (``io``) never wait behind;
- ``generation`` (``LspSettings.generation_workers`` threads, made on first use): building the
  engine and ``Engine.generate``.

Messages to the client are only ever sent from the event loop: worker threads hop onto it
with ``call_soon`` (``loop.call_soon_threadsafe``; the stdout writer has no lock).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Workers:
    """The executors; ``loop`` is set once the server runs (``initialize``)."""

    def __init__(self, generation_workers: int = 1) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.generation_workers = generation_workers
        self.io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dise-io")
        self.parse = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dise-parse")
        self.retrieval = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="dise-retrieval")
        self._generation: concurrent.futures.ThreadPoolExecutor | None = None
        #: Generations still running (``close`` gives them a grace period).
        self.running: set[concurrent.futures.Future] = set()

    @staticmethod
    def on_loop(pool: concurrent.futures.Executor, fn: Callable[..., T],
                *args: Any) -> "asyncio.Future[T]":
        """Run ``fn`` in ``pool``; await the result on the loop."""
        return asyncio.wrap_future(pool.submit(fn, *args))

    def generation(self) -> concurrent.futures.ThreadPoolExecutor:
        """The generation pool, made on first use with ``generation_workers`` threads."""
        if self._generation is None:
            self._generation = concurrent.futures.ThreadPoolExecutor(
                self.generation_workers, thread_name_prefix="dise-generate")
        return self._generation

    def resize_generation(self, workers: int) -> None:
        """A new number of generation threads: the pool is made again on next use (running
        generations finish in the old one)."""
        if workers != self.generation_workers:
            self.generation_workers = workers
            if self._generation is not None:
                self._generation.shutdown(wait=False)
                self._generation = None

    def submit_generation(self, fn: Callable[..., T], *args: Any,
                          **kwargs: Any) -> concurrent.futures.Future:
        """Run ``fn`` in a generation thread and track it until it ends."""
        future = self.generation().submit(fn, *args, **kwargs)
        self.running.add(future)
        future.add_done_callback(self.running.discard)
        return future

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn`` on the event loop from any thread (dropped once the loop closed)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def shutdown(self, grace_s: float) -> bool:
        """Stop every pool without waiting, then give running generations ``grace_s`` seconds;
        False when some are still running (the caller leaves anyway)."""
        for pool in (self._generation, self.io, self.parse, self.retrieval):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        running = [f for f in self.running if not f.done()]
        if not running:
            return True
        _, pending = concurrent.futures.wait(running, timeout=grace_s)
        return not pending
