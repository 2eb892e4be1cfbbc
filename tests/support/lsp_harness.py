"""An editor stand-in for the language-server tests, on top of pytest-lsp's test client.

``Editor`` starts the server that ``server_env`` names (``python -m dise.lsp``, the same code
as ``dise serve``, or ``python -m support.lsp_serve_double MODULE:CLASS`` for an engine double) with the
capabilities of a real client profile, keeps its own copy of each open document, and applies
``workspace/applyEdit`` the way an editor does: it refuses a versioned edit for an older
version, changes its copy, and sends ``didChange`` back to the server.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any, Callable, Union

from lsprotocol import types as lsp
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

REPO = Path(__file__).resolve().parents[2]
#: Both client profiles the server must work with (VS Code and Neovim 0.11).
PROFILES = ("visual-studio-code", "neovim")
DOUBLE_ENGINE = "support.lsp_double:DoubleEngine"
#: Upper bound for waiting on the server in a test: a hang fails instead of blocking forever.
#: Not a speed assertion; generations with the double take well under a second.
WAIT_LIMIT_S = 120.0
POLL_S = 0.02


class ServerEnv(dict):
    """The server's environment, and in ``command`` the argv that starts it."""

    command: list[str]


def server_command(engine: str | None = DOUBLE_ENGINE) -> list[str]:
    """``dise serve`` as a module; with ``engine`` (``module:Class``) over that double."""
    if engine:
        return [sys.executable, "-m", "support.lsp_serve_double", engine]
    return [sys.executable, "-m", "dise.lsp"]


def server_env(engine: str | None = DOUBLE_ENGINE, **extra: str) -> ServerEnv:
    """The server's environment: this process's (DISE_HOME per test) with ``extra``; its
    ``command`` starts the real engine (``engine=None``) or the named double."""
    env = ServerEnv(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "server"), str(REPO / "tests")])
    env.update(extra)
    env.command = server_command(engine)
    return env


async def wait_until(condition: Callable[[], Any], what: str,
                     limit: float = WAIT_LIMIT_S) -> Any:
    """Poll ``condition`` until it is truthy (pytest-lsp has no wait-for-request)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(POLL_S)


def _fix_code_action_union(client: LanguageClient) -> None:
    """Read ``CodeAction``s that carry a ``command`` as CodeActions, not as Commands.

    lsprotocol 2025.0.0 structures ``Command | CodeAction`` as a Command whenever the object
    has a ``command`` key, which every CodeAction with a command has (its value is then an
    object, not a string). Real editors parse the JSON themselves; only this test client
    needs the fix.
    """
    converter = client.protocol._converter

    def structure(obj: Any, _: type) -> lsp.Command | lsp.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, lsp.Command)
        return converter.structure(obj, lsp.CodeAction)

    converter.register_structure_hook(Union[lsp.Command, lsp.CodeAction], structure)


class Editor:
    """One editor session talking to one server process."""

    def __init__(self, profile: str, workspace: Path, env: dict[str, str],
                 init_options: dict[str, Any] | None = None,
                 folders: list[Path] | None = None,
                 capabilities: lsp.ClientCapabilities | None = None) -> None:
        self.profile, self.workspace, self.env = profile, workspace, env
        #: Sent with initialize instead of the profile's (a client that lacks something).
        self.capabilities = capabilities
        self.init_options = init_options
        #: Workspace folders sent with initialize (default: ``workspace`` alone); the
        #: first is also the root URI, as VS Code sends it.
        self.folders = folders or [workspace]
        self.client: LanguageClient = make_test_lsp_client()
        self.docs: dict[str, TextDocument] = {}
        self.applied: list[lsp.ApplyWorkspaceEditParams] = []
        #: True: answer ``applied: false``; "error": answer with an error.
        self.refuse_edits: bool | str = False

        def apply_edit(ls: LanguageClient, params: lsp.ApplyWorkspaceEditParams):
            return self._apply_edit(params)

        self.client.feature(lsp.WORKSPACE_APPLY_EDIT)(apply_edit)
        _fix_code_action_union(self.client)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> lsp.InitializeResult:
        command = getattr(self.env, "command", None) or server_command(None)
        await self.client.start_io(*command, env=self.env, cwd=str(REPO))
        folders = [lsp.WorkspaceFolder(uri=from_fs_path(str(f)), name=f.name or "ws")
                   for f in self.folders]
        return await self.client.initialize_session(lsp.InitializeParams(
            capabilities=self.capabilities or client_capabilities(self.profile),
            root_uri=folders[0].uri,
            workspace_folders=folders, initialization_options=self.init_options))

    async def stop(self) -> None:
        await self.client.shutdown_session()
        await self.client.stop()

    def reset(self) -> None:
        """Forget what was observed so far (a server shared by several tests)."""
        self.client.messages.clear()
        self.client.log_messages.clear()
        self.client.progress_reports.clear()
        self.applied.clear()
        self.refuse_edits = False

    @property
    def messages(self) -> list[lsp.ShowMessageParams]:
        return self.client.messages

    # -- documents ----------------------------------------------------------------------
    def open(self, name: str, text: str) -> str:
        path = self.workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        uri = from_fs_path(str(path))
        self.docs[uri] = TextDocument(uri, text, version=1)
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="python", version=1,
                                               text=text)))
        return uri

    def text(self, uri: str) -> str:
        return self.docs[uri].source

    def replace(self, uri: str, text: str) -> None:
        """The user rewrites the document (one whole-document change)."""
        self._change(uri, [lsp.TextDocumentContentChangeWholeDocument(text=text)])

    def insert(self, uri: str, line: int, text: str) -> None:
        """The user types ``text`` at the start of ``line`` (an incremental change)."""
        at = lsp.Position(line=line, character=0)
        self._change(uri, [lsp.TextDocumentContentChangePartial(
            range=lsp.Range(start=at, end=at), text=text)])

    def _change(self, uri: str, changes: list) -> None:
        doc = self.docs[uri]
        for change in changes:
            doc.apply_change(change)
        doc.version = (doc.version or 0) + 1
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
            content_changes=changes))

    def save(self, uri: str) -> None:
        Path(TextDocument(uri).path).write_text(self.text(uri))
        self.client.text_document_did_save(lsp.DidSaveTextDocumentParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), text=self.text(uri)))

    def close(self, uri: str) -> None:
        self.docs.pop(uri, None)
        self.client.text_document_did_close(lsp.DidCloseTextDocumentParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri)))

    def apply_own_edit(self, edit: lsp.WorkspaceEdit) -> bool:
        """The editor applies an edit it holds (a resolved code action's): as for
        ``workspace/applyEdit``, but not counted in ``applied`` (the server sent nothing)."""
        return self._apply(edit).applied

    def _apply_edit(self, params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        """What an editor does with ``workspace/applyEdit``."""
        self.applied.append(params)
        return self._apply(params.edit)

    def _apply(self, edit: lsp.WorkspaceEdit) -> lsp.ApplyWorkspaceEditResult:
        if self.refuse_edits == "error":      # an editor that fails the request
            raise RuntimeError("the edit could not be applied")
        if self.refuse_edits:
            return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="user declined")
        per_doc: list[tuple[str, int | None, list[lsp.TextEdit]]] = []
        for doc_edit in edit.document_changes or []:
            per_doc.append((doc_edit.text_document.uri, doc_edit.text_document.version,
                            list(doc_edit.edits)))
        for uri, edits in (edit.changes or {}).items():
            per_doc.append((uri, None, list(edits)))
        for uri, version, edits in per_doc:
            doc = self.docs.get(uri)
            if doc is None:
                return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="not open")
            if version is not None and version != doc.version:
                return lsp.ApplyWorkspaceEditResult(applied=False,
                                                    failure_reason="document version changed")
        for uri, _, edits in per_doc:
            ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                             reverse=True)
            self._change(uri, [lsp.TextDocumentContentChangePartial(range=e.range,
                                                                    text=e.new_text)
                               for e in ordered])
        return lsp.ApplyWorkspaceEditResult(applied=True)

    # -- requests -----------------------------------------------------------------------
    async def actions(self, uri: str, line: int, end_line: int | None = None,
                      only: list[str] | None = None) -> list[lsp.CodeAction]:
        end = lsp.Position(line=line if end_line is None else end_line, character=0)
        result = await self.client.text_document_code_action_async(lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(start=lsp.Position(line=line, character=0), end=end),
            context=lsp.CodeActionContext(diagnostics=[], only=only)))
        return [a for a in result or [] if isinstance(a, lsp.CodeAction)]

    async def hover(self, uri: str, line: int, character: int = 4) -> lsp.Hover | None:
        return await self.client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=line, character=character)))

    async def hover_text(self, uri: str, line: int, character: int = 4) -> str:
        hover = await self.hover(uri, line, character)
        if hover is None:
            return ""
        contents = hover.contents
        return contents.value if isinstance(contents, lsp.MarkupContent) else str(contents)

    async def code_lenses(self, uri: str) -> list[lsp.CodeLens]:
        return await self.client.text_document_code_lens_async(lsp.CodeLensParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri))) or []

    async def execute(self, command: str, *arguments: Any) -> Any:
        return await self.client.workspace_execute_command_async(lsp.ExecuteCommandParams(
            command=command, arguments=list(arguments)))

    async def run_action(self, action: lsp.CodeAction) -> Any:
        assert action.command is not None
        return await self.execute(action.command.command, *(action.command.arguments or []))

    def start_action(self, action: lsp.CodeAction) -> asyncio.Task:
        """Run an action in the background (to edit or cancel while it generates)."""
        return asyncio.ensure_future(self.run_action(action))

    # -- progress -----------------------------------------------------------------------
    def progress(self) -> dict[Any, list]:
        return self.client.progress_reports

    def begun_tokens(self) -> list[Any]:
        return [token for token, values in self.progress().items()
                if any(isinstance(v, lsp.WorkDoneProgressBegin) for v in values)]

    def cancel_progress(self, token: Any) -> None:
        self.client.window_work_done_progress_cancel(
            lsp.WorkDoneProgressCancelParams(token=token))


def stub_file(name: str = "is_valid_email", doc: str = "Return True if s looks like an "
              "email address.") -> str:
    """A small module with one stub, one finished function and a ``# dise:`` comment."""
    return (
        "import os\n"
        "\n"
        "\n"
        f"def {name}(s: str) -> bool:\n"
        f'    """{doc}"""\n'
        "\n"
        "\n"
        "def finished(x):\n"
        "    return x + 1\n"
        "\n"
        "\n"
        "# dise: reverse the words in a sentence\n"
    )


#: Line numbers in ``stub_file()``.
STUB_LINE, FINISHED_LINE, COMMENT_LINE = 3, 7, 11
