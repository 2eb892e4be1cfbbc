"""The deliberately weak Phase 1 setup that the real-model Phase 2 tests start from.

The first version comes from a scripted generator, ``scripted-weak``: an Ollama generator
(``backend = "ollama"``) whose server is ``ScriptedOllama`` (tests/support/scripted_ollama.py), which
always answers ``WEAK_ANSWER``, a ``sum_digit_squares`` that counts the digits instead. It
fails the stub's doctests on every machine, so its fitness is low and the optimiser queues it.
The optimiser then asks the real Qwen2.5-Coder-0.5B (embedded llama.cpp, greedy first) for a
better one. A sampled small model used to write the first version, and what it wrote changed
from one CPU to the next (issue 9).

The same settings go to the engine directly, to pytest-lsp as ``initializationOptions``, to
Neovim's server as a ``dise.toml`` and, via the VS Code settings, to the extension.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

#: The scripted generator's name, as the hover and the store show it.
WEAK_GENERATOR = "scripted-weak"
#: The tag ``ScriptedOllama`` serves the weak answer under.
WEAK_TAG = "dise-scripted-weak:latest"
#: What the scripted generator answers to every request: plausible, runs, and wrong (the
#: number of digits, not the sum of their squares), so every doctest of ``STUB`` fails.
WEAK_ANSWER = """```python
def sum_digit_squares(n: int) -> int:
    return len(str(n))
```
"""


def weak_then_quick(ollama_host: str) -> dict:
    """Settings (a ``Config`` override): the scripted weak default served from
    ``ollama_host``, and a short optimiser run with the real Qwen2.5-Coder-0.5B."""
    return {
        "ollama": {"host": ollama_host},
        "generators": {
            WEAK_GENERATOR: {"backend": "ollama", "ollama_model": WEAK_TAG},
            # embedded, whatever the Ollama at ollama_host has; bounded so the experiments
            # stay short on a busy machine
            "qwen-0.5b": {"backend": "llamacpp", "max_tokens": 192}},
        "pipeline": {"default_generator": WEAK_GENERATOR},
        "optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.0, 0.3],
                     "approaches": ["plain"], "max_attempts": 2, "incremental_max_steps": 0,
                     "poll_interval_s": 0.05, "registry_min_wins": 1},
    }


NAME = "sum_digit_squares"
#: A stub whose doctests ``WEAK_ANSWER`` fails and Qwen at T=0 passes.
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


def fitnesses(message: str) -> tuple[float, float]:
    """The two fitness values of a better-version diagnostic or lens ("… 0.57 → 1.00 …")."""
    match = re.search(r"(\d\.\d\d) → (\d\.\d\d)", message)
    assert match, f"no 'old → new' fitness in {message!r}"
    return float(match[1]), float(match[2])


def scripted_weak_ollama():
    """A ``ScriptedOllama`` serving ``WEAK_ANSWER``; ``with`` starts and stops it."""
    from support.scripted_ollama import ScriptedOllama

    return ScriptedOllama({WEAK_TAG: WEAK_ANSWER})
