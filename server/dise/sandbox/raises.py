"""An example that raises (``f(-1) raises ValueError``), decided outside the sandbox.

The example test is the bare call (``TestCase.code == TestCase.call``) with
``want = "raises E"`` (``dise.engine.examples.example_test``). The harness runs the call and
reports what it raised: its type and the names along its MRO (``harness.describe_exception``:
each class as ``Name`` and ``module.Qualname``). The parent decides here, with the meaning of
``except E:``, a subclass counts. Before, the test was ``try: CALL / except E: pass / else:
raise AssertionError`` run inside the sandbox, where the candidate's module could rebind
``ValueError = BaseException`` and make ``except ValueError`` catch anything.

Matching: a built-in exception name must be the built-in itself (``builtins.ValueError`` in
the MRO, so a candidate's own class called ``ValueError`` does not count); a dotted name
(``json.JSONDecodeError``) matches a class of that last name whose module path ends like it
or is re-exported (``json.decoder.JSONDecodeError``); any other name (the user's own
``InvalidEmail``) matches a class of that name.
"""

from __future__ import annotations

import builtins

from dise.types import TestCase


def expected_raise(case: TestCase) -> str:
    """The exception an example test expects its call to raise, or "" for any other test."""
    if case.kind != "example" or case.expect is not None or not case.want.startswith("raises "):
        return ""
    if case.code.strip() != case.call.strip():
        return ""  # an older stored test in the try/except form: the sandbox decided it
    return case.want[len("raises "):].strip()


def raise_matches(raised: dict, name: str) -> bool:
    """Whether the harness's ``raised`` record is an exception ``except name:`` would catch."""
    if raised.get("limit"):  # ran out of time or memory: not the raise the user described
        return False
    mro = [str(n) for n in raised.get("mro") or []]
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, BaseException):
        return f"builtins.{name}" in mro
    last = name.rsplit(".", 1)[-1]
    return last in mro
