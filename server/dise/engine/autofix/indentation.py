"""Indentation repairs: tabs to spaces, common indentation removed, a function body that
lost its indentation indented, and 3-vs-4-space mixes renormalised to ``INDENT_WIDTH``.

``fix_indentation`` tries the repairs in turn and keeps the first that parses; lines inside
multi-line strings (``string_continuation_lines``) are never touched.
"""

from __future__ import annotations

import io
import re
import textwrap
import tokenize

from dise.engine.autofix.parsing import parses

#: Spaces per indentation level when tabs or broken indentation are rewritten.
INDENT_WIDTH = 4


def string_continuation_lines(code: str) -> set[int]:
    """0-based lines that start inside a multi-line string (their indent is content)."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Broken code: fall back to a rough triple-quote scan.
        open_quote = None
        for i, line in enumerate(code.splitlines()):
            if open_quote:
                inside.add(i)
            for quote in re.findall(r'"""|\'\'\'', line):
                open_quote = None if open_quote == quote else (open_quote or quote)
    return inside


def _expand_leading_tabs(code: str) -> str:
    def fix(line: str) -> str:
        stripped = line.lstrip(" \t")
        lead = line[: len(line) - len(stripped)]
        return lead.expandtabs(INDENT_WIDTH) + stripped
    return "\n".join(fix(ln) for ln in code.splitlines())


def _bracket_delta(line: str) -> int:
    """Net open brackets on a line, ignoring strings and comments (roughly)."""
    depth, quote = 0, ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth


def _renormalise_levels(code: str) -> str:
    """Rewrite indentation as ``INDENT_WIDTH`` spaces per nesting level. A line indented
    deeper than the one before only opens a level after a line ending in ``:`` (else it
    stays at the current level); a dedent that lands between two levels joins the inner
    one. Fixes 3-vs-4 space mixes and stray (un)indents."""
    skip = string_continuation_lines(code)
    out = []
    stack = [0]
    depth = 0
    opens_block = False
    for i, line in enumerate(code.splitlines()):
        if i in skip or not line.strip() or depth > 0:
            out.append(line)
            if i not in skip and line.strip():
                depth = max(0, depth + _bracket_delta(line))
            continue
        width = len(line) - len(line.lstrip(" "))
        popped = None
        while width < stack[-1]:
            popped = stack.pop()
        if width > stack[-1]:
            if opens_block:
                stack.append(width)
            elif popped is not None:
                stack.append(popped)  # dedented to between two levels: the nearer inner one
        out.append(" " * (INDENT_WIDTH * (len(stack) - 1)) + line.lstrip(" "))
        depth = max(0, _bracket_delta(line))
        opens_block = depth == 0 and bool(
            re.search(r":\s*$", re.sub(r"#.*$", "", line).rstrip()))
    return "\n".join(out)


_TOP_START = re.compile(r"^(?:async\s+def\s|def\s|class\s|@|import\s|from\s|if\s+__name__)")


def _indent_flat_bodies(code: str) -> str:
    """``def f():`` followed by an unindented body: indent the body up to the next
    top-level definition or import."""
    lines = code.splitlines()
    out: list[str] = []
    in_flat_body = False
    for i, line in enumerate(lines):
        if in_flat_body and _TOP_START.match(line):
            in_flat_body = False
        if in_flat_body:
            out.append((" " * INDENT_WIDTH + line) if line.strip() else line)
            continue
        out.append(line)
        header = re.match(r"^(?:async\s+def|def|class)\s.*:\s*(#.*)?$", line)
        if header:
            nxt = next((ln for ln in lines[i + 1:] if ln.strip()), "")
            in_flat_body = bool(nxt) and not nxt[0].isspace() and not _TOP_START.match(nxt)
    return "\n".join(out)


def fix_indentation(code: str) -> tuple[str, list[str]]:
    """Tabs to spaces, common indent removed, then broken nesting repaired; returns the
    first variant that parses (or the tab/dedent cleanup when none does)."""
    fixes: list[str] = []
    current = code
    if re.search(r"^[ ]*\t", code, re.MULTILINE):
        current = _expand_leading_tabs(current)
        fixes.append("converted tabs to spaces")
    dedented = textwrap.dedent(current)
    if dedented != current:
        current = dedented
        fixes.append("removed common indentation")
    if parses(current) is not None:
        return current, fixes
    for repair, name in ((_indent_flat_bodies, "indented a function body"),
                         (_renormalise_levels, "normalised indentation"),
                         (lambda c: _renormalise_levels(_indent_flat_bodies(c)),
                          "normalised indentation")):
        candidate = repair(current)
        if candidate != current and parses(candidate) is not None:
            return candidate, fixes + [name]
    return current, fixes
