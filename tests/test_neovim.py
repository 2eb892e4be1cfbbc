"""A real editor: headless Neovim (0.7.2 from Debian and 0.11.4 from PyPI) with DiSE.

Neovim is started with ``--clean`` and isolated XDG directories, loads the documented setup
(docs/neovim.lua) exactly as a user's config would, opens a file with a stub, lists the code
actions, runs "DiSE: Generate …", ``:write``s, and hovers the function. The Lua driver
(tests/nvim/drive_generate.lua) writes what it saw to a JSON file; this test reads it and the
file on disk. ``scripts/install-editors`` installs both binaries; a missing one is skipped
with the command that installs it.

The quick test uses the engine double (a fixed function, so the real client's plumbing is
checked in seconds); the model test runs the real engine with the embedded model.
"""

from __future__ import annotations

import json
import runpy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.lsp_double import MARKER
from support.lsp_harness import ServerEnv, server_env
from support.neovim import EXIT_MARGIN_S, SETUP, lsp_log

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "nvim" / "drive_generate.lua"
#: Upper bound of each wait inside Neovim (client start, one request, the generation).
#: Not a speed assertion: a hang fails instead of blocking; a loaded 2-core machine may
#: take minutes for one real generation.
QUICK_WAIT_S = 60
MODEL_WAIT_S = 420

STUB = '''"""Small helpers."""


def add_numbers(a: int, b: int) -> int:
    """Return the sum of a and b.

    >>> add_numbers(2, 3)
    5
    """


def unrelated(x):
    return x * 2
'''
NAME = "add_numbers"
LSP_MESSAGE_ERROR = 1


def run_neovim(nvim: str, tmp_path: Path, env: ServerEnv, wait_s: int) -> dict[str, Any]:
    """Edit ``ws/helpers.py`` (a stub) in headless Neovim; the driver's JSON result."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text("[project]\nname = 'ws'\n")  # a root marker
    source = ws / "helpers.py"
    source.write_text(STUB)
    result = tmp_path / "nvim-result.json"
    params = tmp_path / "nvim-params.json"
    params.write_text(json.dumps({
        "setup": str(SETUP), "file": str(source), "name": NAME, "result": str(result),
        "cmd": env.command, "wait_ms": wait_s * 1000,
    }))
    env = dict(env, DISE_NVIM_PARAMS=str(params))
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[var] = str(tmp_path / "xdg" / var.lower())
    proc = subprocess.run([nvim, "--headless", "--clean", "-c", f"luafile {DRIVER}"],
                          cwd=ws, env=env, capture_output=True, text=True,
                          timeout=4 * wait_s + EXIT_MARGIN_S, check=False)
    assert result.exists(), f"Neovim wrote no result (rc {proc.returncode}): {proc.stderr[-2000:]}"
    data = json.loads(result.read_text())
    data["returncode"] = proc.returncode
    data["stderr"] = proc.stderr[-2000:]
    data["on_disk"] = source.read_text()
    data["path"] = str(source)
    data["lsp_log"] = lsp_log(tmp_path / "xdg")
    return data


def hover_text(contents: Any) -> str:
    """Hover contents as text, whatever shape (MarkupContent, MarkedString, list)."""
    if isinstance(contents, dict):
        return str(contents.get("value", ""))
    if isinstance(contents, list):
        return "\n".join(hover_text(c) for c in contents)
    return str(contents or "")


def check_session(data: dict[str, Any]) -> str:
    """What every run must show; returns the file as saved."""
    assert data["ok"], (f"Neovim failed at {data['stage']}: {data.get('error')}\n"
                        f"messages: {data['messages']}\nstderr: {data['stderr']}\n"
                        f"lsp.log: {data['lsp_log']}")
    assert data["returncode"] == 0
    assert data["filetype"] == "python"
    assert f"DiSE: Generate `{NAME}`" in data["actions"]
    assert data["command_result"]["applied"] is True
    # Chosen through vim.lsp.buf.code_action: Neovim resolved the generate action first (the
    # server offers codeAction/resolve), got it back as it was, and ran its command.
    assert data["resolved"] == {"edit": False, "command": "dise.generate", "applied": False}
    assert data["command_name"] == "dise.generate"
    errors = [m["message"] for m in data["messages"] if m["type"] == LSP_MESSAGE_ERROR]
    assert errors == [], errors
    assert f"DiSE: Generate `{NAME}`" in data["lenses_before"]
    assert any(t.startswith("DiSE: fitness") for t in data["lenses_after"]), data["lenses_after"]
    assert not any(t.startswith("DiSE: Generate") for t in data["lenses_after"])
    kinds = [p["kind"] for p in data["progress"]]
    assert "begin" in kinds and kinds[-1] == "end", data["progress"]

    saved = data["on_disk"]
    assert saved == data["buffer"] + "\n"          # what :write put on disk is the buffer
    assert data["modified_after_write"] is False
    assert f"def {NAME}(a: int, b: int) -> int:\n" in saved
    assert '    """Return the sum of a and b.' in saved
    assert "def unrelated(x):\n    return x * 2\n" in saved

    hover = hover_text(data["hover"])
    assert "fitness" in hover and "coverage" in hover, hover
    assert f"`{data['command_result']['nodeId']}_v1`" in hover
    return saved


def load_module(path: str) -> dict[str, Any]:
    """Run the file Neovim wrote, as ``python helpers.py`` would (minus ``__main__``)."""
    return runpy.run_path(path, run_name="helpers_from_neovim")


@pytest.mark.timeout(4 * QUICK_WAIT_S + 2 * EXIT_MARGIN_S)
def test_neovim_runs_the_generate_action_with_the_test_engine(nvim, tmp_path):
    data = run_neovim(nvim, tmp_path, server_env(), QUICK_WAIT_S)
    saved = check_session(data)
    assert MARKER in saved
    assert callable(load_module(data["path"])[NAME])


@pytest.mark.model
@pytest.mark.timeout(4 * MODEL_WAIT_S + 2 * EXIT_MARGIN_S)
def test_neovim_generates_a_working_function_with_the_real_model(nvim, tmp_path, models_dir):
    data = run_neovim(nvim, tmp_path, server_env(engine=None), MODEL_WAIT_S)
    saved = check_session(data)
    assert MARKER not in saved
    function = load_module(data["path"])[NAME]
    assert isinstance(function(2, 3), int)     # it runs; the hover's fitness says how well
    assert "qwen" in hover_text(data["hover"]).lower()
