"""Which folder "the workspace" is for a document, in a multi-root workspace.

An editor may open several folders at once (LSP ``workspaceFolders``, changed later with
``workspace/didChangeWorkspaceFolders``). Everything DiSE does "in the workspace" (the
workspace tests it freezes, a ``storeScope: "workspace"`` store) belongs to the folder that
holds the document, not to the first folder the editor listed. Pure functions: the server
passes the folders it knows (pygls keeps them up to date).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

#: Files or folders that mark the root of a project when no workspace folder holds a file.
PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")


def _contains(folder: Path, path: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def project_root(path: str | os.PathLike[str]) -> Path | None:
    """The nearest folder above ``path`` (a file) holding one of ``PROJECT_MARKERS``."""
    here = Path(path).absolute().parent
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return None


def root_for(path: str | os.PathLike[str], folders: Iterable[str | os.PathLike[str]]) -> str:
    """The workspace of the file ``path``: the innermost of ``folders`` holding it; for a file
    outside every folder, its nearest project root; else its own directory ("" for no path).
    """
    if not path:
        return ""
    file = Path(os.path.abspath(path))
    holding = [Path(os.path.abspath(f)) for f in folders if f]
    holding = [f for f in holding if _contains(f, file)]
    if holding:
        return str(max(holding, key=lambda f: len(f.parts)))
    project = project_root(file)
    return str(project if project is not None else file.parent)
