"""Deterministic repairs of generated code, no model involved.

Small models get the logic right more often than the packaging: code in fences with
chatter, tabs or a body that lost its indentation, a function with another name, a
forgotten ``import re``, a demo call at the bottom that crashes when the module loads.
Each repair here is cheap, named in ``FixResult.fixes`` and safe to apply blindly: it only
changes code that would not load or not be found otherwise.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import time
import tokenize
from dataclasses import dataclass, field

from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from dise.engine.extract import NON_PYTHON_LANGS, extract_code
from dise.engine.types import RunReport

#: Spaces per indentation level when tabs or broken indentation are rewritten.
INDENT_WIDTH = 4


def _from(module: str, *names: str) -> dict[str, str]:
    return {name: f"from {module} import {name}" for name in names}


#: Undefined name → the import line that defines it (standard library only).
IMPORT_TABLE: dict[str, str] = {
    **{mod: f"import {mod}" for mod in (
        "re", "math", "os", "json", "string", "itertools", "collections", "functools",
        "heapq", "bisect", "datetime", "fractions", "decimal", "statistics", "random",
        "operator", "cmath", "sys", "copy", "time", "textwrap", "unicodedata", "csv",
        "pathlib", "typing", "dataclasses", "enum", "hashlib", "base64", "struct", "io",
        "uuid", "ipaddress", "calendar", "array", "glob", "shutil", "tempfile", "logging",
        "pprint", "secrets", "string", "zlib", "binascii", "numbers", "inspect", "types",
        "contextlib", "html", "difflib", "locale")},
    "urllib": "import urllib.parse",
    **_from("collections", "Counter", "defaultdict", "deque", "OrderedDict", "namedtuple",
            "ChainMap"),
    **_from("functools", "reduce", "lru_cache", "cache", "partial", "cmp_to_key", "wraps",
            "total_ordering", "cached_property"),
    **_from("itertools", "permutations", "combinations", "combinations_with_replacement",
            "product", "chain", "accumulate", "groupby", "zip_longest", "islice", "cycle",
            "starmap", "takewhile", "dropwhile", "pairwise", "compress", "tee",
            "filterfalse"),
    **_from("heapq", "heappush", "heappop", "heapify", "heapreplace", "heappushpop",
            "nlargest", "nsmallest"),
    **_from("bisect", "bisect_left", "bisect_right", "insort", "insort_left", "insort_right"),
    **_from("math", "sqrt", "floor", "ceil", "gcd", "lcm", "pi", "inf", "factorial", "isqrt",
            "comb", "perm", "prod", "hypot", "log2", "log10", "isclose"),
    **_from("typing", "List", "Dict", "Optional", "Tuple", "Set", "Any", "Union", "Callable",
            "Iterable", "Iterator", "Sequence", "Mapping", "FrozenSet", "Generator", "Type",
            "TypeVar", "Deque", "DefaultDict", "NamedTuple", "Literal", "MutableMapping",
            "MutableSequence", "Hashable"),
    **_from("fractions", "Fraction"),
    **_from("decimal", "Decimal", "getcontext"),
    **_from("datetime", "date", "timedelta", "timezone"),
    **_from("dataclasses", "dataclass", "field"),
    **_from("enum", "Enum", "IntEnum", "auto"),
    **_from("pathlib", "Path"),
    **_from("copy", "deepcopy"),
    **_from("string", "ascii_lowercase", "ascii_uppercase", "ascii_letters", "digits",
            "punctuation", "whitespace", "hexdigits"),
    **_from("operator", "itemgetter", "attrgetter"),
}
#: Attributes that mark ``datetime.X`` as the module rather than the class.
_DATETIME_MODULE_ATTRS = {"datetime", "date", "time", "timedelta", "timezone", "tzinfo",
                          "MINYEAR", "MAXYEAR", "UTC"}


@dataclass
class FixResult:
    code: str
    fixes: list[str] = field(default_factory=list)


def _parses(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


# --- imports -----------------------------------------------------------------------------

def _normalise_import(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(import line, bound name) per imported name, one name per line."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            line = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            out.append((line, alias.asname or alias.name.split(".")[0]))
    else:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            line = f"from {module} import {alias.name}" + (
                f" as {alias.asname}" if alias.asname else "")
            out.append((line, alias.asname or alias.name))
    return out


def import_lines(tree: ast.Module) -> list[tuple[str, str]]:
    """Normalised top-level imports of a module as (line, bound name)."""
    out = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.extend(_normalise_import(node))
    return out


def split_imports(code: str) -> tuple[list[str], str]:
    """Top-level imports (normalised, one name per line) and the rest of the code."""
    tree = _parses(code)
    if tree is None:
        return [], code
    lines = code.splitlines()
    drop: set[int] = set()
    imports: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.extend(line for line, _ in _normalise_import(node) if line not in imports)
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    body = "\n".join(ln for i, ln in enumerate(lines) if i not in drop).strip("\n")
    return imports, (body + "\n" if body else "")


def undefined_names(code: str) -> list[str]:
    """Names pyflakes finds used but never defined, in order of first use."""
    tree = _parses(code)
    if tree is None:
        return []
    found = pyflakes_checker.Checker(tree, filename="<generated>").messages
    names: list[str] = []
    for message in found:
        if isinstance(message, pyflakes_messages.UndefinedName):
            name = message.message_args[0]
            if name not in names:
                names.append(name)
    return names


def _import_for(name: str, tree: ast.Module) -> str | None:
    if name == "datetime":
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                 and isinstance(n.value, ast.Name) and n.value.id == "datetime"}
        return "import datetime" if attrs & _DATETIME_MODULE_ATTRS else \
            "from datetime import datetime"
    return IMPORT_TABLE.get(name)


def missing_imports(code: str) -> list[str]:
    """Import lines for undefined names that the standard-library table knows."""
    tree = _parses(code)
    if tree is None:
        return []
    lines = []
    for name in undefined_names(code):
        line = _import_for(name, tree)
        if line and line not in lines:
            lines.append(line)
    return lines


def needed_imports(code: str) -> list[str]:
    """Imports the code needs: its own top-level imports that it uses, then the ones it
    forgot (from ``IMPORT_TABLE``). Normalised, one name per line, no duplicates."""
    tree = _parses(code)
    if tree is None:
        return []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    lines = [line for line, bound in import_lines(tree)
             if bound in used or line.startswith("from __future__")]
    for line in missing_imports(code):
        if line not in lines:
            lines.append(line)
    return list(dict.fromkeys(lines))


def merge_import_lines(lines: list[str]) -> list[str]:
    """``from m import a`` + ``from m import b`` → ``from m import a, b`` (order kept)."""
    out: list[str] = []
    index: dict[str, int] = {}
    for line in dict.fromkeys(lines):
        m = re.match(r"^from\s+(\S+)\s+import\s+(.+)$", line)
        if m and m.group(1) in index:
            out[index[m.group(1)]] += f", {m.group(2)}"
        else:
            if m:
                index[m.group(1)] = len(out)
            out.append(line)
    return out


def insert_imports(code: str, lines: list[str]) -> str:
    """``code`` with import lines added after its docstring and existing top imports."""
    tree = _parses(code)
    if not lines or tree is None:
        return code
    src = code.splitlines()
    anchor = 0
    body = tree.body
    idx = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        anchor, idx = body[0].end_lineno or 0, 1
    had_imports = False
    while idx < len(body) and isinstance(body[idx], (ast.Import, ast.ImportFrom)):
        anchor, idx, had_imports = body[idx].end_lineno or anchor, idx + 1, True
    block = merge_import_lines(lines)
    if not had_imports and anchor < len(src) and src[anchor].strip():
        block.append("")
    new = src[:anchor] + block + src[anchor:]
    return "\n".join(new) + "\n"


# --- indentation -------------------------------------------------------------------------

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
    if _parses(current) is not None:
        return current, fixes
    for repair, name in ((_indent_flat_bodies, "indented a function body"),
                         (_renormalise_levels, "normalised indentation"),
                         (lambda c: _renormalise_levels(_indent_flat_bodies(c)),
                          "normalised indentation")):
        candidate = repair(current)
        if candidate != current and _parses(candidate) is not None:
            return candidate, fixes + [name]
    return current, fixes


# --- renaming ----------------------------------------------------------------------------

def _top_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def rename_target(code: str, function_name: str) -> str | None:
    """The top-level function to rename to ``function_name``: the only one, or the only
    one no other function calls (the entry point); ``None`` when unclear or not needed."""
    tree = _parses(code)
    if tree is None:
        return None
    funcs = _top_functions(tree)
    names = [f.name for f in funcs]
    if not funcs or function_name in names or any(
            isinstance(n, ast.ClassDef) and n.name == function_name for n in tree.body):
        return None
    if len(funcs) == 1:
        return funcs[0].name
    called = {n.func.id for f in funcs for n in ast.walk(f)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id != f.name}
    entry = [f.name for f in funcs if f.name not in called and not f.name.startswith("_")
             and f.name not in ("main", "test", "solve_all")]
    return entry[0] if len(entry) == 1 else None


def rename_function(code: str, old: str, new: str) -> str:
    """Rename every reference to the name ``old`` (not attributes ``x.old``) to ``new``."""
    lines = code.splitlines(keepends=True)
    spots: list[tuple[int, int]] = []
    prev = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.NAME and tok.string == old and not (
                    prev is not None and prev.type == tokenize.OP and prev.string == "."):
                spots.append(tok.start)
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                prev = tok
    except (tokenize.TokenError, SyntaxError):
        return code
    for row, col in reversed(spots):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "".join(lines)


# --- crash at import ---------------------------------------------------------------------

_KEEP_AT_TOP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                ast.ClassDef)


def crashing_statements(code: str, report: RunReport) -> list[str]:
    """Source of the top-level statements of ``code`` (the code the sandbox ran) that
    crashed at import: the one holding the line in the error, or, without a line number,
    the trailing calls after the last definition."""
    tree = _parses(code)
    if tree is None or not report.load_error:
        return []
    match = re.search(r"line (\d+)", report.load_error)
    if match:
        line_no = int(match.group(1))
        victims = [n for n in tree.body if n.lineno <= line_no <= (n.end_lineno or n.lineno)
                   and not isinstance(n, _KEEP_AT_TOP)]
    else:
        victims = []
        for node in reversed(tree.body):
            if isinstance(node, _KEEP_AT_TOP):
                break
            if any(isinstance(sub, ast.Call) for sub in ast.walk(node)):
                victims.append(node)
    return [ast.get_source_segment(code, n) or "" for n in victims]


def drop_statements(code: str, sources: list[str]) -> tuple[str, list[str]]:
    """Remove top-level statements whose source is in ``sources``; name each removal."""
    tree = _parses(code)
    wanted = {textwrap.dedent(s).strip() for s in sources if s.strip()}
    if tree is None or not wanted:
        return code, []
    lines = code.splitlines()
    drop: set[int] = set()
    fixes = []
    for node in tree.body:
        segment = (ast.get_source_segment(code, node) or "").strip()
        if segment in wanted and not isinstance(node, _KEEP_AT_TOP):
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
            fixes.append("removed top-level statement that crashed at import: "
                         + segment.splitlines()[0])
    if not drop:
        return code, []
    return "\n".join(ln for i, ln in enumerate(lines) if i not in drop).rstrip() + "\n", fixes


def _name_errors(report: RunReport | None) -> list[str]:
    if report is None:
        return []
    text = " ".join([report.load_error] + [r.error for r in report.results])
    return list(dict.fromkeys(re.findall(r"name '(\w+)' is not defined", text)))


# --- the pipeline step -------------------------------------------------------------------

def _raw_code(text: str) -> str:
    """The Python fenced block's text (or the whole text) for indentation repair."""
    blocks = re.findall(r"(?:`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:`{3,}|~{3,}|\Z)",
                        text, flags=re.DOTALL)
    for lang, body in blocks:
        if lang.lower() not in NON_PYTHON_LANGS and body.strip():
            return body
    return text


def autofix(code: str, function_name: str, report: RunReport | None = None,
            budget_s: float | None = None) -> FixResult:
    """Apply the deterministic repairs in order and name each one that changed the code.

    Steps: extract code from chatter/fences, fix indentation, rename a lone function to
    ``function_name``, add missing standard-library imports, drop a top-level statement
    that crashed at import. Stops early (keeping what is done) once ``budget_s`` is spent.
    """
    deadline = time.monotonic() + budget_s if budget_s else None
    fixes: list[str] = []
    # Line numbers in the report refer to ``code`` as run, so find the culprits now.
    crashed = crashing_statements(code, report) if report is not None else []

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() > deadline

    # 1. fences and chatter. Code that only fails to parse because of its indentation is
    # repaired first, or extraction would trim the lines after the first bad indent.
    text = code
    raw = _raw_code(code)
    if raw.strip() and _parses(raw) is None:
        repaired, indent_fixes = fix_indentation(raw)
        if _parses(repaired) is not None:
            text = code.replace(raw, repaired + "\n", 1)
            fixes.extend(indent_fixes)
    extracted = extract_code(text, function_name)
    if not extracted.code:
        return FixResult("", fixes + ["nothing to fix: " + "; ".join(extracted.notes)])
    current = extracted.code
    if current.strip() != text.strip():
        if extracted.notes:
            fixes.extend(extracted.notes)
        else:
            fixes.extend(fix_indentation(text)[1] or ["normalised whitespace"])

    # 2. indentation
    if not out_of_time():
        current, indent_fixes = fix_indentation(current)
        fixes.extend(f for f in indent_fixes if f not in fixes)

    # 3. rename
    if not out_of_time():
        old = rename_target(current, function_name)
        if old:
            current = rename_function(current, old, function_name)
            fixes.append(f"renamed {old} to {function_name}")

    # 4. imports
    if not out_of_time():
        wanted = missing_imports(current)
        tree = _parses(current)
        if tree is not None:
            bound = {b for _, b in import_lines(tree)}
            for name in _name_errors(report):
                line = _import_for(name, tree)
                if line and line not in wanted and name not in bound:
                    wanted.append(line)
        if wanted:
            current = insert_imports(current, wanted)
            fixes.extend(f"added {line}" for line in wanted)

    # 5. crash at import
    if crashed and not out_of_time():
        current, crash_fixes = drop_statements(current, crashed)
        fixes.extend(crash_fixes)

    return FixResult(current, fixes)
