"""The ``RunReport`` of one run, assembled from the harness's records and the process's end.

Verdicts are made here, through ``verdict.judge``, from the values the harness reported; the
harness's own claims (passed, failed) are never taken. ``RunReport.killed`` names the first
limit the sandbox enforced, whether it stopped one test (per-test alarm, MemoryError) or the
whole process: "timeout", "memory", "cpu", "signal N", "exit N" (the process ended without
finishing) or "" when no limit was hit. Tests the process never reached count as failed,
with the reason (one sentence a user reads) as their error.
"""

from __future__ import annotations

import signal

from dise.config import SandboxConfig
from dise.sandbox import verdict
from dise.sandbox.probes import TestPlan
from dise.sandbox.process import ProcessRun
from dise.types import RunReport


def _stop_reason(proc: ProcessRun, records: list[dict]) -> str:
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


def build_report(records: list[dict], proc: ProcessRun, plans: list[TestPlan],
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
