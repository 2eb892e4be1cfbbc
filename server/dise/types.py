"""The values every layer shares: requests, tests, run reports, artifacts, cancel tokens.

At the bottom of the import graph (imports only ``dise.errors``): the engine, the services
(``dise.llm``, ``dise.sandbox``, ``dise.store``) and the faces all speak these types.
``dise.engine.types`` re-exports them for older imports.

Data flows one way: a ``Request`` becomes an ``Artifact``; later work reads or versions
artifacts and never edits one in place.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

from dise.errors import Cancelled

TaskType = Literal["validation", "parsing", "math", "string", "collection", "io", "other"]
Intent = Literal["interactive", "batch"]
TestKind = Literal["example", "doctest", "given", "workspace", "model", "smoke"]
#: Kinds that carry the user's authority: weighed fully, never outvoted by the model.
TRUSTED_KINDS: frozenset[str] = frozenset({"example", "doctest", "given", "workspace"})

TASK_TYPES: tuple[str, ...] = ("validation", "parsing", "math", "string", "collection", "io",
                               "other")

__all__ = ["Artifact", "CancelToken", "FunctionSpec", "Intent",
           "LinkedToken", "ProgressFn", "Request", "RunReport", "TASK_TYPES", "TRUSTED_KINDS",
           "TaskType", "TestCase", "TestKind", "TestResult"]


class CancelToken:
    """Cooperative cancellation shared by the engine, the backends and the sandbox."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


class LinkedToken(CancelToken):
    """Cancelled by its own ``cancel()`` or whenever ``parent`` is (a pre-empted experiment, a
    generation that a passing reuse makes moot). ``wait`` polls the parent every 50 ms."""

    def __init__(self, parent: CancelToken) -> None:
        super().__init__()
        self.parent = parent

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self.parent.cancelled

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.cancelled:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, 0.05))
        return True


#: ``progress(stage, message)``; stages: sentinel, retrieval, generation, tests, fix, repair,
#: score, store. Must be cheap and thread-safe: it is called from worker threads.
ProgressFn = Callable[[str, str], None]


@dataclass
class TestCase:
    """One frozen check of a function.

    ``code`` is Python run in a namespace holding the solution's globals. With ``expect``
    set, ``code`` is a single expression whose ``repr`` must match ``expect`` the way
    doctest compares output; otherwise the test passes when ``code`` runs without raising.
    """

    __test__ = False  # not a pytest class

    kind: TestKind
    code: str
    expect: str | None = None
    #: For smoke tests: exceptions that count as a deliberate rejection, not a crash.
    allowed_exceptions: list[str] = field(default_factory=list)
    #: The call this test checks and the expected value's repr (or ``raises E``), when known;
    #: examples and model asserts set them, credibility compares them.
    call: str = ""
    want: str = ""
    #: The user's text a test was read from (examples), for messages.
    source: str = ""
    #: Model tests only: 0..1, how far the test is believed (``dise.engine.credibility``);
    #: ``None`` = not assessed yet (the prior). ``agree``/``disagree`` count independent
    #: candidates, passing every trusted test, that passed/failed it.
    credibility: float | None = None
    agree: int = 0
    disagree: int = 0

    @property
    def trusted(self) -> bool:
        """The user's own test (example, doctest, given assert, workspace test)."""
        return self.kind in TRUSTED_KINDS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TestCase":
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TestResult:
    __test__ = False  # not a pytest class

    kind: str
    code: str
    passed: bool
    #: One line: exception type and message, or expected/got for a mismatch; "" on pass.
    error: str = ""
    seconds: float = 0.0
    #: False when the test cannot run in this context (e.g. it needs the class of a method the
    #: code does not define): then it is neither passed nor failed and not counted.
    runnable: bool = True


@dataclass
class RunReport:
    """What one sandboxed run of a candidate against its tests found."""

    results: list[TestResult] = field(default_factory=list)
    #: The candidate did not even load (syntax error, import error, crash at import).
    load_error: str = ""
    #: Median seconds per call over passing tests, ``None`` when nothing passed.
    latency: float | None = None
    #: Line coverage (0..1) of the function's body under the tests; None when it was not
    #: measured (no ``coverage`` module, or no time left), which is not the same as 0.
    coverage: float | None = None
    #: pyflakes findings on the candidate, one line each.
    lint: list[str] = field(default_factory=list)
    #: Why the sandbox stopped the run early ("timeout", "memory", "killed", ...), else "".
    killed: str = ""
    stdout: str = ""
    stderr: str = ""
    wall_time: float = 0.0
    #: How the sandbox was walled off: "bubblewrap", "namespaces" or "process"
    #: (see ``dise.sandbox.isolation``); "" for a report no sandbox made.
    isolation: str = ""

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results if r.runnable)

    @property
    def total(self) -> int:
        """Tests counted: every result except those not runnable in this context."""
        return sum(r.runnable for r in self.results)

    @property
    def not_runnable(self) -> list[TestResult]:
        return [r for r in self.results if not r.runnable]

    @property
    def all_passed(self) -> bool:
        return not self.load_error and self.total > 0 and self.passed == self.total

    def failures(self, limit: int = 5) -> list[TestResult]:
        return [r for r in self.results if not r.passed and r.runnable][:limit]


@dataclass
class FunctionSpec:
    """What to write: the name, signature and docstring to keep."""

    name: str
    #: ``def name(args) -> ret:`` line exactly as the user wrote it, or "" when unknown.
    signature: str = ""
    docstring: str = ""
    #: Parameters as (name, annotation source or "") for smoke tests.
    params: list[tuple[str, str]] = field(default_factory=list)
    returns: str = ""


@dataclass
class Request:
    """A Phase 1 request, from free text, a stub in a file, or a ``# dise:`` comment."""

    text: str
    spec: FunctionSpec | None = None
    #: Assert lines given with the request ("given" tests).
    asserts: list[str] = field(default_factory=list)
    #: Source of the file holding the stub, for imports and context.
    file_source: str = ""
    file_path: str = ""
    #: Directory searched for tests that reference the function ("workspace" tests).
    workspace: str = ""
    generator: str | None = None


@dataclass
class Artifact:
    """One stored version of a generated function with its metrics and lineage."""

    node_id: str
    version: int
    function_name: str
    code: str
    prompt: str
    task_type: str
    intent: str
    generator_used: str
    model: str
    backend: str
    temperature: float
    generation_time: float
    test_passed: bool
    tests_passed: int
    tests_total: int
    test_kinds: dict[str, list[int]]
    quality_score: float
    latency: float | None
    #: None: not measured (shown as "n/a", left out of the fitness).
    coverage: float | None
    fitness_score: float
    tool_usage: list[str]
    phase: str
    timestamp: float
    tests: list[dict[str, Any]]
    imports: list[str] = field(default_factory=list)
    lint: list[str] = field(default_factory=list)
    parent: str | None = None
    stage_times: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    #: Phase 2 versions only: when the optimiser made it, how many experiments the run took,
    #: and its fitness gain over ``parent`` in percent (None when the parent scored 0).
    optimized_at: float | None = None
    optimization_iterations: int = 0
    improvement_percentage: float | None = None

    @property
    def artifact_id(self) -> str:
        return f"{self.node_id}_v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["artifact_id"] = self.artifact_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Artifact":
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})
