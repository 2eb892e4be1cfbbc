"""Phase 2 in a real headless Neovim: the better-version diagnostic and lens arrive, the quick
fix replaces the function, and both go away (tests/nvim/drive_better.lua drives it). The quick
fix is chosen through Neovim's own ``vim.lsp.buf.code_action``, which resolves it: the server's
``codeAction/resolve`` gives Neovim the edit, and Neovim applies it itself.

The server runs the real optimiser, sandbox and scoring, configured through a ``dise.toml`` in
``DISE_HOME`` as a user would: once over ``lsp_phase2_double`` (a scripted engine, quick), and
once with the real engine (``weak_setup``: a scripted generator behind a scripted Ollama writes
the same weak first version on every machine, the optimiser's real Qwen2.5-Coder-0.5B a better
one).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.lsp_harness import server_command, server_env
from support.neovim import EXIT_MARGIN_S, SETUP, lsp_log
from support.weak_setup import NAME as WEAK_NAME
from support.weak_setup import STUB as WEAK_STUB
from support.weak_setup import WEAK_GENERATOR, as_toml, doctests_pass, fitnesses, weak_then_quick

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "nvim" / "drive_better.lua"
#: Upper bounds of the waits inside Neovim (a hang fails instead of blocking), not speed checks.
WAIT_S = 60
OPTIMIZE_WAIT_S = 120
#: The same with two real generations on a loaded 2-core machine.
REAL_OPTIMIZE_WAIT_S = 900
QUICK_TOML = """[optimize]
experiment_generators = ["qwen-0.5b"]
temperatures = [0.3]
approaches = ["plain"]
max_attempts = 1
patience = 1
incremental_max_steps = 0
poll_interval_s = 0.1
"""
STUB = ('"""Counting."""\n\n\n'
        "def add_one(x: int) -> int:\n"
        '    """Return x plus one."""\n')


def drive(nvim: str, tmp_path: Path, *, toml: str, engine: str | None, file: str, text: str,
          name: str, expect: str | None, optimize_wait_s: float) -> tuple[dict, Path]:
    """Run drive_better.lua against a server configured by ``toml``; its result and the file."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dise.toml").write_text(toml)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text("[project]\nname = 'ws'\n")
    source = ws / file
    source.write_text(text)
    result = tmp_path / "nvim-result.json"
    params = tmp_path / "nvim-params.json"
    params.write_text(json.dumps({
        "setup": str(SETUP), "file": str(source), "name": name, "result": str(result),
        "cmd": server_command(engine), "wait_ms": WAIT_S * 1000,
        "optimize_wait_ms": optimize_wait_s * 1000, "expect": expect,
    }))
    env = server_env(engine, DISE_HOME=str(home), DISE_NVIM_PARAMS=str(params))
    if "[ollama]" in toml.splitlines():
        env.pop("OLLAMA_HOST", None)   # the dise.toml's host, as for a user who never set it
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[var] = str(tmp_path / "xdg" / var.lower())
    proc = subprocess.run([nvim, "--headless", "--clean", "-c", f"luafile {DRIVER}"],
                          cwd=ws, env=env, capture_output=True, text=True,
                          timeout=2 * WAIT_S + optimize_wait_s + EXIT_MARGIN_S * 3)
    assert result.exists(), f"Neovim wrote no result (rc {proc.returncode}): {proc.stderr[-2000:]}"
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("stage"), data.get("error"), lsp_log(tmp_path / "xdg"))
    return data, source


def assert_better_version_flow(data: dict) -> None:
    """Diagnostic and lens arrived, the quick fix applied, and both went away."""
    diagnostic = data["diagnostic"]
    assert diagnostic["message"].startswith("Better version available: fitness ")
    assert diagnostic["source"] == "dise" and diagnostic["lnum"] == diagnostic["def_line"]
    assert any(t.startswith("⚡ Better version available") for t in data["lenses_better"])
    assert data["accept_result"]["applied"] is True
    # Neovim (0.7 and 0.11) resolved the quick fix: the server gave it the edit, Neovim
    # applied it itself (the server sent no workspace/applyEdit) and ran the recording command.
    assert data["accept_data"] is True
    assert data["accept_resolved"] == {"edit": True, "command": "dise.acceptOptimized",
                                       "applied": True}, data["accept_resolved"]
    assert data["server_edits"] == data["server_edits_before_accept"]
    assert data["diagnostics_gone"] is True
    assert data["lenses_gone"] is True, data["lenses_after"]


def test_better_version_quick_fix_in_neovim(nvim: str, tmp_path: Path) -> None:
    data, source = drive(nvim, tmp_path, toml=QUICK_TOML,
                         engine="support.lsp_phase2_double:Phase2DoubleEngine", file="counting.py",
                         text=STUB, name="add_one", expect="operator.add(x, 1)",
                         optimize_wait_s=OPTIMIZE_WAIT_S)
    assert_better_version_flow(data)
    on_disk = source.read_text()
    assert "operator.add(x, 1)" in on_disk and on_disk.count("import operator") == 1
    assert '"""Return x plus one."""' in on_disk


@pytest.mark.model
@pytest.mark.timeout(1500)
def test_better_version_with_the_real_models_in_neovim(nvim: str, tmp_path: Path,
                                                       models_dir: Path, weak_ollama) -> None:
    """The real engine: the scripted generator writes a weak first version (through the Ollama
    API), the real Qwen the better one."""
    data, source = drive(nvim, tmp_path, toml=as_toml(weak_then_quick(weak_ollama.host)),
                         engine=None, file="digits.py", text=WEAK_STUB, name=WEAK_NAME,
                         expect=None, optimize_wait_s=REAL_OPTIMIZE_WAIT_S)
    first = tmp_path / "first.py"
    first.write_text(data["generated"])
    assert doctests_pass(first).returncode != 0, "premise: the weak version fails its doctests"
    assert any(path == "/api/chat" for _, path, _ in weak_ollama.requests), \
        f"{WEAK_GENERATOR} was never asked through the Ollama API"
    message = data["diagnostic"]["message"]
    assert "(v2, qwen-0.5b @ " in message
    old, new = fitnesses(message)
    assert new > old, message
    assert_better_version_flow(data)
    assert doctests_pass(source).returncode == 0, source.read_text()
    assert ">>> sum_digit_squares(99)" in source.read_text()   # the user's docstring is kept
