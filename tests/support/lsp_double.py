"""TEST-ONLY engine double for the language-server plumbing tests. Never used outside tests.

The tests start the server over it with ``python -m support.lsp_serve_double
support.lsp_double:DoubleEngine`` (tests/ on ``PYTHONPATH``; ``support.lsp_harness.server_env``
builds that command). It has the real
``Engine``'s surface (``cfg``, ``store``, ``generate``, ``status``) and the real ``Store``, but
instead of a model it writes a fixed, clearly marked function after a short, cancellable wait,
so protocol tests are quick and deterministic.
The real engine is exercised by the ``@pytest.mark.model`` tests.

Knobs (environment of the server process):

- ``DISE_TEST_ENGINE_DELAY``: seconds one generation takes (default 0.3);
- ``DISE_TEST_ENGINE_FAIL``: raise ``DiseError`` with this message instead of generating;
- ``DISE_TEST_ENGINE_IGNORE_CANCEL=1``: sleep through cancellation (a stuck model call);
- ``DISE_TEST_ENGINE_START_DELAY``: seconds building the engine takes (loading models);
- ``DISE_TEST_ENGINE_TRACE``: a file that gets one line per generation event, ``start
  <name>``, ``cancelled <name>`` or ``done <name>``, so a test sees whether the work ended.
"""

from __future__ import annotations

import os
import threading
import time

from dise.config import Config, load_config
from dise.engine.types import (
    Artifact,
    CancelToken,
    Cancelled,
    DiseError,
    FunctionSpec,
    ProgressFn,
    Request,
)
from dise.engine.testgen.workspace import workspace_tests
from dise.store import Store, slugify

DEFAULT_DELAY_S = 0.3
#: Marker every function written by the double carries, so tests can find it.
MARKER = "written by the DiSE test double"


class DoubleEngine:
    """Engine surface with a deterministic generator; see the module docstring."""

    def __init__(self, cfg: Config | None = None, store: Store | None = None) -> None:
        self.cfg = cfg or load_config()
        self._store = store
        self._lock = threading.Lock()
        time.sleep(float(os.environ.get("DISE_TEST_ENGINE_START_DELAY", "0")))

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.cfg.store_path)
            return self._store

    def generate(self, request: Request, *, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> Artifact:
        progress = progress or (lambda stage, message: None)
        cancel = cancel or CancelToken()
        delay = float(os.environ.get("DISE_TEST_ENGINE_DELAY", DEFAULT_DELAY_S))
        if os.environ.get("DISE_TEST_ENGINE_FAIL"):
            raise DiseError(os.environ["DISE_TEST_ENGINE_FAIL"])
        spec = request.spec or FunctionSpec(name=_name_from(request.text),
                                            docstring=request.text)
        progress("generation", "generating with test-double…")
        _trace("start", spec.name)
        try:
            self._wait(cancel, delay / 2)
            progress("tests", "testing against 4 tests…")
            self._wait(cancel, delay / 2)
        except Cancelled:
            _trace("cancelled", spec.name)
            raise
        progress("score", "scoring…")
        artifact = self._artifact(spec, request)
        store = self.store
        store.save(artifact)
        if artifact.fitness_score < self.cfg.pipeline.optimise_below:
            store.enqueue(artifact.node_id, "high",
                          f"fitness {artifact.fitness_score:.2f} < "
                          f"{self.cfg.pipeline.optimise_below}")
        progress("done", f"fitness {artifact.fitness_score:.2f}")
        _trace("done", spec.name)
        return artifact

    def status(self, node_id: str) -> dict:
        versions = self.store.versions(node_id)
        if not versions:
            raise DiseError(f"No stored function {node_id!r}. Run `dise list` to see stored "
                            "functions.")
        return {"latest": versions[-1], "versions": versions,
                "queue_position": self.store.queue_position(node_id)}

    @staticmethod
    def _wait(cancel: CancelToken, seconds: float) -> None:
        if os.environ.get("DISE_TEST_ENGINE_IGNORE_CANCEL") == "1":
            time.sleep(seconds)
            return
        if cancel.wait(seconds):
            raise Cancelled()

    def _artifact(self, spec: FunctionSpec, request: Request) -> Artifact:
        node_id = self.store.allocate_node_id(spec.name)
        return Artifact(
            node_id=node_id, version=1, function_name=spec.name, code=_code(spec),
            prompt=request.text, task_type="other", intent="interactive",
            generator_used="test-double", model="double-model", backend="double",
            temperature=0.0, generation_time=0.25, test_passed=False, tests_passed=3,
            tests_total=4, test_kinds={"doctest": [1, 1], "model": [2, 3]},
            quality_score=0.9, latency=0.0004, coverage=0.75, fitness_score=0.62,
            tool_usage=["generator test-double (forced)"], phase="phase1",
            timestamp=time.time(), tests=_workspace_tests(request, spec.name),
            imports=["import math"])


def _workspace_tests(request: Request, name: str) -> list[dict]:
    """The real discovery of the workspace's tests (frozen with the artifact as the real
    engine does), so tests see which folder a request was given."""
    if not request.workspace:
        return []
    return [{"kind": t.kind, "code": t.code}
            for t in workspace_tests(request.workspace, name)]


def _trace(event: str, name: str) -> None:
    path = os.environ.get("DISE_TEST_ENGINE_TRACE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{event} {name}\n")


def _name_from(text: str) -> str:
    words = [w for w in slugify(text).split("_") if w][:3]
    return "_".join(words) or "generated_function"


def _code(spec: FunctionSpec) -> str:
    """A function with an import, the stub's own signature and docstring, and a marker."""
    header = spec.signature.strip() if spec.signature else f"def {spec.name}(*args):"
    doc = spec.docstring.strip().replace('"""', "'''")
    body = [f'    """{doc}"""'] if doc else []
    body.append(f"    return math.prod([1])  # {MARKER}")
    return "import math\n\n\n" + header + "\n" + "\n".join(body) + "\n"


class GatedMemory:
    """TEST-ONLY retrieval memory: ``search`` blocks until the file ``DISE_TEST_MEMORY_GATE``
    exists (at most ``GATE_LIMIT_S``), like a search that loads the embedding model and repairs
    the index; every call is appended to the file ``DISE_TEST_MEMORY_LOG``."""

    GATE_LIMIT_S = 120.0
    reason = ""

    def __init__(self) -> None:
        self.gate = os.environ.get("DISE_TEST_MEMORY_GATE", "")
        self.log = os.environ.get("DISE_TEST_MEMORY_LOG", "")

    def _note(self, what: str) -> None:
        if self.log:
            with open(self.log, "a", encoding="utf-8") as out:
                out.write(what + "\n")

    def warm_up(self) -> None:
        self._note("warm_up")

    def search(self, query: str, k: int | None = None) -> list:
        self._note("search")
        deadline = time.monotonic() + self.GATE_LIMIT_S
        while self.gate and not os.path.exists(self.gate) and time.monotonic() < deadline:
            time.sleep(0.02)
        return []


class MemoryDoubleEngine(DoubleEngine):
    """``DoubleEngine`` with a ``GatedMemory`` (served by ``python -m support.lsp_serve_double
    support.lsp_double:MemoryDoubleEngine``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.memory = GatedMemory()
