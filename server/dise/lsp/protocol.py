"""LSP vocabulary shared by the features: command names, argument checks, capability checks,
and the conversions from (line, code point) ranges to what the client counts.

Pure functions over lsprotocol types and plain data; nothing here knows the server.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

SERVER_NAME = "dise"
COMMAND_GENERATE = "dise.generate"
COMMAND_STATUS = "dise.status"
COMMAND_SHOW = "dise.showArtifact"
COMMAND_SIMILAR = "dise.findSimilar"
COMMAND_OPTIMIZE = "dise.optimize"
COMMAND_ACCEPT = "dise.acceptOptimized"
COMMAND_DISMISS = "dise.dismissOptimized"
#: Client-side command (the VS Code extension registers it) the "Show diff" lens runs.
CLIENT_SHOW_DIFF = "dise.showOptimizedDiff"
#: Notification carrying the optimiser's state (the VS Code status bar shows it).
STATE_NOTIFICATION = "dise/optimizerState"
#: The kind of the "generate" actions.
ACTION_KIND = lsp.CodeActionKind.RefactorRewrite
#: Longest comment text shown in an action title before it is shortened.
TITLE_TEXT_CHARS = 60

#: ``DISE_CODE_ACTION_RESOLVE=0`` in the server's environment turns ``codeAction/resolve`` off:
#: every client then gets Accept through its command (the server's ``workspace/applyEdit``).
RESOLVE_ENV = "DISE_CODE_ACTION_RESOLVE"


def resolve_enabled() -> bool:
    """Whether the server offers ``codeAction/resolve`` (on unless ``RESOLVE_ENV`` is "0")."""
    return os.environ.get(RESOLVE_ENV, "1") != "0"


#: A splice in code points of a text: (start line, start char, end line, end char, new text).
CodePointEdit = tuple[int, int, int, int, str]


def object_argument(command: str, args: tuple, *required: str) -> dict[str, Any]:
    """The single JSON object a command takes; ``JsonRpcInvalidParams`` naming what is wrong."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams.of(ValueError(
            f"{command} takes one object argument with {', '.join(required) or 'its fields'}"))
    missing = [key for key in required if key not in args[0]]
    if missing:
        raise JsonRpcInvalidParams.of(ValueError(f"{command} is missing {', '.join(missing)}"))
    return args[0]


def line_argument(command: str, params: dict[str, Any], key: str = "line") -> int:
    """A 0-based line number from ``params[key]`` (a bool or a negative number is refused)."""
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise JsonRpcInvalidParams.of(ValueError(
            f"{command}: {key} must be a line number (0 or more), not {value!r}"))
    return value


def version_argument(command: str, params: dict[str, Any]) -> int:
    """A stored version number (1 or more) from ``params["version"]``."""
    value = params.get("version")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JsonRpcInvalidParams.of(ValueError(
            f"{command}: version must be a version number (1 or more), not {value!r}"))
    return value


def supports(caps: Any, *path: str) -> bool:
    """Whether the client capability at ``path`` (attribute names) is present and truthy."""
    for name in path:
        caps = getattr(caps, name, None)
        if caps is None:
            return False
    return bool(caps)


def kind_wanted(only: list[str] | None, action_kind: str = ACTION_KIND) -> bool:
    """Whether a code action of ``action_kind`` passes the request's ``context.only``."""
    if not only:
        return True
    return any(action_kind == kind or action_kind.startswith(f"{kind}.") for kind in only)


def markup_kind(caps: Any) -> lsp.MarkupKind:
    """Markdown unless the client's hover lists formats without it."""
    text = getattr(caps, "text_document", None)
    hover = getattr(text, "hover", None)
    formats = getattr(hover, "content_format", None)
    if formats and lsp.MarkupKind.Markdown not in formats:
        return lsp.MarkupKind.PlainText
    return lsp.MarkupKind.Markdown


def zero_range(line: int) -> lsp.Range:
    """An empty range at the start of ``line`` (where lenses sit)."""
    return lsp.Range(start=lsp.Position(line=line, character=0),
                     end=lsp.Position(line=line, character=0))


def client_range(codec: Any, lines: Sequence[str], sl: int, sc: int, el: int,
                 ec: int) -> lsp.Range:
    """A range in code points of ``lines`` as the client counts (pygls's position codec:
    UTF-16 for most editors)."""
    from pygls.workspace import ServerTextPosition, ServerTextRange

    return codec.range_to_client_units(lines, ServerTextRange(
        start=ServerTextPosition(sl, sc), end=ServerTextPosition(el, ec)))


def workspace_edit(uri: str, version: int | None, codec: Any, lines: Sequence[str],
                   edits: Sequence[CodePointEdit], versioned: bool) -> lsp.WorkspaceEdit:
    """Edits in code points of ``lines`` as a ``WorkspaceEdit``: a versioned
    ``TextDocumentEdit`` when the client takes ``documentChanges``, else ``changes``."""
    text_edits = [lsp.TextEdit(range=client_range(codec, lines, sl, sc, el, ec), new_text=text)
                  for sl, sc, el, ec, text in edits]
    if versioned:
        return lsp.WorkspaceEdit(document_changes=[lsp.TextDocumentEdit(
            text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=text_edits)])
    return lsp.WorkspaceEdit(changes={uri: text_edits})


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def detail(exc: BaseException) -> str:
    """The log's version of an error: the traceback, and what the model said if kept."""
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    raw = getattr(exc, "raw", "")
    return f"{text}\nmodel output:\n{raw}" if raw else text
