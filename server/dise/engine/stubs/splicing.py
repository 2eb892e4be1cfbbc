"""Splicing generated code into a user's file at a stub, a ``# dise:`` comment, or over an
existing function (``replace_function``).

Splicing keeps what the user wrote (decorators, signature, docstring) byte for byte and
replaces only the body, puts generated helpers just before the function and missing imports
after the file's imports. Edits are LSP-shaped: 0-based lines, characters in UTF-16 code
units (the LSP default), non-overlapping and listed last-in-file first so they can also be
applied one after another.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

from dise.engine.autofix.imports import (
    header_only_names,
    import_lines,
    merge_import_lines,
    needed_imports,
)
from dise.engine.autofix.indentation import string_continuation_lines
from dise.engine.extract import strip_examples
from dise.engine.stubs.finding import (
    DEFAULT_INDENT,
    DISE_COMMENT,
    DiseComment,
    Stub,
    build_stub,
    char_col,
    indent_unit,
    is_docstring,
    is_stub,
    original_line,
    parse_tolerant,
    split_lines,
    walk_defs,
)
from dise.engine.types import DiseError, FunctionSpec
from dise.text import TextEdit, apply_edits, newline_of, strip_eol, utf16_units


@dataclass
class SpliceResult:
    """The spliced file, the LSP edits that make it, and the import lines added."""

    new_source: str
    edits: list[TextEdit]
    added_imports: list[str]


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


def _imports_to_add(file_tree: ast.Module, generated: str,
                    unused: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Import lines ``generated`` needs that the file lacks, leaving out those binding a name
    in ``unused`` (``header_only_names``: the generated header does not land in the file)."""
    existing = import_lines(file_tree)
    have_lines = {line for line, _ in existing}
    skip = {bound for _, bound in existing} | set(_top_bound_names(file_tree)) | set(unused)
    out = []
    for line in needed_imports(generated):
        if line.startswith("from __future__"):
            continue  # only legal at the top; the user's file decides
        bound = line.split(" as ")[-1].split()[-1] if " as " in line else line.split()[-1]
        bound = bound.split(".")[0] if line.startswith("import ") and " as " not in line else bound
        if line not in have_lines and bound not in skip:
            out.append(line)
    return out


def _import_anchor(file_tree: ast.Module, lines: list[str]) -> tuple[int, bool]:
    """Line where new imports go (after docstring, __future__ and leading imports) and
    whether the file already has an import block there."""
    body = file_tree.body
    idx, anchor = 0, 0
    if body and is_docstring(body[0]):
        anchor, idx = body[0].end_lineno, 1
    had = False
    while idx < len(body) and isinstance(body[idx], (ast.Import, ast.ImportFrom)):
        anchor, idx, had = body[idx].end_lineno, idx + 1, True
    if anchor == 0:
        # keep a shebang, encoding line or licence header comment on top
        while anchor < len(lines) and lines[anchor].lstrip().startswith("#") \
                and not DISE_COMMENT.match(lines[anchor]):
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
            return line, utf16_units(text, col)

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
    file_tree = (parse_tolerant(source) or (None,))[0]
    if file_tree is None:
        raise DiseError("The file does not parse; fix its syntax errors and try again.")
    raw_lines = split_lines(source)
    lines = [strip_eol(ln) for ln in raw_lines]
    # New lines take the ending of the line they go next to: a CRLF, CR or mixed file keeps
    # every line as it was, and only the stub's lines and the added imports change.
    target_line = target.def_line if isinstance(target, Stub) else target.line
    nl = newline_of(source, target_line)
    gen_lines = generated_code.splitlines()
    in_string = string_continuation_lines(generated_code)
    func, holder = _find_target(gen_tree, function_name)
    edits = _Edits(lines)

    # imports
    unused = header_only_names(generated_code, func.name, target.spec.signature) \
        if isinstance(target, Stub) else set()
    added = _imports_to_add(file_tree, generated_code, unused)
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
                is_docstring(node)):
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
    parsed = parse_tolerant(source)
    if parsed is None:
        raise DiseError("The file does not parse; fix its syntax errors and try again.")
    tree, lines, synthetic = parsed
    found = [(node, parents) for node, parents in walk_defs(tree) if node.name == name]
    if not found:
        raise DiseError(f"There is no function {name}() in the file any more; nothing was "
                        "replaced.")

    def distance(item: tuple[ast.AST, list[ast.AST]]) -> int:
        node = item[0]
        first, last = original_line(node.lineno - 1, synthetic), \
            original_line(node.end_lineno - 1, synthetic)
        if line is None or first <= line <= last:
            return 0
        return min(abs(line - first), abs(line - last))

    node, parents = min(found, key=distance)
    target = build_stub(node, parents, lines, synthetic, indent_unit(lines))
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
        why = exc.msg if hasattr(exc, "msg") else exc
        raise DiseError(f"The generated code does not parse ({why}); "
                        f"regenerate it or fix it by hand.") from None


def _generated_body(gen_lines: list[str], func: ast.FunctionDef | ast.AsyncFunctionDef,
                    stub: Stub, in_string: set[int]) -> list[str]:
    """The generated function's body re-indented for the stub, without its docstring when
    the user wrote one."""
    if is_stub(func):
        raise DiseError(f"The generated {func.name}() has no body; regenerate it.")
    stmts = list(func.body)
    if stub.docstring and is_docstring(stmts[0]):
        stmts = stmts[1:]
    first = stmts[0]
    first_line = first.lineno - 1
    col = char_col(gen_lines[first_line], first.col_offset)
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
