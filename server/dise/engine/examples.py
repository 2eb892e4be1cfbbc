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

This module walks a docstring and turns what is found into tests; the notations' patterns, the
lenient ``>>>`` reader and the table reader are in ``dise.engine.example_readers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dise.engine.example_readers import (
    FOR,
    INPUT,
    OUTPUT,
    REL_TOL,
    SECTION,
    UNDERLINE,
    Example,
    Reader,
    clean,
    doctest_lines,
    raised_error,
    separated,
    split_call,
    table,
)
from dise.engine.types import TestCase
from dise.sandbox.probes import CLOSE_CALL

@dataclass
class ExampleReport:
    """What ``read_examples`` found: tests, and the lines it could not use, with reasons."""

    tests: list[TestCase] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)




def _in_examples_section(lines: list[str]) -> list[bool]:
    """For each line: does it sit in an ``Example(s):`` section (Google or NumPy style)?"""
    flags, inside = [], False
    for k, line in enumerate(lines):
        nxt = lines[k + 1] if k + 1 < len(lines) else ""
        if SECTION.match(line):
            inside = True
            flags.append(False)
            continue
        if inside and not line.strip().startswith(">>>") and (
                re.match(r"^\s*[A-Z][A-Za-z ]{1,30}:\s*$", line) or UNDERLINE.match(nxt)):
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
    reader = Reader(name, list(params or []))
    lines = text.splitlines()
    section = _in_examples_section(lines)
    i = 0
    pending_input: tuple[str, str] | None = None
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or UNDERLINE.match(stripped):
            i += 1
            continue
        if stripped.startswith(">>>"):
            i += 1 if doctests_read else doctest_lines(lines, i, reader)
            if doctests_read:  # skip the output lines too
                while i < len(lines) and lines[i].strip() and \
                        not lines[i].strip().startswith(">>>"):
                    i += 1
            continue
        if stripped.startswith("|") and "|" in stripped[1:]:
            used = table(lines, i, reader)
            if used:
                i += used
                continue
        text_line = clean(raw, name)
        if text_line.lower().startswith("assert "):
            text_line = text_line[len("assert "):].strip()
        rest = lines[i + 1:]
        used = _line(text_line, rest, reader, section[i], stripped)
        if used is not None:
            i += 1 + used
            pending_input = None
            continue
        m_in, m_out = INPUT.match(text_line), OUTPUT.match(text_line)
        if m_in:
            body = m_in.group("args")
            inline = re.search(r"\s+(?:output|result|expected)\s*:\s*", body, re.IGNORECASE)
            if inline:
                pending_input = (body[:inline.start()], stripped)
                text_line = body[inline.end():]
                m_out = OUTPUT.match("output: " + text_line)
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


def _line(text: str, rest: list[str], reader: Reader, in_section: bool,
          source: str) -> int | None:
    """Continuation lines used when ``text`` is an example in a one-line notation, else None."""
    split = split_call(text, reader.name)
    if split:
        call, _, after = split
        sep = separated(after)
        if sep is None:
            error = raised_error(after)
            if error:
                reader.found.append(Example(call, raises=error, source=source))
                return 0
            return None
        used = reader.add(call, sep[1], rest, source)
        return None if used < 0 else used
    m = FOR.match(text)
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
        # Compared outside the sandbox within the tolerance (dise.sandbox.probes.CLOSE_CALL).
        code = f"assert {CLOSE_CALL}({ex.call}, {want}, {tol!r})"
    return TestCase(kind="example", code=code, call=ex.call, want=want, source=ex.source)
