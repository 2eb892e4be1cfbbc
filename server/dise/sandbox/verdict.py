"""The trusted half of a test run: what the sandbox is asked to run, and the verdicts.

``plan`` turns each ``TestCase`` into code for the sandbox in which every ``assert`` became a
call to the harness's probe (``__dise_probe__(key, operands…)``); literal operands (``== 4``,
``== [1, 2]``) and doctest expectations stay here, so the process that loads the candidate
never holds them. ``judge`` reads the harness's records (data only: tagged value trees, see
``harness.Encoder``) and decides pass/fail by comparing decoded plain data — never by calling
a method of anything the candidate made. A test whose names the candidate's module cannot
provide (a method's class, say) is "not runnable", not failed.

Values that cannot be encoded (class instances with their own ``__eq__``, cycles, too much
data) fail with the reason. Comparisons use Python's own operators on the decoded built-in
values, so floats compare exactly, as before. A doctest whose output text differs is still
passed when its expected text is a literal equal to the value up to int/float (``240`` for
``240.0``), as ``assert f(x) == 240`` would.
"""

from __future__ import annotations

import ast
import builtins
import datetime
import decimal
import doctest
import fractions
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from dise.types import TestCase, TestResult
from dise.sandbox.raises import expected_raise, raise_matches
from dise.sandbox.returns import RETURNS_CALL, fits

PROBE = "__dise_probe__"
REPR_CHARS = 200
ERROR_CHARS = 400
_OPS = {"Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le,
        "Gt": operator.gt, "GtE": operator.ge, "In": lambda a, b: a in b,
        "NotIn": lambda a, b: a not in b, "Is": operator.is_, "IsNot": operator.is_not}
_OP_TEXT = {"Eq": "expected {}", "NotEq": "expected anything but {}"}
#: ``assert _dise_close(EXPR, LITERAL, TOL)`` in a test: EXPR's value must equal LITERAL, floats
#: (also inside lists, tuples and dicts) within TOL plus a relative 1e-9. Judged here, outside
#: the sandbox, like ``==``: the sandbox only reports EXPR's value (docstring examples with
#: floats, ``dise.engine.examples``).
CLOSE_CALL = "_dise_close"
REL_TOL = 1e-9
_SINGLETONS = (None, True, False)
_DIRECTIVE = re.compile(r"#\s*doctest:\s*([^\n'\"]*)$", re.MULTILINE)


class CannotCompare(Exception):
    """A reported value is not plain data; the message says why."""


def one_line(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# decoding and rendering the harness's value trees


@dataclass(frozen=True)
class Record:
    """A dataclass instance the candidate returned, as data: its class name and fields."""

    cls: str
    fields: tuple[tuple[str, Any], ...]


def decode(tree: Any) -> Any:
    """A tagged tree → built-in Python values (sets stay sets). Raises ``CannotCompare``."""
    if not isinstance(tree, dict) or "t" not in tree:
        raise CannotCompare("the sandbox sent something that is not a value")
    tag, v = tree["t"], tree.get("v")
    try:
        if tag == "unencodable":
            raise CannotCompare(str(tree.get("why") or "it is not plain data"))
        if tag in ("none", "bool", "str"):
            expected = {"none": type(None), "bool": bool, "str": str}[tag]
            if type(v) is not expected:
                raise CannotCompare("malformed value")
            return v
        if tag == "int":
            return int(v)
        if tag == "float":
            return float(v)
        if tag == "complex":
            return complex(float(v[0]), float(v[1]))
        if tag in ("bytes", "bytearray"):
            return (bytes if tag == "bytes" else bytearray).fromhex(v)
        if tag in ("list", "tuple", "set", "frozenset"):
            items = [decode(x) for x in v]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "dict":
            return {decode(k): decode(x) for k, x in v}
        if tag == "namedtuple":
            return tuple(decode(x) for x in v)
        if tag == "dataclass":
            return Record(str(tree["cls"]), tuple(zip(map(str, tree["fields"]),
                                                      (decode(x) for x in v))))
        if tag == "decimal":
            return decimal.Decimal(v)
        if tag == "fraction":
            return fractions.Fraction(int(v[0]), int(v[1]))
        if tag in ("date", "datetime", "time"):
            return getattr(datetime, tag).fromisoformat(v)
        if tag == "timedelta":
            return datetime.timedelta(days=v[0], seconds=v[1], microseconds=v[2])
    except CannotCompare:
        raise
    except (TypeError, ValueError, KeyError, IndexError, decimal.InvalidOperation,
            ZeroDivisionError):
        raise CannotCompare("malformed value") from None
    raise CannotCompare(f"unknown kind of value {tag!r}")


def render(tree: Any) -> str:
    """``repr`` of the value a tree describes, built from the data in the sandbox's order."""
    tag, v = tree.get("t"), tree.get("v")
    if tag in ("list", "tuple", "set", "frozenset"):
        items = [render(x) for x in v]
        if tag == "list":
            return f"[{', '.join(items)}]"
        if tag == "tuple":
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        inner = f"{{{', '.join(items)}}}" if items else ""
        return (inner or "set()") if tag == "set" else f"frozenset({inner})"
    if tag == "dict":
        return "{" + ", ".join(f"{render(k)}: {render(x)}" for k, x in v) + "}"
    if tag in ("namedtuple", "dataclass"):
        parts = [f"{name}={render(x)}" for name, x in zip(tree["fields"], v)]
        return f"{tree['cls']}({', '.join(parts)})"
    if tag == "unencodable":
        return f"<a value that cannot be checked: {tree.get('why')}>"
    return repr(decode(tree))


def short(tree: Any) -> str:
    try:
        return one_line(render(tree), REPR_CHARS)
    except (CannotCompare, AttributeError, TypeError, KeyError, ValueError):
        return "<malformed value>"


# ---------------------------------------------------------------------------------------------
# planning


@dataclass
class Probe:
    """One rewritten ``assert``: its operator and, per operand, a literal or a probed slot."""

    key: int
    op: str  # a comparison name, "truth" or "not"
    sides: list[tuple[str, Any]]  # ("lit", value) or ("probe", src)
    source: str
    required: bool
    lineno: int
    tolerance: float = 0.0  # op "close" only


@dataclass
class TestPlan:
    case: TestCase
    sandbox: dict  # what the harness receives: mode, code, consume
    probes: dict[int, Probe] = field(default_factory=dict)
    not_runnable: str = ""


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


class _AssertRewriter(ast.NodeTransformer):
    def __init__(self, source: str) -> None:
        self.source = source
        self.probes: dict[int, Probe] = {}
        self.depth = 0

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def generic_visit(self, node):
        nested = isinstance(node, (ast.stmt, ast.ExceptHandler)) and not isinstance(
            node, ast.Module)
        self.depth += nested
        try:
            return super().generic_visit(node)
        finally:
            self.depth -= nested

    def visit_Assert(self, node: ast.Assert) -> ast.stmt:
        test = node.test
        key = len(self.probes)
        op, operands = "truth", [test]
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            op, operands = type(test.ops[0]).__name__, [test.left, test.comparators[0]]
            if op in ("Is", "IsNot"):
                literal = [_literal(x) for x in operands]
                if not any(ok and value in _SINGLETONS and type(value) in (bool, type(None))
                           for ok, value in literal):
                    op, operands = "truth", [test]  # identity of other objects: as a value
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            op, operands = "not", [test.operand]
        tolerance = 0.0
        if _is_close_call(test):
            op, operands, tolerance = "close", [test.args[0], test.args[1]], test.args[2].value
        elif _is_returns_call(test):  # the value's kind is judged here (sandbox.returns)
            op, operands = "returns", [test.args[0], test.args[1]]
        sides: list[tuple[str, Any]] = []
        probed: list[ast.expr] = []
        for operand in operands:
            ok, value = _literal(operand) if op not in ("truth", "not") else (False, None)
            if op == "returns" and operand is operands[0]:
                ok = False  # even a literal call result is the candidate's to report
            if ok:
                sides.append(("lit", value))
            else:
                sides.append(("probe", self.segment(operand)))
                probed.append(operand)
        consume = any(kind == "lit" and isinstance(value, list) for kind, value in sides)
        self.probes[key] = Probe(key, op, sides, self.segment(test), self.depth == 0,
                                 node.lineno, tolerance)
        call = ast.Call(ast.Name(PROBE, ast.Load()), [ast.Constant(key), *probed],
                        [ast.keyword("consume", ast.Constant(consume))] if consume else [])
        return ast.copy_location(ast.Expr(call), node)


def _is_close_call(test: ast.expr) -> bool:
    """``_dise_close(EXPR, LITERAL, TOL)`` with a literal expectation and a numeric tolerance."""
    return (isinstance(test, ast.Call) and isinstance(test.func, ast.Name)
            and test.func.id == CLOSE_CALL and len(test.args) == 3 and not test.keywords
            and _literal(test.args[1])[0] and isinstance(test.args[2], ast.Constant)
            and isinstance(test.args[2].value, (int, float))
            and not isinstance(test.args[2].value, bool))


def _is_returns_call(test: ast.expr) -> bool:
    """``_dise_returns(EXPR, "ANNOTATION")``: a smoke test's check of the return annotation."""
    return (isinstance(test, ast.Call) and isinstance(test.func, ast.Name)
            and test.func.id == RETURNS_CALL and len(test.args) == 2 and not test.keywords
            and isinstance(test.args[1], ast.Constant) and isinstance(test.args[1].value, str))


def close(got: Any, want: Any, tol: float) -> bool:
    """``got == want``, floats within ``tol`` (+ relative 1e-9), recursing into lists, tuples
    (same type and length) and dicts (same keys); an int is close to a float, a bool is not."""
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return got == want or abs(got - want) <= tol + REL_TOL * abs(want)
    if isinstance(want, (list, tuple)):
        return (type(got) is type(want) and len(got) == len(want)
                and all(close(g, w, tol) for g, w in zip(got, want)))
    if isinstance(want, dict):
        return (isinstance(got, dict) and got.keys() == want.keys()
                and all(close(got[k], want[k], tol) for k in want))
    return got == want


def _bound_names(tree: ast.AST) -> set[str] | None:
    """Every name ``tree`` binds anywhere; None when it may bind names we cannot see."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Global):
            names.update(node.names)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("globals", "exec", "setattr", "vars", "__import__"):
            return None
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _missing_names(test_tree: ast.AST, module_names: set[str] | None) -> list[str]:
    if module_names is None:
        return []
    own = _bound_names(test_tree)
    if own is None:  # the test binds names we cannot see (exec, globals(), …): cannot tell
        return []
    used = {n.id for n in ast.walk(test_tree) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}
    known = module_names | own | set(dir(builtins)) | {PROBE, CLOSE_CALL, RETURNS_CALL,
                                                        "__name__", "__file__"}
    return sorted(used - known)


def plan(tests: list[TestCase], code: str) -> list[TestPlan]:
    """What the sandbox runs for each test, and what stays here to judge it."""
    try:
        module_names = _bound_names(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        module_names = None  # the load error will say why
    plans = []
    for case in tests:
        mode = "exec" if case.expect is None else "expr"
        try:
            tree = ast.parse(case.code, "<test>", "exec")
        except SyntaxError:
            # The harness reports the syntax error itself.
            plans.append(TestPlan(case, {"mode": mode, "code": case.code}))
            continue
        missing = _missing_names(tree, module_names)
        rewriter = _AssertRewriter(case.code)
        tree = ast.fix_missing_locations(rewriter.visit(tree))
        consume = mode == "expr" and (case.expect or "").lstrip().startswith("[")
        sandbox = {"mode": mode, "code": ast.unparse(tree), "consume": consume}
        reason = ""
        if missing:
            reason = (f"not runnable here: the test uses {', '.join(missing)}, which this "
                      f"code does not define")
        plans.append(TestPlan(case, sandbox, rewriter.probes, reason))
    return plans


# ---------------------------------------------------------------------------------------------
# judging


def _check_probe(probe: Probe, values: list[Any]) -> str:
    """"" when the probe holds, else the one-line failure."""
    if probe.op == "returns":
        return _check_returns(probe, values)
    operands, shown = [], []
    slots = iter(values if isinstance(values, list) else [])
    for kind, value in probe.sides:
        if kind == "lit":
            operands.append(value)
            shown.append(one_line(repr(value), REPR_CHARS))
            continue
        tree = next(slots, None)
        if tree is None:
            return f"assert {probe.source} failed: the sandbox reported no value"
        try:
            operands.append(decode(tree))
        except CannotCompare as exc:
            return one_line(f"assert {probe.source} failed: {value} returned a value that "
                            f"cannot be checked ({exc})")
        shown.append(short(tree))
    first_src = probe.sides[0][1] if probe.sides[0][0] == "probe" else shown[0]
    verb = "returned" if first_src.rstrip().endswith(")") else "was"
    try:
        if probe.op == "close":
            holds = close(operands[0], operands[1], probe.tolerance)
        elif probe.op == "truth":
            holds = bool(operands[0])
        elif probe.op == "not":
            holds = not operands[0]
        else:
            holds = bool(_OPS[probe.op](operands[0], operands[1]))
    except TypeError as exc:
        return one_line(f"assert {probe.source} failed: {exc}")
    if holds:
        return ""
    got = f"{first_src} {verb} {shown[0]}"
    if probe.op == "close":
        return one_line(f"{got}, expected {shown[1]} (± {probe.tolerance:g})")
    if probe.op in _OP_TEXT:
        got += ", " + _OP_TEXT[probe.op].format(shown[1])
    elif len(shown) > 1:
        got += f"; right side was {shown[1]}"
    return one_line(f"assert {probe.source} failed: {got}")


def _check_returns(probe: Probe, values: list[Any]) -> str:
    """"" when the probed value fits the annotation (``sandbox.returns.fits``)."""
    tree = values[0] if isinstance(values, list) and values else None
    call, annotation = probe.sides[0][1], probe.sides[1][1]
    if tree is None:
        return f"{call}: the sandbox reported no value"
    if fits(tree, annotation):
        return ""
    return one_line(f"{call} returned {short(tree)}, not a value of its return annotation "
                    f"-> {annotation}")


def _doctest_flags(code: str) -> int:
    flags = doctest.NORMALIZE_WHITESPACE
    for match in _DIRECTIVE.finditer(code):
        for option in match.group(1).replace(",", " ").split():
            flag = doctest.OPTIONFLAGS_BY_NAME.get(option[1:])
            if flag and option[0] == "+":
                flags |= flag
            elif flag and option[0] == "-":
                flags &= ~flag
    return flags


def _expected_exception(expect: str | None) -> str | None:
    if expect is None or not expect.lstrip().startswith("Traceback ("):
        return None
    lines = [ln for ln in expect.strip().splitlines() if ln and not ln[0].isspace()]
    return lines[-1] if len(lines) > 1 else ""


def _exception_line(raised: dict) -> str:
    message = str(raised.get("message") or "")
    return f"{raised.get('type', 'Exception')}" + (f": {message}" if message else "")


def _judge_expression(case: TestCase, record: dict) -> str:
    expected_exc = _expected_exception(case.expect)
    raised = record.get("raised")
    if raised:
        if expected_exc is not None and not raised.get("limit"):
            got = _exception_line(raised) + "\n"
            if doctest.OutputChecker().check_output(
                    expected_exc + "\n", got,
                    doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL):
                return ""
            return one_line(f"expected {expected_exc}, got {got}")
        return str(raised.get("text") or "the test raised")
    printed = str(record.get("printed") or "")
    tree = record.get("value")
    shown = printed
    if isinstance(tree, dict):
        if tree.get("t") == "unencodable":
            return one_line(f"{case.code.strip()} returned a value that cannot be checked "
                            f"({tree.get('why')})")
        if tree.get("t") != "none":
            try:
                decode(tree)
                shown += render(tree) + "\n"
            except CannotCompare as exc:
                return one_line(f"{case.code.strip()} returned a value that cannot be checked "
                                f"({exc})")
    if expected_exc is not None:
        return one_line(f"expected {expected_exc}, got {shown.strip()!s}")
    want = case.expect.rstrip("\n") + "\n" if case.expect.strip() else ""
    checker = doctest.OutputChecker()
    flags = _doctest_flags(case.code)
    if checker.check_output(want, shown, flags) or (
            shown == "" and checker.check_output(want, "None\n", flags)):
        return ""
    if not printed and isinstance(tree, dict) and _same_number_value(case.expect, tree):
        return ""
    return one_line(f"{case.code.strip()} expected {case.expect.strip()}, "
                    f"got {shown.strip() or 'nothing'}")


def _same_number_value(expect: str, tree: dict) -> bool:
    """Whether a doctest's expected text is a literal equal to the returned value where only
    int and float differ (``240`` for a returned ``240.0``, ``(2, 2)`` for ``(2.0, 2.0)``): the
    value the user wrote, which ``assert f(x) == 240`` would accept. Bools, strings and
    container kinds must still match."""
    try:
        want = ast.literal_eval(expect.strip())
        got = decode(tree)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, CannotCompare):
        return False
    return _numbers_equal(got, want)


def _numbers_equal(got: Any, want: Any) -> bool:
    number = (int, float)
    if isinstance(got, number) and isinstance(want, number) and \
            not isinstance(got, bool) and not isinstance(want, bool):
        return got == want
    if isinstance(want, (list, tuple)) and type(got) is type(want) and len(got) == len(want):
        return all(_numbers_equal(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict) and got.keys() == want.keys():
        return all(_numbers_equal(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


def judge(test: TestPlan, record: dict | None, probes: list[dict], unfinished: str
          ) -> TestResult:
    """The verdict on one test from the harness's records (``record``: its "test" record,
    None when the run stopped first; ``probes``: its probe records in the order sent)."""
    case = test.case
    if test.not_runnable:
        return TestResult(case.kind, case.code, False, test.not_runnable, runnable=False)
    failure, seen = "", set()
    for entry in probes:
        probe = test.probes.get(entry.get("key")) if isinstance(entry.get("key"), int) else None
        if probe is None:
            continue
        seen.add(probe.key)
        failure = failure or _check_probe(probe, entry.get("values"))
    if record is None:
        return TestResult(case.kind, case.code, False, failure or unfinished)
    seconds = float(record.get("seconds") or 0.0) if isinstance(
        record.get("seconds"), (int, float)) else 0.0
    if failure:
        return TestResult(case.kind, case.code, False, failure, seconds)
    if record.get("error"):
        return TestResult(case.kind, case.code, False, str(record["error"]), seconds)
    if case.expect is not None:
        error = _judge_expression(case, record)
        return TestResult(case.kind, case.code, not error, error, seconds)
    raised = record.get("raised")
    expected = expected_raise(case)
    if expected:  # ``f(-1) raises ValueError``: decided here from the reported MRO
        if raised and raise_matches(raised, expected):
            return TestResult(case.kind, case.code, True, "", seconds)
        got = (f"raised {raised.get('text') or raised.get('type')}, expected {expected}"
               if raised else f"did not raise {expected}")
        return TestResult(case.kind, case.code, False, one_line(f"{case.call.strip()} {got}"),
                          seconds)
    if raised:
        allowed = set(case.allowed_exceptions or [])
        if allowed & set(raised.get("mro") or []) and not raised.get("limit"):
            return TestResult(case.kind, case.code, True, "", seconds)
        return TestResult(case.kind, case.code, False, str(raised.get("text") or "raised"),
                          seconds)
    missing = [p for p in test.probes.values() if p.required and p.key not in seen]
    if missing:
        return TestResult(case.kind, case.code, False, one_line(
            f"assert {missing[0].source} was never checked: the sandbox did not report it"),
            seconds)
    return TestResult(case.kind, case.code, True, "", seconds)
