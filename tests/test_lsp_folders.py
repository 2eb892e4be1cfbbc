"""Multi-root workspaces (issue 12, section 5): "the workspace" is the document's folder.

Two folders, ``backend/`` and ``webapp/``, each have a test of ``slugify`` with a different
expectation. The engine is the test double (tests/support/lsp_double.py), which freezes the tests the
real discovery (``dise.engine.testgen.workspace``) finds in the folder the server gave
the request, so a test can see which folder that was.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from lsprotocol import types as lsp
from support.lsp_harness import Editor, server_env
from pygls.uris import from_fs_path

from dise.lsp.folders import project_root, root_for

pytestmark = [pytest.mark.timeout(180)]

BACKEND_EXPECTS = 'slugify("Hello World") == "hello-world"'
WEBAPP_EXPECTS = 'slugify("Hello World") == "hello_world"'
STUB = 'def slugify(title: str) -> str:\n    """Turn a title into a URL slug."""\n'


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``root/backend`` and ``root/webapp``, each a project with its own slugify test."""
    top = tmp_path / "root"
    for folder, expects in (("backend", BACKEND_EXPECTS), ("webapp", WEBAPP_EXPECTS)):
        (top / folder).mkdir(parents=True)
        (top / folder / "pyproject.toml").write_text(f'[project]\nname = "{folder}"\n')
        (top / folder / f"test_{folder}.py").write_text(
            f"from urls import slugify\n\n\ndef test_slugify():\n    assert {expects}\n")
    return top


@contextlib.asynccontextmanager
async def editor(root: Path, folders: list[Path], home: Path,
                 init_options: dict[str, Any] | None = None) -> AsyncIterator[Editor]:
    session = Editor("visual-studio-code", root, server_env(DISE_HOME=str(home)),
                     init_options, folders=folders)
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


async def generate(ed: Editor, name: str) -> dict[str, Any]:
    """Generate the slugify stub in a new file ``name``; the stored artifact's summary."""
    uri = ed.open(name, STUB)
    [action] = await ed.actions(uri, 0)
    result = await ed.run_action(action)
    assert result["applied"] is True, result
    return await ed.execute("dise.showArtifact", {"nodeId": result["nodeId"]})


def frozen(artifact: dict[str, Any]) -> str:
    return "\n".join(t["code"] for t in artifact["tests"])


def change_folders(ed: Editor, added: list[Path] = (), removed: list[Path] = ()) -> None:
    def folder(path: Path) -> lsp.WorkspaceFolder:
        return lsp.WorkspaceFolder(uri=from_fs_path(str(path)), name=path.name)

    ed.client.workspace_did_change_workspace_folders(lsp.DidChangeWorkspaceFoldersParams(
        event=lsp.WorkspaceFoldersChangeEvent(added=[folder(p) for p in added],
                                              removed=[folder(p) for p in removed])))


# -- the server, end to end ----------------------------------------------------------------
@pytest.mark.asyncio
async def test_generation_uses_the_tests_of_the_documents_folder(root, tmp_path):
    async with editor(root, [root / "backend", root / "webapp"], tmp_path / "home") as ed:
        webapp = await generate(ed, "webapp/urls.py")
        assert WEBAPP_EXPECTS in frozen(webapp)
        assert BACKEND_EXPECTS not in frozen(webapp)
        backend = await generate(ed, "backend/urls.py")
        assert BACKEND_EXPECTS in frozen(backend)
        assert WEBAPP_EXPECTS not in frozen(backend)


@pytest.mark.asyncio
async def test_workspace_store_is_the_documents_folders(root, tmp_path):
    from dise.store import Store

    options = {"storeScope": "workspace"}
    backend, webapp = root / "backend", root / "webapp"
    async with editor(root, [backend, webapp], tmp_path / "home", options) as ed:
        artifact = await generate(ed, "webapp/urls.py")
        node = artifact["nodeId"]
        text = ed.text(from_fs_path(str(webapp / "urls.py")))
        ed.save(from_fs_path(str(webapp / "urls.py")))

    assert Store(webapp / ".dise" / "store.json").latest(node) is not None
    backend_store = backend / ".dise" / "store.json"
    assert not backend_store.exists() or Store(backend_store).latest(node) is None
    assert not (tmp_path / "home" / "store.json").exists()

    # A new server knows the function from webapp's store, where the file is.
    async with editor(root, [backend, webapp], tmp_path / "home", options) as ed:
        uri = ed.open("webapp/urls.py", text)
        line = text.splitlines().index("def slugify(title: str) -> str:")
        hover = ""
        for _ in range(100):        # the first look-up in the folder's store may take a while
            hover = await ed.hover_text(uri, line)
            if hover:
                break
            await asyncio.sleep(0.1)
        assert "fitness" in hover and "0.62" in hover


@pytest.mark.asyncio
async def test_did_change_workspace_folders_is_honoured(root, tmp_path):
    backend, webapp = root / "backend", root / "webapp"
    async with editor(root, [root], tmp_path / "home") as ed:
        # One folder over both projects: its tests are all "the workspace".
        both = frozen(await generate(ed, "webapp/first.py"))
        assert WEBAPP_EXPECTS in both and BACKEND_EXPECTS in both

        change_folders(ed, added=[backend, webapp], removed=[root])
        added = frozen(await generate(ed, "webapp/second.py"))
        assert WEBAPP_EXPECTS in added and BACKEND_EXPECTS not in added

        change_folders(ed, added=[root], removed=[webapp])
        removed = frozen(await generate(ed, "webapp/third.py"))
        assert WEBAPP_EXPECTS in removed and BACKEND_EXPECTS in removed


# -- the pure rule -------------------------------------------------------------------------
def test_root_for_takes_the_innermost_folder_holding_the_file(tmp_path):
    outer, inner = tmp_path / "repo", tmp_path / "repo" / "packages" / "web"
    inner.mkdir(parents=True)
    assert root_for(inner / "app.py", [outer, inner]) == str(inner)
    assert root_for(inner / "app.py", [inner, outer]) == str(inner)
    assert root_for(outer / "setup.py", [outer, inner]) == str(outer)
    # a sibling whose name starts like a folder is not inside it
    (tmp_path / "repo-old").mkdir()
    assert root_for(tmp_path / "repo-old" / "x.py", [outer]) != str(outer)


def test_root_for_a_file_outside_every_folder_is_its_project_root(tmp_path):
    project = tmp_path / "elsewhere"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "setup.cfg").write_text("[metadata]\nname = x\n")
    assert project_root(project / "src" / "pkg" / "mod.py") == project
    assert root_for(project / "src" / "pkg" / "mod.py", [tmp_path / "ws"]) == str(project)
    loose = tmp_path / "loose"
    loose.mkdir()
    found = project_root(loose / "a.py")
    assert root_for(loose / "a.py", []) == str(found if found else loose)
    assert root_for("", [tmp_path]) == ""
