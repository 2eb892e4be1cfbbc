"""Run untrusted generated code against its tests in a separate, limited process.

Each run gets a fresh temporary directory and a new process (``python -m dise_harness``, the
package ``dise.sandbox.dise_harness``) in its own session:

* kernel walls where the machine has them (``isolation``): bubblewrap, else bare namespaces,
  plus a per-run memory/pids cgroup; ``RunReport.isolation`` says which level ran;
* limits: CPU seconds, address space, file size, process count and no core dumps (set by the
  harness at start; ``preexec_fn`` is avoided because it can deadlock a threaded parent such as
  the language server);
* no secrets: the environment is rebuilt from scratch (``prepare``), files outside the
  interpreter's own are hidden (bubblewrap) or refused (audit hook), and every message is
  scrubbed of the user's environment values before it leaves this module (``scrub``);
* no network: an empty network namespace, and in every case an audit hook that refuses
  sockets, processes, native code and writes outside the run directory;
* a wall-clock limit and cancellation: the whole process group is killed with SIGKILL
  (``process``);
* output: the candidate's prints are capped in the harness and again in the parent.

Verdicts are made here, not in the sandbox: the harness only reports values over a dedicated,
length-framed pipe and ``verdict`` compares them with expectations the sandbox never saw
(``probes`` keeps them); ``report`` assembles the ``RunReport`` and says which limit, if any,
stopped the run (``RunReport.killed``).

This module is the entry point: ``run_candidate`` drives one run from setup to report, and
``lint_code`` is the static check that needs no sandbox.
"""

from __future__ import annotations

import ast
import tempfile
import time

from pyflakes import checker as pyflakes_checker

from dise.config import SandboxConfig
from dise.errors import Cancelled
from dise.sandbox import isolation, prepare, probes
from dise.sandbox.process import ProcessRun, SandboxError
from dise.sandbox.report import build_report
from dise.sandbox.scrub import scrub_report, secret_values
from dise.types import CancelToken, RunReport, TestCase


def lint_code(code: str) -> list[str]:
    """pyflakes findings, one line each ("line 3: undefined name 'math'"); [] if it won't parse.

    Static analysis only, so it runs in the parent; the load error covers code that won't parse.
    """
    try:
        tree = ast.parse(code, "solution.py")
        found = pyflakes_checker.Checker(tree, filename="solution.py")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    messages = sorted(found.messages, key=lambda m: (m.lineno, getattr(m, "col", 0)))
    return [f"line {m.lineno}: {m.message % m.message_args}" for m in messages]


def run_candidate(code: str, function_name: str, tests: list[TestCase], cfg: SandboxConfig,
                  *, cancel: CancelToken | None = None, measure: bool = True) -> RunReport:
    """Load ``code``, run ``tests`` against ``function_name`` in the sandbox and report.

    ``measure=False`` gives pass/fail only (no latency, no coverage). Raises ``Cancelled``
    promptly when ``cancel`` fires; never raises for anything the candidate does. Verdicts
    are decided here, from the values the sandbox reports (``dise.sandbox.verdict``);
    ``RunReport.isolation`` names the kernel isolation used (``dise.sandbox.isolation``).
    """
    if cancel is not None:
        cancel.raise_if_cancelled()
    started = time.monotonic()
    lint = lint_code(code)
    try:
        level = isolation.detect(cfg.isolation)
    except ValueError as exc:
        raise SandboxError(str(exc)) from None
    plans = probes.plan(tests, code)
    base = tempfile.mkdtemp(prefix="dise-sandbox-")
    cgroup = isolation.CgroupLimits(int(cfg.memory_mb), int(cfg.max_processes))
    try:
        if level != "process":
            cgroup.create()
        job = prepare.write_job(base, level, code, function_name, plans, cfg, measure, started)
        proc = ProcessRun(job, cfg, cancel, level, cgroup)
        proc.run(started + cfg.wall_timeout_s)
    finally:
        cgroup.release()  # pooled for the next run once its last process has exited
        prepare.remove_tree(base)
    if proc.reason == "cancelled":
        raise Cancelled("Cancelled: the test run was stopped.")
    report = build_report(proc.report.records, proc, plans, cfg)
    report.lint = lint
    report.isolation = level
    scrub_report(report, secret_values(prepare.sandbox_env("")))
    report.wall_time = time.monotonic() - started
    return report
