"""What Phase 2 could not use: the setups that failed for a task type.

The runner counts every attempt in the task type's registry record
(``Store.record_registry_trial``: functions with and without a gain per setup, and errors
with the last reason). A setup *failed* for the task type when it errored, or when it was
tried on functions and gave a better candidate on none of them. ``dise status``,
``dise/optimizerState`` and the hover show these, so a user sees that, say, the 0.5B at
T=0.7 never helped their string functions, or that a generator keeps crashing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dise.engine import best_of_k


def failed_setups(record: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``[{"setup", "no_gain", "errors", "last_error"}]`` (no_gain: functions tried without a
    gain) for one registry record; errors first, then the most tried."""
    out = []
    for setup, trial in ((record or {}).get("trials") or {}).items():
        if setup.startswith(best_of_k.PREFIX):  # Phase 1's sampling evidence, not a setup
            continue
        no_gain = 0 if trial.get("gain") else len(trial.get("no_gain") or ())
        errors = int(trial.get("errors") or 0)
        if no_gain or errors:
            out.append({"setup": setup, "no_gain": no_gain, "errors": errors,
                        "last_error": trial.get("last_error") or ""})
    return sorted(out, key=lambda f: (-f["errors"], -f["no_gain"], f["setup"]))


def by_task_type(records: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """``failed_setups`` of every registry record that has any, by task type."""
    out = {}
    for rec in records:
        found = failed_setups(rec)
        if found and rec.get("task_type"):
            out[str(rec["task_type"])] = found
    return out


def describe(task_type: str, failed: Sequence[Mapping[str, Any]], limit: int = 4) -> str:
    """One line: "Phase 2 could not use for math functions: qwen-0.5b@0.7/plain (no gain on 3
    functions), qwen-1.5b@0/plain (2 errors: …)"; "" when nothing failed."""
    if not failed:
        return ""
    parts = []
    for f in failed[:limit]:
        why = []
        if f["errors"]:
            last = f": {f['last_error'][:80]}" if f.get("last_error") else ""
            why.append(f"{f['errors']} error{'s' if f['errors'] != 1 else ''}{last}")
        if f["no_gain"]:
            why.append(f"no gain on {f['no_gain']} function{'s' if f['no_gain'] != 1 else ''}")
        parts.append(f"{f['setup']} ({'; '.join(why)})")
    more = f" and {len(failed) - limit} more" if len(failed) > limit else ""
    return f"Phase 2 could not use for {task_type} functions: {', '.join(parts)}{more}"
