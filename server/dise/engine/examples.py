"""The user's examples are tests: read the examples a docstring gives, in the notations people
write, into tests of kind ``example`` (trusted: they carry the user's authority).

Grammar (one example per line unless a result continues on the next lines; ``f`` is the
function's name, CALL is ``f(ARGS)`` whose arguments are Python literals, VALUE a Python literal
read with ``ast.literal_eval``: numbers, strings, bytes, tuples, lists, dicts, sets, booleans,
``None``, nested to any depth):

* ``CALL SEP VALUE`` with SEP one of ``=>``, ``==>``, ``==``, ``=``, ``➞``, ``→``, ``⟶``,
  ``->``, ``-->``, ``returns``, ``return``, ``should return``, ``should be``, ``gives``,
  ``yields``, ``is``, ``# =>``, ``# ->``, ``# returns``; also ``assert CALL == VALUE``.
* ``CALL raises ERROR`` (also ``throws``, ``should raise``, ``-> raises ERROR``, ``=> ERROR``
  where ERROR is a name ending in ``Error`` or ``Exception``): a test that the call raises
  ERROR (a subclass counts).
* ``for x = 3 the output should be 7`` and ``for a = 1 and b = 2, the result is 3``: the names
  are the function's parameters (keyword arguments); ``output``/``result``/``answer``/
  ``return value``, then ``should be``/``is``/``will be``/``must be``/``equals``.
* ``Input: ARGS`` (``x = 3, y = 4`` or plain positional literals, or a CALL) followed, on the
  same or a later line, by ``Output: VALUE`` (also ``Result:``, ``Returns:``, ``Expected:``).
* ``>>> CALL`` lines with their output on the following lines, read leniently (any
  indentation, e.g. a ``>>>`` block inside an ``Example:`` section that the doctest module
  refuses); only used when ``doctest`` could not read the docstring.
* Pipe tables: a header row naming the parameters (in order) and one result column
  (``result``, ``output``, ``expected``, ``returns``, ``f(...)``…), then one row per example.
* A VALUE that does not end on its line continues on the following lines until it parses
  (multi-line lists, dicts, strings).

Leading bullets (``-``, ``*``, ``•``, ``1.``), backticks and a trailing ``.``/``,``/``;`` are
ignored. Floats are compared with a tolerance of half a unit in the last decimal the user wrote
(``3.14`` accepts 3.14159), plus a relative 1e-9, inside lists, tuples and dicts too. A VALUE
followed by ``± TOL`` (or ``+/- TOL``, optionally in parentheses) is compared with that
absolute tolerance instead (``62.83 ± 0.07`` accepts 62.8319).

What is not read is never guessed: an example-looking line (one that calls ``f`` or sits in an
``Example(s)`` section) that fits no rule is listed in ``skipped``. Two examples of one call
with different results are both dropped and listed in ``contradictions``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from dise.engine.types import TestCase
from dise.sandbox.verdict import CLOSE_CALL

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
_SECTION = re.compile(r"^\s*(?:for\s+)?(?:examples?|usage|e\.g\.?|for example|sample)\s*[:.]?\s*$",
                      re.IGNORECASE)
_UNDERLINE = re.compile(r"^\s*[-=~^]{3,}\s*$")
_FOR = re.compile(r"^for\s+(?P<binds>.+?)\s*,?\s+(?:then\s+)?(?:the\s+)?(?:output|result|answer|"
                  r"return\s+value|function\s+returns?)\s+(?:should\s+be|is|will\s+be|must\s+be|"
                  r"equals|=|:)\s+(?P<value>.+)$", re.IGNORECASE)
_INPUT = re.compile(r"^(?:input|inputs|in|given)\s*:\s*(?P<args>.*)$", re.IGNORECASE)
_OUTPUT = re.compile(r"^(?:output|out|result|returns|expected|expected output|answer)\s*:\s*"
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


@dataclass
class ExampleReport:
    """What ``read_examples`` found: tests, and the lines it could not use, with reasons."""

    tests: list[TestCase] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)


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


def _clean(line: str, name: str = "") -> str:
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


def _split_call(text: str, name: str) -> tuple[str, str, str] | None:
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


def _separated(rest: str) -> tuple[str, str] | None:
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


def _raises(right: str) -> str:
    m = _RAISES.match(right.strip())
    if m:
        return m.group(1)
    word = _trim(right).rstrip(":").split(":")[0].strip()
    return word if _ERROR_NAME.match(word) else ""


class _Reader:
    def __init__(self, name: str, params: list[str]) -> None:
        self.name, self.params = name, [p for p in params if p not in ("self", "cls")
                                         and not p.startswith("*") and p != "/"]
        self.found: list[Example] = []
        self.skipped: list[str] = []

    def add(self, call: str, right: str, rest: list[str], source: str) -> int:
        """Record CALL → right; returns continuation lines used, or -1 when unreadable."""
        error = _raises(right)
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


def _doctest_lines(lines: list[str], i: int, reader: _Reader) -> int:
    """A ``>>> CALL`` line and its output lines; returns lines consumed (≥ 1)."""
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


def _table(lines: list[str], i: int, reader: _Reader) -> int:
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


def _in_examples_section(lines: list[str]) -> list[bool]:
    """For each line: does it sit in an ``Example(s):`` section (Google or NumPy style)?"""
    flags, inside = [], False
    for k, line in enumerate(lines):
        nxt = lines[k + 1] if k + 1 < len(lines) else ""
        if _SECTION.match(line):
            inside = True
            flags.append(False)
            continue
        if inside and not line.strip().startswith(">>>") and (
                re.match(r"^\s*[A-Z][A-Za-z ]{1,30}:\s*$", line) or _UNDERLINE.match(nxt)):
            inside = False
        flags.append(inside)
    return flags


def read_examples(text: str, name: str, params: list[str] | None = None, *,
                  doctests_read: bool = True) -> ExampleReport:
    """Tests from the examples in ``text`` (a docstring or a request) for function ``name``.

    ``params`` are the parameter names (for ``for x = 3 …`` and tables); ``doctests_read``
    says the doctest module already read the ``>>>`` lines (then they are left alone).
    See the module docstring for the grammar.
    """
    report = ExampleReport()
    if not text or not name:
        return report
    reader = _Reader(name, list(params or []))
    lines = text.splitlines()
    section = _in_examples_section(lines)
    i = 0
    pending_input: tuple[str, str] | None = None
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or _UNDERLINE.match(stripped):
            i += 1
            continue
        if stripped.startswith(">>>"):
            i += 1 if doctests_read else _doctest_lines(lines, i, reader)
            if doctests_read:  # skip the output lines too
                while i < len(lines) and lines[i].strip() and \
                        not lines[i].strip().startswith(">>>"):
                    i += 1
            continue
        if stripped.startswith("|") and "|" in stripped[1:]:
            used = _table(lines, i, reader)
            if used:
                i += used
                continue
        text_line = _clean(raw, name)
        if text_line.lower().startswith("assert "):
            text_line = text_line[len("assert "):].strip()
        rest = lines[i + 1:]
        used = _line(text_line, rest, reader, section[i], stripped)
        if used is not None:
            i += 1 + used
            pending_input = None
            continue
        m_in, m_out = _INPUT.match(text_line), _OUTPUT.match(text_line)
        if m_in:
            body = m_in.group("args")
            inline = re.search(r"\s+(?:output|result|expected)\s*:\s*", body, re.IGNORECASE)
            if inline:
                pending_input = (body[:inline.start()], stripped)
                text_line = body[inline.end():]
                m_out = _OUTPUT.match("output: " + text_line)
            else:
                pending_input = (body, stripped)
                i += 1
                continue
        if m_out and pending_input is not None:
            args, src = pending_input
            pending_input = None
            call = reader.input_call(args)
            used = reader.add(call, m_out.group("value"), rest, f"{src} / {stripped}") \
                if call else -1
            if used < 0:
                reader.skipped.append(f"{src} / {stripped}")
                used = 0
            i += 1 + used
            continue
        if section[i] or (re.search(rf"\b{re.escape(name)}\s*\(", text_line)
                          and not _prose(text_line, name)):
            reader.skipped.append(stripped)
        i += 1
    if pending_input is not None:
        reader.skipped.append(pending_input[1])
    report.examples, report.skipped = reader.found, reader.skipped
    report.tests, report.contradictions = _tests(reader.found, name)
    return report


def _prose(line: str, name: str) -> bool:
    """A sentence that mentions the function without giving an example (not worth a skip)."""
    return not re.search(rf"{re.escape(name)}\s*\([^)]*\)\s*\S", line) and not re.search(
        r"=>|->|➞|→|==|\breturns?\b.*\d", line)


def _line(text: str, rest: list[str], reader: _Reader, in_section: bool,
          source: str) -> int | None:
    """Continuation lines used when ``text`` is an example in a one-line notation, else None."""
    split = _split_call(text, reader.name)
    if split:
        call, _, after = split
        sep = _separated(after)
        if sep is None:
            error = _raises(after)
            if error:
                reader.found.append(Example(call, raises=error, source=source))
                return 0
            return None
        used = reader.add(call, sep[1], rest, source)
        return None if used < 0 else used
    m = _FOR.match(text)
    if m:
        call = reader.kwargs_call(m.group("binds"))
        if call:
            used = reader.add(call, m.group("value"), rest, source)
            return None if used < 0 else used
    return None


def _key(value: Any) -> str:
    return repr(value)


def _same(a: Example, b: Example) -> bool:
    if a.raises or b.raises:
        return a.raises == b.raises
    tols = [_tolerance(ex) for ex in (a, b) if _tolerance(ex) is not None]
    if tols:
        return _close(a.value, b.value, max(tols))
    return type(a.value) is type(b.value) and a.value == b.value


def _tolerance(ex: Example) -> float | None:
    """The absolute tolerance of an example's floats: the written ``± TOL``, else half a unit
    in the last decimal written, None when no float was written."""
    if ex.tol is not None:
        return ex.tol
    return None if ex.places is None else 0.5 * 10 ** -ex.places


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= tol + REL_TOL * abs(b)
    if isinstance(a, (list, tuple)) and type(a) is type(b) and len(a) == len(b):
        return all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return all(_close(a[k], b[k], tol) for k in a)
    return a == b


def _tests(found: list[Example], name: str) -> tuple[list[TestCase], list[str]]:
    by_call: dict[str, list[Example]] = {}
    for ex in found:
        by_call.setdefault(ex.call, []).append(ex)
    tests, contradictions = [], []
    for call, group in by_call.items():
        first = group[0]
        if any(not _same(first, other) for other in group[1:]):
            shown = "; ".join(dict.fromkeys(ex.source for ex in group))
            contradictions.append(f"{call} has different results: {shown}")
            continue
        tests.append(example_test(first))
    return tests, contradictions


def example_test(ex: Example) -> TestCase:
    """The test for one example: equality (with tolerance for floats) or the raised error."""
    if ex.raises:
        # the bare call: what it raised is judged outside the sandbox (dise.sandbox.raises)
        return TestCase(kind="example", code=ex.call, call=ex.call, want=f"raises {ex.raises}",
                        source=ex.source)
    want = repr(ex.value)
    tol = _tolerance(ex)
    if tol is None:
        code = f"assert {ex.call} == {want}"
    else:
        # Compared outside the sandbox within the tolerance (dise.sandbox.verdict.CLOSE_CALL).
        code = f"assert {CLOSE_CALL}({ex.call}, {want}, {tol!r})"
    return TestCase(kind="example", code=code, call=ex.call, want=want, source=ex.source)
