"""Cheap text geometry for the language server: where a function starts and ends.

Hover must answer from memory in a few milliseconds even in a 1 MB file, so it never parses
the whole document: it scans a few lines upward for an enclosing ``def`` and tokenizes only
that function. The same region function computes the content hash stored when DiSE inserts
a function, so "is this still the text we wrote?" compares like with like.
"""

from __future__ import annotations

import re
import tokenize
from dataclasses import dataclass
from typing import Callable, Container, Iterator, Sequence

# Line, column and hash arithmetic is shared with the CLI's file round trip (``dise.text``);
# these names stay importable from here.
from dise.text import (  # noqa: F401
    chars_from_utf16 as _utf16_to_chars,
    content_hash,
    edits_in_code_points,
    lsp_lines,
)


_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?def[ \t]+(?P<name>[^\W\d]\w*)[ \t]*\(")


@dataclass(frozen=True)
class Region:
    """A function's lines, 0-based and inclusive, starting at its ``def`` line."""

    name: str
    start: int
    end: int
    indent: int

    def contains(self, line: int) -> bool:
        return self.start <= line <= self.end

    def text(self, lines: Sequence[str]) -> str:
        return "".join(lines[self.start:self.end + 1])


def file_name(uri: str) -> str:
    """The last part of a document URI, for messages ("helpers.py")."""
    return uri.rsplit("/", 1)[-1] or uri


_BREAK = re.compile(r"\r\n|\r|\n")


def line_after_edits(edits: Sequence[tuple[int, int, int, int, str]], line: int) -> int:
    """Where 0-based ``line`` of a text is once ``edits`` (line, char, line, char, text in
    that text's coordinates) are applied, for a line no edit overlaps: each edit that ends
    above it moves it by the lines it adds minus the lines it removes. Why: a generated or
    accepted function is found again in the new text by position (imports are added above
    it), not as "the nearest def of that name", which may be a namesake."""
    moved = line
    for start_line, _, end_line, end_char, text in edits:
        if end_line < line or (end_line == line and end_char == 0 and start_line < line):
            moved += len(_BREAK.findall(text)) - (end_line - start_line)
    return moved


def split_lines(source: str) -> list[str]:
    """Lines with their endings as LSP counts them (``dise.text.lsp_lines``): lenses,
    diagnostics, hover and actions all number lines the same way."""
    return lsp_lines(source)


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def def_name(line: str) -> str | None:
    """The function name if ``line`` opens a ``def``, else None."""
    match = _DEF.match(line)
    return match.group("name") if match else None


def function_region(lines: Sequence[str], def_line: int) -> Region | None:
    """The region of the function whose ``def`` is at ``def_line``; None if it is not one.

    Tokenizes from the ``def`` line only as far as the function goes, so the cost is the
    size of the function, not of the file. Falls back to indentation when the text does not
    tokenize (an unterminated string while the user types).
    """
    if not 0 <= def_line < len(lines):
        return None
    match = _DEF.match(lines[def_line])
    if not match:
        return None
    name, indent = match.group("name"), len(match.group("indent"))
    end = _remembered_end(lines, def_line)
    if end is None:
        try:
            end = _end_by_tokens(lines, def_line)
        except (tokenize.TokenError, IndentationError, SyntaxError):
            end = _end_by_indent(lines, def_line, indent)
    return Region(name=name, start=def_line, end=max(end, def_line), indent=indent)


#: Most ``def`` lines whose tokenized extent is remembered (all open documents together).
END_MEMO_SIZE = 8192
#: def line text -> [(the lines the tokenizer read, whether it reached the end of the text,
#: the function's last line relative to the def)]. Why: code lens, hover and code actions
#: find the same functions again after every edit; tokenizing each one again was most of a
#: code-lens answer. The extent depends only on the lines read, so a hit is exact.
_END_MEMO: dict[str, list[tuple[tuple[str, ...], bool, int]]] = {}


def _remembered_end(lines: Sequence[str], def_line: int) -> int | None:
    for read, to_eof, offset in _END_MEMO.get(lines[def_line], ()):
        stop = def_line + len(read)
        if (not to_eof or stop == len(lines)) and tuple(lines[def_line:stop]) == read:
            return def_line + offset
    return None


def _remember_end(read: tuple[str, ...], to_eof: bool, offset: int) -> None:
    if len(_END_MEMO) >= END_MEMO_SIZE:
        _END_MEMO.clear()
    entries = _END_MEMO.setdefault(read[0], [])
    entries.append((read, to_eof, offset))
    del entries[:-4]      # a few variants per def line (the body being edited)


def _end_by_tokens(lines: Sequence[str], def_line: int) -> int:
    """Last line of the function: the NEWLINE before the DEDENT that closes its block."""
    read: list[str] = []
    to_eof = False

    def feed() -> str:
        nonlocal to_eof
        number = def_line + len(read)
        if number >= len(lines):
            to_eof = True
            return ""
        read.append(lines[number])
        return lines[number]

    end = _tokenized_end(feed, def_line)
    _remember_end(tuple(read), to_eof, end - def_line)
    return end


def _tokenized_end(feed: Callable[[], str], def_line: int) -> int:
    depth = 0                 # INDENT minus DEDENT tokens seen so far
    base: int | None = None   # depth at the end of the header (the def's own level)
    body = False              # the header was followed by an indented block
    last_newline = 0
    for tok in tokenize.generate_tokens(feed):
        kind = tok.type
        if kind == tokenize.INDENT:
            depth += 1
            if base is not None:
                body = True
        elif kind == tokenize.DEDENT:
            depth -= 1
            if base is not None and depth <= base:
                break
        elif kind == tokenize.NEWLINE:
            last_newline = tok.start[0] - 1
            if base is None:
                base = depth
        elif kind == tokenize.ENDMARKER:
            break
        elif kind not in (tokenize.NL, tokenize.COMMENT) and base is not None and not body:
            break     # a statement right after a one-line ``def f(): return 1``
    return def_line + last_newline


def _end_by_indent(lines: Sequence[str], def_line: int, indent: int) -> int:
    end = def_line
    for number in range(def_line + 1, len(lines)):
        line = lines[number]
        if not line.strip():
            continue
        if indent_of(line) <= indent and not line.lstrip().startswith((")", "]", "}")):
            break
        end = number
    return end


def enclosing_regions(lines: Sequence[str], line: int) -> Iterator[Region]:
    """Functions that contain ``line``, innermost first.

    Walks upward only over lines less indented than everything seen so far and stops at the
    first top-level statement, so the walk is bounded by the top-level block around ``line``.
    (A docstring continuation line written at column 0 ends the walk early: hover then
    answers only on the lines above it.)
    """
    if not 0 <= line < len(lines):
        return
    limit = 10**9        # an enclosing header is less indented than every line below it
    for number in range(line, -1, -1):
        text = lines[number]
        stripped = text.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        level = indent_of(text)
        if level >= limit:
            continue
        if def_name(text):
            region = function_region(lines, number)
            if region and region.contains(line):
                yield region
        if level == 0 and not stripped.startswith(("@", ")", "]", "}")):
            return
        limit = level


def all_regions(lines: Sequence[str], names: Container[str] | None = None) -> Iterator[Region]:
    """Every ``def`` in the document, or only those whose name is in ``names``."""
    for number, text in enumerate(lines):
        if "def" in text:
            name = def_name(text)
            if name and (names is None or name in names):
                region = function_region(lines, number)
                if region:
                    yield region


def region_hash(lines: Sequence[str], region: Region) -> str:
    return content_hash(region.text(lines))


_CLASS = re.compile(r"^[ \t]*class[ \t]+(?P<name>[^\W\d]\w*)")


def qualified_name(lines: Sequence[str], region: Region) -> str:
    """``Outer.Inner.name`` for the function at ``region``: the classes and functions whose
    headers enclose it, found by walking up over less-indented lines (like
    ``enclosing_regions``). Why: two classes may each define ``validate``; the name alone
    does not say which one DiSE wrote."""
    parts = [region.name]
    limit = region.indent
    for number in range(region.start - 1, -1, -1):
        if limit == 0:
            break
        text = lines[number]
        stripped = text.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        level = indent_of(text)
        if level >= limit:
            continue
        match = _CLASS.match(text)
        name = match.group("name") if match else def_name(text)
        if name:
            parts.append(name)
            limit = level
        elif not stripped.startswith(("@", ")", "]", "}")):
            limit = level          # some other block (if/with/...): keep looking above it
    return ".".join(reversed(parts))


def region_by_name(lines: Sequence[str], name: str, near: int = 0) -> Region | None:
    """The ``def name`` closest to line ``near`` (functions are found again after edits)."""
    best: Region | None = None
    for number, text in enumerate(lines):
        if name in text and def_name(text) == name:
            if best is None or abs(number - near) < abs(best.start - near):
                best = function_region(lines, number) or best
    return best
