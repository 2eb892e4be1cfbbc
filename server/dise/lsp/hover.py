"""Markdown shown when hovering a function DiSE generated: what it scored and where it stands."""

from __future__ import annotations

from typing import Any

from dise.engine import verdict
from dise.engine.types import Artifact


def percent(value: float | None) -> str:
    """A share as "75%"; "n/a" when it was not measured (coverage)."""
    return "n/a" if value is None else f"{value * 100:.0f}%"


def format_latency(seconds: float | None) -> str:
    """Human latency: µs below a millisecond, ms below a second."""
    if seconds is None:
        return "– (no test passed)"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def tests_line(artifact: Artifact) -> str:
    kinds = ", ".join(f"{kind} {counts[0]}/{counts[1]}"
                      for kind, counts in sorted(artifact.test_kinds.items()))
    summary = f"{artifact.tests_passed}/{artifact.tests_total} passed"
    return f"{summary} ({kinds})" if kinds else summary


def optimisation_state(artifact: Artifact, queue_position: int | None,
                       optimise_below: float) -> str:
    """Why the optimiser will or will not look at this function again."""
    if queue_position is not None:
        return (f"queued: fitness {artifact.fitness_score:.2f} < {optimise_below:g} "
                f"(position {queue_position})")
    if artifact.fitness_score < optimise_below:
        return f"not queued (fitness {artifact.fitness_score:.2f} < {optimise_below:g})"
    if artifact.version > 1:
        return f"optimised (v{artifact.version})"
    return f"done: fitness ≥ {optimise_below:g}"


def hover_markdown(artifact: Artifact, *, queue_position: int | None, optimise_below: float,
                   edited: bool, versions: int | None = None) -> str:
    """The hover text; one table of metrics and a few lines of provenance."""
    a = artifact
    lines = [f"**DiSE** · `{a.function_name}` · `{a.artifact_id}`", ""]
    if edited:
        lines += ["⚠ **edited since generated**: the metrics are for the generated version.",
                  ""]
    lines += [
        "| fitness | quality | latency | coverage |",
        "|---|---|---|---|",
        f"| **{a.fitness_score:.2f}** | {a.quality_score:.2f} | {format_latency(a.latency)} "
        f"| {percent(a.coverage)} |",
        "",
        f"- tests: {tests_line(a)}",
        f"- judged by: {verdict.authority_line(a)}",
        f"- generator: {a.generator_used} · model: {a.model} · backend: {a.backend} · "
        f"temperature {a.temperature:g}" + (
            f" · best-of-k sample (seed {a.extra.get('seed')}): the first answer failed your "
            "tests" if a.extra.get("origin") == "sample" else ""),
        f"- time: {verdict.time_summary(a.generation_time, a.stage_times)}",
        f"- version: {a.version}" + (f" of {versions}" if versions and versions > 1 else "")
        + f", parent: {a.parent or '–'}",
        f"- phase: {a.phase}",
        f"- optimisation: {optimisation_state(a, queue_position, optimise_below)}",
    ]
    failed = verdict.failed_line(a)
    if failed:
        lines.insert(2, f"⚠ **{failed}**")
        lines.insert(3, "")
    note = verdict.evidence_note(a)
    if note:
        lines.append(f"- {note}")
    if a.lint:
        lines.append(f"- lint: {len(a.lint)} finding(s)")
    if a.extra.get("isolation"):
        lines.append(f"- sandbox: {a.extra['isolation']}")
    return "\n".join(lines)


def artifact_summary(artifact: Artifact, queue_position: int | None) -> dict[str, Any]:
    """The JSON the ``dise.status`` command returns for one node."""
    a = artifact
    return {
        "nodeId": a.node_id, "artifactId": a.artifact_id, "function": a.function_name,
        "version": a.version, "parent": a.parent, "phase": a.phase,
        "fitness": a.fitness_score, "quality": a.quality_score, "latency": a.latency,
        "coverage": a.coverage, "testsPassed": a.tests_passed, "testsTotal": a.tests_total,
        "testKinds": a.test_kinds, "judgedBy": verdict.authority_line(a),
        "trustedFailed": verdict.trusted_counts(a)[0],
        "trustedTotal": verdict.trusted_counts(a)[1],
        "evidence": a.extra.get("evidence") or {},
        "generator": a.generator_used, "model": a.model,
        "isolation": a.extra.get("isolation", ""),
        "backend": a.backend, "generationTime": a.generation_time,
        "queuePosition": queue_position,
    }
