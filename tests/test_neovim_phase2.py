"""Phase 2 in a real headless Neovim: the better-version diagnostic and lens arrive, the quick
fix replaces the function, and both go away (tests/nvim/drive_better.lua drives it).

The server runs the real optimiser, sandbox and scoring over ``lsp_phase2_double`` (scripted
model), configured through a ``dise.toml`` in ``DISE_HOME`` as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lsp_harness import server_env
from test_neovim import EXIT_MARGIN_S, INSTALL_HINT, NVIM_VERSIONS, SETUP, _lsp_log, find_nvim

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "nvim" / "drive_better.lua"
#: Upper bounds of the waits inside Neovim (a hang fails instead of blocking), not speed checks.
WAIT_S = 60
OPTIMIZE_WAIT_S = 120
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


@pytest.fixture(params=sorted(NVIM_VERSIONS), ids=lambda v: f"nvim-{v}")
def nvim(request) -> str:
    binary = find_nvim(request.param)
    if binary is None:
        pytest.skip(f"{NVIM_VERSIONS[request.param]} is not installed; {INSTALL_HINT}")
    return binary


def test_better_version_quick_fix_in_neovim(nvim: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dise.toml").write_text(QUICK_TOML)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text("[project]\nname = 'ws'\n")
    source = ws / "counting.py"
    source.write_text(STUB)
    result = tmp_path / "nvim-result.json"
    params = tmp_path / "nvim-params.json"
    params.write_text(json.dumps({
        "setup": str(SETUP), "file": str(source), "name": "add_one", "result": str(result),
        "cmd": [sys.executable, "-m", "dise.lsp"], "wait_ms": WAIT_S * 1000,
        "optimize_wait_ms": OPTIMIZE_WAIT_S * 1000, "expect": "operator.add(x, 1)",
    }))
    env = server_env("lsp_phase2_double:Phase2DoubleEngine", DISE_HOME=str(home),
                     DISE_NVIM_PARAMS=str(params))
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[var] = str(tmp_path / "xdg" / var.lower())
    proc = subprocess.run([nvim, "--headless", "--clean", "-c", f"luafile {DRIVER}"],
                          cwd=ws, env=env, capture_output=True, text=True,
                          timeout=2 * WAIT_S + OPTIMIZE_WAIT_S + EXIT_MARGIN_S * 3)
    assert result.exists(), f"Neovim wrote no result (rc {proc.returncode}): {proc.stderr[-2000:]}"
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("stage"), data.get("error"), _lsp_log(tmp_path / "xdg"))
    diagnostic = data["diagnostic"]
    assert diagnostic["message"].startswith("Better version available: fitness ")
    assert diagnostic["source"] == "dise" and diagnostic["lnum"] == diagnostic["def_line"]
    assert any(t.startswith("⚡ Better version available") for t in data["lenses_better"])
    assert data["accept_result"]["applied"] is True
    assert data["diagnostics_gone"] is True
    assert data["lenses_gone"] is True, data["lenses_after"]
    on_disk = source.read_text()
    assert "operator.add(x, 1)" in on_disk and on_disk.count("import operator") == 1
    assert '"""Return x plus one."""' in on_disk
