"""Secrets out of a run's report: defence in depth behind the rebuilt environment.

The sandbox is given none of the user's environment (``prepare.sandbox_env``), and bubblewrap
or the audit hook keeps it from the user's files. Should a value of the user's environment
still turn up in a message (the code found it some other way), it is replaced before the
report is stored or put into a prompt.
"""

from __future__ import annotations

import os

from dise.types import RunReport

#: Environment variables whose values are not secrets (and are too common to scrub).
_NOT_SECRET = frozenset({"PATH", "HOME", "PWD", "OLDPWD", "SHELL", "LANG", "LANGUAGE", "TERM",
                         "USER", "LOGNAME", "HOSTNAME", "SHLVL", "TZ", "EDITOR", "PAGER",
                         "PYTHONPATH", "VIRTUAL_ENV", "DISPLAY", "COLORTERM", "_"})
_MIN_SECRET_CHARS = 8


def secret_values(passed_env: dict[str, str]) -> list[str]:
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


def scrub_report(report: RunReport, secrets_: list[str]) -> None:
    """Removes known secret material from every text a report carries (defence in depth)."""
    if not secrets_:
        return
    report.load_error = _scrub(report.load_error, secrets_)
    report.stdout = _scrub(report.stdout, secrets_)
    report.stderr = _scrub(report.stderr, secrets_)
    for result in report.results:
        result.error = _scrub(result.error, secrets_)
