"""Pull runnable Python out of a model answer.

Small models wrap code in prose, fence it (or not), split imports into their own block,
add example calls, repeat themselves until the token limit, or stop mid-line. This module
turns such an answer into one module's source holding imports, helpers, classes, constants
and the function, or ``""`` when there is no code. It never raises on bad input: the
pipeline decides what an empty result means, and ``notes`` say what was done.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field

# Cleaning and reasoning live in their own modules; their public names stay importable here.
from dise.engine.cleanup import _defined_names, _node_start, _parses, _used_names, strip_examples
from dise.engine.reasoning import strip_reasoning

__all__ = ["ExtractResult", "extract_asserts", "extract_code", "strip_examples",
           "strip_reasoning"]

#: Fence languages whose blocks are never Python.
NON_PYTHON_LANGS = frozenset({
    "bash", "sh", "shell", "console", "zsh", "powershell", "ps", "cmd", "bat", "text", "txt",
    "plaintext", "output", "json", "yaml", "yml", "toml", "ini", "javascript", "js",
    "typescript", "ts", "java", "c", "cpp", "c++", "csharp", "cs", "go", "rust", "rs", "ruby",
    "rb", "php", "sql", "html", "xml", "css", "markdown", "md", "diff", "pycon", "log",
})
#: Parse attempts while trimming a truncated or prose-tailed region, per region.
MAX_TRIM_ATTEMPTS = 400
#: Continuation lines joined to an ``assert`` line before giving up on it.
MAX_ASSERT_LINES = 12

_CODE_START = re.compile(r"^(\s*)(?:async\s+def\s|def\s|class\s|import\s|from\s+[\w.]+\s+import\s"
                         r"|@\w)")
_CONTINUATION = re.compile(r"^(?:\)|\]|\}|else\b|elif\b|except\b|finally\b|case\b)")


@dataclass
class ExtractResult:
    code: str
    notes: list[str] = field(default_factory=list)


@dataclass
class _Block:
    lang: str
    text: str
    closed: bool


# --- fences ------------------------------------------------------------------------------

def _fenced_blocks(text: str) -> list[_Block]:
    """Markdown code blocks in order; an unterminated last block runs to the end."""
    blocks: list[_Block] = []
    fence = ""
    lang = ""
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not fence:
            m = re.match(r"^(`{3,}|~{3,})\s*([\w+#.-]*)", stripped)
            if m:
                fence, lang, body = m.group(1), m.group(2).lower(), []
                rest = stripped[m.end():].strip()
                # "```python def f(): ...```" on one line, or code right after the fence.
                if rest.endswith(fence) and len(rest) > len(fence):
                    blocks.append(_Block(lang, rest[: -len(fence)], True))
                    fence = ""
            continue
        if stripped.startswith(fence):
            rest = stripped[len(fence):].strip(fence[0] + " ")
            if not rest:
                blocks.append(_Block(lang, "\n".join(body), True))
                fence = ""
            elif re.fullmatch(r"[\w+#.-]+", rest):
                # A new block opened without closing the previous one.
                blocks.append(_Block(lang, "\n".join(body), False))
                lang, body = rest.lower(), []
            else:
                body.append(line)
        elif stripped.endswith(fence):
            body.append(line.rstrip()[: -len(fence)])
            blocks.append(_Block(lang, "\n".join(body), True))
            fence = ""
        else:
            body.append(line)
    if fence:
        blocks.append(_Block(lang, "\n".join(body), False))
    return blocks


# --- parsing regions ---------------------------------------------------------------------

def _is_toplevel_start(line: str) -> bool:
    return bool(line.strip()) and not line[0].isspace() and not _CONTINUATION.match(line)


def _has_def(tree: ast.Module) -> bool:
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               for n in tree.body)


def _longest_parsing_prefix(lines: list[str]) -> int:
    """How many leading lines parse: cut at top-level statement boundaries near each
    syntax error (fast), then, when that lost every definition, drop single lines."""
    n = len(lines)
    attempts = 0
    while n > 0 and attempts < MAX_TRIM_ATTEMPTS:
        attempts += 1
        if _parses("\n".join(lines[:n])) is not None:
            break
        err_line = _error_line(lines[:n])
        k = min(err_line, n - 1)
        while k > 0 and not _is_toplevel_start(lines[k]):
            k -= 1
        n = k if k < n else n - 1
    if n == len(lines):
        return n
    tree = _parses("\n".join(lines[:n])) if n else None
    if tree is not None and _has_def(tree):
        return n
    # Boundary cuts dropped the only definition (cut off mid-function): trim line by line,
    # down to the first definition line (no prefix without it can hold a definition).
    first_def = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)
                      and not re.match(r"\s*(?:import|from)\s", ln)), len(lines))
    m = len(lines)
    while m > first_def and attempts < 2 * MAX_TRIM_ATTEMPTS:
        attempts += 1
        tree = _parses("\n".join(lines[:m]))
        if tree is not None and _has_def(tree):
            return m
        m -= 1
    return n


def _error_line(lines: list[str]) -> int:
    """0-based line of the syntax error in ``lines`` (the last line when unknown)."""
    try:
        ast.parse("\n".join(lines))
    except SyntaxError as exc:
        if exc.lineno:
            return max(0, exc.lineno - 1)
    except ValueError:
        pass
    return len(lines) - 1


def _parse_region(text: str) -> tuple[str, bool]:
    """The longest parsing prefix of ``text`` (dedented) and whether lines were dropped."""
    lines = textwrap.dedent(text.expandtabs(4)).strip("\n").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    n = _longest_parsing_prefix(lines)
    return "\n".join(lines[:n]).rstrip(), n < len(lines)


def _unfenced_regions(text: str) -> list[str]:
    """Code regions in an answer without fences: each starts at a def/class/import line
    and runs as far as it parses; prose between them is dropped."""
    lines = text.splitlines()
    regions: list[str] = []
    i = 0
    while i < len(lines):
        m = _CODE_START.match(lines[i])
        if not m:
            i += 1
            continue
        indent = m.group(1)
        end = i + 1
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith(indent)):
            end += 1
        chunk = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip()
                 for ln in lines[i:end]]
        n = _longest_parsing_prefix(chunk)
        if n == 0:
            i += 1
            continue
        region = "\n".join(chunk[:n]).rstrip()
        if region.strip():
            regions.append(region)
        i += n
    return regions


# --- choosing and merging blocks ---------------------------------------------------------

def _defines(tree: ast.Module, name: str | None) -> bool:
    return bool(name) and any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
        for n in tree.body)


def _def_count(tree: ast.Module) -> int:
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               for n in tree.body)


def _imports_only(tree: ast.Module) -> bool:
    return bool(tree.body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)


def _choose(candidates: list[tuple[str, ast.Module, bool]], function_name: str | None,
            notes: list[str]) -> str:
    """The block that defines the function, plus import-only blocks before it and helpers
    from other blocks that it uses; without a name, the block with most definitions.

    Of several blocks defining the function the LAST complete one wins: a model that
    drafts, criticises and corrects itself ("that is wrong; here is the fix") ends with its
    answer, and a repeated block changes nothing. A block cut off by the token limit
    (``complete`` False) is taken only when no complete one defines the function.
    """
    defining = [i for i, (_, t, _c) in enumerate(candidates) if _defines(t, function_name)]
    complete = [i for i in defining if candidates[i][2]]
    best = (complete or defining or [None])[-1]
    if best is None:
        counts = [_def_count(t) for _, t, _c in candidates]
        if not any(counts):
            return ""
        best = counts.index(max(counts))
    if len(candidates) > 1:
        notes.append(f"picked code block {best + 1} of {len(candidates)}")
    code, tree, _ = candidates[best]
    used = _used_names(tree)
    defined = _defined_names(tree)
    prefix: list[str] = []
    for i, (other, other_tree, _c) in enumerate(candidates):
        if i == best:
            continue
        if i < best and _imports_only(other_tree):
            prefix.append(other)
            notes.append(f"merged imports from code block {i + 1}")
            continue
        src_lines = other.splitlines()
        for node in other_tree.body:
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and node.name in used and node.name not in defined):
                prefix.append("\n".join(src_lines[_node_start(node):node.end_lineno]))
                defined.add(node.name)
                notes.append(f"merged helper {node.name} from code block {i + 1}")
    return "\n\n".join(prefix + [code])


# --- public API --------------------------------------------------------------------------

def extract_code(text: str, function_name: str | None = None) -> ExtractResult:
    """The Python module in a model answer, or ``""`` (with a note) when there is none.

    The model's reasoning (``<think>`` and similar sections) is never a source of code.
    """
    notes: list[str] = []
    if not text or not text.strip():
        return ExtractResult("", ["empty output"])
    text, notes = strip_reasoning(text)
    if not text.strip():
        return ExtractResult("", notes + ["no answer after the reasoning"])
    blocks = _fenced_blocks(text)
    raw: list[tuple[str, bool, bool]] = []   # (code, lines were trimmed, fence was closed)
    if blocks:
        notes.append("removed markdown fences")
        if any(not b.closed for b in blocks):
            notes.append("last code fence was not closed (output cut off?)")
        for block in blocks:
            if block.lang in NON_PYTHON_LANGS or not block.text.strip():
                continue
            raw.append((*_parse_region(block.text), block.closed))
        fenced_defs = any(t is not None and _def_count(t)
                          for t in (_parses(code) for code, _, _c in raw if code))
        outside = _outside_fences(text)
        if not fenced_defs and outside.strip():
            raw += [(r, False, True) for r in _unfenced_regions(outside)]
    else:
        whole, trimmed = _parse_region(text)
        tree = _parses(whole) if whole else None
        if tree is not None and not trimmed and _def_count(tree):
            raw = [(whole, False, True)]
        else:
            raw = [(r, False, True) for r in _unfenced_regions(text)]
            if raw:
                notes.append("dropped lines that are not code")
    if any(trimmed for _, trimmed, _c in raw):
        notes.append("dropped trailing lines that do not parse (output cut off?)")
    candidates = [(code, tree, closed and not trimmed) for code, trimmed, closed in raw if code
                  for tree in [_parses(code)] if tree is not None]
    if not candidates:
        return ExtractResult("", notes + ["no code found"])
    code = _choose(candidates, function_name, notes)
    if not code:
        return ExtractResult("", notes + ["no function definition found"])
    code, strip_notes = strip_examples(code, function_name)
    notes.extend(strip_notes)
    tree = _parses(code)
    if tree is None or not _def_count(tree):
        return ExtractResult("", notes + ["no function definition found"])
    return ExtractResult(code, notes)


def _outside_fences(text: str) -> str:
    return re.sub(r"(`{3,}|~{3,})[^\n]*\n.*?(?:\1|$)", "\n", text, flags=re.DOTALL)


def _unittest_to_assert(node: ast.stmt) -> ast.Assert | None:
    """``self.assertEqual(a, b)`` and friends as a plain ``assert``."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)):
        return None
    call, method = node.value, node.value.func.attr
    args = call.args
    ops = {"assertEqual": ast.Eq, "assertEquals": ast.Eq, "assertNotEqual": ast.NotEq,
           "assertIn": ast.In, "assertNotIn": ast.NotIn, "assertIs": ast.Is,
           "assertIsNot": ast.IsNot, "assertLess": ast.Lt, "assertGreater": ast.Gt,
           "assertLessEqual": ast.LtE, "assertGreaterEqual": ast.GtE}
    if method in ops and len(args) >= 2:
        test: ast.expr = ast.Compare(args[0], [ops[method]()], [args[1]])
    elif method == "assertTrue" and args:
        test = args[0]
    elif method == "assertFalse" and args:
        test = ast.UnaryOp(ast.Not(), args[0])
    elif method == "assertIsNone" and args:
        test = ast.Compare(args[0], [ast.Is()], [ast.Constant(None)])
    else:
        return None
    return ast.Assert(test=test, msg=None)


def _calls_function(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
               for n in ast.walk(node))


def extract_asserts(text: str, function_name: str) -> list[str]:
    """Assert statements in ``text`` that call ``function_name``; each parses alone.

    Single and multi-line asserts are found in or outside fences and inside test functions;
    ``self.assertEqual``-style checks become plain asserts. Duplicates are dropped.
    """
    found: list[str] = []
    seen: set[str] = set()
    lines = strip_reasoning(text or "")[0].splitlines()  # a test it thought about is no test
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        stripped = stripped.removeprefix(">>> ")
        if not re.match(r"^(assert\b|self\.assert\w+\()", stripped):
            i += 1
            continue
        stmt, used = _complete_statement(stripped, lines[i + 1:])
        i += max(used, 1)
        if stmt is None:
            continue
        source, node = stmt
        if not isinstance(node, ast.Assert):
            converted = _unittest_to_assert(node)
            if converted is None:
                continue
            source = ast.unparse(converted)
            node = converted
        if not _calls_function(node, function_name):
            continue
        key = ast.dump(node)
        if key not in seen:
            seen.add(key)
            found.append(source)
    return found


def _complete_statement(first: str, rest: list[str]) -> tuple[tuple[str, ast.stmt] | None, int]:
    """The statement starting with ``first``, joined with continuation lines until it
    parses as exactly one statement; also how many lines it used."""
    parts = [first.rstrip("`").rstrip()]
    for extra in range(MAX_ASSERT_LINES):
        source = "\n".join(parts)
        tree = _parses(source)
        if tree is not None and len(tree.body) == 1:
            return (source, tree.body[0]), extra + 1
        if tree is not None or extra >= len(rest):
            break
        nxt = rest[extra]
        if nxt.strip().startswith("```"):
            break
        parts.append(nxt.rstrip())
    return None, 1
