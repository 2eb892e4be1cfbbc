"""Stubs and ``# dise:`` comments in a user's file, and splicing generated code into it.

A stub is a ``def`` (async, or a method) whose body is only a docstring, ``...``, ``pass``
or ``raise NotImplementedError``. Splicing keeps what the user wrote (decorators, signature,
docstring) byte for byte and replaces only the stub's body, puts generated helpers just
before the function and missing imports after the file's imports. Edits are LSP-shaped:
0-based lines, characters in UTF-16 code units (the LSP default), non-overlapping and
listed last-in-file first so they can also be applied one after another.

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

from dise.engine.autofix import (
    import_lines,
    merge_import_lines,
    needed_imports,
    string_continuation_lines,
)
from dise.engine.extract import strip_examples
from dise.engine.types import DiseError, FunctionSpec
from dise.text import (  # noqa: F401 - TextEdit and apply_edits are part of this API
    TextEdit,
    apply_edits,
    chars_from_utf16,
    lsp_lines,
    newline_of,
    strip_eol,
    utf16_units,
)

#: How many bodiless ``def`` headers (a file mid-edit) are patched before giving up.
MAX_BODY_PATCHES = 8
DEFAULT_INDENT = "    "

_DISE_COMMENT = re.compile(r"^([ \t]*)#\s*dise\s*:\s*(.*?)\s*$", re.IGNORECASE)
_NO_BODY = re.compile(r"expected an indented block after (?:function definition|'\w+' "
                      r"statement|class definition) on line (\d+)")


@dataclass
class Stub:
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
    line: int
    indent: str
    text: str


@dataclass
class SpliceResult:
    new_source: str
    edits: list[TextEdit]
    added_imports: list[str]


# --- lines and positions (shared with the language server: ``dise.text``) ----------------

split_lines = lsp_lines
_strip_eol = strip_eol
_utf16 = utf16_units
_from_utf16 = chars_from_utf16


def _char_col(line: str, byte_col: int) -> int:
    """ast's UTF-8 byte column as a code point index."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


# --- parsing a file that may be mid-edit -------------------------------------------------

def _parse_tolerant(source: str) -> tuple[ast.Module, list[str], set[int]] | None:
    """Parse ``source``; bodiless ``def x():`` headers (the user is still typing) get a
    synthetic ``...`` line. Returns the tree, its lines and the synthetic line numbers
    (0-based, in the patched text)."""
    lines = [_strip_eol(ln) for ln in split_lines(source)]
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


def _original_line(patched: int, synthetic: set[int]) -> int:
    return patched - sum(1 for s in synthetic if s < patched)


# --- stubs -------------------------------------------------------------------------------

def _is_docstring(stmt: ast.stmt) -> bool:
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
    body = node.body[1:] if node.body and _is_docstring(node.body[0]) else node.body
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
            lines = [_strip_eol(line) for line in split_lines(code)]
            return FunctionSpec(
                name=name, signature=signature.strip(), docstring=ast.get_docstring(node) or "",
                params=_params(node, lines), returns=_segment(lines, node.returns))
    return None


def _indent_unit(lines: list[str]) -> str:
    widths = [re.match(r"[ \t]*", ln).group(0) for ln in lines if ln.strip()]
    tabs = [w for w in widths if w.startswith("\t")]
    if tabs:
        return "\t"
    spaces = sorted({len(w) for w in widths if w})
    return " " * spaces[0] if spaces else DEFAULT_INDENT


def _pos_end(lines: list[str], node: ast.AST) -> tuple[int, int]:
    line = node.end_lineno - 1
    return line, _char_col(lines[line], node.end_col_offset)


def _pos_start(lines: list[str], node: ast.AST) -> tuple[int, int]:
    line = node.lineno - 1
    return line, _char_col(lines[line], node.col_offset)


def _build_stub(node: ast.FunctionDef | ast.AsyncFunctionDef, parents: list[ast.AST],
                lines: list[str], synthetic: set[int], unit: str) -> Stub:
    def orig(line: int) -> int:
        return _original_line(line, synthetic)

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
    if body and _is_docstring(body[0]):
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
        decorators=[_strip_eol(lines[d.lineno - 1]).strip() for d in node.decorator_list],
        outer_line=orig(outer_start), header_end=fix((h_line, h_col)), doc_end=fix(doc_end),
        placeholder=(fix(placeholder[0]), fix(placeholder[1])) if placeholder else None)


def _walk_defs(tree: ast.AST, parents: list[ast.AST] | None = None):
    parents = parents or []
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield child, parents
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from _walk_defs(child, parents + [child])


def find_stubs(source: str) -> list[Stub]:
    """Every stub in the file, in source order (methods and nested functions included)."""
    parsed = _parse_tolerant(source)
    if parsed is None:
        return []
    tree, lines, synthetic = parsed
    unit = _indent_unit(lines)
    stubs = [_build_stub(node, parents, lines, synthetic, unit)
             for node, parents in _walk_defs(tree) if is_stub(node)]
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
        m = _DISE_COMMENT.match(_strip_eol(line))
        if m and m.group(2):
            out.append(DiseComment(line=i, indent=m.group(1), text=m.group(2)))
    return out


# --- recognising functions ---------------------------------------------------------------

def function_source(source: str, name: str) -> tuple[int, int, str] | None:
    """(first line incl. decorators, last line, text) of the first def named ``name``
    (top-level first, then methods and nested ones); ``None`` when absent."""
    parsed = _parse_tolerant(source)
    if parsed is None:
        return None
    tree, lines, synthetic = parsed
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n.name == name]
    found = found or [n for n, _ in _walk_defs(tree) if n.name == name]
    if not found:
        return None
    node = found[0]
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    end = node.end_lineno - 1
    text = "\n".join(ln for i, ln in enumerate(lines[start:end + 1], start) if i not in synthetic)
    return _original_line(start, synthetic), _original_line(end, synthetic), text


def content_hash(text: str) -> str:
    """sha256 of a function's text with line endings, trailing spaces and surrounding
    blank lines normalised away."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return hashlib.sha256("\n".join(lines).strip("\n").encode("utf-8")).hexdigest()


# --- splicing ----------------------------------------------------------------------------

def _reindent(code_lines: list[str], first: int, last: int, old: int, new: str,
              in_string: set[int], first_col: int | None = None) -> list[str]:
    """Lines ``first..last`` with ``old`` leading columns replaced by ``new``; lines inside
    multi-line strings keep their text; ``first_col`` cuts the first line (``def f(): x``)."""
    out = []
    for i in range(first, last + 1):
        line = code_lines[i]
        if i == first and first_col is not None:
            out.append(new + line[first_col:].lstrip())
        elif i in in_string:
            out.append(line)
        elif not line.strip():
            out.append("")
        else:
            lead = len(line) - len(line.lstrip())
            relative = line[min(lead, old):lead]
            if "\t" in new:  # the file indents with tabs: so does the spliced code
                relative = relative.replace(" " * len(DEFAULT_INDENT), "\t")
            out.append(new + relative + line[lead:])
    return out


def _find_target(tree: ast.Module, name: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef,
                                                        ast.stmt]:
    """The generated function and the top-level statement that holds it."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node, node
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == name:
                    return item, node
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(funcs) == 1:
        return funcs[0], funcs[0]
    raise DiseError(f"The generated code does not define {name}(); regenerate it or write "
                    f"the function by hand.")


def _node_range(node: ast.stmt) -> tuple[int, int]:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    return start, node.end_lineno - 1


def _block(code_lines: list[str], node: ast.stmt, indent: str, in_string: set[int]) -> list[str]:
    start, end = _node_range(node)
    old = len(code_lines[start]) - len(code_lines[start].lstrip())
    return _reindent(code_lines, start, end, old, indent, in_string)


def _top_bound_names(tree: ast.Module) -> dict[str, ast.stmt]:
    bound: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        bound[n.id] = node
    return bound


def _imports_to_add(file_tree: ast.Module, generated: str) -> list[str]:
    existing = import_lines(file_tree)
    have_lines = {line for line, _ in existing}
    have_names = {bound for _, bound in existing} | set(_top_bound_names(file_tree))
    out = []
    for line in needed_imports(generated):
        if line.startswith("from __future__"):
            continue  # only legal at the top; the user's file decides
        bound = line.split(" as ")[-1].split()[-1] if " as " in line else line.split()[-1]
        bound = bound.split(".")[0] if line.startswith("import ") and " as " not in line else bound
        if line not in have_lines and bound not in have_names:
            out.append(line)
    return out


def _import_anchor(file_tree: ast.Module, lines: list[str]) -> tuple[int, bool]:
    """Line where new imports go (after docstring, __future__ and leading imports) and
    whether the file already has an import block there."""
    body = file_tree.body
    idx, anchor = 0, 0
    if body and _is_docstring(body[0]):
        anchor, idx = body[0].end_lineno, 1
    had = False
    while idx < len(body) and isinstance(body[idx], (ast.Import, ast.ImportFrom)):
        anchor, idx, had = body[idx].end_lineno, idx + 1, True
    if anchor == 0:
        # keep a shebang, encoding line or licence header comment on top
        while anchor < len(lines) and lines[anchor].lstrip().startswith("#") \
                and not _DISE_COMMENT.match(lines[anchor]):
            anchor += 1
    return anchor, had


class _Edits:
    """Collects zero-width inserts and replacements in code points; emits LSP edits."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.items: list[tuple[tuple[int, int], tuple[int, int], str]] = []

    def add(self, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        """Edits starting at the same spot merge (texts in call order), so none overlap."""
        for i, (s, e, t) in enumerate(self.items):
            if s == start:
                self.items[i] = (s, max(e, end), t + text)
                return
        self.items.append((start, end, text))

    def to_lsp(self) -> list[TextEdit]:
        def conv(pos: tuple[int, int]) -> tuple[int, int]:
            line, col = pos
            text = self.lines[line] if line < len(self.lines) else ""
            return line, _utf16(text, col)

        out = []
        for start, end, text in sorted(self.items, key=lambda t: (t[0], t[1]), reverse=True):
            (sl, sc), (el, ec) = conv(start), conv(end)
            out.append(TextEdit(sl, sc, el, ec, text))
        return out


def _line_end(lines: list[str], pos: tuple[int, int]) -> tuple[int, int]:
    """Extend ``pos`` to the end of its line when only a comment or spaces follow."""
    line, col = pos
    rest = lines[line][col:]
    if not rest.strip() or rest.strip().startswith("#"):
        return line, len(lines[line])
    return pos


def splice(source: str, target: Stub | DiseComment, generated_code: str,
           function_name: str) -> SpliceResult:
    """Put ``generated_code`` into ``source`` at a stub or a ``# dise:`` comment.

    For a stub the user's decorators, signature and docstring stay exactly as written; only
    the body comes from the generated function (re-indented). A ``# dise:`` comment line is
    replaced by the whole generated function. Generated helpers go right before the
    function (before the class, for a method); missing imports go after the file's imports.
    """
    generated_code, _ = strip_examples(generated_code, function_name)
    gen_tree = _parse_or_raise(generated_code)
    file_tree = (_parse_tolerant(source) or (None,))[0]
    if file_tree is None:
        raise DiseError("The file does not parse; fix its syntax errors and try again.")
    raw_lines = split_lines(source)
    lines = [_strip_eol(ln) for ln in raw_lines]
    # New lines take the ending of the line they go next to: a CRLF, CR or mixed file keeps
    # every line as it was, and only the stub's lines and the added imports change.
    target_line = target.def_line if isinstance(target, Stub) else target.line
    nl = newline_of(source, target_line)
    gen_lines = generated_code.splitlines()
    in_string = string_continuation_lines(generated_code)
    func, holder = _find_target(gen_tree, function_name)
    edits = _Edits(lines)

    # imports
    added = _imports_to_add(file_tree, generated_code)
    if added:
        anchor, had_block = _import_anchor(file_tree, lines)
        import_nl = newline_of(source, max(anchor - 1, 0))
        text = import_nl.join(merge_import_lines(added)) + import_nl
        if not had_block:
            if anchor > 0 and lines[anchor - 1].strip():
                text = import_nl + text
            if anchor < len(lines) and lines[anchor].strip():
                text += import_nl
        if anchor >= len(lines):
            end_pos = (len(lines) - 1, len(lines[-1])) if lines else (0, 0)
            missing_nl = bool(raw_lines) and not raw_lines[-1].endswith(("\n", "\r"))
            edits.add(end_pos, end_pos, (import_nl if missing_nl else "") + text)
        else:
            edits.add((anchor, 0), (anchor, 0), text)

    # helpers: the generated module's other definitions and constants
    file_defs = _top_bound_names(file_tree)
    helpers = []
    for node in gen_tree.body:
        if node is holder or isinstance(node, (ast.Import, ast.ImportFrom)) or (
                _is_docstring(node)):
            continue
        name = getattr(node, "name", None)
        if name and name in file_defs and ast.dump(file_defs[name]) == ast.dump(node):
            continue  # identical helper already in the file
        helpers.append(node)

    if isinstance(target, Stub):
        helper_indent = "" if target.is_method else target.indent
        helper_line = target.outer_line if target.is_method else target.start_line
    else:
        helper_indent, helper_line = target.indent, target.line
    if helpers:
        gap = nl * (2 if not helper_indent else 1)
        chunks = [nl.join(_block(gen_lines, h, helper_indent, in_string)) for h in helpers]
        text = (nl + gap).join(chunks) + nl + gap
        edits.add((helper_line, 0), (helper_line, 0), text)

    if isinstance(target, Stub):
        body = _generated_body(gen_lines, func, target, in_string)
        body = _rename_params(body, _arg_names(func), _spec_arg_names(target.spec))
        _stub_body_edit(edits, lines, target, body, nl)
    else:
        start, end = _node_range(func)
        old = len(gen_lines[start]) - len(gen_lines[start].lstrip())
        text = _reindent(gen_lines, start, end, old, target.indent, in_string)
        edits.add((target.line, 0), (target.line, len(lines[target.line])), nl.join(text))

    lsp_edits = edits.to_lsp()
    return SpliceResult(apply_edits(source, lsp_edits), lsp_edits, added)


def replace_function(source: str, name: str, new_code: str,
                     line: int | None = None) -> SpliceResult:
    """Replace the body of the function ``name`` in ``source`` with ``new_code``'s.

    Why: accepting an optimised version must keep what the user owns, as ``splice`` does for a
    stub: decorators, signature and docstring stay as written, the body comes from
    ``new_code`` (parameters renamed to the user's), and missing imports are added once after
    the file's imports. With several functions of that name, the one spanning (else nearest
    to) 0-based ``line`` is replaced.
    """
    parsed = _parse_tolerant(source)
    if parsed is None:
        raise DiseError("The file does not parse; fix its syntax errors and try again.")
    tree, lines, synthetic = parsed
    found = [(node, parents) for node, parents in _walk_defs(tree) if node.name == name]
    if not found:
        raise DiseError(f"There is no function {name}() in the file any more; nothing was "
                        "replaced.")

    def distance(item: tuple[ast.AST, list[ast.AST]]) -> int:
        node = item[0]
        first, last = _original_line(node.lineno - 1, synthetic), \
            _original_line(node.end_lineno - 1, synthetic)
        if line is None or first <= line <= last:
            return 0
        return min(abs(line - first), abs(line - last))

    node, parents = min(found, key=distance)
    target = _build_stub(node, parents, lines, synthetic, _indent_unit(lines))
    previous = target.doc_end or target.header_end
    if target.placeholder and target.placeholder[0][0] > previous[0]:
        # the old body from the line after the docstring: its comments go with it
        target.placeholder = ((previous[0] + 1, 0), target.placeholder[1])
    return splice(source, target, new_code, name)


def _arg_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = func.args
    names = [x.arg for x in a.posonlyargs + a.args]
    names += [a.vararg.arg] if a.vararg else []
    names += [x.arg for x in a.kwonlyargs]
    names += [a.kwarg.arg] if a.kwarg else []
    return names


def _spec_arg_names(spec: FunctionSpec) -> list[str]:
    return [name.lstrip("*") for name, _ in spec.params if name not in ("/", "*")]


def _rename_params(body: list[str], generated: list[str], user: list[str]) -> list[str]:
    """The generated body speaks of its own parameter names; the user's signature is kept,
    so rename them by position (as far as both lists go, all at once)."""
    receivers = ("self", "cls")
    if user[:1] and user[0] in receivers and generated[:1] != user[:1]:
        user = user[1:]  # a method generated as a plain function
    elif generated[:1] and generated[0] in receivers and user[:1] != generated[:1]:
        generated = generated[1:]
    mapping = {g: u for g, u in zip(generated, user) if g != u}
    if not mapping:
        return body
    text = "\n".join(body)
    lines = text.split("\n")
    spots: list[tuple[int, int, str]] = []
    prev = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text + "\n").readline):
            if tok.type == tokenize.NAME and tok.string in mapping and not (
                    prev is not None and prev.type == tokenize.OP and prev.string == "."):
                spots.append((tok.start[0] - 1, tok.start[1], tok.string))
            if tok.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT,
                                tokenize.DEDENT):
                prev = tok
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return body
    for row, col, old in reversed(spots):
        line = lines[row]
        lines[row] = line[:col] + mapping[old] + line[col + len(old):]
    return lines


def _parse_or_raise(code: str) -> ast.Module:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        raise DiseError(f"The generated code does not parse ({exc.msg if hasattr(exc, 'msg') else exc}); "
                        f"regenerate it or fix it by hand.") from None


def _generated_body(gen_lines: list[str], func: ast.FunctionDef | ast.AsyncFunctionDef,
                    stub: Stub, in_string: set[int]) -> list[str]:
    """The generated function's body re-indented for the stub, without its docstring when
    the user wrote one."""
    if is_stub(func):
        raise DiseError(f"The generated {func.name}() has no body; regenerate it.")
    stmts = list(func.body)
    if stub.docstring and _is_docstring(stmts[0]):
        stmts = stmts[1:]
    first = stmts[0]
    first_line = first.lineno - 1
    col = _char_col(gen_lines[first_line], first.col_offset)
    same_line = gen_lines[first_line][:col].strip() != ""  # def f(x): return x
    end = func.end_lineno - 1
    return _reindent(gen_lines, first_line, end, col, stub.body_indent, in_string,
                     first_col=col if same_line else None)


def _stub_body_edit(edits: _Edits, lines: list[str], stub: Stub, body: list[str],
                    nl: str) -> None:
    text = nl.join(body)
    if stub.placeholder:
        (pl, pc), end = stub.placeholder
        end = _line_end(lines, end)
        previous = stub.doc_end or stub.header_end
        if pl > previous[0] and not lines[pl][:pc].strip():
            edits.add((pl, 0), end, text)           # placeholder on its own line(s)
        else:
            edits.add(previous, end, nl + text)     # `def f(): ...` / `"""doc"""; pass`
    else:
        anchor = stub.doc_end or stub.header_end
        eol = (anchor[0], len(lines[anchor[0]]))
        edits.add(eol, eol, nl + text)
