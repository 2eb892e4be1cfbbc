"""Run untrusted generated code against its tests in a separate, limited process.

Each run gets a fresh temporary directory and a new process (``harness.py``) in its own session:

* limits: CPU seconds, address space, file size, process count and no core dumps (set by the
  harness at start; ``preexec_fn`` is avoided because it can deadlock a threaded parent such as
  the language server);
* no secrets: the environment is rebuilt from scratch, so none of the user's variables reach it;
* no network: an empty network namespace where the kernel allows one, and in every case an audit
  hook that refuses sockets, processes, native code and writes outside the temporary directory;
* a wall-clock limit and cancellation: the whole process group is killed with SIGKILL;
* output: the candidate's prints are capped in the harness and again here, so 100 MB of output
  costs the parent nothing.

The parent only reads JSON lines the harness appends as it goes, so whatever the code does, the
caller gets a ``RunReport`` (or ``Cancelled``) and the process group is gone afterwards.

``RunReport.killed`` names the first limit the sandbox enforced, whether it stopped one test
(per-test alarm, MemoryError) or the whole process: "timeout", "memory", "cpu", "signal N",
"exit N" (the process ended without finishing) or "" when no limit was hit. Tests the process
never reached count as failed, with the reason as their error.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyflakes import checker as pyflakes_checker

from dise.config import SandboxConfig
from dise.engine.types import Cancelled, CancelToken, DiseError, RunReport, TestCase, TestResult

HARNESS = Path(__file__).with_name("harness.py")
#: ``sys.setrecursionlimit`` inside the sandbox: deep enough for real recursion, low enough that
#: runaway recursion fails fast with RecursionError instead of exhausting the C stack.
RECURSION_LIMIT = 3000
#: How often the parent checks the cancel token and the clock while the code runs.
POLL_S = 0.05
#: Bytes read from a pipe at a time.
READ_CHUNK = 64 * 1024
#: After the group is killed the pipes close at once; never wait longer than this for them.
DRAIN_GRACE_S = 1.0
#: Environment variables that keep numeric libraries from starting a thread per core (threads
#: count against the process and memory limits).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


class SandboxError(DiseError):
    """The sandbox itself could not run (not the candidate failing)."""


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
    promptly when ``cancel`` fires; never raises for anything the candidate does.
    """
    if cancel is not None:
        cancel.raise_if_cancelled()
    started = time.monotonic()
    lint = lint_code(code)
    root = tempfile.mkdtemp(prefix="dise-sandbox-")
    try:
        job = _write_job(root, code, function_name, tests, cfg, measure, started)
        proc = _ProcessRun(root, job, cfg, cancel)
        proc.run(started + cfg.wall_timeout_s)
        records = _read_records(job["result_path"])
    finally:
        _remove_tree(root)
    if proc.reason == "cancelled":
        raise Cancelled("Cancelled: the test run was stopped.")
    report = _build_report(records, proc, tests, cfg)
    report.lint = lint
    report.wall_time = time.monotonic() - started
    return report


def _write_job(root: str, code: str, function_name: str, tests: list[TestCase],
               cfg: SandboxConfig, measure: bool, started: float) -> dict:
    token = secrets.token_hex(8)
    job = {
        "root": root,
        "function_name": function_name,
        "tests": [t.to_dict() for t in tests],
        "measure": measure,
        "cpu_seconds": int(cfg.cpu_seconds),
        "memory_mb": int(cfg.memory_mb),
        "file_size_mb": int(cfg.file_size_mb),
        "max_processes": int(cfg.max_processes),
        "per_test_timeout_s": float(cfg.per_test_timeout_s),
        "output_cap_bytes": int(cfg.output_cap_bytes),
        "latency_repeats": int(cfg.latency_repeats),
        "recursion_limit": RECURSION_LIMIT,
        # CLOCK_MONOTONIC is shared by all processes, so the harness can see our deadline.
        "deadline": started + cfg.wall_timeout_s,
        "result_path": os.path.join(root, f"result-{token}.jsonl"),
        "job_path": os.path.join(root, f"job-{token}.json"),
    }
    # "replace": a lone surrogate from a broken model reply must not crash the parent.
    Path(root, "solution.py").write_text(code, encoding="utf-8", errors="replace")
    Path(job["job_path"]).write_text(json.dumps(job), encoding="utf-8")
    return job


def _remove_tree(root: str) -> None:
    """Delete the run's directory, even where the code took away its own permissions."""
    shutil.rmtree(root, ignore_errors=True)
    if os.path.lexists(root):
        _restore_permissions(root)
        shutil.rmtree(root, ignore_errors=True)


def _restore_permissions(path: str) -> None:
    try:
        os.chmod(path, 0o700)
        with os.scandir(path) as entries:
            subdirs = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for subdir in subdirs:
        _restore_permissions(subdir)


def _sandbox_env(root: str) -> dict[str, str]:
    """A minimal environment: nothing of the user's (API keys, tokens) reaches the code."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "HOME": root,
        "TMPDIR": root,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    env.update(SINGLE_THREAD_ENV)
    return env


@dataclass
class _CappedBuffer:
    """Keeps the first ``cap`` bytes of a stream and counts the rest."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        text = self.data.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[… {self.dropped} more bytes of output were cut]"
        elif len(self.data) >= self.cap:  # the harness already stopped writing at the cap
            text += f"\n[… output cut at {self.cap} bytes]"
        return text


class _ProcessRun:
    """One sandbox process: start it, watch clock / token / pipes, kill its group, reap it."""

    def __init__(self, root: str, job: dict, cfg: SandboxConfig,
                 cancel: CancelToken | None) -> None:
        self.root = root
        self.job = job
        self.cancel = cancel
        self.stdout = _CappedBuffer(cfg.output_cap_bytes)
        self.stderr = _CappedBuffer(cfg.output_cap_bytes)
        self.reason = ""
        self.returncode: int | None = None
        self.pid: int | None = None

    def run(self, deadline: float) -> None:
        command = [sys.executable, "-s", "-B", str(HARNESS), self.job["job_path"]]
        try:
            proc = subprocess.Popen(
                command, cwd=self.root, env=_sandbox_env(self.root), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                close_fds=True)
        except OSError as exc:
            raise SandboxError(f"Could not start the sandbox process ({exc}); check that "
                               f"{sys.executable} can run.") from None
        self.pid = proc.pid
        selector = selectors.DefaultSelector()
        try:
            for pipe, buffer in ((proc.stdout, self.stdout), (proc.stderr, self.stderr)):
                os.set_blocking(pipe.fileno(), False)
                selector.register(pipe, selectors.EVENT_READ, buffer)
            self._watch(proc, selector, deadline)
            _kill_group(proc.pid)  # leftovers die with the group, even after a clean exit
            self._drain(selector, time.monotonic() + DRAIN_GRACE_S)
            self.returncode = proc.wait()
        finally:
            if proc.poll() is None:
                _kill_group(proc.pid)
                proc.wait()
            selector.close()
            for pipe in (proc.stdout, proc.stderr):
                pipe.close()

    def _watch(self, proc: subprocess.Popen, selector: selectors.BaseSelector,
               deadline: float) -> None:
        while not _has_exited(proc):
            if self.cancel is not None and self.cancel.cancelled:
                self.reason = "cancelled"
                return
            left = deadline - time.monotonic()
            if left <= 0:
                self.reason = "timeout"
                return
            self._read_ready(selector, min(POLL_S, left))

    def _read_ready(self, selector: selectors.BaseSelector, timeout: float) -> None:
        if not selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in selector.select(timeout):
            try:
                chunk = os.read(key.fd, READ_CHUNK)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                key.data.add(chunk)
            else:
                selector.unregister(key.fileobj)

    def _drain(self, selector: selectors.BaseSelector, until: float) -> None:
        while selector.get_map() and time.monotonic() < until:
            self._read_ready(selector, POLL_S)


def _has_exited(proc: subprocess.Popen) -> bool:
    """True once the leader exited, without reaping it: a zombie leader keeps the group id ours
    until ``_kill_group`` has run, so the kill can never hit a recycled id."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True
    except AttributeError:  # pragma: no cover - no waitid on this platform
        return proc.poll() is not None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_records(path: str) -> list[dict]:
    """The harness's JSON lines; a line cut short by a kill is ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _stop_reason(proc: _ProcessRun, records: list[dict]) -> str:
    """Why the process stopped early: "timeout", "cpu", "memory", "signal N", "exit N" or ""."""
    if proc.reason:
        return proc.reason
    if any(r.get("type") == "done" for r in records):
        return ""
    fatal = next((r for r in records if r.get("type") == "fatal"), None)
    if fatal is not None:
        return fatal.get("limit") or "crash"
    code = proc.returncode or 0
    if code < 0:
        if -code == signal.SIGXCPU:
            return "cpu"
        return f"signal {-code}"
    if "MemoryError" in proc.stderr.text():
        return "memory"
    return f"exit {code}"


def _explain(killed: str, cfg: SandboxConfig, records: list[dict], stderr: str) -> str:
    """The one-line sentence a user reads when the process did not finish."""
    if killed == "timeout":
        text = f"the code ran past the {cfg.wall_timeout_s:g} s limit and was stopped"
    elif killed == "cpu":
        text = f"the code used more than {cfg.cpu_seconds} s of CPU time and was stopped"
    elif killed == "memory":
        text = f"the code ran past the {cfg.memory_mb} MB memory limit and was stopped"
    elif killed.startswith("signal "):
        number = int(killed.split()[1])
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        text = f"the code was stopped by signal {number} ({name})"
    else:
        fatal = next((r for r in records if r.get("type") == "fatal"), None)
        detail = fatal["error"] if fatal else _last_line(stderr)
        text = "the sandbox process ended unexpectedly" + (f" ({detail})" if detail else "")
    if not any(r.get("type") == "load" for r in records):
        text += " while loading the module"
    return text


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _build_report(records: list[dict], proc: _ProcessRun, tests: list[TestCase],
                  cfg: SandboxConfig) -> RunReport:
    killed = _stop_reason(proc, records)
    stderr = proc.stderr.text()
    report = RunReport(stdout=proc.stdout.text(), stderr=stderr)
    load = next((r for r in records if r.get("type") == "load"), None)
    by_index = {r["index"]: r for r in records if r.get("type") == "test"}
    unfinished = ""
    if load is None:
        report.load_error = _explain(killed, cfg, records, stderr)
        unfinished = report.load_error
    elif load.get("error"):
        report.load_error = load["error"]
        unfinished = f"not run: {load['error']}"
    elif killed:
        unfinished = _explain(killed, cfg, records, stderr)
    for index, test in enumerate(tests):
        record = by_index.get(index)
        if record is None:
            report.results.append(TestResult(test.kind, test.code, False, unfinished))
        else:
            report.results.append(TestResult(test.kind, test.code, bool(record["passed"]),
                                             record.get("error", ""),
                                             float(record.get("seconds", 0.0))))
    for record in records:
        if record.get("type") == "coverage" and record.get("value") is not None:
            report.coverage = float(record["value"])
        elif record.get("type") == "latency" and record.get("value") is not None:
            report.latency = float(record["value"])
    limits = [r.get("limit") for r in ([load] if load else []) + list(by_index.values())]
    report.killed = killed or next((limit for limit in limits if limit), "")
    return report
