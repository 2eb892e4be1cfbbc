"""Import repairs: a forgotten ``import re`` added from a standard-library table, imports
normalised (one name per line), merged and inserted after a module's docstring.

``IMPORT_TABLE`` maps an undefined name to the import line that defines it; pyflakes finds
the undefined names. Splicing (``dise.engine.stubs.splicing``) and context building use the
same helpers to carry a function's imports into a user's file.
"""

from __future__ import annotations

import ast
import re

from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from dise.engine.autofix.parsing import parses
from dise.engine.types import RunReport


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
    tree = parses(code)
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
    tree = parses(code)
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


def import_for(name: str, tree: ast.Module) -> str | None:
    """The import line that defines ``name`` in ``tree`` (``datetime``: module or class, by
    the attributes used), or ``None`` when the table does not know it."""
    if name == "datetime":
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                 and isinstance(n.value, ast.Name) and n.value.id == "datetime"}
        return "import datetime" if attrs & _DATETIME_MODULE_ATTRS else \
            "from datetime import datetime"
    return IMPORT_TABLE.get(name)


def missing_imports(code: str) -> list[str]:
    """Import lines for undefined names that the standard-library table knows."""
    tree = parses(code)
    if tree is None:
        return []
    lines = []
    for name in undefined_names(code):
        line = import_for(name, tree)
        if line and line not in lines:
            lines.append(line)
    return lines


def needed_imports(code: str) -> list[str]:
    """Imports the code needs: its own top-level imports that it uses, then the ones it
    forgot (from ``IMPORT_TABLE``). Normalised, one name per line, no duplicates."""
    tree = parses(code)
    if tree is None:
        return []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    lines = [line for line, bound in import_lines(tree)
             if bound in used or line.startswith("from __future__")]
    for line in missing_imports(code):
        if line not in lines:
            lines.append(line)
    return list(dict.fromkeys(lines))


def header_only_names(code: str, name: str, kept_header: str) -> set[str]:
    """Names the function ``name`` of ``code`` uses only in its header (annotations,
    defaults, decorators) and that ``kept_header`` (the user's signature, which replaces it
    when the body is spliced into a stub) does not use: imports of them would go unused.

    Example: the model wrote ``def total(xs: List[int])`` with ``from typing import List``
    for the user's ``def total(xs: list[int])``: {"List"}. Empty when ``code`` does not parse
    or does not define ``name``."""
    tree = parses(code)
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n.name == name] if tree is not None else []
    if not funcs:
        return set()
    func, args = funcs[0], funcs[0].args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs,
              *(a for a in (args.vararg, args.kwarg) if a is not None)]
    header = [*func.decorator_list, func.returns, *args.defaults, *args.kw_defaults,
              *(p.annotation for p in params)]
    named = {n.id for h in header if h is not None for n in ast.walk(h) if isinstance(n, ast.Name)}
    func.decorator_list, func.returns = [], None
    args.defaults, args.kw_defaults = [], [None] * len(args.kw_defaults)
    for param in params:
        param.annotation = None
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return named - used - set(re.findall(r"[A-Za-z_]\w*", kept_header))


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
    tree = parses(code)
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


def name_errors(report: RunReport | None) -> list[str]:
    """Names a run reported as ``name 'x' is not defined`` (load error and tests), in order."""
    if report is None:
        return []
    text = " ".join([report.load_error] + [r.error for r in report.results])
    return list(dict.fromkeys(re.findall(r"name '(\w+)' is not defined", text)))
