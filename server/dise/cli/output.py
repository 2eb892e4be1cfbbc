"""How the command line shows a stored function: code, tests with their trust, metrics.

``console``/``err_console`` are read at call time (``output.console``), so a test can swap
them for a ``Console`` writing to a buffer.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from dise.engine import verdict
from dise.types import Artifact

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def first_line(text: str, limit: int) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters (… when cut)."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _fmt_latency(latency: float | None) -> str:
    if latency is None:
        return "n/a (no passing test)"
    if latency < 1e-3:
        return f"{latency * 1e6:.1f} µs"
    return f"{latency * 1e3:.2f} ms"


def metrics_table(a: Artifact) -> Table:
    """Fitness, quality, latency, coverage, tests, authority, generator …: two columns."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    tests = ", ".join(f"{k} {p}/{t}" for k, (p, t) in a.test_kinds.items()) or "none"
    table.add_row("fitness", f"{a.fitness_score:.2f}")
    table.add_row("quality", f"{a.quality_score:.2f}")
    table.add_row("latency", _fmt_latency(a.latency))
    table.add_row("coverage", "n/a" if a.coverage is None else f"{a.coverage:.0%}")
    table.add_row("tests", f"{a.tests_passed}/{a.tests_total} passed ({tests})")
    table.add_row("judged by", escape(verdict.authority_line(a)))
    note = verdict.evidence_note(a)
    if note:
        table.add_row("evidence", escape(note))
    if a.extra.get("isolation"):
        table.add_row("sandbox", str(a.extra["isolation"]))
    table.add_row("generator", f"{a.generator_used} · {a.model} @ T={a.temperature}")
    table.add_row("time", verdict.time_summary(a.generation_time, a.stage_times))
    table.add_row("task type", f"{a.task_type} ({a.intent})")
    table.add_row("version", f"{a.artifact_id}" + (f" (parent {a.parent})" if a.parent else ""))
    table.add_row("phase", a.phase)
    if a.tool_usage:
        table.add_row("tools", "; ".join(a.tool_usage))
    return table


def _trust(test: dict[str, Any]) -> str:
    """``yours`` for the user's tests, ``check`` for smoke calls, the credibility of a
    model test (``guess 0.50``; ``guess 0 ✗`` when the user's tests contradict it)."""
    from dise.engine import credibility
    from dise.types import TRUSTED_KINDS, TestCase

    if test.get("kind") in TRUSTED_KINDS:
        return "yours"
    if test.get("kind") != "model":
        return "check"
    weight = credibility.weight(TestCase.from_dict(dict(test)))
    return f"guess {weight:.2f}" + (" ✗" if weight == 0 else "")


def print_artifact(a: Artifact, *, queue_position: int | None = None,
                   written: str | None = None) -> None:
    """Print the code (``written``: the function as it now stands in the user's file, with
    their own signature, instead of the model's), up to 12 tests with their results, what the
    examples skipped, metrics."""
    code = (written or a.code).rstrip()
    console.print(Panel(Syntax(code, "python", theme="ansi_dark", word_wrap=True),
                        title=f"[bold]{escape(a.function_name)}[/] · {a.artifact_id}",
                        expand=False))
    tests = Table(title="tests", title_justify="left", box=None)
    tests.add_column("kind")
    tests.add_column("trust")
    tests.add_column("test", overflow="fold")
    tests.add_column("result")
    failures = {f.split(" -> ")[0]: f.split(" -> ", 1)[-1] for f in a.extra.get("failures", [])}
    skipped = {f.split(" -> ")[0]: f.split(" -> ", 1)[-1]
               for f in a.extra.get("not_runnable", [])}
    for t in a.tests[:12]:
        code = t.get("source") or (t["code"] + (f"  ==  {t['expect']}" if t.get("expect")
                                                else ""))
        failed = failures.get(t["code"])
        result = f"[red]✗ {escape(failed)}[/]" if failed is not None else "[green]✓[/]"
        if t["code"] in skipped:
            result = f"[yellow]– {escape(skipped[t['code']])}[/]"
        if a.extra.get("load_error"):
            result = "[red]✗ not run[/]"
        tests.add_row(t["kind"], _trust(t), escape(code), result)
    if len(a.tests) > 12:
        tests.add_row("…", "", f"{len(a.tests) - 12} more", "")
    if a.tests:
        console.print(tests)
    else:
        console.print("[yellow]No tests could be derived or written for this function.[/]")
    if a.extra.get("load_error"):
        console.print(f"[red]The code does not load:[/] {escape(a.extra['load_error'])}")
    found = a.extra.get("examples") or {}
    for line in found.get("contradictions") or []:
        console.print(f"[yellow]Contradictory examples, neither used as a test:[/] "
                      f"{escape(line)}")
    if found.get("skipped"):
        console.print("[yellow]Example lines skipped (no known notation):[/] "
                      + escape(" | ".join(found["skipped"][:5])))
    console.print(metrics_table(a))
    if queue_position:
        console.print(f"[dim]Queued for optimisation (position {queue_position}): "
                      f"fitness below the threshold.[/]")
