"""The deliberately weak Phase 1 setup that the real-model Phase 2 tests start from.

SmolLM2-135M, too hot and with too few tokens to finish, writes a first version that fails
its tests; the optimiser, given Qwen2.5-Coder-0.5B, finds a better one in a short run. The
same settings go to the engine directly, to pytest-lsp as ``initializationOptions`` and to
Neovim's server as a ``dise.toml``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Settings (a ``Config`` override): the weak default, and a short optimiser run.
WEAK_THEN_QUICK: dict = {
    "generators": {
        "weak-smollm2": {"backend": "llamacpp", "model": "smollm2-135m",
                         "temperature": 1.5, "max_tokens": 48},
        # bounded so the experiments stay short on a busy machine
        "qwen-0.5b": {"max_tokens": 192}},
    "pipeline": {"default_generator": "weak-smollm2"},
    "optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.0, 0.3],
                 "approaches": ["plain"], "max_attempts": 2, "incremental_max_steps": 0,
                 "poll_interval_s": 0.05, "registry_min_wins": 1},
}

NAME = "sum_digit_squares"
#: A stub whose doctests the weak setup fails and Qwen at T=0 passes.
STUB = '''"""Digit helpers."""


def sum_digit_squares(n: int) -> int:
    """Return the sum of the squares of the decimal digits of a non-negative integer n.

    >>> sum_digit_squares(12)
    5
    >>> sum_digit_squares(0)
    0
    >>> sum_digit_squares(99)
    162
    """
'''


def as_toml(settings: dict, prefix: str = "") -> str:
    """The settings as a ``dise.toml`` (tables of scalars and lists, all this file needs)."""
    lines: list[str] = []
    scalars = {k: v for k, v in settings.items() if not isinstance(v, dict)}
    if scalars:
        lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    for key, value in settings.items():
        if isinstance(value, dict):
            lines.append(as_toml(value, f'{prefix}.{_toml_key(key)}' if prefix else key))
    return "\n".join(lines)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def doctests_pass(path: Path) -> subprocess.CompletedProcess:
    """Run the file's doctests as a user would (``python -m doctest``)."""
    return subprocess.run([sys.executable, "-m", "doctest", str(path)], capture_output=True,
                          text=True, timeout=60)
