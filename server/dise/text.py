"""Source text as both faces see it: lines, line endings, UTF-16 ⇄ code points, edits, hashes.

The bottom layer under ``dise.engine.stubs`` (which splices a function into source text) and
``dise.lsp`` (which sends that splice to an editor): both count lines and columns here, so
the CLI's file round trip and the editor's edits agree character for character.

Lines follow the Language Server Protocol: only ``\\r\\n``, ``\\r`` and ``\\n`` end a line
(``str.splitlines`` also splits on form feeds and other separators, which Python source may
hold inside strings). Columns of ``TextEdit`` are UTF-16 code units, the LSP default.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_ENDING = re.compile(r"\r\n|\r|\n")


@dataclass
class TextEdit:
    """An LSP TextEdit: 0-based lines, characters in UTF-16 code units."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int
    new_text: str


def lsp_lines(source: str) -> list[str]:
    """Lines with their endings; only \\r\\n, \\r and \\n end a line (as in LSP)."""
    return _LINE.findall(source)


def strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def line_ending(line: str) -> str:
    """The ending of one line from ``lsp_lines`` (``""`` for a last line without one)."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\r", "\n")):
        return line[-1]
    return ""


def newline_of(source: str, line: int | None = None) -> str:
    """The line ending new lines should get: the ending of 0-based ``line`` when given and it
    has one (a file with mixed endings keeps each region's own), else the most common ending
    in ``source`` (the first one seen on a tie), else ``"\\n"``."""
    if line is not None:
        lines = lsp_lines(source)
        if 0 <= line < len(lines) and line_ending(lines[line]):
            return line_ending(lines[line])
    counts = Counter(_ENDING.findall(source))
    if not counts:
        return "\n"
    return max(counts, key=lambda ending: (counts[ending], -source.find(ending)))


def utf16_units(line: str, chars: int) -> int:
    """UTF-16 code units in the first ``chars`` code points of ``line``."""
    return len(line[:chars].encode("utf-16-le")) // 2


def chars_from_utf16(line: str, units: int) -> int:
    """The code point index of UTF-16 column ``units`` in ``line`` (clamped to its end)."""
    count = 0
    for index, char in enumerate(line):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(line)


def apply_edits(source: str, edits: Sequence[TextEdit]) -> str:
    """Apply non-overlapping LSP edits (positions relative to ``source``)."""
    lines = lsp_lines(source)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line_no: int, units: int) -> int:
        if line_no >= len(lines):
            return len(source)
        return starts[line_no] + chars_from_utf16(strip_eol(lines[line_no]), units)

    spans = sorted(((offset(e.start_line, e.start_col), offset(e.end_line, e.end_col), i, e)
                    for i, e in enumerate(edits)), key=lambda t: (t[0], t[2]), reverse=True)
    out = source
    for start, end, _, edit in spans:
        out = out[:start] + edit.new_text + out[end:]
    return out


def edits_in_code_points(source: str, edits: Sequence[TextEdit]
                         ) -> list[tuple[int, int, int, int, str]]:
    """``edits`` (columns in UTF-16 units, as LSP counts) as (line, char, line, char, text)
    tuples in code points, which the language server's document model uses."""
    lines = [strip_eol(text) for text in lsp_lines(source)]

    def chars(number: int, units: int) -> int:
        return chars_from_utf16(lines[number], units) if number < len(lines) else units

    return [(e.start_line, chars(e.start_line, e.start_col), e.end_line,
             chars(e.end_line, e.end_col), e.new_text) for e in edits]


def content_hash(text: str) -> str:
    """Hash of a function's text that ignores trailing whitespace and line endings.

    Why: editors normalise line endings and strip trailing blanks on save; neither is an
    edit of the function.
    """
    normal = "\n".join(line.rstrip() for line in _ENDING.split(text))
    return hashlib.sha256(normal.strip("\n").encode("utf-8")).hexdigest()


def count_noun(n: int, noun: str) -> str:
    """``"1 test"``, ``"3 tests"``: ``n`` and ``noun``, plural (a trailing s) unless n is 1."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

