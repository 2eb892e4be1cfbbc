"""The engine: the one API every face calls (CLI, language server, benchmarks).

``Engine`` is synchronous and thread-safe: faces run it in a worker thread and pass a
``ProgressFn`` and a ``CancelToken``. It owns the store, the retrieval memory and the choice of
generator; each request runs as a ``dise.engine.pipeline.Run`` (Phase 1).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from dise.config import Config, GeneratorConfig, load_config
from dise.engine import best_of_k
from dise.engine.pipeline import Run
from dise.engine.types import Artifact, CancelToken, ProgressFn, Request
from dise.llm.select import eligible_generators, resolve_backend
from dise.store import Store, open_store


#: ``BackendFactory(generator, cfg) -> Backend``: how an engine gets the model for a generator.
BackendFactory = Callable[[GeneratorConfig, Config], Any]


class Engine:
    """Phase 1 over one store. Thread-safe; heavy work happens in the calling thread.

    ``backend_factory`` (default ``dise.llm.select.resolve_backend``) makes the backend for a
    generator; tests and embedders inject a double or another client here. The optimiser's
    experiments use the same factory.
    """

    def __init__(self, cfg: Config | None = None, store: Store | None = None, *,
                 backend_factory: BackendFactory | None = None) -> None:
        self.cfg = cfg or load_config()
        self.backend_factory = backend_factory
        self._store = store
        self._memory = None
        self._store_lock = threading.Lock()

    @property
    def store(self) -> Store:
        """Opened on first use so that starting a face costs no disk work."""
        with self._store_lock:
            if self._store is None:
                self._store = open_store(self.cfg)
            return self._store

    @property
    def memory(self):
        """Retrieval over the store (``dise.engine.retrieval.Memory``), made on first use; the
        embedding model loads on the first query or ``warm_up()``."""
        from dise.engine.retrieval import Memory  # numpy/faiss only when memory is used

        store = self.store  # takes _store_lock itself: call it first
        with self._store_lock:
            if self._memory is None:
                self._memory = Memory(self.cfg, store)
            return self._memory

    @memory.setter
    def memory(self, memory) -> None:
        """Faces and tests may supply their own (e.g. one already warmed up)."""
        self._memory = memory

    def backend(self, gen: GeneratorConfig):
        """The backend that runs ``gen`` (a ``dise.llm.Backend``), from ``backend_factory``."""
        return (self.backend_factory or resolve_backend)(gen, self.cfg)

    # -- generator choice -------------------------------------------------------------
    def choose_generator(self, request: Request, task_type: str) -> tuple[GeneratorConfig, str]:
        """Forced generator, else the registry's best for this task type, else the generator
        Phase 1 learned to start with (``best_of_k.learned_start``), else the default.

        Returns the generator and why it was chosen. Generators whose model does not fit in
        the available memory are skipped.
        """
        if request.generator:
            return self.cfg.generator(request.generator), "forced"
        eligible = set(eligible_generators(self.cfg))
        best = self.store.best_generator(task_type)
        if best and best.get("generator") in self.cfg.generators and best["generator"] in eligible:
            gen = self.cfg.generators[best["generator"]]
            if best.get("temperature") is not None:
                gen = dataclasses.replace(gen, temperature=best["temperature"])
            return gen, f"registry best for {task_type}"
        default = self.cfg.generator()
        if default.name in eligible or not eligible:
            start = best_of_k.learned_start(self.cfg, self.store, task_type, default.name)
            if start is not None and start[0] in eligible:
                return self.cfg.generators[start[0]], start[1]
            return default, "default"
        return self.cfg.generators[min(eligible)], "default does not fit in memory"

    # -- the pipeline -----------------------------------------------------------------
    def generate(self, request: Request, *, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> Artifact:
        """Run Phase 1 for ``request`` and return the stored artifact."""
        run = Run(self, request, progress or (lambda stage, msg: None), cancel or CancelToken())
        return run.execute()

    def status(self, node_id: str) -> dict:
        """Latest version, lineage and queue position of a node, named by its id or its
        function's name (``NodeNotFoundError``, a DiseError, when neither is stored)."""
        store = self.store
        node_id = store.resolve(node_id)  # a node id or the function's name
        versions = store.versions(node_id)
        return {"latest": versions[-1], "versions": versions,
                "queue_position": store.queue_position(node_id)}
