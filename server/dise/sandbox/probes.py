"""What the sandbox is asked to run for each test: asserts rewritten into probes.

``plan`` turns each ``TestCase`` into code for the sandbox in which every ``assert`` became a
call to the harness's probe (``__dise_probe__(key, operands…)``); literal operands (``== 4``,
``== [1, 2]``) and doctest expectations stay here in the ``TestPlan``, so the process that
loads the candidate never holds them (``verdict.judge`` compares them with what it reports).
A test whose names the candidate's module cannot provide (a method's class, say) is "not
runnable", not failed.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any

from dise.sandbox.returns import RETURNS_CALL
from dise.types import TestCase

PROBE = "__dise_probe__"
#: ``assert _dise_close(EXPR, LITERAL, TOL)`` in a test: EXPR's value must equal LITERAL, floats
#: (also inside lists, tuples and dicts) within TOL plus a relative 1e-9. Judged outside the
#: sandbox (``verdict.close``), like ``==``: the sandbox only reports EXPR's value (docstring
#: examples with floats, ``dise.engine.examples``).
CLOSE_CALL = "_dise_close"
_SINGLETONS = (None, True, False)


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
