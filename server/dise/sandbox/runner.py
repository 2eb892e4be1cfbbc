"""Run untrusted generated code against its tests in a separate, limited process.

Each run gets a fresh temporary directory and a new process (``python -m dise_harness``, the
package ``dise.sandbox.dise_harness``) in its own session:

* kernel walls where the machine has them (``isolation``): bubblewrap, else bare namespaces,
  plus a per-run memory/pids cgroup; ``RunReport.isolation`` says which level ran;
* limits: CPU seconds, address space, file size, process count and no core dumps (set by the
  harness at start; ``preexec_fn`` is avoided because it can deadlock a threaded parent such as
  the language server);
* no secrets: the environment is rebuilt from scratch, files outside the interpreter's own are
  hidden (bubblewrap) or refused (audit hook), and every message is scrubbed of the user's
  environment values before it leaves this module;
* no network: an empty network namespace, and in every case an audit hook that refuses
  sockets, processes, native code and writes outside the run directory;
* a wall-clock limit and cancellation: the whole process group is killed with SIGKILL;
* output: the candidate's prints are capped in the harness and again here.

Verdicts are made here, not in the sandbox: the harness only reports values over a dedicated,
length-framed pipe and ``verdict`` compares them with expectations the sandbox never saw.

``RunReport.killed`` names the first limit the sandbox enforced, whether it stopped one test
(per-test alarm, MemoryError) or the whole process: "timeout", "memory", "cpu", "signal N",
"exit N" (the process ended without finishing) or "" when no limit was hit. Tests the process
never reached count as failed, with the reason as their error.
"""

from __future__ import annotations

import ast
import json
import os
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
from dise.errors import Cancelled, DiseError
from dise.sandbox import isolation, verdict
from dise.types import CancelToken, RunReport, TestCase

#: The harness package (``python -m dise_harness``); its parent folder goes on PYTHONPATH.
HARNESS = Path(__file__).with_name("dise_harness")
#: ``-P`` (3.11+): ``-m`` must not put the run directory first on the harness's ``sys.path``.
SAFE_PATH = ["-P"] if sys.version_info >= (3, 11) else []
#: ``sys.setrecursionlimit`` inside the sandbox: deep enough for real recursion, low enough that
#: runaway recursion fails fast with RecursionError instead of exhausting the C stack.
RECURSION_LIMIT = 3000
#: How often the parent checks the cancel token and the clock while the code runs.
POLL_S = 0.05
#: Bytes read from a pipe at a time.
READ_CHUNK = 64 * 1024
#: Caps on the report pipe: one record, and everything the harness sends.
FRAME_CAP_BYTES = 8 * 1024 * 1024
REPORT_CAP_BYTES = 32 * 1024 * 1024
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
    plans = verdict.plan(tests, code)
    base = tempfile.mkdtemp(prefix="dise-sandbox-")
    cgroup = isolation.CgroupLimits(int(cfg.memory_mb), int(cfg.max_processes))
    try:
        if level != "process":
            cgroup.create()
        job = _write_job(base, level, code, function_name, plans, cfg, measure, started)
        proc = _ProcessRun(job, cfg, cancel, level, cgroup)
        proc.run(started + cfg.wall_timeout_s)
    finally:
        cgroup.release()  # pooled for the next run once its last process has exited
        _remove_tree(base)
    if proc.reason == "cancelled":
        raise Cancelled("Cancelled: the test run was stopped.")
    report = _build_report(proc.report.records, proc, plans, cfg)
    report.lint = lint
    report.isolation = level
    _scrub_report(report, _secret_values(_sandbox_env("")))
    report.wall_time = time.monotonic() - started
    return report


def _write_job(base: str, level: str, code: str, function_name: str,
               plans: list[verdict.TestPlan], cfg: SandboxConfig, measure: bool,
               started: float) -> dict:
    """Inputs (read-only under bubblewrap) in ``base/in``; the writable run dir ``base/work``."""
    inputs, work = os.path.join(base, "in"), os.path.join(base, "work")
    os.mkdir(inputs, 0o755)
    os.mkdir(work, 0o777)  # writable by the sandbox's unprivileged uid
    os.chmod(base, 0o755)
    inside_in = isolation.INPUT_DIR if level == "bubblewrap" else inputs
    inside_work = isolation.RUN_DIR if level == "bubblewrap" else work
    job = {
        "root": inside_work,
        "solution_path": os.path.join(inside_in, "solution.py"),
        "function_name": function_name,
        # Only what the harness must run: asserts are probes, expectations stay here.
        "tests": [p.sandbox for p in plans if not p.not_runnable],
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
        "readable": isolation.readable_paths() + [inside_in],
        "isolate_network": level == "process",
        "job_path": os.path.join(inside_in, "job.json"),
        "outside_job_path": os.path.join(inputs, "job.json"),
        "work": work,
    }
    # "replace": a lone surrogate from a broken model reply must not crash the parent.
    Path(inputs, "solution.py").write_text(code, encoding="utf-8", errors="replace")
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


class _FrameReader:
    """The harness's report pipe: ``%08x`` length + JSON frames, capped in size and count.

    A frame that does not parse ends the reading: whatever the candidate wrote into the pipe
    can only lose its own results, never make up ours.
    """

    def __init__(self) -> None:
        self.pending = bytearray()
        self.records: list[dict] = []
        self.total = 0
        self.broken = ""

    def add(self, chunk: bytes) -> None:
        if self.broken:
            return
        self.total += len(chunk)
        if self.total > REPORT_CAP_BYTES:
            self.broken = f"the report passed {REPORT_CAP_BYTES // (1024 * 1024)} MB"
            return
        self.pending += chunk
        while len(self.pending) >= 8:
            try:
                size = int(bytes(self.pending[:8]), 16)
            except ValueError:
                self.broken = "the report was garbled"
                return
            if size > FRAME_CAP_BYTES:
                self.broken = "a report record was too large"
                return
            if len(self.pending) < 8 + size:
                return
            frame = bytes(self.pending[8:8 + size])
            del self.pending[:8 + size]
            try:
                record = json.loads(frame.decode("utf-8", "replace"))
            except ValueError:
                self.broken = "the report was garbled"
                return
            if isinstance(record, dict):
                self.records.append(record)


class _ProcessRun:
    """One sandbox process: start it, watch clock / token / pipes, kill its group, reap it."""

    def __init__(self, job: dict, cfg: SandboxConfig, cancel: CancelToken | None, level: str,
                 cgroup: isolation.CgroupLimits) -> None:
        self.job = job
        self.cancel = cancel
        self.level = level
        self.cgroup = cgroup
        self.stdout = _CappedBuffer(cfg.output_cap_bytes)
        self.stderr = _CappedBuffer(cfg.output_cap_bytes)
        self.report = _FrameReader()
        self.disk_mb = int(cfg.disk_mb)
        self.reason = ""
        self.returncode: int | None = None
        self.pid: int | None = None

    def command(self) -> list[str]:
        harness_cmd = [sys.executable, "-s", "-B", *SAFE_PATH, "-m", HARNESS.name,
                       self.job["job_path"]]
        if self.level == "bubblewrap":
            command = isolation.bubblewrap_command(
                sys.executable, str(HARNESS), self.job["job_path"],
                os.path.dirname(self.job["outside_job_path"]), self.job["work"], self.disk_mb,
                python_flags=SAFE_PATH)
        elif self.level == "namespaces":
            command = isolation.namespaces_command(harness_cmd)
        else:
            command = harness_cmd
        return self.cgroup.wrap(command)

    def env(self) -> dict[str, str]:
        """The minimal environment plus where ``-m`` finds the harness (bubblewrap sets its
        own, inside the mount)."""
        env = _sandbox_env(self.job["root"])
        if self.level != "bubblewrap":
            env["PYTHONPATH"] = str(HARNESS.parent)
        return env

    def run(self, deadline: float) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self.job["report_fd"] = write_fd
            Path(self.job["outside_job_path"]).write_text(json.dumps(self.job),
                                                          encoding="utf-8")
            cwd = self.job["work"]
            try:
                proc = subprocess.Popen(
                    self.command(), cwd=cwd, env=self.env(),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    start_new_session=True, close_fds=True, pass_fds=(write_fd,))
            except OSError as exc:
                raise SandboxError(f"Could not start the sandbox process ({exc}); check that "
                                   f"{sys.executable} can run.") from None
        finally:
            os.close(write_fd)
        report_pipe = os.fdopen(read_fd, "rb", buffering=0)
        self.pid = proc.pid
        selector = selectors.DefaultSelector()
        pipes = ((proc.stdout, self.stdout), (proc.stderr, self.stderr),
                 (report_pipe, self.report))
        try:
            for pipe, buffer in pipes:
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
            for pipe, _ in pipes:
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


def _stop_reason(proc: _ProcessRun, records: list[dict]) -> str:
    """Why the process stopped early: "timeout", "cpu", "memory", "signal N", "exit N" or ""."""
    if proc.reason:
        return proc.reason
    if any(r.get("type") == "done" for r in records):
        return ""
    fatal = next((r for r in records if r.get("type") == "fatal"), None)
    if fatal is not None:
        return str(fatal.get("limit") or "crash")
    code = proc.returncode or 0
    if code < 0:
        if -code == signal.SIGXCPU:
            return "cpu"
        return f"signal {-code}"
    if "MemoryError" in proc.stderr.text():
        return "memory"
    if code > 128 and proc.level != "process":  # the wrapper reports its child's signal
        if code - 128 == signal.SIGXCPU:
            return "cpu"
        return f"signal {code - 128}"
    return f"exit {code}"


def _explain(killed: str, cfg: SandboxConfig, records: list[dict], stderr: str,
             broken: str) -> str:
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
        detail = str(fatal.get("error", "")) if fatal else (broken or _last_line(stderr))
        text = "the sandbox process ended unexpectedly" + (f" ({detail})" if detail else "")
    if not any(r.get("type") == "load" for r in records):
        text += " while loading the module"
    return text


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _build_report(records: list[dict], proc: _ProcessRun, plans: list[verdict.TestPlan],
                  cfg: SandboxConfig) -> RunReport:
    """Verdicts from the harness's records; the harness's own claims are never taken."""
    killed = _stop_reason(proc, records)
    stderr = proc.stderr.text()
    report = RunReport(stdout=proc.stdout.text(), stderr=stderr)
    load = next((r for r in records if r.get("type") == "load"), None)
    sandbox_index = [i for i, p in enumerate(plans) if not p.not_runnable]
    by_test: dict[int, dict] = {}
    probes: dict[int, list[dict]] = {}
    for r in records:
        index = r.get("index") if r.get("type") == "test" else r.get("test")
        if not isinstance(index, int) or not 0 <= index < len(sandbox_index):
            continue
        if r.get("type") == "test":
            by_test.setdefault(sandbox_index[index], r)
        elif r.get("type") == "probe":
            probes.setdefault(sandbox_index[index], []).append(r)
    unfinished = ""
    if load is None:
        report.load_error = _explain(killed, cfg, records, stderr, proc.report.broken)
        unfinished = report.load_error
    elif load.get("error"):
        report.load_error = str(load["error"])
        unfinished = f"not run: {load['error']}"
    elif killed:
        unfinished = _explain(killed, cfg, records, stderr, proc.report.broken)
    elif proc.report.broken:
        unfinished = f"not reported: {proc.report.broken}"
    else:
        unfinished = "not reported by the sandbox"
    for index, test_plan in enumerate(plans):
        loaded = load is not None and not load.get("error")
        record = by_test.get(index) if loaded else None
        report.results.append(verdict.judge(test_plan, record, probes.get(index, [])
                                            if loaded else [], unfinished))
    for record in records:
        if record.get("type") == "coverage" and isinstance(record.get("value"), (int, float)):
            report.coverage = min(1.0, max(0.0, float(record["value"])))
        elif record.get("type") == "latency" and isinstance(record.get("samples"), dict):
            report.latency = _latency(record["samples"], report, sandbox_index)
    limits = [r.get("limit") for r in ([load] if load else []) + list(by_test.values())]
    report.killed = killed or next((str(limit) for limit in limits if limit), "")
    return report


def _latency(samples: dict, report: RunReport, sandbox_index: list[int]) -> float | None:
    """Median seconds per execution over the tests judged passed."""
    values: list[float] = []
    for key, times in samples.items():
        try:
            index = sandbox_index[int(key)]
        except (ValueError, IndexError):
            continue
        if report.results[index].passed and isinstance(times, list):
            values += [float(t) for t in times if isinstance(t, (int, float)) and t >= 0]
    return _median(values)


# ---------------------------------------------------------------------------------------------
# secrets


#: Environment variables whose values are not secrets (and are too common to scrub).
_NOT_SECRET = frozenset({"PATH", "HOME", "PWD", "OLDPWD", "SHELL", "LANG", "LANGUAGE", "TERM",
                         "USER", "LOGNAME", "HOSTNAME", "SHLVL", "TZ", "EDITOR", "PAGER",
                         "PYTHONPATH", "VIRTUAL_ENV", "DISPLAY", "COLORTERM", "_"})
_MIN_SECRET_CHARS = 8


def _secret_values(passed_env: dict[str, str]) -> list[str]:
    """Values of the user's environment that the sandbox was not given: if one turns up in
    a message, the code found it some other way, and it must not be stored or prompted."""
    values = set()
    for key, value in os.environ.items():
        if key in _NOT_SECRET or key.startswith("LC_") or passed_env.get(key) == value:
            continue
        value = value.strip()
        if len(value) >= _MIN_SECRET_CHARS and not os.path.exists(value) and \
                value not in passed_env.values():
            values.add(value)
    return sorted(values, key=len, reverse=True)


def _scrub(text: str, secrets_: list[str]) -> str:
    for value in secrets_:
        if value in text:
            text = text.replace(value, "[secret removed]")
    return text


def _scrub_report(report: RunReport, secrets_: list[str]) -> None:
    """Removes known secret material from every text a report carries (defence in depth)."""
    if not secrets_:
        return
    report.load_error = _scrub(report.load_error, secrets_)
    report.stdout = _scrub(report.stdout, secrets_)
    report.stderr = _scrub(report.stderr, secrets_)
    for result in report.results:
        result.error = _scrub(result.error, secrets_)
