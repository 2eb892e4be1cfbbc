"""One test as the parent prepared it (``PreparedTest``), running coroutines and generators
to plain values (``settle``), and describing an exception as data (``describe_exception``)."""

from __future__ import annotations

import sys
import time
import traceback
import types

from .limits import TestTimeout
from .report import Unencodable, one_line, safe_str
from .streams import MemoryBuffer


#: Items taken from a generator that a test compares to a list.
MAX_GENERATOR_ITEMS = 100_000
#: ``co_flags`` bit of an ``async def`` function (inspect.CO_COROUTINE).
CO_COROUTINE = 0x80


def is_coroutine_function(function) -> bool:
    """``inspect.iscoroutinefunction`` without importing inspect/asyncio at start-up."""
    code = getattr(function, "__code__", None)
    return bool(code is not None and getattr(code, "co_flags", 0) & CO_COROUTINE)


def settle(value, consume: bool = False):
    """Await a coroutine (``asyncio.run``); with ``consume``, a generator becomes a list.
    asyncio is imported only when a coroutine turns up (importing it costs ~20-150 ms)."""
    if isinstance(value, types.CoroutineType):
        import asyncio

        value = asyncio.run(value)
    if consume and isinstance(value, (types.GeneratorType, map, filter, zip, range)):
        items = []
        for item in value:
            items.append(item)
            if len(items) > MAX_GENERATOR_ITEMS:
                raise Unencodable(f"the generator gave more than {MAX_GENERATOR_ITEMS} items")
        value = items
    return value


def awaiting(function):
    """A plain function that runs the coroutine function ``function`` to completion."""
    import asyncio
    import functools

    @functools.wraps(function)
    def run(*args, **kwargs):
        return asyncio.run(function(*args, **kwargs))

    return run


class PreparedTest:
    """One test as the parent prepared it: code to run (asserts already turned into probes)
    and, for an expression test, its final expression whose value and output are reported."""

    FILENAME = "<test>"

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.mode: str = spec["mode"]  # "exec" or "expr"
        self.consume = bool(spec.get("consume"))
        self.compile_error = ""
        self.body = None
        self.value = None
        #: The first run's record; the measuring passes skip tests that raised or hit a limit.
        self.outcome: dict = {}
        try:
            import ast

            tree = ast.parse(spec["code"], self.FILENAME, "exec")
            if self.mode == "expr" and tree.body and isinstance(tree.body[-1], ast.Expr):
                last = tree.body.pop()
                self.value = compile(ast.Expression(last.value), self.FILENAME, "eval")
            if tree.body:
                self.body = compile(tree, self.FILENAME, "exec")
        except SyntaxError as exc:
            self.compile_error = one_line(f"SyntaxError in the test: {exc.msg} (line {exc.lineno})")

    def execute(self, ns: dict, cap: int) -> tuple[str, object]:
        """Run once: (what it printed, value of the final expression or None)."""
        printed = MemoryBuffer(cap)
        saved = sys.stdout
        if self.mode == "expr":
            sys.stdout = printed
        try:
            if self.body is not None:
                exec(self.body, ns)
            value = None
            if self.value is not None:
                value = settle(eval(self.value, ns), self.consume)
        finally:
            sys.stdout = saved
        return printed.getvalue(), value

    def time_once(self, ns: dict) -> float:
        """Seconds for one execution, without output capture or reporting."""
        start = time.perf_counter()
        if self.body is not None:
            exec(self.body, ns)
        if self.value is not None:
            settle(eval(self.value, ns), self.consume)
        return time.perf_counter() - start


def solution_line(tb, solution_path: str) -> int | None:
    """The innermost line of the candidate's file in a traceback, for "at line N"."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == solution_path:
            line = lineno
    return line


def describe_exception(exc: BaseException, solution_path: str, job: dict) -> dict:
    """What the parent needs to know about an exception: data only."""
    where = solution_line(exc.__traceback__, solution_path)
    at = f" (at line {where})" if where else ""
    limit = ""
    kind = type(exc)
    if isinstance(exc, TestTimeout):
        text, limit = f"TimeoutError: the test ran past the {job['per_test_timeout_s']:g} s " \
            f"limit{at}", "timeout"
    elif isinstance(exc, MemoryError):
        text, limit = f"MemoryError: the code ran past the {job['memory_mb']} MB memory " \
            f"limit{at}", "memory"
    elif isinstance(exc, RecursionError):
        text = f"RecursionError: maximum recursion depth exceeded{at}"
    else:
        message = safe_str(exc)
        text = one_line(kind.__name__ + (f": {message}" if message else "") + at)
    module = getattr(kind, "__module__", "") or ""
    qualname = getattr(kind, "__qualname__", kind.__name__)
    shown = qualname if module in ("builtins", "__main__", "solution") else f"{module}.{qualname}"
    mro = []
    for cls in kind.__mro__:
        mro += [cls.__name__, f"{cls.__module__}.{cls.__qualname__}"]
    frames = list(traceback.walk_tb(exc.__traceback__))
    in_test = bool(frames) and frames[-1][0].f_code.co_filename == PreparedTest.FILENAME
    return {"text": text, "limit": limit, "type": shown, "mro": mro,
            "message": one_line(safe_str(exc)), "in_test": in_test}
