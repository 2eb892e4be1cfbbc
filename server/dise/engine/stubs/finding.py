"""Finding stubs and ``# dise:`` comments in a user's file (which may be mid-edit).

A stub is a ``def`` (async, or a method) whose body is only a docstring, ``...``, ``pass``
or ``raise NotImplementedError``. Positions are 0-based lines and characters in code points;
``dise.engine.stubs.splicing`` turns them into LSP edits.

``FunctionSpec.params`` follows signature syntax: ``("/", "")`` ends positional-only
parameters, ``("*args", ann)`` or ``("*", "")`` starts keyword-only ones, ``("**kw", ann)``.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
from dataclasses import dataclass, field

from dise.engine.types import FunctionSpec
from dise.text import lsp_lines, strip_eol

#: How many bodiless ``def`` headers (a file mid-edit) are patched before giving up.
MAX_BODY_PATCHES = 8
DEFAULT_INDENT = "    "

DISE_COMMENT = re.compile(r"^([ \t]*)#\s*dise\s*:\s*(.*?)\s*$", re.IGNORECASE)
_NO_BODY = re.compile(r"expected an indented block after (?:function definition|'\w+' "
                      r"statement|class definition) on line (\d+)")


@dataclass
class Stub:
    """A stub found in a file: its spec and where its parts are (0-based lines)."""

    spec: FunctionSpec
    #: First line of the function (its first decorator, else the ``def``), 0-based.
    start_line: int
    def_line: int
    #: Last line of the stub, inclusive.
    end_line: int
    #: Indentation of the ``def`` line and of its body.
    indent: str
    body_indent: str
    docstring: str
    is_method: bool
    is_async: bool = False
    #: Decorator lines exactly as written (without the newline).
    decorators: list[str] = field(default_factory=list)
    #: First line of the enclosing top-level statement (the class, for methods).
    outer_line: int = 0
    # (line, character) positions in code points, used by ``splice``:
    header_end: tuple[int, int] = (0, 0)
    doc_end: tuple[int, int] | None = None
    #: Span of the placeholder statements after the docstring (``pass``/``...``), if any.
    placeholder: tuple[tuple[int, int], tuple[int, int]] | None = None


@dataclass
class DiseComment:
    """A ``# dise: <request>`` line: 0-based line, its indentation and the request."""

    line: int
    indent: str
    text: str


# --- lines and positions (shared with the language server: ``dise.text``) ----------------

split_lines = lsp_lines


def char_col(line: str, byte_col: int) -> int:
    """ast's UTF-8 byte column as a code point index."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


# --- parsing a file that may be mid-edit -------------------------------------------------

def parse_tolerant(source: str) -> tuple[ast.Module, list[str], set[int]] | None:
    """Parse ``source``; bodiless ``def x():`` headers (the user is still typing) get a
    synthetic ``...`` line. Returns the tree, its lines and the synthetic line numbers
    (0-based, in the patched text)."""
    lines = [strip_eol(ln) for ln in split_lines(source)]
    synthetic: set[int] = set()
    for _ in range(MAX_BODY_PATCHES + 1):
        try:
            return ast.parse("\n".join(lines)), lines, synthetic
        except SyntaxError as exc:
            m = _NO_BODY.search(str(exc.msg))
            if not m:
                return None
            header = int(m.group(1)) - 1
            end = header
            # the header may span lines: find the line ending with ':' from the def on
            while end < len(lines) - 1 and not re.search(r":\s*(#.*)?$", lines[end]):
                end += 1
            indent = re.match(r"[ \t]*", lines[header]).group(0)
            lines.insert(end + 1, indent + DEFAULT_INDENT + "...")
            synthetic = {s + 1 if s > end else s for s in synthetic} | {end + 1}
        except ValueError:
            return None
    return None


def original_line(patched: int, synthetic: set[int]) -> int:
    return patched - sum(1 for s in synthetic if s < patched)


# --- stubs -------------------------------------------------------------------------------

def is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def _is_placeholder(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
            and stmt.value.value is Ellipsis:
        return True
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def is_stub(node: ast.AST) -> bool:
    """A def whose body is only a docstring and/or ``...``/``pass``/``raise
    NotImplementedError``."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = node.body[1:] if node.body and is_docstring(node.body[0]) else node.body
    return all(_is_placeholder(stmt) for stmt in body)


def _header_end(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    """(line, char) just after the colon that ends the def header."""
    first = node.lineno - 1
    last = node.body[0].lineno - 1 if node.body else len(lines) - 1
    text = "\n".join(lines[first:last + 1]) + "\n"
    depth = 0
    seen_def = False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string == "def":
                seen_def = True
            elif tok.type == tokenize.OP and seen_def:
                if tok.string in "([{":
                    depth += 1
                elif tok.string in ")]}":
                    depth -= 1
                elif tok.string == ":" and depth == 0:
                    return first + tok.end[0] - 1, tok.end[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    # Fallback: the last colon on the line before the body.
    line = lines[first]
    return first, line.rfind(":") + 1


def _segment(lines: list[str], node: ast.AST | None) -> str:
    """The source text of ``node``, cut from the file's lines (without line endings).

    Why not ``ast.get_source_segment``: it splits the whole source on every call, so asking
    it for each annotation made ``find_stubs`` take seconds on a 1 MB file.
    """
    if node is None or getattr(node, "end_lineno", None) is None:
        return ""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode("utf-8")[node.col_offset:node.end_col_offset].decode("utf-8")
    head = lines[first].encode("utf-8")[node.col_offset:].decode("utf-8")
    tail = lines[last].encode("utf-8")[:node.end_col_offset].decode("utf-8")
    return "\n".join([head, *lines[first + 1:last], tail])


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef,
            lines: list[str]) -> list[tuple[str, str]]:
    def ann(arg: ast.arg) -> str:
        return _segment(lines, arg.annotation)

    args = node.args
    out: list[tuple[str, str]] = [(a.arg, ann(a)) for a in args.posonlyargs]
    if args.posonlyargs:
        out.append(("/", ""))
    out += [(a.arg, ann(a)) for a in args.args]
    if args.vararg:
        out.append(("*" + args.vararg.arg, ann(args.vararg)))
    elif args.kwonlyargs:
        out.append(("*", ""))
    out += [(a.arg, ann(a)) for a in args.kwonlyargs]
    if args.kwarg:
        out.append(("**" + args.kwarg.arg, ann(args.kwarg)))
    return out


def spec_of(code: str, name: str) -> FunctionSpec | None:
    """The signature of top-level function ``name`` in ``code`` (e.g. a generated candidate)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            header = ast.get_source_segment(code, node) or ""
            signature = header.split(":\n", 1)[0] + ":" if ":\n" in header else ""
            lines = [strip_eol(line) for line in split_lines(code)]
            return FunctionSpec(
                name=name, signature=signature.strip(), docstring=ast.get_docstring(node) or "",
                params=_params(node, lines), returns=_segment(lines, node.returns))
    return None


def indent_unit(lines: list[str]) -> str:
    widths = [re.match(r"[ \t]*", ln).group(0) for ln in lines if ln.strip()]
    tabs = [w for w in widths if w.startswith("\t")]
    if tabs:
        return "\t"
    spaces = sorted({len(w) for w in widths if w})
    return " " * spaces[0] if spaces else DEFAULT_INDENT


def _pos_end(lines: list[str], node: ast.AST) -> tuple[int, int]:
    line = node.end_lineno - 1
    return line, char_col(lines[line], node.end_col_offset)


def _pos_start(lines: list[str], node: ast.AST) -> tuple[int, int]:
    line = node.lineno - 1
    return line, char_col(lines[line], node.col_offset)


def build_stub(node: ast.FunctionDef | ast.AsyncFunctionDef, parents: list[ast.AST],
                lines: list[str], synthetic: set[int], unit: str) -> Stub:
    def orig(line: int) -> int:
        return original_line(line, synthetic)

    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    def_line = node.lineno - 1
    indent = re.match(r"[ \t]*", lines[def_line]).group(0)
    h_line, h_col = _header_end(lines, node)
    signature = "\n".join(lines[def_line:h_line + 1])
    signature = signature[len(indent):] if signature.startswith(indent) else signature.lstrip()
    cut = len(signature) - (len(lines[h_line]) - h_col)
    signature = signature[:cut]
    body = list(node.body)
    docstring = ""
    doc_end = None
    if body and is_docstring(body[0]):
        docstring = ast.get_docstring(node) or ""
        doc_end = _pos_end(lines, body[0])
        body = body[1:]
    real = [s for s in body if (s.lineno - 1) not in synthetic]
    placeholder = (_pos_start(lines, real[0]), _pos_end(lines, real[-1])) if real else None
    own_line = [s for s in node.body if (s.lineno - 1) not in synthetic
                and s.lineno - 1 > h_line]
    body_indent = (re.match(r"[ \t]*", lines[own_line[0].lineno - 1]).group(0)
                   if own_line else indent + unit)
    end = max([h_line] + [s.end_lineno - 1 for s in node.body if (s.lineno - 1) not in synthetic])
    outer = parents[0] if parents else node
    outer_start = min([outer.lineno] + [d.lineno for d in getattr(outer, "decorator_list", [])]) - 1
    spec = FunctionSpec(
        name=node.name, signature=signature, docstring=docstring,
        params=_params(node, lines), returns=_segment(lines, node.returns))

    def fix(pos: tuple[int, int] | None) -> tuple[int, int] | None:
        return None if pos is None else (orig(pos[0]), pos[1])

    return Stub(
        spec=spec, start_line=orig(start), def_line=orig(def_line), end_line=orig(end),
        indent=indent, body_indent=body_indent, docstring=docstring,
        is_method=bool(parents) and isinstance(parents[-1], ast.ClassDef),
        is_async=isinstance(node, ast.AsyncFunctionDef),
        decorators=[strip_eol(lines[d.lineno - 1]).strip() for d in node.decorator_list],
        outer_line=orig(outer_start), header_end=fix((h_line, h_col)), doc_end=fix(doc_end),
        placeholder=(fix(placeholder[0]), fix(placeholder[1])) if placeholder else None)


def walk_defs(tree: ast.AST, parents: list[ast.AST] | None = None):
    parents = parents or []
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield child, parents
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from walk_defs(child, parents + [child])


def find_stubs(source: str) -> list[Stub]:
    """Every stub in the file, in source order (methods and nested functions included)."""
    parsed = parse_tolerant(source)
    if parsed is None:
        return []
    tree, lines, synthetic = parsed
    unit = indent_unit(lines)
    stubs = [build_stub(node, parents, lines, synthetic, unit)
             for node, parents in walk_defs(tree) if is_stub(node)]
    return sorted(stubs, key=lambda s: s.start_line)


def find_stub(source: str, name: str | None = None, line: int | None = None) -> Stub | None:
    """The stub called ``name`` and/or spanning 0-based ``line`` (innermost wins)."""
    stubs = find_stubs(source)
    if name is not None:
        stubs = [s for s in stubs if s.spec.name == name]
    if line is not None:
        stubs = [s for s in stubs if s.start_line <= line <= s.end_line]
        stubs.sort(key=lambda s: s.start_line, reverse=True)
    return stubs[0] if stubs else None


def find_dise_comments(source: str) -> list[DiseComment]:
    """``# dise: <what the function should do>`` lines with a non-empty request."""
    out = []
    for i, line in enumerate(split_lines(source)):
        m = DISE_COMMENT.match(strip_eol(line))
        if m and m.group(2):
            out.append(DiseComment(line=i, indent=m.group(1), text=m.group(2)))
    return out


# --- recognising functions ---------------------------------------------------------------

def function_source(source: str, name: str) -> tuple[int, int, str] | None:
    """(first line incl. decorators, last line, text) of the first def named ``name``
    (top-level first, then methods and nested ones); ``None`` when absent."""
    parsed = parse_tolerant(source)
    if parsed is None:
        return None
    tree, lines, synthetic = parsed
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n.name == name]
    found = found or [n for n, _ in walk_defs(tree) if n.name == name]
    if not found:
        return None
    node = found[0]
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    end = node.end_lineno - 1
    text = "\n".join(ln for i, ln in enumerate(lines[start:end + 1], start) if i not in synthetic)
    return original_line(start, synthetic), original_line(end, synthetic), text


def content_hash(text: str) -> str:
    """sha256 of a function's text with line endings, trailing spaces and surrounding
    blank lines normalised away."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return hashlib.sha256("\n".join(lines).strip("\n").encode("utf-8")).hexdigest()
