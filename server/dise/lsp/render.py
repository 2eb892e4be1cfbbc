"""What the editor shows about a better version, as text: diagnostic message, lens and quick-fix
titles, and the hover section comparing the version in the file with the better one.

Pure functions of artifacts (``dise.lsp.hover`` renders one artifact's hover).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dise.engine import verdict
from dise.types import Artifact
from dise.lsp.hover import format_latency, percent, tests_line
from dise.lsp.index import Known


def diagnostic_message(current: Artifact, better: Artifact) -> str:
    """"Better version available: fitness 0.50 → 0.90 (v2, qwen @ 0.3)", with "; it still
    fails 2 of your 3 tests" when the better version fails some of the user's own tests (it
    is better by the rules, not yet right by the user's examples)."""
    failed, total = verdict.trusted_counts(better)
    still = f"; it still fails {failed} of your {total} tests" if failed else ""
    return (f"Better version available: fitness {current.fitness_score:.2f} → "
            f"{better.fitness_score:.2f} (v{better.version}, {better.generator_used} @ "
            f"{better.temperature:g}){still}")


def lens_title(current: Artifact, better: Artifact) -> str:
    return f"⚡ Better version available {current.fitness_score:.2f} → {better.fitness_score:.2f}"


def accept_title(better: Artifact) -> str:
    return f"DiSE: Accept optimized version (v{better.version})"


def unavailable_hover(unavailable: Sequence[dict[str, Any]]) -> str:
    """A hover line naming the generators Phase 2 cannot use and how to add them ("" when
    it can use every one)."""
    if not unavailable:
        return ""
    parts = []
    for u in unavailable:
        how = f" (`{u['how']}`)" if u.get("how") else ""
        why = "not installed" if "not installed" in str(u.get("reason")) else u.get("reason")
        parts.append(f"{u.get('generator')}: {why}{how}")
    return "\n\n- Phase 2 cannot use " + "; ".join(parts)


def hover_section(known: Known, better: Artifact | None,
                  unavailable: Sequence[dict[str, Any]] = (),
                  failed: Mapping[str, Any] | None = None) -> str:
    """Hover lines comparing the version in the file with ``better`` (``offers.better_version``),
    the generators Phase 2 cannot use (``Optimizer.state()["unavailable"]``) and the setups
    that failed for the function's task type (``failed``: ``Optimizer.failed_setups()``);
    "" when there is none."""
    from dise.optimize import failures
    shown = known.current or known.artifact
    task_type = getattr(shown, "task_type", "") or ""
    line = failures.describe(task_type, (failed or {}).get(task_type) or [])
    unavailable_text = unavailable_hover(unavailable) + (f"\n\n- {line}" if line else "")
    if better is None or known.current is None:
        return unavailable_text
    rows = [("version in the file", known.current), ("better version", better)]
    lines = ["", "---", "", f"**{diagnostic_message(known.current, better)}**", "",
             "| | version | fitness | quality | latency | coverage | tests |",
             "|---|---|---|---|---|---|---|"]
    for label, a in rows:
        coverage = percent(a.coverage)
        lines.append(f"| {label} | v{a.version} | {a.fitness_score:.2f} | "
                     f"{a.quality_score:.2f} | {format_latency(a.latency)} | {coverage} | "
                     f"{tests_line(a)} |")
    lines += ["", f"- better version: {better.generator_used} · {better.model} · temperature "
              f"{better.temperature:g} · parent {better.parent or '–'}",
              "- quick fix: “" + accept_title(better) + "”"]
    return "\n".join(lines) + unavailable_text
