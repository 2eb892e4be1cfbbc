"""The pieces ``dise.engine.examples`` reads docstring examples with: the notations' separators
and patterns, literal values (also over several lines), calls of the function with literal
arguments, the lenient ``>>>`` reader and the pipe-table reader, and ``Reader``, which collects
what they find (``Example``) and what they could not read (``skipped``).

The grammar these implement is documented in ``dise.engine.examples``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

#: Separators between a call and its result, longest first so ``==>`` wins over ``==``.
_SEPARATORS = ["# should return", "# returns", "# =>", "# ->", "# →", "==>", "-->", "=>", "==",
               "➞", "→", "⟶", "->", "should return", "should be", "returns", "return",
               "gives", "yields", "is", "="]
_WORD_SEPS = {"should return", "should be", "returns", "return", "gives", "yields", "is",
              "# should return", "# returns"}
_RAISES = re.compile(r"^(?:should\s+raise|raises|throws|raise|->\s*raises|=>\s*raises)\s+"
                     r"([A-Za-z_][\w.]*)", re.IGNORECASE)
_ERROR_NAME = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception)$")
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|>>>|\.\.\.)?\s*")
SECTION = re.compile(r"^\s*(?:for\s+)?(?:examples?|usage|e\.g\.?|for example|sample)\s*[:.]?\s*$",
                      re.IGNORECASE)
UNDERLINE = re.compile(r"^\s*[-=~^]{3,}\s*$")
FOR = re.compile(r"^for\s+(?P<binds>.+?)\s*,?\s+(?:then\s+)?(?:the\s+)?(?:output|result|answer|"
                  r"return\s+value|function\s+returns?)\s+(?:should\s+be|is|will\s+be|must\s+be|"
                  r"equals|=|:)\s+(?P<value>.+)$", re.IGNORECASE)
INPUT = re.compile(r"^(?:input|inputs|in|given)\s*:\s*(?P<args>.*)$", re.IGNORECASE)
OUTPUT = re.compile(r"^(?:output|out|result|returns|expected|expected output|answer)\s*:\s*"
                     r"(?P<value>.*)$", re.IGNORECASE)
_RESULT_COLUMN = re.compile(r"^(?:result|output|out|expected|returns?|answer|value|y)$",
                            re.IGNORECASE)
_TOLERANCE = re.compile(r"^(?P<value>.+?)\s*\(?\s*(?:±|\+/-|\+-)\s*"
                        r"(?P<tol>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*\)?\s*[.,;]?\s*$")
#: Lines of continuation read for one multi-line value.
MAX_CONTINUATION = 30
#: Relative tolerance added to every float comparison.
REL_TOL = 1e-9


@dataclass
class Example:
    """One example read from the text: a call and either its value or the exception it raises."""

    call: str
    value: Any = None
    raises: str = ""
    #: The docstring line(s) it came from, stripped.
    source: str = ""
    #: Decimal places of the least precise float the user wrote, or None when no float.
    places: int | None = None
    #: An absolute tolerance the user wrote (``± 0.07``), or None.
    tol: float | None = None





def _literal(source: str) -> tuple[bool, Any]:
    try:
        tree = ast.parse(source.strip(), mode="eval")
        return True, ast.literal_eval(tree.body)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False, None


def _call(source: str, name: str) -> str | None:
    """Canonical source of ``name(literal args…)``, or None when ``source`` is not that."""
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == name):
        return None
    try:
        for arg in node.args:
            ast.literal_eval(arg.value if isinstance(arg, ast.Starred) else arg)
        for kw in node.keywords:
            ast.literal_eval(kw.value)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return None
    return ast.unparse(node)


def _places(source: str) -> int | None:
    """Most decimals among the float literals written in ``source`` (None: no float): the
    precision the user wrote, so ``[2.0, 1.41]`` compares to 0.005."""
    found = None
    try:
        nodes = ast.walk(ast.parse(source.strip(), mode="eval"))
    except SyntaxError:
        return None
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            text = ast.get_source_segment(source.strip(), node) or repr(node.value)
            text = text.lower()
            if "e" in text:
                mantissa, _, exp = text.partition("e")
                decimals = len(mantissa.partition(".")[2]) - int(exp or 0)
            else:
                decimals = len(text.partition(".")[2])
            decimals = max(decimals, 0)
            found = decimals if found is None else max(found, decimals)
    return found


_LEAD = re.compile(r"^(?:.*?[\s,;(])?(?:examples?|e\.g\.|eg|for example|for instance|usage|"
                   r"sample)\s*[:,]?\s+(?=\S)", re.IGNORECASE)


def clean(line: str, name: str = "") -> str:
    """The example part of a line: no bullet, backticks or leading ``Example:``/``e.g.``."""
    text = line.strip().strip("`").strip()
    text = _BULLET.sub("", text, count=1) if not text.startswith(">>>") else text
    text = text.replace("`", "").strip()
    lead = _LEAD.match(text)
    rest = text[lead.end():] if lead else ""
    if lead and (not name or rest.startswith(name) or re.match(r"(?i)(?:for|input)\b", rest)):
        text = rest
    return text


def _trim(value: str) -> str:
    """Without sentence punctuation: ``7.`` at the end of a sentence is 7, not 7.0."""
    value = value.strip()
    while value and value[-1] in ".,;" and (not _literal(value)[0]
                                             or _literal(value[:-1])[0]):
        value = value[:-1].rstrip()
    return value


def _value(first: str, rest: list[str]) -> tuple[bool, Any, str, int]:
    """Parse a value starting with ``first`` and possibly continuing on ``rest``.

    Returns (ok, value, source, lines used from rest)."""
    text = _trim(first)
    ok, value = _literal(text)
    if ok:
        return True, value, text, 0
    joined = first.strip()
    for used, line in enumerate(rest[:MAX_CONTINUATION], 1):
        if not line.strip():
            break
        joined += "\n" + line.strip()
        ok, value = _literal(_trim(joined))
        if ok:
            return True, value, _trim(joined), used
    return False, None, text, 0


def split_call(text: str, name: str) -> tuple[str, str, str] | None:
    """(call source, separator, rest) for a line that starts with a call to ``name``."""
    if not text.startswith(name):
        return None
    for match in re.finditer(r"\)", text):
        call = _call(text[:match.end()], name)
        if call is None:
            continue
        rest = text[match.end():].strip()
        return call, "", rest
    return None


def separated(rest: str) -> tuple[str, str] | None:
    """(separator, right side) when ``rest`` starts with a separator."""
    low = rest.lower()
    for sep in _SEPARATORS:
        if low.startswith(sep):
            after = rest[len(sep):]
            if sep in _WORD_SEPS and after and not after[0].isspace():
                continue
            if sep == "=" and after.startswith("="):
                continue
            return sep, after.strip()
    return None


def raised_error(right: str) -> str:
    """The exception named by a result such as ``raises ValueError`` or ``ValueError``, or ""."""
    m = _RAISES.match(right.strip())
    if m:
        return m.group(1)
    word = _trim(right).rstrip(":").split(":")[0].strip()
    return word if _ERROR_NAME.match(word) else ""


class Reader:
    """Collects the examples read for function ``name`` (``found``) and the example-looking
    lines it could not read (``skipped``)."""

    def __init__(self, name: str, params: list[str]) -> None:
        self.name, self.params = name, [p for p in params if p not in ("self", "cls")
                                         and not p.startswith("*") and p != "/"]
        self.found: list[Example] = []
        self.skipped: list[str] = []

    def add(self, call: str, right: str, rest: list[str], source: str) -> int:
        """Record CALL → right; returns continuation lines used, or -1 when unreadable."""
        error = raised_error(right)
        if error:
            self.found.append(Example(call, raises=error, source=source))
            return 0
        tolerance = _TOLERANCE.match(right.strip())
        if tolerance and _literal(tolerance.group("value"))[0]:
            ok, value = _literal(tolerance.group("value"))
            if isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # "63 ± 1": a number near 63
            self.found.append(Example(call, value=value, source=source,
                                      places=_places(tolerance.group("value")),
                                      tol=float(tolerance.group("tol"))))
            return 0
        ok, value, text, used = _value(right, rest)
        if not ok:
            return -1
        self.found.append(Example(call, value=value, source=(source + (" …" if used else "")),
                                  places=_places(text)))
        return used

    def kwargs_call(self, binds: str) -> str | None:
        parts = re.split(r"\s*(?:,|\band\b)\s*(?=[A-Za-z_]\w*\s*=)", binds.strip())
        args = []
        for part in parts:
            key, eq, val = part.partition("=")
            key = key.strip()
            ok, _ = _literal(_trim(val))
            if not eq or not key.isidentifier() or not ok:
                return None
            args.append(f"{key}={_trim(val)}")
        names = [a.partition("=")[0] for a in args]
        if self.params and set(names) - set(self.params):
            return None
        if self.params and names == self.params[:len(names)]:
            # the parameters in order: a positional call (positional-only parameters work,
            # and it is the same call a model test or doctest would write)
            args = [a.partition("=")[2] for a in args]
        return _call(f"{self.name}({', '.join(args)})", self.name)

    def input_call(self, args: str) -> str | None:
        args = _trim(args)
        call = _call(args, self.name)
        if call:
            return call
        if re.match(r"^[A-Za-z_]\w*\s*=(?!=)", args):
            return self.kwargs_call(args)
        return _call(f"{self.name}({args})", self.name)


def doctest_lines(lines: list[str], i: int, reader: Reader) -> int:
    """A ``>>> CALL`` line and its output lines, read leniently (any indentation, inside an
    ``Example:`` section the doctest module refuses); returns lines consumed (≥ 1)."""
    text = lines[i].strip()[3:].strip()
    out, j = [], i + 1
    while j < len(lines) and lines[j].strip() and not lines[j].strip().startswith(">>>"):
        out.append(lines[j].strip())
        j += 1
    call = _call(text, reader.name)
    if call is None or not out:
        if reader.name + "(" in text:
            reader.skipped.append(lines[i].strip())
        return j - i
    if out[0].startswith("Traceback"):
        for line in out[1:]:
            error = line.split(":")[0].strip()
            if _ERROR_NAME.match(error):
                reader.found.append(Example(call, raises=error, source=text))
                return j - i
    for end in range(1, len(out) + 1):  # the shortest run of output lines that is a value
        joined = "\n".join(out[:end])
        ok, value = _literal(joined)
        if ok:
            reader.found.append(Example(call, value=value, source=text,
                                        places=_places(joined)))
            return j - i
    reader.skipped.append(f"{text} → {out[0]}")
    return j - i


def table(lines: list[str], i: int, reader: Reader) -> int:
    """A pipe table whose header names the parameters and a result column."""
    def cells(line: str) -> list[str]:
        return [c.strip().strip("`") for c in line.strip().strip("|").split("|")]

    header = cells(lines[i])
    if len(header) < 2 or not _RESULT_COLUMN.match(header[-1]) and not header[-1].startswith(
            reader.name + "("):
        return 0
    names = header[:-1]
    if not all(n.isidentifier() for n in names):
        return 0
    j = i + 1
    while j < len(lines) and "|" in lines[j]:
        row = cells(lines[j])
        j += 1
        if all(set(c) <= set("-: ") for c in row):
            continue
        source = lines[j - 1].strip()
        if len(row) != len(header):
            reader.skipped.append(source)
            continue
        args = ", ".join(row[:-1])
        call = reader.kwargs_call(", ".join(f"{n}={v}" for n, v in zip(names, row))) \
            if reader.params and set(names) <= set(reader.params) else \
            _call(f"{reader.name}({args})", reader.name)
        if call is None or reader.add(call, row[-1], [], source) < 0:
            reader.skipped.append(source)
    return j - i
