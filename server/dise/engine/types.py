"""Compatibility: the shared value types now live in ``dise.types`` and the errors in
``dise.errors`` (the bottom of the import graph, so services need not import the engine).
Everything importable from here before still is, as the same objects."""

from dise.errors import Cancelled, DiseError
from dise.types import (
    TASK_TYPES,
    TRUSTED_KINDS,
    Artifact,
    CancelToken,
    FunctionSpec,
    Intent,
    LinkedToken,
    ProgressFn,
    Request,
    RunReport,
    TaskType,
    TestCase,
    TestKind,
    TestResult,
)

__all__ = ["Artifact", "CancelToken", "Cancelled", "DiseError", "FunctionSpec", "Intent",
           "LinkedToken", "ProgressFn", "Request", "RunReport", "TASK_TYPES", "TRUSTED_KINDS",
           "TaskType", "TestCase", "TestKind", "TestResult"]
