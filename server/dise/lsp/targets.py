"""What DiSE can generate in a document: stubs and ``# dise:`` comments, found by pure parsing.

Everything here is synchronous and free of LSP types so it can run in a worker thread and be
tested alone. ``dise.engine.stubs`` does the Python parsing; this module adds what the editor
needs on top: stable titles, the text to compare when checking that a stub is still there,
and the splice of a finished function into whatever the document has become.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from dise.engine.types import DiseError
from dise.lsp.documents import (
    Region,
    def_name,
    edits_in_code_points,
    enclosing_regions,
    function_region,
    lsp_lines,
)

TargetKind = Literal["stub", "comment"]


@dataclass(frozen=True)
class Target:
    """A place where a function can be generated, as found in one version of a document."""

    kind: TargetKind
    #: Function name for a stub; "" for a comment (the engine picks the name).
    name: str
    #: The ``def`` line of a stub or the comment line (0-based).
    line: int
    #: First line (a decorator, else the ``def``) and last line of the stub, inclusive.
    first_line: int
    end_line: int
    #: The stub's text or the comment's request, compared to refuse stale edits.
    text: str
    #: The object ``dise.engine.stubs`` returned (Stub or DiseComment), used for splicing.
    found: Any

    def covers(self, first: int, last: int) -> bool:
        return self.first_line <= last and first <= self.end_line

    def title(self, max_chars: int) -> str:
        if self.kind == "stub":
            return f"DiSE: Generate `{self.name}`"
        text = self.text if len(self.text) <= max_chars else self.text[:max_chars - 1] + "…"
        return f"DiSE: Generate function: {text}"

    @property
    def label(self) -> str:
        """How messages name this target."""
        return f"`{self.name}`" if self.kind == "stub" else f"“{self.text}”"


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def _stubs():
    from dise.engine import stubs  # imported in the worker: the editor never waits on it

    return stubs


def _stub_text(lines: Sequence[str], stub: Any) -> str:
    return "".join(lines[stub.start_line:stub.end_line + 1])


def scan(source: str) -> list[Target]:
    """Every stub and ``# dise:`` comment in ``source`` (empty when it does not parse)."""
    stubs = _stubs()
    lines = lsp_lines(source)
    found: list[Target] = []
    for stub in stubs.find_stubs(source):
        found.append(Target("stub", stub.spec.name, stub.def_line, stub.start_line,
                            stub.end_line, _stub_text(lines, stub), stub))
    for comment in stubs.find_dise_comments(source):
        found.append(Target("comment", "", comment.line, comment.line, comment.line,
                            comment.text, comment))
    found.sort(key=lambda t: t.line)
    return found


def _decorator_top(lines: Sequence[str], def_line: int) -> int:
    top = def_line
    while top > 0 and lines[top - 1].lstrip().startswith("@"):
        top -= 1
    return top


#: Functions whose own parse is remembered (code lens looks at every function after each
#: edit; only the edited one needs parsing again).
STUB_MEMO_SIZE = 4096


@functools.lru_cache(maxsize=STUB_MEMO_SIZE)
def _stubs_in(function_text: str) -> tuple[Any, ...]:
    return tuple(_stubs().find_stubs(function_text))


def _local_stub(lines: Sequence[str], region: Region) -> Target | None:
    """The stub at ``region`` if it is one, parsing only the function's own lines."""
    prefix = lines[region.start][:region.indent]
    local = [line[region.indent:] if line.startswith(prefix) else
             ("\n" if not line.strip() else line)
             for line in lines[region.start:region.end + 1]]
    for stub in _stubs_in("".join(local)):
        if stub.def_line == 0 and stub.spec.name == region.name:
            first = _decorator_top(lines, region.start)
            end = region.start + stub.end_line
            return Target("stub", region.name, region.start, first, end,
                          "".join(lines[first:end + 1]), stub)
    return None


def targets_near(lines: Sequence[str], first: int, last: int,
                 max_range_lines: int) -> list[Target]:
    """Targets touching lines ``first``..``last``, parsing only the functions around them.

    Why: listing actions must stay instant in a 1 MB file, where parsing the whole file
    takes seconds. The functions enclosing ``first``, the ``def``s inside the range (its
    first ``max_range_lines`` lines) and the ``# dise:`` comments in it are examined.
    ``Target.found`` holds region-relative positions: execute against ``scan`` results.
    """
    if not lines or first >= len(lines):
        return []
    last = min(last, len(lines) - 1, first + max_range_lines)
    candidates: dict[int, Region] = {}
    for region in enclosing_regions(lines, first):
        candidates[region.start] = region
    for number in range(first, last + 1):
        text = lines[number]
        if text.lstrip().startswith("@"):
            below = number
            while below + 1 < len(lines) and lines[below + 1].lstrip().startswith("@"):
                below += 1
            number = below + 1
            if number >= len(lines):
                continue
            text = lines[number]
        if number not in candidates and def_name(text):
            region = function_region(lines, number)
            if region:
                candidates[number] = region
    found = [t for t in (_local_stub(lines, r) for r in candidates.values()) if t]
    found = [t for t in found if t.covers(first, last)]
    comments = _stubs().find_dise_comments("".join(lines[first:last + 1]))
    found += [Target("comment", "", first + c.line, first + c.line, first + c.line, c.text, c)
              for c in comments]
    return sorted(found, key=lambda t: t.line)


def locate_again(source: str, target: Target) -> Target | None:
    """``target`` in a newer ``source``, only if its own text is unchanged.

    A stub is found again by name and must read exactly as before; a comment by its text,
    nearest to where it was. None means the place the function was meant for has changed.
    """
    for candidate in sorted((t for t in scan(source) if t.kind == target.kind),
                            key=lambda t: abs(t.line - target.line)):
        if candidate.text == target.text and candidate.name == target.name:
            return candidate
    return None


@dataclass
class PreparedEdit:
    """Edits (lines and code points of ``source``) that insert a generated function."""

    source: str
    new_source: str
    edits: list[tuple[int, int, int, int, str]]
    target: Target


def prepare_edit(source: str, target: Target, code: str,
                 function_name: str) -> PreparedEdit | None:
    """Splice ``code`` at ``target`` in ``source``; None when the target is gone or changed.

    The target is always found again in a whole-file parse: the one an action was listed
    with may come from a partial parse (``targets_near``) or an older text.
    """
    here = locate_again(source, target)
    if here is None:
        if not _parses(source):
            raise DiseError("The file has a syntax error now, so DiSE could not insert the "
                            "function; fix the error and run the action again.")
        return None
    result = _stubs().splice(source, here.found, code, function_name)
    return PreparedEdit(source=source, new_source=result.new_source,
                        edits=edits_in_code_points(source, result.edits), target=here)
