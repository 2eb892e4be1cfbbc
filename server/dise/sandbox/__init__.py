"""Runs untrusted generated code: a separate process per run, with limits, a wall-clock
timeout, cancellation, capped output, no network and none of the user's environment."""

from dise.sandbox.process import SandboxError
from dise.sandbox.runner import lint_code, run_candidate

__all__ = ["SandboxError", "lint_code", "run_candidate"]
